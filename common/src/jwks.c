/* jwks.c - a JWKS source: fetch (libcurl) or read, parse, cache, refresh off the request path. */
#include "jwk_set.h"
#include "mc_error.h"
#include "mc_jwks.h"
#include "mc_log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct mc_jwks {
    /* settings, immutable after mc_jwks_new */
    char *url, *file, *ca_file;
    unsigned allowed;
    long min_s, max_s, timeout_ms;
    int url_loopback;

    pthread_mutex_t mu;
    pthread_cond_t wake;   /* to the refresher: a fetch is wanted, or stop */
    pthread_cond_t done;   /* to waiting verifications: a fetch finished */
    pthread_t thread;
    int started;
    atomic_int stop;

    /* under mu */
    jwk_set_t *set;           /* the last good set, NULL before the first */
    uint64_t doc_hash;        /* of the document set came from */
    int want;                 /* an unknown kid asked for a fetch */
    int fetching;
    unsigned long fetch_seq;  /* fetches started */
    unsigned long done_seq;   /* the last finished fetch */
    double last_demand;       /* monotonic s of the last unknown-kid fetch */
    double next_at;           /* monotonic s of the next scheduled fetch */
    double interval;          /* from the last successful fetch's cache headers */
    unsigned long refreshes, failures, consecutive, demands;
    long last_success;        /* epoch s, 0: never */
    char last_error[256];
};

static double jwks__mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timespec jwks__abstime(double mono)
{
    struct timespec ts;
    ts.tv_sec = (time_t)mono;
    ts.tv_nsec = (long)((mono - (double)ts.tv_sec) * 1e9);
    return ts;
}

static uint64_t jwks__hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* ------------------------------------------------------------------ cache headers */

long mc_jwks_cache_ttl(const char *cache_control, const char *expires, const char *date,
                       long now)
{
    if (cache_control) {
        const char *p = cache_control;
        long max_age = -1;
        int zero = 0;
        while (*p) {
            while (*p == ' ' || *p == ',' || *p == '\t')
                p++;
            size_t n = strcspn(p, ",");
            if (strncasecmp(p, "max-age=", 8) == 0) {
                char *end;
                errno = 0;
                long v = strtol(p + 8 + (p[8] == '"'), &end, 10);
                if (!errno && end != p + 8 && v >= 0)
                    max_age = v;
            } else if (strncasecmp(p, "no-store", 8) == 0 || strncasecmp(p, "no-cache", 8) == 0 ||
                       strncasecmp(p, "must-revalidate", 15) == 0) {
                zero = 1;
            }
            p += n;
        }
        if (zero)
            return 0;
        if (max_age >= 0)
            return max_age;
    }
    if (expires) {
        time_t e = curl_getdate(expires, NULL);
        if (e == -1)
            return 0; /* an invalid Expires means already expired (RFC 9111 5.3) */
        time_t d = date ? curl_getdate(date, NULL) : -1;
        long ttl = (long)(e - (d != -1 ? d : (time_t)now));
        return ttl > 0 ? ttl : 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ fetching */

typedef struct {
    char *data;
    size_t len;
    int too_big;
    char cache_control[512], expires[128], date[128];
    atomic_int *stop;
} fetch_t;

static size_t jwks__on_body(char *p, size_t size, size_t n, void *ud)
{
    fetch_t *f = ud;
    size_t add = size * n;
    if (f->len + add > MC_JWKS_MAX_BYTES) {
        f->too_big = 1;
        return 0;
    }
    char *d = realloc(f->data, f->len + add + 1);
    if (!d)
        return 0;
    memcpy(d + f->len, p, add);
    f->len += add;
    d[f->len] = '\0';
    f->data = d;
    return add;
}

/* Copies header value (trimmed) into out, appending to what is there (", "). */
static void jwks__header_value(const char *v, size_t n, char *out, size_t outlen)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    size_t o = strlen(out);
    if (o + (o ? 2 : 0) + n < outlen)
        snprintf(out + o, outlen - o, "%s%.*s", o ? ", " : "", (int)n, v);
}

static size_t jwks__on_header(char *p, size_t size, size_t n, void *ud)
{
    fetch_t *f = ud;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t off, cap;
    } wanted[] = {
        {"cache-control:", offsetof(fetch_t, cache_control), sizeof((fetch_t *)0)->cache_control},
        {"expires:", offsetof(fetch_t, expires), sizeof((fetch_t *)0)->expires},
        {"date:", offsetof(fetch_t, date), sizeof((fetch_t *)0)->date},
    };
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response: forget the last one's */
        f->cache_control[0] = f->expires[0] = f->date[0] = '\0';
        return len;
    }
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        size_t nl = strlen(wanted[i].name);
        if (len > nl && strncasecmp(p, wanted[i].name, nl) == 0) {
            char *out = (char *)f + wanted[i].off;
            if (wanted[i].off != offsetof(fetch_t, cache_control))
                out[0] = '\0'; /* single-valued */
            jwks__header_value(p + nl, len - nl, out, wanted[i].cap);
        }
    }
    return len;
}

