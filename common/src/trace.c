/* trace.c - W3C trace context and span records (see mc_trace.h). */
#include "mc_trace.h"
#include "mc_error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TRACESTATE_MEMBERS_MAX 32

static int trace__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* uppercase is not allowed either */
}

/* Reads 2n lowercase hex digits of s into out. 0, or -1 on any other character. */
static int trace__unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = trace__hexval(s[2 * i]), lo = hi < 0 ? -1 : trace__hexval(s[2 * i + 1]);
        if (lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int trace__zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static int trace__ows(char c)
{
    return c == ' ' || c == '\t';
}

int mc_trace_parse(const char *text, mc_trace_ctx_t *ctx)
{
    uint8_t version;
    mc_trace_ctx_t c;
    size_t len;

    if (!text)
        return MC_ERR_INVAL;
    while (trace__ows(*text))
        text++;
    len = strlen(text);
    while (len > 0 && trace__ows(text[len - 1]))
        len--;
    if (len < MC_TRACEPARENT_LEN || trace__unhex(text, &version, 1) != 0 || version == 0xff)
        return MC_ERR_INVAL;
    /* Version 00 is exactly this long; a later one may add fields after a '-'. */
    if (version == 0 ? len != MC_TRACEPARENT_LEN
                     : len > MC_TRACEPARENT_LEN && text[MC_TRACEPARENT_LEN] != '-')
        return MC_ERR_INVAL;
    if (text[2] != '-' || text[35] != '-' || text[52] != '-' ||
        trace__unhex(text + 3, c.trace_id, 16) != 0 || trace__unhex(text + 36, c.span_id, 8) != 0 ||
        trace__unhex(text + 53, &c.flags, 1) != 0 || trace__zero(c.trace_id, 16) ||
        trace__zero(c.span_id, 8))
        return MC_ERR_INVAL;
    *ctx = c;
    return MC_OK;
}

void mc_trace_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 0xf];
    }
    out[2 * n] = '\0';
}

void mc_trace_format(const mc_trace_ctx_t *ctx, char *out)
{
    memcpy(out, "00-", 3);
    mc_trace_hex(ctx->trace_id, 16, out + 3);
    out[35] = '-';
    mc_trace_hex(ctx->span_id, 8, out + 36);
    out[52] = '-';
    mc_trace_hex(&ctx->flags, 1, out + 53);
}

void mc_trace_id_hex(const mc_trace_ctx_t *ctx, char *out)
{
    mc_trace_hex(ctx->trace_id, 16, out);
}

/* Key characters after the first (W3C 3.3.1.3.1). */
static int trace__keychar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '*' || c == '/';
}

/* Whether key[0, n) is a simple-key or a multi-tenant-key (tenant@system). */
static int trace__key_ok(const char *key, size_t n)
{
    const char *at = memchr(key, '@', n);
    if (!at) {
        if (n == 0 || n > 256 || !(key[0] >= 'a' && key[0] <= 'z'))
            return 0;
    } else {
        size_t tenant = (size_t)(at - key), system = n - tenant - 1;
        if (tenant == 0 || tenant > 241 || system == 0 || system > 14 ||
            !((key[0] >= 'a' && key[0] <= 'z') || (key[0] >= '0' && key[0] <= '9')) ||
            !(at[1] >= 'a' && at[1] <= 'z'))
            return 0;
    }
    for (size_t i = 1; i < n; i++)
        if (&key[i] != at && !trace__keychar(key[i]))
            return 0;
    return 1;
}

/* Whether v[0, n) is a value: 1 to 256 printable characters but ',' and '=', the last not
 * a space. */
