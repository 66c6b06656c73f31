/*
 * outbox_batch.h - the decisions of one relay round, kept apart from PostgreSQL and Kafka
 * so that unit tests can drive them: which Kafka errors mean "this event can never be
 * published", and, once every delivery report of a round is in, which rows are done
 * (deleted, or set aside in the dead-letter table) and which wait for the next round.
 */
#ifndef OUTBOX_BATCH_H
#define OUTBOX_BATCH_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Where one outbox row of the round stands. */
typedef enum {
    OB_UNSENT = 0,  /* not produced: a row after a failure waits for the next round */
    OB_SENT,        /* produced, no delivery report yet */
    OB_ACKED,       /* Kafka acknowledged it */
    OB_FAILED,      /* a transient error (Kafka away, timeout...): retried */
    OB_REFUSED,     /* Kafka refused this very event for good (too large, invalid record) */
} ob_state_t;

typedef struct {
    long long id;              /* outbox id */
    ob_state_t state;
    rd_kafka_resp_err_t err;   /* why FAILED or REFUSED */
    int at_produce;            /* refused by the producer before sending: the event alone */
} ob_row_t;

/* What the relay does once every report of a round is in. */
typedef struct {
    size_t done;        /* rows [0, done) are finished: ACKED ones are deleted, REFUSED ones
                           are set aside; the rest are read again next round */
    size_t refused;     /* how many of [0, done) are REFUSED */
    long long isolate;  /* a row refused in a batch shared with other rows: the next round
                           sends it alone to learn whether it is the one at fault; 0: none */
    int retry;          /* a transient failure ended the round: back off before the next */
} ob_outcome_t;

/*
 * Whether err, for one message, means Kafka will never accept that message however often
 * it is sent again: the message is too large or an invalid record. Errors that concern
 * every message (authorization, unknown topic, Kafka away) are not: those stop the stream
 * until they are fixed, without losing anything.
 */
int outbox_batch_refused(rd_kafka_resp_err_t err);

/*
 * Settles a round of n rows in id order. alone: the round sent only rows[0] (an isolated
 * row), so a refusal in its delivery report is its own. A refusal reported for a row that
 * shared the round with others is isolated first, as a broker refuses a whole batch.
 */
void outbox_batch_settle(const ob_row_t *rows, size_t n, int alone, ob_outcome_t *out);

#endif
