/*
 * outbox_relay.h - publishes the outbox to Kafka: one active relay per database (advisory
 * lock; others stand by), rows in id order through an idempotent producer, deleted only
 * after Kafka acknowledged them, with backoff while Kafka is away.
 */
#ifndef OUTBOX_RELAY_H
#define OUTBOX_RELAY_H

#include <stddef.h>

#include "mc_metrics.h"

typedef struct outbox_relay outbox_relay_t;

typedef struct {
    const char *conninfo;      /* PostgreSQL (copied) */
    const char *topic;         /* change topic (copied) */
    const char *ce_source;     /* CloudEvents source (copied) */
    long batch;                /* rows per round */
    long idle_max_ms;          /* longest idle pause between polls */
} outbox_relay_opts_t;

/*
 * Creates the relay and its Kafka producer (MC_KAFKA_* settings apply; idempotence is
 * forced on). Registers its metrics in metrics (not owned). Does not start the thread.
 * Returns NULL with err filled on failure.
 */
outbox_relay_t *outbox_relay_new(const outbox_relay_opts_t *opts, mc_metrics_t *metrics,
                                 char *err, size_t errlen);

/* Starts the relay thread. Returns MC_OK or MC_ERR_IO. */
int outbox_relay_start(outbox_relay_t *relay);

/* Wakes the relay now (after a write through the API). Thread-safe, cheap. */
void outbox_relay_kick(outbox_relay_t *relay);

/* Kafka answered a metadata request within timeout_ms (for /readyz). */
int outbox_relay_kafka_ok(outbox_relay_t *relay, int timeout_ms);

/* Rows waiting in the outbox and the age in seconds of the oldest, as last measured. */
void outbox_relay_lag(outbox_relay_t *relay, long *depth, double *age_s);

/* Stops the thread (flushing what is in flight, bounded) and frees everything. NULL-safe. */
void outbox_relay_free(outbox_relay_t *relay);

#endif
