/*
 * mc_otlp.h - the span exporter: OTLP/HTTP with JSON bodies (libcurl) to an OpenTelemetry
 * collector or Jaeger. Spans wait in a bounded queue (a full queue drops and counts them) and
 * a thread of its own sends them in batches; at shutdown what is queued is sent within a
 * bound. Built only when MC_OTLP_ENDPOINT is set: without it there is no thread, no queue,
 * and the services' spans stop at a branch (mc_trace.h).
 */
#ifndef MC_OTLP_H
#define MC_OTLP_H

#include <stddef.h>

#include "mc_metrics.h"
#include "mc_trace.h"

typedef struct mc_otlp mc_otlp_t;

typedef struct {
    const char *endpoint;      /* base URL (http or https): spans go to <endpoint>/v1/traces */
    const char *headers;       /* extra headers "name=value,..." (values may be %-encoded),
                                  or NULL */
    const char *service_name;  /* the resource's service.name */
    size_t queue_max;          /* spans waiting at most */
    size_t batch_max;          /* spans per request at most (0: 512) */
    long delay_ms;             /* a span waits at most this long before it is sent (0: 500) */
    long timeout_ms;           /* bound of one request, and of the flush at shutdown */
} mc_otlp_opts_t;

/*
 * Checks opts (err names MC_OTLP_ENDPOINT or MC_OTLP_HEADERS, never a header's value),
 * registers modelcast_trace_spans_exported_total and modelcast_trace_spans_dropped_total
 * {reason="queue_full"|"export_failed"} in metrics (may be NULL) and starts the sending
 * thread ("mc-otlp"). Returns NULL with err filled on failure.
 */
mc_otlp_t *mc_otlp_new(const mc_otlp_opts_t *opts, mc_metrics_t *metrics, char *err,
                       size_t errlen);

/* The tracer's export function (mc_span_export_fn): queues a copy of span, or drops it and
 * counts it when the queue is full. Thread-safe; never blocks on the network. */
void mc_otlp_export(void *otlp, const mc_span_t *span);

/* Sends what is queued (bounded by timeout_ms; what is left is dropped and counted), stops
 * the thread and frees o. NULL-safe. */
void mc_otlp_free(mc_otlp_t *o);

/*
 * The OTLP/HTTP JSON request body for n spans of service_name (ExportTraceServiceRequest:
 * ids as lowercase hex, times as decimal strings of ns). Caller frees; NULL when out of memory.
 */
char *mc_otlp_json(const char *service_name, const mc_span_t *spans, size_t n);

/*
 * A service's tracer from the MC_TRACE_OPTIONS settings: the sample ratio, and with
 * MC_OTLP_ENDPOINT an exporter (*otlp, free it with mc_otlp_free after everything that
 * traces has stopped) whose service.name is MC_OTLP_SERVICE_NAME or modelcast-<service>.
 * Without MC_OTLP_ENDPOINT *otlp is NULL and tracer->export NULL. Returns MC_OK or
 * MC_ERR_CONFIG with err naming the setting.
 */
int mc_otlp_tracer(const mc_trace_settings_t *s, const char *service, mc_metrics_t *metrics,
                   mc_tracer_t *tracer, mc_otlp_t **otlp, char *err, size_t errlen);

#endif
