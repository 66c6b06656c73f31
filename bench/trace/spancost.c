/*
 * spancost.c - what tracing adds to each write and each change, in nanoseconds, measured on
 * the functions the services call (common/ mc_trace and mc_otlp, release build):
 *   off  what every write and hop does without MC_OTLP_ENDPOINT: make or read a context,
 *        format it for the outbox, the response and the Kafka header
 *   on   what a recording span adds on the service's thread (begin, attributes, end, the
 *        copy into the exporter's queue), and what the exporter thread spends per span on
 *        the JSON body
 * Each figure is the best of 7 runs of N calls (the least disturbed by other work).
 * Usage: spancost [N]
 */
#include "mc_otlp.h"
#include "mc_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile unsigned sink;
static const char *const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/* As model-api's write: a new trace (no traceparent), its context formatted for the
 * statement and for traceresponse. */
static void op_write_root(const mc_tracer_t *t)
{
    mc_span_t s;
    char a[MC_TRACEPARENT_LEN + 1], b[MC_TRACEPARENT_LEN + 1];
    mc_span_begin(t, &s, "REST write", MC_SPAN_SERVER, NULL);
    mc_trace_format(&s.ctx, a);
    mc_trace_format(&s.ctx, b);
    mc_span_end(t, &s, 0);
    sink += (unsigned)a[40] + (unsigned)b[40];
}

/* The same with the caller's traceparent. */
static void op_write_child(const mc_tracer_t *t)
{
    mc_span_t s;
    mc_trace_ctx_t p;
    char a[MC_TRACEPARENT_LEN + 1], b[MC_TRACEPARENT_LEN + 1];
    int ok = mc_trace_parse(TP, &p) == 0;
    mc_span_begin(t, &s, "REST write", MC_SPAN_SERVER, ok ? &p : NULL);
    mc_trace_format(&s.ctx, a);
    mc_trace_format(&s.ctx, b);
    if (s.recording) {
        mc_span_attr_str(&s, "http.request.method", "POST");
        mc_span_attr_str(&s, "http.route", "POST /v1/{model}");
        mc_span_attr_int(&s, "http.response.status_code", 201);
        mc_span_attr_str(&s, "modelcast.model", "Dictionary");
    }
    mc_span_end(t, &s, 0);
    sink += (unsigned)a[40] + (unsigned)b[40];
}

/* As the relay (and authz, and the pusher) per event: read the context, pass it on. */
static void op_hop(const mc_tracer_t *t)
{
    mc_span_t s;
    mc_trace_ctx_t p;
    char a[MC_TRACEPARENT_LEN + 1];
    int ok = mc_trace_parse(TP, &p) == 0;
    mc_span_begin(t, &s, "relay publish", MC_SPAN_PRODUCER, ok ? &p : NULL);
    mc_trace_format(&s.ctx, a);
    if (s.recording) {
        mc_span_attr_str(&s, "modelcast.event_id", "3f0e6c1a-3a59-4f0e-9d43-0e8f7f2a9b11");
        mc_span_attr_str(&s, "modelcast.model", "Dictionary");
        mc_span_attr_str(&s, "modelcast.record_id", "42");
        mc_span_attr_int(&s, "modelcast.version", 2);
        mc_span_attr_str(&s, "messaging.destination.name", "modelcast.changes");
    }
    mc_span_end(t, &s, 0);
    sink += (unsigned)a[40];
}

static void count(void *arg, const mc_span_t *span)
{
    (void)arg;
    sink += (unsigned)span->ctx.span_id[0];
}

static double best(void (*op)(const mc_tracer_t *), const mc_tracer_t *t, long n)
{
    double min = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < n; i++)
            op(t);
        double per = (now_ns() - t0) / (double)n;
        if (per < min)
            min = per;
    }
    return min;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    char err[256];
    mc_tracer_t off = {.sample = 1.0};
    mc_tracer_t counting = {.sample = 1.0, .export = count};
    /* an exporter whose receiver is away: its thread drops what it takes, so the queue
     * never fills and every export is the copy a service pays */
    mc_otlp_opts_t o = {.endpoint = "http://127.0.0.1:1", .service_name = "spancost",
                        .queue_max = 65536, .timeout_ms = 1000};
    mc_otlp_t *x = mc_otlp_new(&o, NULL, err, sizeof err);
    if (!x) {
        fprintf(stderr, "spancost: %s\n", err);
        return 1;
    }
    mc_tracer_t otlp = {.sample = 1.0, .export = mc_otlp_export, .export_arg = x};
    mc_span_t spans[512];
    for (int i = 0; i < 512; i++) {
        mc_trace_ctx_t p;
        mc_trace_parse(TP, &p);
        mc_span_begin(&counting, &spans[i], "relay publish", MC_SPAN_PRODUCER, &p);
        mc_span_attr_str(&spans[i], "modelcast.event_id", "3f0e6c1a-3a59-4f0e-9d43-0e8f7f2a9b11");
        mc_span_attr_str(&spans[i], "modelcast.model", "Dictionary");
        mc_span_attr_int(&spans[i], "modelcast.version", 2);
        spans[i].end_ns = spans[i].start_ns + 1000000;
    }

    printf("| what | tracing | ns per call |\n|---|---|---:|\n");
    printf("| a write without traceparent (new trace, 2 formats) | off | %.0f |\n",
           best(op_write_root, &off, n));
    printf("| a write with traceparent (parse, 2 formats) | off | %.0f |\n",
           best(op_write_child, &off, n));
    printf("| a hop: relay, authz, pusher (parse, format) | off | %.0f |\n",
           best(op_hop, &off, n));
    printf("| a write with traceparent, span recorded (no exporter work) | on | %.0f |\n",
           best(op_write_child, &counting, n));
    printf("| a hop, span recorded (no exporter work) | on | %.0f |\n",
           best(op_hop, &counting, n));
    printf("| a hop, span recorded and queued in the OTLP exporter | on | %.0f |\n",
           best(op_hop, &otlp, n / 4 < 60000 ? n / 4 : 60000));
    double t0 = now_ns();
    int reps = 20;
    for (int r = 0; r < reps; r++) {
        char *json = mc_otlp_json("modelcast-model-api", spans, 512);
        sink += (unsigned)json[10];
        free(json);
    }
    printf("| the exporter thread: JSON body, per span (batches of 512) | on | %.0f |\n",
           (now_ns() - t0) / (reps * 512.0));
    mc_otlp_free(x);
    return sink == 0x12345 ? 1 : 0;
}