static int trace__value_ok(const char *v, size_t n)
{
    if (n == 0 || n > 256 || v[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
            return 0;
    return 1;
}

int mc_tracestate_check(const char *text, char *out, size_t outlen)
{
    size_t olen = 0, keypos[TRACESTATE_MEMBERS_MAX], keylen[TRACESTATE_MEMBERS_MAX];
    int members = 0;

    if (!text || !out || outlen < MC_TRACESTATE_MAX + 1)
        return MC_ERR_INVAL;
    for (const char *p = text;;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        while (p < end && trace__ows(*p))
            p++;
        const char *e = end;
        while (e > p && trace__ows(e[-1]))
            e--;
        size_t n = (size_t)(e - p);
        if (n > 0) { /* empty members are allowed, and dropped */
            const char *eq = memchr(p, '=', n);
            size_t kn = eq ? (size_t)(eq - p) : 0;
            if (!eq || members == TRACESTATE_MEMBERS_MAX || !trace__key_ok(p, kn) ||
                !trace__value_ok(eq + 1, n - kn - 1) ||
                olen + (olen ? 1 : 0) + n > MC_TRACESTATE_MAX)
                return MC_ERR_INVAL;
            for (int i = 0; i < members; i++)
                if (keylen[i] == kn && memcmp(out + keypos[i], p, kn) == 0)
                    return MC_ERR_INVAL; /* a key twice */
            if (olen)
                out[olen++] = ',';
            keypos[members] = olen;
            keylen[members++] = kn;
            memcpy(out + olen, p, n);
            olen += n;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    out[olen] = '\0';
    return members > 0 ? MC_OK : MC_ERR_INVAL;
}

void mc_trace_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            /* No getrandom (a kernel before 3.17): ids from the clock, unique enough for
             * tracing, which is all they are used for. */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            unsigned long long x = ((unsigned long long)ts.tv_sec << 30 ^
                                    (unsigned long long)ts.tv_nsec ^ (uintptr_t)p) |
                                   1;
            for (; n > 0; n--, p++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                *p = (unsigned char)x;
            }
            return;
        }
        p += got;
        n -= (size_t)got;
    }
}

int64_t mc_trace_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Random bytes that are not all zero (a valid id). */
static void trace__new_id(uint8_t *id, size_t n)
{
    do
        mc_trace_random(id, n);
    while (trace__zero(id, n));
}

/* OpenTelemetry's TraceIdRatioBased: the trace-id's last 8 bytes as a 63-bit number under
 * ratio × 2^63 (the same trace always gets the same answer). */
static int trace__sampled(const uint8_t *trace_id, double ratio)
{
    if (ratio >= 1.0)
        return 1;
    if (ratio <= 0.0)
        return 0;
    uint64_t x = 0;
    for (int i = 8; i < 16; i++)
        x = x << 8 | trace_id[i];
    return (double)(x >> 1) < ratio * 9223372036854775808.0;
}

void mc_span_begin(const mc_tracer_t *t, mc_span_t *span, const char *name,
                   mc_span_kind_t kind, const mc_trace_ctx_t *parent)
{
    span->name = name;
    span->kind = kind;
    span->error = 0;
    span->nattrs = 0;
    span->start_ns = span->end_ns = 0;
    if (parent) {
        span->ctx = *parent;
        memcpy(span->parent_id, parent->span_id, sizeof span->parent_id);
    } else {
        uint8_t ids[24]; /* both ids from one getrandom() */
        do
            mc_trace_random(ids, sizeof ids);
        while (trace__zero(ids, 16) || trace__zero(ids + 16, 8));
        memcpy(span->ctx.trace_id, ids, 16);
        memcpy(span->ctx.span_id, ids + 16, 8);
        memset(span->parent_id, 0, sizeof span->parent_id);
        span->ctx.flags = trace__sampled(span->ctx.trace_id, t ? t->sample : 1.0)
                              ? MC_TRACE_SAMPLED
                              : 0;
    }
    span->recording = t && t->export && (span->ctx.flags & MC_TRACE_SAMPLED);
    if (!span->recording)
        return;
    if (parent)
        trace__new_id(span->ctx.span_id, sizeof span->ctx.span_id);
    span->start_ns = mc_trace_now_ns();
}

static mc_span_attr_t *trace__attr(mc_span_t *span, const char *key)
{
    if (!span->recording || span->nattrs >= MC_SPAN_MAX_ATTRS)
        return NULL;
    mc_span_attr_t *a = &span->attrs[span->nattrs++];
    a->key = key;
    return a;
}

void mc_span_attr_str(mc_span_t *span, const char *key, const char *value)
{
    mc_span_attr_t *a = trace__attr(span, key);
    if (a) {
        a->is_int = 0;
        snprintf(a->str, sizeof a->str, "%s", value ? value : "");
    }
}

void mc_span_attr_int(mc_span_t *span, const char *key, long long value)
{
    mc_span_attr_t *a = trace__attr(span, key);
    if (a) {
        a->is_int = 1;
        a->num = value;
    }
}

void mc_span_end(const mc_tracer_t *t, mc_span_t *span, int64_t end_ns)
{
    if (!span->recording || !t || !t->export)
        return;
    span->end_ns = end_ns ? end_ns : mc_trace_now_ns();
    t->export(t->export_arg, span);
}

int mc_trace_sample_parse(const char *text, double *ratio, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    double v = text ? strtod(text, &end) : NAN;
    if (!text || errno || end == text || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
        snprintf(err, errlen, "MC_TRACE_SAMPLE: '%s' is not a number from 0 to 1",
                 text ? text : "");
        return MC_ERR_CONFIG;
    }
    *ratio = v;
    return MC_OK;
}
