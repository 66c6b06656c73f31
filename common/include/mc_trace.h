/*
 * mc_trace.h - trace context and spans: W3C Trace Context (traceparent, tracestate) parsed,
 * checked and formatted; span records begun and ended; finished spans handed to the tracer's
 * exporter (mc_otlp.h) when one is configured. No I/O but getrandom(), no allocation: with no
 * exporter a span costs a branch, and a context is passed on as it came.
 */
#ifndef MC_TRACE_H
#define MC_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "mc_config.h"

/* The sampled flag of trace-flags. */
#define MC_TRACE_SAMPLED 0x01
/* Characters of a version-00 traceparent ("00-<32 hex>-<16 hex>-<2 hex>"). */
#define MC_TRACEPARENT_LEN 55
/* Longest tracestate passed on (W3C: at least 512 must be); a longer one is dropped. */
#define MC_TRACESTATE_MAX 512

/* One hop of a trace: which trace, the span it comes from, the flags. */
typedef struct {
    uint8_t trace_id[16];
    uint8_t span_id[8];    /* the sender's span: a traceparent's parent-id */
    uint8_t flags;
} mc_trace_ctx_t;

/*
 * Parses a traceparent value (W3C Trace Context Level 1, 3.2) into ctx: optional leading and
 * trailing spaces and tabs, lowercase hex, trace-id and parent-id not all zero, version not
 * ff; version 00 is exactly 55 characters, a later version at least that with '-' after the
 * flags (its first four fields are read as version 00's). Returns MC_OK, or MC_ERR_INVAL
 * (text NULL too): the caller then starts a new trace.
 */
int mc_trace_parse(const char *text, mc_trace_ctx_t *ctx);

/* Formats ctx as a version-00 traceparent into out (MC_TRACEPARENT_LEN + 1 bytes). */
void mc_trace_format(const mc_trace_ctx_t *ctx, char *out);

/* The trace-id of ctx as 32 lowercase hex digits into out (33 bytes). */
void mc_trace_id_hex(const mc_trace_ctx_t *ctx, char *out);

/* n bytes as 2n lowercase hex digits and a NUL into out. */
void mc_trace_hex(const uint8_t *bytes, size_t n, char *out);

/*
 * Checks a tracestate value (W3C 3.3: list members key=value separated by commas with
 * optional spaces and tabs, at most 32, keys unique and well formed, values of printable
 * characters but ',' and '=') and writes it into out (outlen >= MC_TRACESTATE_MAX + 1)
 * without the optional white space and empty members. Returns MC_OK, or MC_ERR_INVAL (NULL,
 * malformed, no member, or more than MC_TRACESTATE_MAX characters): not passed on then.
 */
int mc_tracestate_check(const char *text, char *out, size_t outlen);

/* Fills buf with n random bytes (getrandom(); never blocks once the system is up). */
void mc_trace_random(void *buf, size_t n);

/* Wall-clock time in nanoseconds since the Unix epoch (span timestamps). */
int64_t mc_trace_now_ns(void);

/* OTLP span kinds. */
typedef enum {
    MC_SPAN_INTERNAL = 1,
    MC_SPAN_SERVER = 2,
    MC_SPAN_CLIENT = 3,
    MC_SPAN_PRODUCER = 4,
    MC_SPAN_CONSUMER = 5,
} mc_span_kind_t;

#define MC_SPAN_MAX_ATTRS 6
#define MC_SPAN_ATTR_LEN 96

/* One attribute: a string (truncated to MC_SPAN_ATTR_LEN - 1) or an integer. */
typedef struct {
    const char *key;       /* a string literal */
    int is_int;
    long long num;
    char str[MC_SPAN_ATTR_LEN];
} mc_span_attr_t;

/* A span: filled by mc_span_begin, its attributes added, its end set by mc_span_end. */
typedef struct {
    mc_trace_ctx_t ctx;        /* trace, this span's id (what a child gets), flags */
    uint8_t parent_id[8];      /* the parent span; all zero for the root of a trace */
    const char *name;          /* a string literal */
    mc_span_kind_t kind;
    int recording;             /* exported at its end: the tracer has an exporter and the
                                  trace is sampled; attributes are kept only then */
    int error;                 /* status: the operation failed */
    int64_t start_ns, end_ns;  /* Unix time, ns */
    int nattrs;
    mc_span_attr_t attrs[MC_SPAN_MAX_ATTRS];
} mc_span_t;

