/*
 * change_stream.h - the exactly-once stream modelcast.changes → modelcast.deliveries:
 * a consumer-group member (static membership) that reads what has been fetched, drops
 * events repeated by the relay (same ce_id, see dedupe.h), writes the deliveries (or dead
 * letters) and its input offsets in one Kafka transaction, and rewinds when a transaction
 * aborts. Each change's trace context (ce_traceparent) goes on with its deliveries; with an
 * exporter, an "authz route + commit" span per change runs from its read to the commit.
 */
#ifndef CHANGE_STREAM_H
#define CHANGE_STREAM_H

#include <stddef.h>

#include "mc_metrics.h"
#include "mc_policy.h"
#include "mc_trace.h"

typedef struct change_stream change_stream_t;

typedef struct {
    const char *changes_topic;
    const char *deliveries_topic;
    const char *dlq_topic;
    const char *group_id;
    const char *transactional_id; /* also the consumer's group.instance.id */
    const mc_policy_t *policy;    /* not owned; outlives the stream */
    long batch;                   /* change events per transaction at most */
    long batch_window_ms;         /* 0: a batch is what has been fetched; else gather this
                                     long after a batch's first change */
    long dedupe_window;           /* ce_ids remembered per partition (0: no dedupe) */
    /* Called once, from the stream thread, when the stream stops for good (fenced, fatal
     * error). May be NULL. */
    void (*on_stop)(void *arg);
    void *on_stop_arg;
    const mc_tracer_t *tracer;    /* not owned, outlives the stream; NULL: no spans */
} change_stream_opts_t;

/*
 * Creates the consumer, the transactional producer and the reader that rebuilds the
 * dedupe windows (MC_KAFKA_* settings apply by property scope, MC_KAFKA_CONSUMER_* and
 * MC_KAFKA_PRODUCER_* to one side; read_committed, manual offsets, transactions and the
 * static group.instance.id are forced). Strings are copied. Registers metrics in metrics
 * (not owned). NULL with err filled on failure.
 */
change_stream_t *change_stream_new(const change_stream_opts_t *opts, mc_metrics_t *metrics,
                                   char *err, size_t errlen);

/* Starts the stream thread (which initialises transactions first). MC_OK or MC_ERR_IO. */
int change_stream_start(change_stream_t *cs);

/*
 * 1 once transactions are initialised and the group has given this member its partitions
 * (possibly none: more instances than partitions) at least once; 0 before, and after the
 * stream stopped.
 */
int change_stream_ready(change_stream_t *cs);

/* Partitions of the changes topic assigned now. */
int change_stream_partitions(change_stream_t *cs);

/* 1 while the stream runs or starts; 0 once it stopped for good (see on_stop). */
int change_stream_alive(change_stream_t *cs);

/* Stops the thread (aborting an open transaction) and frees everything. NULL-safe. */
void change_stream_free(change_stream_t *cs);

#endif
