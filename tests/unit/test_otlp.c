/* test_otlp.c - the span exporter against a local HTTP server that captures its requests:
 * the OTLP/HTTP JSON body, the headers, batching, a full queue dropping and counting, a
 * receiver that is away, and the settings it refuses. */
#define _GNU_SOURCE /* strcasestr */
#include "mc_error.h"
#include "mc_metrics.h"
#include "mc_otlp.h"
#include "mc_test.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"

/* ------------------------------------------------------------------ the capturing server */

#define CAP_MAX 16

typedef struct {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int hold;                 /* answer nothing until released */
    int nreq;
    char *head[CAP_MAX];      /* request line and headers of each request */
    char *body[CAP_MAX];
    int stop;
} capture_t;

static char *cap__read_request(int fd, char **body)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1), *end = NULL;
    while (buf && !(end = strstr(buf, "\r\n\r\n"))) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    if (!end) {
        free(buf);
        return NULL;
    }
    size_t hlen = (size_t)(end - buf) + 4, want = 0;
    const char *cl = strcasestr(buf, "content-length:");
    if (cl && cl < end)
        want = (size_t)atol(cl + 15);
    while (len < hlen + want) {
        if (len == cap) {
            cap *= 2;
            char *more = realloc(buf, cap + 1);
            if (!more)
                break;
            buf = more;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    *body = strndup(buf + hlen, want);
    buf[hlen] = '\0';
    return buf;
}

static void *cap__run(void *arg)
{
    capture_t *c = arg;
    for (;;) {
        int fd = accept(c->fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        for (;;) {
            char *body = NULL, *head = cap__read_request(fd, &body);
            if (!head)
                break;
            pthread_mutex_lock(&c->lock);
            if (c->nreq < CAP_MAX) {
                c->head[c->nreq] = head;
                c->body[c->nreq++] = body;
            } else {
                free(head);
                free(body);
            }
            pthread_cond_broadcast(&c->changed);
            while (c->hold && !c->stop)
                pthread_cond_wait(&c->changed, &c->lock);
            pthread_mutex_unlock(&c->lock);
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     "Content-Length: 2\r\n\r\n{}";
            if (write(fd, ok, sizeof ok - 1) < 0)
                break;
        }
        close(fd);
    }
}

static void cap_start(capture_t *c, int hold)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    memset(c, 0, sizeof *c);
    c->hold = hold;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(c->fd, (struct sockaddr *)&a, sizeof a);
    listen(c->fd, 8);
    getsockname(c->fd, (struct sockaddr *)&a, &alen);
    c->port = ntohs(a.sin_port);
    pthread_create(&c->thread, NULL, cap__run, c);
}

/* Waits until n requests came (no deadline needed: the exporter sends by itself). */
static void cap_wait(capture_t *c, int n)
{
    pthread_mutex_lock(&c->lock);
    while (c->nreq < n)
        pthread_cond_wait(&c->changed, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

static void cap_release(capture_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->hold = 0;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static void cap_stop(capture_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    pthread_join(c->thread, NULL);
    for (int i = 0; i < c->nreq; i++) {
        free(c->head[i]);
        free(c->body[i]);
    }
}

/* Spans in all captured bodies. */
static size_t cap_spans(capture_t *c)
{
    size_t n = 0;
    for (int i = 0; i < c->nreq; i++) {
        json_t *b = json_loads(c->body[i], 0, NULL);
        json_t *spans = json_object_get(
            json_array_get(json_object_get(json_array_get(json_object_get(b, "resourceSpans"), 0),
                                           "scopeSpans"),
                           0),
            "spans");
        n += json_array_size(spans);
        json_decref(b);
    }
    return n;
}

/* ------------------------------------------------------------------------------- tests */

static void make_span(mc_span_t *s, const char *name, int root)
{
    mc_tracer_t t = {.sample = 1.0, .export = NULL};
    mc_trace_ctx_t parent;
    memset(s, 0, sizeof *s);
    mc_trace_parse("00-" TID "-00f067aa0ba902b7-01", &parent);
    mc_span_begin(&t, s, name, MC_SPAN_CONSUMER, root ? NULL : &parent);
    /* as a recording span would be */
    memcpy(s->ctx.span_id, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    s->recording = 1;
    s->start_ns = 1700000000123456789LL;
    s->end_ns = s->start_ns + 2500000;
    mc_span_attr_str(s, "modelcast.event_id", "e-1");
    mc_span_attr_int(s, "modelcast.deliveries", 3);
}

static json_t *attr_value(json_t *attrs, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a) {
        if (strcmp(json_string_value(json_object_get(a, "key")), key) == 0)
            return json_object_get(a, "value");
    }
    return NULL;
}

static void test_json_body(void)
{
    mc_span_t spans[2];
    make_span(&spans[0], "authz route + commit", 0);
    make_span(&spans[1], "REST write", 1);
    spans[1].error = 1;
    char *text = mc_otlp_json("modelcast-authz", spans, 2);
    json_t *b = json_loads(text, 0, NULL);
    MC_CHECK(b != NULL);
    json_t *rs = json_array_get(json_object_get(b, "resourceSpans"), 0);
    json_t *res_attrs = json_object_get(json_object_get(rs, "resource"), "attributes");
    MC_CHECK_STR(json_string_value(json_object_get(attr_value(res_attrs, "service.name"),
                                                   "stringValue")),
                 "modelcast-authz");
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
    MC_CHECK_STR(json_string_value(json_object_get(json_object_get(ss, "scope"), "name")),
                 "modelcast");
    json_t *list = json_object_get(ss, "spans");
    MC_CHECK_INT(json_array_size(list), 2);
    json_t *s0 = json_array_get(list, 0), *s1 = json_array_get(list, 1);
    MC_CHECK_STR(json_string_value(json_object_get(s0, "traceId")), TID);
    MC_CHECK_STR(json_string_value(json_object_get(s0, "spanId")), "0102030405060708");
    MC_CHECK_STR(json_string_value(json_object_get(s0, "parentSpanId")), "00f067aa0ba902b7");
    MC_CHECK_STR(json_string_value(json_object_get(s0, "name")), "authz route + commit");
    MC_CHECK_INT(json_integer_value(json_object_get(s0, "kind")), MC_SPAN_CONSUMER);
    MC_CHECK_STR(json_string_value(json_object_get(s0, "startTimeUnixNano")),
                 "1700000000123456789");
    MC_CHECK_STR(json_string_value(json_object_get(s0, "endTimeUnixNano")),
                 "1700000000125956789");
    json_t *attrs = json_object_get(s0, "attributes");
    MC_CHECK_STR(json_string_value(json_object_get(attr_value(attrs, "modelcast.event_id"),
                                                   "stringValue")),
                 "e-1");
    MC_CHECK_STR(json_string_value(json_object_get(attr_value(attrs, "modelcast.deliveries"),
                                                   "intValue")),
                 "3");
    MC_CHECK_INT(json_integer_value(json_object_get(json_object_get(s0, "status"), "code")), 0);
    /* a root has no parent; a failed operation has status ERROR */
    MC_CHECK(json_object_get(s1, "parentSpanId") == NULL);
    MC_CHECK_INT(json_integer_value(json_object_get(json_object_get(s1, "status"), "code")), 2);
    json_decref(b);
    free(text);
}

/* Strings are escaped; bytes that are not UTF-8 become U+FFFD, so the body stays JSON. */
static void test_json_strings(void)
{
    mc_span_t s;
    make_span(&s, "quote \" back \\ nl \n", 1);
    s.nattrs = 0;
    mc_span_attr_str(&s, "k1", "caf\xc3\xa9 \x01");
    mc_span_attr_str(&s, "k2", "bad \xff\xc3 end");
    mc_span_attr_str(&s, "k3", "surrogate \xed\xa0\x80!");
    char *text = mc_otlp_json("svc \"x\"", &s, 1);
    json_error_t jerr;
    json_t *b = json_loads(text, 0, &jerr);
    if (!b)
        fprintf(stderr, "not JSON (%s): %s\n", jerr.text, text);
    MC_CHECK(b != NULL);
    json_t *sp = json_array_get(json_object_get(json_array_get(json_object_get(
        json_array_get(json_object_get(b, "resourceSpans"), 0), "scopeSpans"), 0), "spans"), 0);
    MC_CHECK_STR(json_string_value(json_object_get(sp, "name")), "quote \" back \\ nl \n");
    json_t *attrs = json_object_get(sp, "attributes");
    MC_CHECK_STR(json_string_value(json_object_get(attr_value(attrs, "k1"), "stringValue")),
                 "caf\xc3\xa9 \x01");
    MC_CHECK_STR(json_string_value(json_object_get(attr_value(attrs, "k2"), "stringValue")),
                 "bad \xef\xbf\xbd\xef\xbf\xbd end");
    MC_CHECK_STR(json_string_value(json_object_get(attr_value(attrs, "k3"), "stringValue")),
                 "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
    json_decref(b);
    free(text);
}

static double counter(mc_metrics_t *m, const char *name, const char *labels)
{
    return mc_metric_value(mc_metrics_counter(m, name, "", labels));
}

static mc_otlp_t *exporter(capture_t *c, const char *headers, size_t queue, size_t batch,
                           long delay_ms, mc_metrics_t *m)
{
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", c ? c->port : 1);
    mc_otlp_opts_t o = {.endpoint = url, .headers = headers, .service_name = "unit",
                        .queue_max = queue, .batch_max = batch, .delay_ms = delay_ms,
                        .timeout_ms = 2000};
    mc_otlp_t *x = mc_otlp_new(&o, m, err, sizeof err);
    if (!x)
        fprintf(stderr, "mc_otlp_new: %s\n", err);
    MC_CHECK(x != NULL);
    return x;
}

static void test_export(void)
{
    capture_t c;
    mc_span_t s;
    mc_metrics_t *m = mc_metrics_new();
    cap_start(&c, 0);
    mc_otlp_t *x = exporter(&c, " x-api-key = s%20ecret , x-tenant=7", 64, 0, 20, m);
    make_span(&s, "relay publish", 0);
    for (int i = 0; i < 3; i++)
        mc_otlp_export(x, &s);
    mc_otlp_free(x); /* sends what is queued */
    MC_CHECK(c.nreq >= 1);
    MC_CHECK_INT(cap_spans(&c), 3);
    MC_CHECK(strncmp(c.head[0], "POST /v1/traces HTTP/1.1\r\n", 26) == 0);
    MC_CHECK_CONTAINS(c.head[0], "Content-Type: application/json\r\n");
    MC_CHECK_CONTAINS(c.head[0], "x-api-key: s ecret\r\n");
    MC_CHECK_CONTAINS(c.head[0], "x-tenant: 7\r\n");
    MC_CHECK(counter(m, "modelcast_trace_spans_exported_total", NULL) == 3);
    cap_stop(&c);
    mc_metrics_free(m);
}

static void test_queue_full(void)
{
    capture_t c;
    mc_span_t s;
    mc_metrics_t *m = mc_metrics_new();
    cap_start(&c, 1); /* holds its answer */
    /* a batch goes when it is full (4), never by the clock (60 s): deterministic */
    mc_otlp_t *x = exporter(&c, NULL, 4, 4, 60000, m);
    make_span(&s, "pusher fan-out", 0);
    for (int i = 0; i < 4; i++)
        mc_otlp_export(x, &s);
    cap_wait(&c, 1); /* the first batch took the whole queue and waits for its answer */
    for (int i = 0; i < 6; i++)
        mc_otlp_export(x, &s);
    MC_CHECK(counter(m, "modelcast_trace_spans_dropped_total", "reason=\"queue_full\"") == 2);
    cap_release(&c);
    mc_otlp_free(x);
    MC_CHECK_INT(cap_spans(&c), 8);
    MC_CHECK(counter(m, "modelcast_trace_spans_exported_total", NULL) == 8);
    cap_stop(&c);
    mc_metrics_free(m);
}

static void test_receiver_away(void)
{
    mc_span_t s;
    mc_metrics_t *m = mc_metrics_new();
    mc_otlp_t *x = exporter(NULL, NULL, 16, 0, 20, m); /* port 1: refused */
    make_span(&s, "REST write", 1);
    mc_otlp_export(x, &s);
    mc_otlp_export(x, &s);
    mc_otlp_free(x);
    MC_CHECK(counter(m, "modelcast_trace_spans_dropped_total", "reason=\"export_failed\"") == 2);
    MC_CHECK(counter(m, "modelcast_trace_spans_exported_total", NULL) == 0);
    mc_metrics_free(m);
}

static void test_settings(void)
{
    char err[256];
    mc_otlp_opts_t o = {.endpoint = "ftp://collector:4318", .service_name = "unit"};
    MC_CHECK(mc_otlp_new(&o, NULL, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "MC_OTLP_ENDPOINT");
    o.endpoint = "not a url";
    MC_CHECK(mc_otlp_new(&o, NULL, err, sizeof err) == NULL);
    o.endpoint = "http://127.0.0.1:4318";
    o.headers = "authorization";
    MC_CHECK(mc_otlp_new(&o, NULL, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "MC_OTLP_HEADERS: entry 1");
    o.headers = "a=1,bad name=topsecret";
    MC_CHECK(mc_otlp_new(&o, NULL, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "entry 2");
    MC_CHECK(strstr(err, "topsecret") == NULL); /* values are never quoted */
    o.headers = "a=x%0d%0aInjected: 1";
    MC_CHECK(mc_otlp_new(&o, NULL, err, sizeof err) == NULL);

    /* the service's tracer: off without an endpoint, the sample ratio checked */
    mc_trace_settings_t s = {.sample = "0.5", .otlp_timeout_ms = 1000, .otlp_queue = 16};
    mc_tracer_t t;
    mc_otlp_t *x = NULL;
    MC_CHECK_INT(mc_otlp_tracer(&s, "authz", NULL, &t, &x, err, sizeof err), MC_OK);
    MC_CHECK(x == NULL && t.export == NULL && t.sample == 0.5);
    s.sample = "2";
    MC_CHECK_INT(mc_otlp_tracer(&s, "authz", NULL, &t, &x, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_CONTAINS(err, "MC_TRACE_SAMPLE");
    s.sample = "1";
    s.otlp_endpoint = "http://127.0.0.1:1";
    MC_CHECK_INT(mc_otlp_tracer(&s, "authz", NULL, &t, &x, err, sizeof err), MC_OK);
    MC_CHECK(x != NULL && t.export == mc_otlp_export && t.export_arg == x);
    mc_otlp_free(x);
}

int main(void)
{
    MC_TEST_RUN(test_json_body);
    MC_TEST_RUN(test_json_strings);
    MC_TEST_RUN(test_export);
    MC_TEST_RUN(test_queue_full);
    MC_TEST_RUN(test_receiver_away);
    MC_TEST_RUN(test_settings);
    MC_TEST_DONE();
}
