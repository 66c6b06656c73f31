/*
 * outbox_relay.h - publishes the outbox to Kafka: one active relay per database (advisory
 * lock; others stand by), rows in id order through an idempotent producer, deleted only
 * after Kafka acknowledged them, with backoff while Kafka is away. An event Kafka refuses
 * for good (too large, invalid) is moved to the dead-letter table modelcast_outbox_dead and
 * the stream goes on. Woken at once by writes through this API (outbox_relay_kick) and by
 * the NOTIFY the outbox trigger sends for other SQL sessions; polls as a safety net.
 * Each event carries its row's trace context (ce_traceparent, ce_tracestate), a new trace
 * when the row has none; with an exporter, a "relay publish" span per event runs from the
 * read of its row to Kafka's acknowledgement.
 */
#ifndef OUTBOX_RELAY_H
#define OUTBOX_RELAY_H

#include <stddef.h>

#include "mc_metrics.h"
#include "mc_trace.h"

typedef struct outbox_relay outbox_relay_t;

/* The channel the outbox trigger notifies for writers other than this API's sessions. */
#define OUTBOX_RELAY_CHANNEL "modelcast_outbox"

typedef struct {
    const char *conninfo;      /* PostgreSQL (copied) */
    const char *topic;         /* change topic (copied) */
    const char *ce_source;     /* CloudEvents source (copied) */
    long batch;                /* rows per round */
    long idle_max_ms;          /* longest idle pause between polls */
    long event_max_bytes;      /* largest event the API writes; the producer must take it */
    long stall_s;              /* no progress for this long: not alive (outbox_relay_status) */
    const mc_tracer_t *tracer; /* not owned, outlives the relay; NULL: no spans */
} outbox_relay_opts_t;

/* What /readyz and /healthz report of the relay (outbox_relay_status). */
typedef struct {
    const char *role;          /* "starting", "active", "standby" or "failed" */
    int kafka_ok;              /* Kafka answered lately (a delivery or a metadata request) */
    long depth;                /* rows waiting in the outbox, as last measured */
    double age_s;              /* age of the oldest of them, seconds */
    long dead;                 /* rows in modelcast_outbox_dead, as last measured */
    double beat_age_s;         /* seconds since the relay thread last showed progress */
    int alive;                 /* 0 once the relay stopped for good or is stuck (no progress
                                  for opts->stall_s) */
    char why[160];             /* when not alive: the reason */
} outbox_relay_status_t;

/*
 * Creates the relay and its Kafka producer (MC_KAFKA_* settings apply; idempotence and
 * acks=all are forced). Checks that the producer's message.max.bytes takes an event of
 * opts->event_max_bytes with its key, headers and framing. Registers its metrics in
 * metrics (not owned). Does not start the thread. Returns NULL with err filled on failure.
 */
outbox_relay_t *outbox_relay_new(const outbox_relay_opts_t *opts, mc_metrics_t *metrics,
                                 char *err, size_t errlen);

/* Starts the relay thread. Returns MC_OK or MC_ERR_IO. */
int outbox_relay_start(outbox_relay_t *relay);

/*
 * Wakes the relay now (after a write through the API). Thread-safe, cheap. A standby relay
 * passes the wake-up on to the active one (NOTIFY), which may run in another process.
 */
void outbox_relay_kick(outbox_relay_t *relay);

/* Fills st with the relay's current state. Thread-safe. */
void outbox_relay_status(outbox_relay_t *relay, outbox_relay_status_t *st);

/*
 * Whether a relay whose thread last showed progress beat_age_s ago, in role, still lives:
 * 0 once it failed for good or has been stuck longer than stall_s. Pure (unit tests).
 */
int outbox_relay_alive(const char *role, double beat_age_s, double stall_s);

/* Stops the thread (flushing what is in flight, bounded) and frees everything. NULL-safe. */
void outbox_relay_free(outbox_relay_t *relay);

#endif
