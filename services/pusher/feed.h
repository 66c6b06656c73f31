/*
 * feed.h - the Kafka side: a thread that reads every partition of the deliveries topic from
 * its live end (no consumer group balancing, no commits) and hands each change frame on.
 */
#ifndef PUSHER_FEED_H
#define PUSHER_FEED_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "frame.h"
#include "mc_metrics.h"
#include "mc_trace.h"

typedef struct feed feed_t;

/*
 * Receives one change frame (routed by frame->channel) read at position "p:o".
 * Returns MC_OK having taken ownership of frame, or MC_ERR_BUSY (full: frame not taken,
 * the feed retries). Called on the feed thread.
 */
typedef int (*feed_sink_fn)(void *arg, pusher_frame_t *frame, const char *position);

/*
 * The consumer settings of the feed, also the template of resume's consumers: client.id and
 * group.id "modelcast-pusher" unless MC_KAFKA_* says otherwise, every MC_KAFKA_* property,
 * and forced: read_committed, no commits, no offset store, no partition EOF events (every
 * instance reads every partition from its live end). Returns the conf (caller owns it), or
 * NULL with err naming the property that was refused.
 */
rd_kafka_conf_t *feed_kafka_conf_new(char *err, size_t errlen);

/*
 * Creates a consumer for topic from conf (takes ownership of conf in every case; build it
 * with feed_kafka_conf_new) and counts into metrics (may be NULL).
 * Returns NULL with err filled on failure.
 */
feed_t *feed_new(const char *topic, rd_kafka_conf_t *conf, feed_sink_fn sink, void *sink_arg,
                 mc_metrics_t *metrics, char *err, size_t errlen);

/*
 * Traces deliveries with tracer (not owned, outlives f; set before feed_start): each change
 * frame whose trace records gets its fan-out span (fanout_trace.h). Without it (or with a
 * tracer without exporter) deliveries are only logged with their trace at debug level.
 */
void feed_set_tracer(feed_t *f, const mc_tracer_t *tracer);

/* Starts the feed thread. Returns MC_OK or MC_ERR_NOMEM. */
int feed_start(feed_t *f);

/* Nonzero once every partition is assigned and being consumed. Thread-safe. */
int feed_ready(const feed_t *f);

/* Asks the thread to stop and joins it. Idempotent. */
void feed_stop(feed_t *f);

/* Stops the feed if needed, closes the consumer and frees f. NULL-safe. */
void feed_free(feed_t *f);

#endif
