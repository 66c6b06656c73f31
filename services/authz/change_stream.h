/*
 * change_stream.h - the exactly-once stream modelcast.changes → modelcast.deliveries:
 * a consumer-group member that reads a batch, writes its deliveries (or dead letters)
 * and its input offsets in one Kafka transaction, and rewinds when a transaction aborts.
 */
#ifndef CHANGE_STREAM_H
#define CHANGE_STREAM_H

#include <stddef.h>

#include "mc_metrics.h"
#include "mc_policy.h"

typedef struct change_stream change_stream_t;

typedef struct {
    const char *changes_topic;
    const char *deliveries_topic;
    const char *dlq_topic;
    const char *group_id;
    const char *transactional_id;
    const mc_policy_t *policy;  /* not owned; outlives the stream */
    long batch;
    long batch_window_ms;       /* gather this long after a batch's first change */
} change_stream_opts_t;

/*
 * Creates the consumer and the transactional producer (MC_KAFKA_* settings apply;
 * read_committed, manual offsets and transactions are forced). Strings are copied.
 * Registers metrics in metrics (not owned). NULL with err filled on failure.
 */
change_stream_t *change_stream_new(const change_stream_opts_t *opts, mc_metrics_t *metrics,
                                   char *err, size_t errlen);

/* Starts the stream thread (which initialises transactions first). MC_OK or MC_ERR_IO. */
int change_stream_start(change_stream_t *cs);

/* 1 once transactions are initialised and the consumer is subscribed; 0 before. */
int change_stream_ready(change_stream_t *cs);

/* 1 while the stream thread runs; 0 after a fatal error stopped it. */
int change_stream_alive(change_stream_t *cs);

/* Stops the thread (aborting an open transaction) and frees everything. NULL-safe. */
void change_stream_free(change_stream_t *cs);

#endif