/* Takes a finished span (copied; called from any thread). */
typedef void (*mc_span_export_fn)(void *arg, const mc_span_t *span);

/* What a service traces with: built by mc_otlp_tracer() from the MC_TRACE_OPTIONS settings. */
typedef struct {
    double sample;               /* share of the traces started here marked sampled */
    mc_span_export_fn export;    /* NULL: nothing is recorded (MC_OTLP_ENDPOINT unset) */
    void *export_arg;
} mc_tracer_t;

/*
 * Begins span name of kind. parent (NULL: none or invalid) is the context received; the span
 * continues its trace and keeps its flags, else it is the root of a new trace (new random
 * trace-id, sampled with probability t->sample, decided by the trace-id as OpenTelemetry's
 * TraceIdRatioBased does). The span records when t has an exporter and the trace is sampled:
 * it then gets a new span id and its start time. A span that does not record keeps the
 * parent's span id (a context passes through unchanged, as W3C allows) or, a root, a random
 * one; nothing else is done. t may be NULL (nothing records).
 */
void mc_span_begin(const mc_tracer_t *t, mc_span_t *span, const char *name,
                   mc_span_kind_t kind, const mc_trace_ctx_t *parent);

/* Adds a string or integer attribute to a recording span (no-op otherwise; extra ones
 * beyond MC_SPAN_MAX_ATTRS are dropped). key must be a string literal. */
void mc_span_attr_str(mc_span_t *span, const char *key, const char *value);
void mc_span_attr_int(mc_span_t *span, const char *key, long long value);

/* Ends a recording span now (end_ns 0) or at end_ns and exports it; no-op otherwise. */
void mc_span_end(const mc_tracer_t *t, mc_span_t *span, int64_t end_ns);

/* The trace settings every service shares; embed in a service's config struct. */
typedef struct {
    char *otlp_endpoint;      /* MC_OTLP_ENDPOINT: base URL of an OTLP/HTTP receiver */
    char *otlp_headers;       /* MC_OTLP_HEADERS: "name=value,..." (never logged) */
    char *otlp_service_name;  /* MC_OTLP_SERVICE_NAME: default modelcast-<service> */
    long otlp_timeout_ms;     /* MC_OTLP_TIMEOUT_MS */
    long otlp_queue;          /* MC_OTLP_QUEUE: spans waiting at most */
    char *sample;             /* MC_TRACE_SAMPLE: 0..1 */
} mc_trace_settings_t;

/* The settings-table rows for an mc_trace_settings_t at field of the service config. */
#define MC_TRACE_OPTIONS(type, field)                                                          \
    {"MC_OTLP_ENDPOINT", MC_CFG_STRING, NULL, offsetof(type, field.otlp_endpoint), 0, 0,       \
     "OpenTelemetry collector (or Jaeger) to send spans to, OTLP/HTTP JSON: spans are POSTed " \
     "to <this URL>/v1/traces. Unset (the default): no span is recorded or sent; the trace "  \
     "context (traceparent) still travels with every change"},                               \
    {"MC_OTLP_HEADERS", MC_CFG_STRING, NULL, offsetof(type, field.otlp_headers), 0, 0,         \
     "extra HTTP headers of those requests, name=value,name=value (an API key...; never "     \
     "logged)"},                                                                              \
    {"MC_OTLP_SERVICE_NAME", MC_CFG_STRING, NULL, offsetof(type, field.otlp_service_name), 0, \
     0, "service.name of the spans (default modelcast-<service>)"},                          \
    {"MC_OTLP_TIMEOUT_MS", MC_CFG_INT, "5000", offsetof(type, field.otlp_timeout_ms), 100,    \
     60000, "bound of one export request, and of the last one at shutdown"},                 \
    {"MC_OTLP_QUEUE", MC_CFG_INT, "2048", offsetof(type, field.otlp_queue), 16, 1000000,      \
     "spans waiting to be sent at most; more are dropped and counted "                        \
     "(modelcast_trace_spans_dropped_total)"},                                               \
    {"MC_TRACE_SAMPLE", MC_CFG_STRING, "1", offsetof(type, field.sample), 0, 0,                \
     "share (0 to 1) of the traces this service starts that are sampled; a received "        \
     "traceparent's sampled flag is followed as it is"}

/* Parses MC_TRACE_SAMPLE text into *ratio. MC_OK or MC_ERR_CONFIG (err names the setting). */
int mc_trace_sample_parse(const char *text, double *ratio, char *err, size_t errlen);

#endif
