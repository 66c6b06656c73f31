/* otlp.c - OTLP/HTTP JSON span exporter: a bounded queue and one sending thread. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "mc_otlp.h"
#include "mc_error.h"
#include "mc_buf.h"
#include "mc_log.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define OTLP_BATCH_DEFAULT 512
#define OTLP_DELAY_DEFAULT_MS 500
#define OTLP_PATH "/v1/traces"

struct mc_otlp {
    char *url;                   /* <endpoint>/v1/traces */
    char *service_name;
    struct curl_slist *headers;  /* Content-Type and MC_OTLP_HEADERS */
    int loopback;                /* the receiver is on this host: no proxy */
    long timeout_ms, delay_ms;
    size_t batch_max;

    pthread_mutex_t lock;        /* guards the ring and closing */
    pthread_cond_t wake;
    mc_span_t *ring;
    size_t cap, head, len;
    int closing;
    struct timespec flush_until; /* set with closing: the last sends end by then */

    pthread_t thread;
    int started;
    int failing;                 /* sending thread only: the last request failed */
    mc_metric_t *exported, *dropped_full, *dropped_failed;
};

static int otlp__curl_rc;
static pthread_once_t otlp__curl_once = PTHREAD_ONCE_INIT;

static void otlp__curl_init(void)
{
    otlp__curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------------------------ JSON body */

/* Appends a string literal. */
#define OTLP_LIT(b, lit) mc_buf_append((b), (lit), sizeof(lit) - 1)

/* Length of the valid UTF-8 sequence at s (of at most n bytes), or 0. */
static size_t otlp__utf8(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return len;
}

/* Appends s as a JSON string; bytes that are not UTF-8 become U+FFFD (a collector refuses
 * a whole request for one bad string). */
static void otlp__str(mc_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p), run = 0;
    OTLP_LIT(b, "\"");
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t u = c >= 0x80 ? otlp__utf8(p + i, n - i) : 1;
        if (c >= 0x20 && c != '"' && c != '\\' && u > 0) {
            i += u;
            run += u;
            continue;
        }
        mc_buf_append(b, (const char *)p + i - run, run);
        run = 0;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            mc_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            mc_buf_append(b, esc, 6);
        } else {
            OTLP_LIT(b, "\\ufffd");
        }
        i++;
    }
    mc_buf_append(b, (const char *)p + n - run, run);
    OTLP_LIT(b, "\"");
}

/* Appends one attribute {"key":...,"value":{"stringValue"|"intValue":...}} (int64 as a
 * decimal string: protobuf's JSON mapping, which OTLP/JSON follows). */
static void otlp__attr(mc_buf_t *b, const char *key, const char *str, int is_int, long long num)
{
    OTLP_LIT(b, "{\"key\":");
    otlp__str(b, key);
    if (is_int) {
        mc_buf_appendf(b, ",\"value\":{\"intValue\":\"%lld\"}}", num);
    } else {
        OTLP_LIT(b, ",\"value\":{\"stringValue\":");
        otlp__str(b, str);
        OTLP_LIT(b, "}}");
    }
}

static void otlp__span(mc_buf_t *b, const mc_span_t *sp)
{
    char tid[33], sid[17], pid[17];
    static const uint8_t zero[8];
    mc_trace_hex(sp->ctx.trace_id, 16, tid);
    mc_trace_hex(sp->ctx.span_id, 8, sid);
    mc_buf_appendf(b, "{\"traceId\":\"%s\",\"spanId\":\"%s\",", tid, sid);
    if (memcmp(sp->parent_id, zero, sizeof zero) != 0) {
        mc_trace_hex(sp->parent_id, 8, pid);
        mc_buf_appendf(b, "\"parentSpanId\":\"%s\",", pid);
    }
    OTLP_LIT(b, "\"name\":");
    otlp__str(b, sp->name);
    mc_buf_appendf(b, ",\"kind\":%d,\"startTimeUnixNano\":\"%lld\",\"endTimeUnixNano\":\"%lld\","
                      "\"attributes\":[",
                   (int)sp->kind, (long long)sp->start_ns, (long long)sp->end_ns);
    for (int i = 0; i < sp->nattrs && i < MC_SPAN_MAX_ATTRS; i++) {
        const mc_span_attr_t *a = &sp->attrs[i];
        if (i)
            OTLP_LIT(b, ",");
        otlp__attr(b, a->key, a->str, a->is_int, a->num);
    }
    /* status code 2 = ERROR, 0 = UNSET */
    mc_buf_appendf(b, "],\"status\":{\"code\":%d}}", sp->error ? 2 : 0);
}

