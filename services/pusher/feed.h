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

typedef struct feed feed_t;

/*
 * Receives one change frame (routed by frame->channel) read at position "p:o".
 * Returns MC_OK having taken ownership of frame, or MC_ERR_BUSY (full: frame not taken,
 * the feed retries). Called on the feed thread.
 */
typedef int (*feed_sink_fn)(void *arg, pusher_frame_t *frame, const char *position);

/*
 * Creates a consumer for topic from conf (takes ownership of conf in every case; forced
 * settings such as isolation.level are the caller's) and counts into metrics (may be NULL).
 * Returns NULL with err filled on failure.
 */
feed_t *feed_new(const char *topic, rd_kafka_conf_t *conf, feed_sink_fn sink, void *sink_arg,
                 mc_metrics_t *metrics, char *err, size_t errlen);

/* Starts the feed thread. Returns MC_OK or MC_ERR_NOMEM. */
int feed_start(feed_t *f);

/* Nonzero once every partition is assigned and being consumed. Thread-safe. */
int feed_ready(const feed_t *f);

/* Asks the thread to stop and joins it. Idempotent. */
void feed_stop(feed_t *f);

/* Stops the feed if needed, closes the consumer and frees f. NULL-safe. */
void feed_free(feed_t *f);

#endif
