/*
 * fanout_trace.h - the "pusher fan-out" span of one delivery in one pusher instance: begun
 * when the feed reads the delivery (the child of its ce_traceparent), ended when the last of
 * the instance's workers has queued its frame to every subscriber of the channel and ended
 * that loop turn's writes (each socket that could take the frame has it). One span per
 * delivery per instance, whatever the number of workers and subscribers (an attribute).
 */
#ifndef PUSHER_FANOUT_TRACE_H
#define PUSHER_FANOUT_TRACE_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>

#include "mc_trace.h"

typedef struct pusher_trace {
    mc_span_t span;
    const mc_tracer_t *tracer;
    atomic_int left;           /* workers that have not fanned the frame out yet */
    atomic_long subscribers;   /* connections it was queued on, over the workers */
} pusher_trace_t;

/*
 * Reads the trace context of delivery msg (ce_traceparent) for a frame of channel with
 * event_id (may be ""): logs it at debug level, and returns a trace whose span records, or
 * NULL when nothing records (no exporter, an unsampled trace, out of memory). tracer may be
 * NULL. The caller attaches it to the delivery's frame, which frees it.
 */
pusher_trace_t *fanout_trace_begin(const mc_tracer_t *tracer, const rd_kafka_message_t *msg,
                                   const char *channel, const char *event_id);

/* The frame goes to workers workers (set before they are handed it). */
void fanout_trace_expect(pusher_trace_t *tr, int workers);

/*
 * One worker has fanned the frame out to subscribers connections; the last one ends and
 * exports the span. Thread-safe.
 */
void fanout_trace_done(pusher_trace_t *tr, size_t subscribers);

#endif