char *mc_otlp_json(const char *service_name, const mc_span_t *spans, size_t n)
{
    mc_buf_t b;
    mc_buf_init(&b);
    OTLP_LIT(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    otlp__attr(&b, "service.name", service_name, 0, 0);
    OTLP_LIT(&b, ",");
    otlp__attr(&b, "service.version", MC_VERSION, 0, 0);
    OTLP_LIT(&b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"modelcast\",\"version\":");
    otlp__str(&b, MC_VERSION);
    OTLP_LIT(&b, "},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            OTLP_LIT(&b, ",");
        otlp__span(&b, &spans[i]);
    }
    OTLP_LIT(&b, "]}]}]}");
    return mc_buf_steal(&b);
}

/* ---------------------------------------------------------------------------- settings */

/* Whether host names this machine (no proxy then). */
static int otlp__is_loopback(const char *host)
{
    return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

/* Checks the endpoint (http or https URL with a host) and builds <endpoint>/v1/traces. */
static int otlp__url(mc_otlp_t *o, const char *endpoint, char *err, size_t errlen)
{
    char *scheme = NULL, *host = NULL;
    CURLU *u = curl_url();
    int ok = u && curl_url_set(u, CURLUPART_URL, endpoint, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
    if (ok) {
        size_t n = strlen(endpoint);
        while (n > 0 && endpoint[n - 1] == '/')
            n--;
        o->loopback = otlp__is_loopback(host);
        if ((o->url = malloc(n + sizeof OTLP_PATH)))
            snprintf(o->url, n + sizeof OTLP_PATH, "%.*s%s", (int)n, endpoint, OTLP_PATH);
    } else {
        snprintf(err, errlen, "MC_OTLP_ENDPOINT: '%.200s' is not an http:// or https:// URL",
                 endpoint);
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    if (ok && !o->url)
        snprintf(err, errlen, "out of memory");
    return ok && o->url ? MC_OK : MC_ERR_CONFIG;
}

static int otlp__hex(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/*
 * Appends "Name: value" for each name=value of list (OTEL_EXPORTER_OTLP_HEADERS' form:
 * comma-separated, values %-decoded, white space around trimmed). A pair without '=' or with
 * a character that cannot be in a header is refused; the message never quotes a value.
 */
static int otlp__headers(mc_otlp_t *o, const char *list, char *err, size_t errlen)
{
    int entry = 0;
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ','), *eq;
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char line[1024], *w = line;
        while (n > 0 && isspace((unsigned char)*p))
            p++, n--;
        while (n > 0 && isspace((unsigned char)p[n - 1]))
            n--;
        if (n > 0) {
            entry++;
            eq = memchr(p, '=', n);
            size_t kn = eq ? (size_t)(eq - p) : 0;
            while (kn > 0 && isspace((unsigned char)p[kn - 1]))
                kn--;
            int bad = !eq || kn == 0 || n + 3 > sizeof line;
            for (size_t i = 0; !bad && i < kn; i++)
                bad = !(isalnum((unsigned char)p[i]) || strchr("!#$%&'*+-.^_`|~", p[i]));
            if (!bad) {
                w += snprintf(line, sizeof line, "%.*s: ", (int)kn, p);
                const char *v = eq + 1, *vend = p + n;
                while (v < vend && isspace((unsigned char)*v))
                    v++;
                for (; v < vend && !bad; v++) {
                    int c = (unsigned char)*v;
                    if (c == '%' && vend - v >= 3 && otlp__hex(v[1]) >= 0 && otlp__hex(v[2]) >= 0) {
                        c = otlp__hex(v[1]) << 4 | otlp__hex(v[2]);
                        v += 2;
                    }
                    bad = c < 0x20 || c == 0x7f;
                    *w++ = (char)c;
                }
                *w = '\0';
            }
            if (bad) {
                snprintf(err, errlen, "MC_OTLP_HEADERS: entry %d is not name=value (a header "
                         "name, and a value without control characters)", entry);
                return MC_ERR_CONFIG;
            }
            struct curl_slist *more = curl_slist_append(o->headers, line);
            if (!more) {
                snprintf(err, errlen, "out of memory");
                return MC_ERR_NOMEM;
            }
            o->headers = more;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return MC_OK;
}

/* ------------------------------------------------------------------------------ sending */

static size_t otlp__discard(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

static long otlp__ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (t->tv_sec - now.tv_sec) * 1000L + (t->tv_nsec - now.tv_nsec) / 1000000L;
}

/* Posts n spans within timeout_ms; counts them as exported or dropped. */
static void otlp__send(mc_otlp_t *o, CURL *c, const mc_span_t *spans, size_t n, long timeout_ms)
{
    char cerr[CURL_ERROR_SIZE] = "";
    long status = 0;
    char *body = mc_otlp_json(o->service_name, spans, n);
    CURLcode cc = CURLE_OUT_OF_MEMORY;

    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 1 ? timeout_ms : 1L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        free(body);
    }
    if (cc == CURLE_OK && status >= 200 && status < 300) {
        mc_metric_add(o->exported, (double)n);
        if (o->failing)
            MC_INFO("otlp: %s takes spans again", o->url);
        o->failing = 0;
        return;
    }
    mc_metric_add(o->dropped_failed, (double)n);
    if (!o->failing)
        MC_WARN("otlp: sending %zu spans to %s failed: %s; spans are dropped while it fails "
                "(modelcast_trace_spans_dropped_total)", n, o->url,
                cc != CURLE_OK ? (cerr[0] ? cerr : curl_easy_strerror(cc)) : "HTTP status");
    if (cc == CURLE_OK)
        MC_DEBUG("otlp: %s answered %ld", o->url, status);
    o->failing = 1;
}

static void *otlp__run(void *arg)
{
    mc_otlp_t *o = arg;
    mc_span_t *batch = malloc(o->batch_max * sizeof *batch);
    CURL *c = curl_easy_init();

    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, o->url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, o->headers);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "modelcast/" MC_VERSION);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, otlp__discard);
        if (o->loopback)
            curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    }
    pthread_mutex_lock(&o->lock);
    for (;;) {
        if (!o->closing && o->len < o->batch_max) {
            /* Up to delay_ms for a batch to fill, or for the stop request. */
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += (o->delay_ms % 1000) * 1000000L;
            until.tv_sec += o->delay_ms / 1000 + until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            while (!o->closing && o->len < o->batch_max &&
                   pthread_cond_timedwait(&o->wake, &o->lock, &until) != ETIMEDOUT)
                ;
        }
        long left = o->closing ? otlp__ms_until(&o->flush_until) : o->timeout_ms;
        if (o->len > 0 && (!c || !batch || left <= 0)) {
            mc_metric_add(o->dropped_failed, (double)o->len); /* cannot send (any more) */
            o->head = o->len = 0;
        }
        if (o->closing && o->len == 0)
            break;
        size_t n = o->len < o->batch_max ? o->len : o->batch_max;
        for (size_t i = 0; i < n; i++)
            batch[i] = o->ring[(o->head + i) % o->cap];
        o->head = (o->head + n) % o->cap;
        o->len -= n;
        pthread_mutex_unlock(&o->lock);
        if (n > 0)
            otlp__send(o, c, batch, n, left < o->timeout_ms ? left : o->timeout_ms);
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    if (c)
        curl_easy_cleanup(c);
    free(batch);
    return NULL;
}

/* --------------------------------------------------------------------------------- API */

mc_otlp_t *mc_otlp_new(const mc_otlp_opts_t *opts, mc_metrics_t *metrics, char *err,
                       size_t errlen)
{
    pthread_condattr_t ca;
    mc_otlp_t *o;

    pthread_once(&otlp__curl_once, otlp__curl_init);
    if (otlp__curl_rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror((CURLcode)otlp__curl_rc));
        return NULL;
    }
    if (!(o = calloc(1, sizeof *o))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
    o->delay_ms = opts->delay_ms > 0 ? opts->delay_ms : OTLP_DELAY_DEFAULT_MS;
    o->batch_max = opts->batch_max > 0 ? opts->batch_max : OTLP_BATCH_DEFAULT;
    o->cap = opts->queue_max > 0 ? opts->queue_max : 2048;
    if (o->batch_max > o->cap)
        o->batch_max = o->cap;
    pthread_mutex_init(&o->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (otlp__url(o, opts->endpoint ? opts->endpoint : "", err, errlen) != MC_OK) {
        mc_otlp_free(o);
        return NULL;
    }
    if (!(o->headers = curl_slist_append(NULL, "Content-Type: application/json"))) {
        snprintf(err, errlen, "out of memory");
        mc_otlp_free(o);
        return NULL;
    }
    if (otlp__headers(o, opts->headers, err, errlen) != MC_OK) {
        mc_otlp_free(o);
        return NULL;
    }
    o->service_name = strdup(opts->service_name ? opts->service_name : "modelcast");
    o->ring = calloc(o->cap, sizeof *o->ring);
    if (!o->service_name || !o->ring) {
        snprintf(err, errlen, "out of memory");
        mc_otlp_free(o);
        return NULL;
    }
    o->exported = mc_metrics_counter(metrics, "modelcast_trace_spans_exported_total",
                                     "Spans sent to the OTLP receiver (MC_OTLP_ENDPOINT).", NULL);
    o->dropped_full = mc_metrics_counter(
        metrics, "modelcast_trace_spans_dropped_total",
        "Spans not sent: the queue was full (MC_OTLP_QUEUE) or the receiver failed.",
        "reason=\"queue_full\"");
    o->dropped_failed = mc_metrics_counter(
        metrics, "modelcast_trace_spans_dropped_total",
        "Spans not sent: the queue was full (MC_OTLP_QUEUE) or the receiver failed.",
        "reason=\"export_failed\"");
    if (pthread_create(&o->thread, NULL, otlp__run, o) != 0) {
        snprintf(err, errlen, "cannot start the span exporter thread");
        mc_otlp_free(o);
        return NULL;
    }
    pthread_setname_np(o->thread, "mc-otlp");
    o->started = 1;
    return o;
}

void mc_otlp_export(void *arg, const mc_span_t *span)
{
    mc_otlp_t *o = arg;
    int full, wake;
    pthread_mutex_lock(&o->lock);
    full = o->closing || o->len == o->cap;
    if (!full)
        o->ring[(o->head + o->len++) % o->cap] = *span;
    wake = o->len == o->batch_max;
    pthread_mutex_unlock(&o->lock);
    if (full)
        mc_metric_add(o->dropped_full, 1);
    else if (wake)
        pthread_cond_signal(&o->wake);
}

void mc_otlp_free(mc_otlp_t *o)
{
    if (!o)
        return;
    if (o->started) {
        pthread_mutex_lock(&o->lock);
        o->closing = 1;
        clock_gettime(CLOCK_MONOTONIC, &o->flush_until);
        o->flush_until.tv_sec += o->timeout_ms / 1000;
        o->flush_until.tv_nsec += (o->timeout_ms % 1000) * 1000000L;
        if (o->flush_until.tv_nsec >= 1000000000L) {
            o->flush_until.tv_sec++;
            o->flush_until.tv_nsec -= 1000000000L;
        }
        pthread_cond_signal(&o->wake);
        pthread_mutex_unlock(&o->lock);
        pthread_join(o->thread, NULL);
    }
    pthread_mutex_destroy(&o->lock);
    pthread_cond_destroy(&o->wake);
    curl_slist_free_all(o->headers);
    free(o->ring);
    free(o->url);
    free(o->service_name);
    free(o);
}

int mc_otlp_tracer(const mc_trace_settings_t *s, const char *service, mc_metrics_t *metrics,
                   mc_tracer_t *tracer, mc_otlp_t **otlp, char *err, size_t errlen)
{
    char name[128];
    memset(tracer, 0, sizeof *tracer);
    *otlp = NULL;
    if (mc_trace_sample_parse(s->sample, &tracer->sample, err, errlen) != MC_OK)
        return MC_ERR_CONFIG;
    if (!s->otlp_endpoint || !*s->otlp_endpoint)
        return MC_OK;
    if (s->otlp_service_name && *s->otlp_service_name)
        snprintf(name, sizeof name, "%s", s->otlp_service_name);
    else
        snprintf(name, sizeof name, "modelcast-%s", service);
    mc_otlp_opts_t o = {.endpoint = s->otlp_endpoint,
                        .headers = s->otlp_headers,
                        .service_name = name,
                        .queue_max = (size_t)s->otlp_queue,
                        .timeout_ms = s->otlp_timeout_ms};
    if (!(*otlp = mc_otlp_new(&o, metrics, err, errlen)))
        return MC_ERR_CONFIG;
    tracer->export = mc_otlp_export;
    tracer->export_arg = *otlp;
    MC_INFO("tracing: spans of sampled traces go to %s/v1/traces as service %s "
            "(MC_TRACE_SAMPLE %g for the traces started here)", s->otlp_endpoint, name,
            tracer->sample);
    return MC_OK;
}
