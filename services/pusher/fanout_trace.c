/* fanout_trace.c - the pusher's fan-out span of a delivery, shared by its workers. */
#include "fanout_trace.h"
#include "mc_contract.h"
#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_log.h"

#include <stdlib.h>
#include <string.h>

pusher_trace_t *fanout_trace_begin(const mc_tracer_t *tracer, const rd_kafka_message_t *msg,
                                   const char *channel, const char *event_id)
{
    char text[128], tid[33];
    mc_trace_ctx_t parent;
    mc_span_t span;
    pusher_trace_t *tr = NULL;
    int have = mc_kafka_header(msg, MC_HEADER_CE_TRACEPARENT, text, sizeof text) == MC_OK &&
               mc_trace_parse(text, &parent) == MC_OK;

    mc_span_begin(tracer, &span, "pusher fan-out", MC_SPAN_CONSUMER, have ? &parent : NULL);
    if (mc_log_level() <= MC_LOG_DEBUG) {
        mc_trace_id_hex(&span.ctx, tid);
        mc_log_ctx_t lc = {event_id, have ? tid : NULL};
        MC_LOG_CTX(MC_LOG_DEBUG, &lc, "feed: delivery for %s at %d:%lld%s", channel,
                   (int)msg->partition, (long long)msg->offset,
                   have ? "" : " (no valid ce_traceparent)");
    }
    if (!span.recording || !(tr = calloc(1, sizeof *tr)))
        return NULL;
    tr->span = span;
    tr->tracer = tracer;
    mc_span_attr_str(&tr->span, "modelcast.event_id", event_id);
    mc_span_attr_str(&tr->span, "modelcast.channel", channel);
    mc_span_attr_int(&tr->span, "messaging.kafka.partition", msg->partition);
    mc_span_attr_int(&tr->span, "messaging.kafka.offset", msg->offset);
    atomic_init(&tr->left, 1);
    atomic_init(&tr->subscribers, 0);
    return tr;
}

void fanout_trace_expect(pusher_trace_t *tr, int workers)
{
    atomic_store(&tr->left, workers);
    mc_span_attr_int(&tr->span, "modelcast.workers", workers);
}

void fanout_trace_done(pusher_trace_t *tr, size_t subscribers)
{
    atomic_fetch_add(&tr->subscribers, (long)subscribers);
    if (atomic_fetch_sub(&tr->left, 1) != 1)
        return;
    mc_span_attr_int(&tr->span, "modelcast.subscribers", atomic_load(&tr->subscribers));
    mc_span_end(tr->tracer, &tr->span, 0);
}