static int jwks__progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    return atomic_load(((fetch_t *)ud)->stop) ? 1 : 0; /* shutting down: abort */
}

static pthread_once_t jwks__curl_once = PTHREAD_ONCE_INIT;
static int jwks__curl_rc;
static void jwks__curl_init(void)
{
    jwks__curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* GETs the URL into f. 0, or -1 with err. */
static int jwks__get(mc_jwks_t *k, fetch_t *f, char *err, size_t errlen)
{
    char cerr[CURL_ERROR_SIZE] = "";
    long status = 0;
    int rc = -1;
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/jwk-set+json, "
                                                      "application/json");
    if (!c || !hdrs) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, k->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, strncasecmp(k->url, "https:", 6) == 0 ? "https"
                                                                                      : "http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, k->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, k->timeout_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MC_JWKS_MAX_BYTES);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, jwks__on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, jwks__on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, jwks__progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "modelcast/" MC_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    if (k->url_loopback)
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (k->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (f->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        snprintf(err, errlen, "the key set is larger than %d bytes", MC_JWKS_MAX_BYTES);
    else if (cc != CURLE_OK)
        snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
    else if (status != 200)
        snprintf(err, errlen, "HTTP status %ld", status);
    else
        rc = 0;
out:
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}

/* Reads the file into f. 0, or -1 with err. */
static int jwks__read(mc_jwks_t *k, fetch_t *f, char *err, size_t errlen)
{
    FILE *fp = fopen(k->file, "rb");
    if (!fp) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    f->data = malloc(MC_JWKS_MAX_BYTES + 1);
    f->len = f->data ? fread(f->data, 1, MC_JWKS_MAX_BYTES + 1, fp) : 0;
    int rerr = ferror(fp);
    fclose(fp);
    if (!f->data || rerr) {
        snprintf(err, errlen, f->data ? "read error" : "out of memory");
        return -1;
    }
    if (f->len > MC_JWKS_MAX_BYTES) {
        snprintf(err, errlen, "the key set is larger than %d bytes", MC_JWKS_MAX_BYTES);
        return -1;
    }
    f->data[f->len] = '\0';
    return 0;
}

/* Fetches and parses once, then records the outcome (the caller holds no lock). */
static void jwks__refresh(mc_jwks_t *k, unsigned long seq)
{
    fetch_t f = {.stop = &k->stop};
    char err[512] = "", skipped[1024] = "";
    jwk_set_t *set = NULL;
    long ttl = -1;

    int rc = k->url ? jwks__get(k, &f, err, sizeof err) : jwks__read(k, &f, err, sizeof err);
    if (rc == 0) {
        set = jwk_set_parse(f.data, f.len, k->allowed, err, sizeof err, skipped,
                            sizeof skipped);
        if (set && set->n == 0) {
            snprintf(err, sizeof err, "no usable key in the set%s%.400s",
                     skipped[0] ? ": " : "", skipped);
            jwk_set_release(set);
            set = NULL;
        }
        if (k->url)
            ttl = mc_jwks_cache_ttl(f.cache_control[0] ? f.cache_control : NULL,
                                    f.expires[0] ? f.expires : NULL, f.date[0] ? f.date : NULL,
                                    (long)time(NULL));
    }
    uint64_t hash = set ? jwks__hash(f.data, f.len) : 0;
    free(f.data);

    double now = jwks__mono();
    jwk_set_t *old = NULL;
    int changed = 0;
    pthread_mutex_lock(&k->mu);
    if (set) {
        changed = !k->set || hash != k->doc_hash;
        old = k->set;
        k->set = set;
        k->doc_hash = hash;
        k->interval = (double)(ttl < k->min_s ? k->min_s : ttl > k->max_s ? k->max_s : ttl);
        k->next_at = now + k->interval;
        k->refreshes++;
        k->consecutive = 0;
        k->last_success = (long)time(NULL);
        k->last_error[0] = '\0';
    } else {
        long backoff = 1L << (k->consecutive < 16 ? k->consecutive : 16);
        k->failures++;
        k->consecutive++;
        k->next_at = now + (double)(backoff < k->min_s ? backoff : k->min_s);
        snprintf(k->last_error, sizeof k->last_error, "%.*s", (int)sizeof k->last_error - 1,
                 err);
    }
    size_t nkeys = k->set ? k->set->n : 0;
    unsigned long failures = k->consecutive;
    double interval = k->interval;
    k->fetching = 0;
    k->done_seq = seq;
    pthread_cond_broadcast(&k->done);
    pthread_mutex_unlock(&k->mu);
    jwk_set_release(old);

    const char *src = k->url ? k->url : k->file;
    if (!set) {
        MC_WARN("JWKS %s: refresh failed (%lu in a row, %zu keys kept): %s", src, failures,
                nkeys, err);
    } else if (changed) {
        char kids[512] = "";
        size_t o = 0;
        for (size_t i = 0; i < set->n && o < sizeof kids; i++) {
            int w = snprintf(kids + o, sizeof kids - o, "%s%s", i ? ", " : "",
                             set->keys[i].kid ? set->keys[i].kid : "(no kid)");
            o += w > 0 ? (size_t)w : 0;
        }
        MC_INFO("JWKS %s: %zu keys (%s), next refresh in %.0f s%s%s", src, set->n, kids,
                interval, skipped[0] ? "; skipped " : "", skipped);
    } else {
        MC_DEBUG("JWKS %s: unchanged, next refresh in %.0f s", src, interval);
    }
}

static void *jwks__run(void *arg)
{
    mc_jwks_t *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!atomic_load(&k->stop)) {
        if (!k->want && jwks__mono() < k->next_at) {
            struct timespec ts = jwks__abstime(k->next_at);
            pthread_cond_timedwait(&k->wake, &k->mu, &ts);
            continue;
        }
        k->want = 0;
        k->fetching = 1;
        unsigned long seq = ++k->fetch_seq;
        pthread_mutex_unlock(&k->mu);
        jwks__refresh(k, seq);
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

int jwks__acquire(mc_jwks_t *k, const char *kid, jwk_set_t **set, const jwk_key_t **key,
                  const char **reason)
{
    const jwk_key_t *found;
    pthread_mutex_lock(&k->mu);
    /* A token without kid facing several keys: a refetch would not tell which one. */
    if (!(found = jwk_set_find(k->set, kid)) && !atomic_load(&k->stop) && (kid || !k->set)) {
        double now = jwks__mono();
        unsigned long need = 0;
        if (now - k->last_demand >= (double)k->min_s) {
            /* the one refetch this interval may cause: the next fetch to start */
            k->last_demand = now;
            k->demands++;
            k->want = 1;
            need = k->fetch_seq + 1;
            pthread_cond_signal(&k->wake);
        } else if (k->fetching) {
            need = k->fetch_seq; /* a fetch is under way anyway: its result may help */
        }
        if (need) {
            struct timespec ts = jwks__abstime(now + (double)k->timeout_ms / 1000.0 + 1.0);
            while (k->done_seq < need && !atomic_load(&k->stop))
                if (pthread_cond_timedwait(&k->done, &k->mu, &ts) == ETIMEDOUT)
                    break;
            found = jwk_set_find(k->set, kid);
        }
    }
    if (found) {
        *set = jwk_set_retain(k->set);
        *key = found;
        pthread_mutex_unlock(&k->mu);
        return 0;
    }
    *reason = !k->set || k->set->n == 0 ? "no_keys" : !kid ? "no_kid" : "unknown_kid";
    pthread_mutex_unlock(&k->mu);
    return -1;
}

unsigned jwks__allowed(const mc_jwks_t *k)
{
    return k->allowed;
}

/* ------------------------------------------------------------------ setup */

/* Whether host (as libcurl's URL parser gives it) is a loopback name or address. */
static int jwks__loopback(const char *host)
{
    unsigned char a[16];
    char h[64];
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (host[0] == '[' && strlen(host) < sizeof h) {
        snprintf(h, sizeof h, "%.*s", (int)strlen(host) - 2, host + 1);
        return inet_pton(AF_INET6, h, a) == 1 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1",
                                                        16) == 0;
    }
    return 0;
}

/* Checks the URL's scheme against the http policy. 0, or -1 with err. */
static int jwks__check_url(mc_jwks_t *k, int allow_http, char *err, size_t errlen)
{
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    CURLU *u = curl_url();
    if (!u || curl_url_set(u, CURLUPART_URL, k->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, errlen, "MC_JWT_JWKS_URL: '%s' is not a URL", k->url);
        goto out;
    }
    k->url_loopback = jwks__loopback(host);
    if (strcasecmp(scheme, "https") == 0 ||
        (strcasecmp(scheme, "http") == 0 && (k->url_loopback || allow_http)))
        rc = 0;
    else if (strcasecmp(scheme, "http") == 0)
        snprintf(err, errlen, "MC_JWT_JWKS_URL: plain http to '%s' (not a loopback host) "
                 "needs MC_JWT_JWKS_ALLOW_HTTP=true; prefer https", host);
    else
        snprintf(err, errlen, "MC_JWT_JWKS_URL: scheme '%s' is not https", scheme);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* Parses the comma-separated algorithm list: asymmetric algorithms only. */
static unsigned jwks__algs(const char *list, char *err, size_t errlen)
{
    unsigned set = 0;
    const char *p = list ? list : "";
    while (*p) {
        char name[16];
        size_t n = strcspn(p, ", ");
        if (n) {
            snprintf(name, sizeof name, "%.*s", (int)(n < 15 ? n : 15), p);
            unsigned bit = jwk_alg_bit(name);
            if (!bit || n >= sizeof name || jwk_algs_for_key(bit, JWK_FAM_OCT, 0)) {
                snprintf(err, errlen, "MC_JWT_JWKS_ALGS: '%.*s' is not allowed (RS256, RS384, "
                         "RS512, PS256, PS384, PS512, ES256, ES384, ES512; HMAC keys are "
                         "never taken from a key set)", (int)(n < 32 ? n : 32), p);
                return 0;
            }
            set |= bit;
        }
        p += n + (p[n] != '\0');
    }
    if (!set)
        snprintf(err, errlen, "MC_JWT_JWKS_ALGS: empty");
    return set;
}

void mc_jwks_free(mc_jwks_t *k)
{
    if (!k)
        return;
    if (k->started) {
        pthread_mutex_lock(&k->mu);
        atomic_store(&k->stop, 1);
        pthread_cond_signal(&k->wake);
        pthread_cond_broadcast(&k->done);
        pthread_mutex_unlock(&k->mu);
        pthread_join(k->thread, NULL);
    }
    pthread_cond_destroy(&k->wake);
    pthread_cond_destroy(&k->done);
    pthread_mutex_destroy(&k->mu);
    jwk_set_release(k->set);
    free(k->url);
    free(k->file);
    free(k->ca_file);
    free(k);
}

mc_jwks_t *mc_jwks_new(const mc_jwks_opts_t *o, char *err, size_t errlen)
{
    mc_jwks_t *k;
    pthread_condattr_t ca;

    if (!!(o->url && *o->url) == !!(o->file && *o->file)) {
        snprintf(err, errlen, "MC_JWT_JWKS_URL and MC_JWT_JWKS_FILE: set exactly one");
        return NULL;
    }
    if (o->refresh_min_s < 1 || o->refresh_max_s < o->refresh_min_s) {
        snprintf(err, errlen, "MC_JWT_JWKS_REFRESH_MIN (%ld) must be >= 1 and <= "
                 "MC_JWT_JWKS_REFRESH_MAX (%ld)", o->refresh_min_s, o->refresh_max_s);
        return NULL;
    }
    if (o->timeout_ms < 1) {
        snprintf(err, errlen, "MC_JWT_JWKS_TIMEOUT_MS must be positive");
        return NULL;
    }
    if (!(k = calloc(1, sizeof *k))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->wake, &ca);
    pthread_cond_init(&k->done, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&k->stop, 0);
    k->min_s = o->refresh_min_s;
    k->max_s = o->refresh_max_s;
    k->timeout_ms = o->timeout_ms;
    k->last_demand = -1e18;
    if (!(k->allowed = jwks__algs(o->algs, err, errlen)))
        goto fail;
    if ((o->url && *o->url && !(k->url = strdup(o->url))) ||
        (o->file && *o->file && !(k->file = strdup(o->file))) ||
        (o->ca_file && *o->ca_file && !(k->ca_file = strdup(o->ca_file)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (k->url) {
        pthread_once(&jwks__curl_once, jwks__curl_init);
        if (jwks__curl_rc != CURLE_OK) {
            snprintf(err, errlen, "MC_JWT_JWKS_URL: libcurl failed to start");
            goto fail;
        }
        if (jwks__check_url(k, o->allow_http, err, errlen) != 0)
            goto fail;
    }
    /* The first load, before the service answers; a failure only delays the keys. */
    k->fetching = 1;
    k->fetch_seq = 1;
    jwks__refresh(k, 1);
    if (pthread_create(&k->thread, NULL, jwks__run, k) != 0) {
        snprintf(err, errlen, "cannot start the JWKS refresher thread");
        goto fail;
    }
    k->started = 1;
    return k;
fail:
    mc_jwks_free(k);
    return NULL;
}

/* ------------------------------------------------------------------ status and metrics */

int mc_jwks_status(mc_jwks_t *k, json_t **detail)
{
    pthread_mutex_lock(&k->mu);
    int ok = k->set && k->set->n > 0;
    if (detail) {
        const char *status = !ok ? "no_keys" : k->consecutive ? "stale" : "ok";
        double next = k->next_at - jwks__mono();
        *detail = json_pack(
            "{s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:o, s:s?, s:f}", "status", status, "keys",
            (json_int_t)(k->set ? k->set->n : 0), "source", k->url ? k->url : k->file,
            "refreshes", (json_int_t)k->refreshes, "failures", (json_int_t)k->failures,
            "consecutive_failures", (json_int_t)k->consecutive, "unknown_kid_fetches",
            (json_int_t)k->demands, "last_success",
            k->last_success ? json_integer(k->last_success) : json_null(), "last_error",
            k->last_error[0] ? k->last_error : NULL, "next_refresh_s", next > 0 ? next : 0.0);
    }
    pthread_mutex_unlock(&k->mu);
    return ok;
}

static double jwks__read_stat(mc_jwks_t *k, int which)
{
    double v = 0;
    pthread_mutex_lock(&k->mu);
    switch (which) {
    case 0: v = k->set ? (double)k->set->n : 0; break;
    case 1: v = (double)k->refreshes; break;
    case 2: v = (double)k->failures; break;
    case 3: v = (double)k->last_success; break;
    default: v = (double)k->demands; break;
    }
    pthread_mutex_unlock(&k->mu);
    return v;
}

static double jwks__m_keys(void *k) { return jwks__read_stat(k, 0); }
static double jwks__m_refreshes(void *k) { return jwks__read_stat(k, 1); }
static double jwks__m_failures(void *k) { return jwks__read_stat(k, 2); }
static double jwks__m_last(void *k) { return jwks__read_stat(k, 3); }
static double jwks__m_demands(void *k) { return jwks__read_stat(k, 4); }

int mc_jwks_metrics(mc_jwks_t *k, mc_metrics_t *m)
{
    if (!mc_metrics_gauge_fn(m, "modelcast_jwks_keys",
                             "keys in the JWKS set tokens are verified with", NULL,
                             jwks__m_keys, k) ||
        !mc_metrics_counter_fn(m, "modelcast_jwks_refreshes_total",
                               "successful JWKS fetches", NULL, jwks__m_refreshes, k) ||
        !mc_metrics_counter_fn(m, "modelcast_jwks_refresh_failures_total",
                               "failed JWKS fetches (the last good set is kept)", NULL,
                               jwks__m_failures, k) ||
        !mc_metrics_counter_fn(m, "modelcast_jwks_unknown_kid_fetches_total",
                               "JWKS fetches asked for by a token with an unknown kid "
                               "(at most one per MC_JWT_JWKS_REFRESH_MIN)", NULL,
                               jwks__m_demands, k) ||
        !mc_metrics_gauge_fn(m, "modelcast_jwks_last_success_timestamp_seconds",
                             "when the JWKS was last fetched successfully (0: never)", NULL,
                             jwks__m_last, k))
        return MC_ERR_NOMEM;
    return MC_OK;
}
