/* test_outbox_batch.c - the relay's decisions: which Kafka errors set an event aside, what a
 * round deletes, sets aside or retries, and when the relay counts as stopped for good. */
#include "mc_test.h"
#include "outbox_batch.h"
#include "outbox_relay.h"

static void test_refused(void)
{
    MC_CHECK(outbox_batch_refused(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    MC_CHECK(outbox_batch_refused(RD_KAFKA_RESP_ERR_INVALID_RECORD));
    MC_CHECK(outbox_batch_refused(RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE));
    MC_CHECK(outbox_batch_refused(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE));
    /* Errors of every message, or passing ones, stop the stream without losing anything. */
    MC_CHECK(!outbox_batch_refused(RD_KAFKA_RESP_ERR_NO_ERROR));
    MC_CHECK(!outbox_batch_refused(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
    MC_CHECK(!outbox_batch_refused(RD_KAFKA_RESP_ERR__TRANSPORT));
    MC_CHECK(!outbox_batch_refused(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
    MC_CHECK(!outbox_batch_refused(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    MC_CHECK(!outbox_batch_refused(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS));
    MC_CHECK(!outbox_batch_refused(RD_KAFKA_RESP_ERR_INVALID_MSG));
}

#define ACK(id) {id, OB_ACKED, RD_KAFKA_RESP_ERR_NO_ERROR, 0}

static void test_settle(void)
{
    ob_outcome_t o;
    ob_row_t all[] = {ACK(1), ACK(2), ACK(3)};
    outbox_batch_settle(all, 3, 0, &o);
    MC_CHECK_INT(o.done, 3);
    MC_CHECK_INT(o.refused, 0);
    MC_CHECK_INT(o.retry, 0);
    MC_CHECK_INT(o.isolate, 0);

    /* Refused by the producer itself: set aside, and the rows after it go on. */
    ob_row_t big[] = {ACK(1), {2, OB_REFUSED, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 1}, ACK(3)};
    outbox_batch_settle(big, 3, 0, &o);
    MC_CHECK_INT(o.done, 3);
    MC_CHECK_INT(o.refused, 1);
    MC_CHECK_INT(o.retry, 0);

    /* Refused by the broker in a shared batch: the rows before are done, that one goes
     * alone next, nothing is set aside yet. */
    ob_row_t batch[] = {ACK(1), {2, OB_REFUSED, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 0},
                        {3, OB_REFUSED, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 0}};
    outbox_batch_settle(batch, 3, 0, &o);
    MC_CHECK_INT(o.done, 1);
    MC_CHECK_INT(o.refused, 0);
    MC_CHECK_INT(o.isolate, 2);
    MC_CHECK_INT(o.retry, 0);

    /* Alone, a refusal is its own: set aside. */
    ob_row_t alone[] = {{2, OB_REFUSED, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 0}};
    outbox_batch_settle(alone, 1, 1, &o);
    MC_CHECK_INT(o.done, 1);
    MC_CHECK_INT(o.refused, 1);
    MC_CHECK_INT(o.isolate, 0);

    /* A transient failure keeps it and every row after it for the next round. */
    ob_row_t away[] = {ACK(1), {2, OB_FAILED, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, 0}, ACK(3),
                       {4, OB_UNSENT, RD_KAFKA_RESP_ERR_NO_ERROR, 0}};
    outbox_batch_settle(away, 4, 0, &o);
    MC_CHECK_INT(o.done, 1);
    MC_CHECK_INT(o.retry, 1);
    MC_CHECK_INT(o.isolate, 0);
    ob_row_t unsent[] = {{1, OB_UNSENT, RD_KAFKA_RESP_ERR_NO_ERROR, 0}};
    outbox_batch_settle(unsent, 1, 0, &o);
    MC_CHECK_INT(o.done, 0);
    MC_CHECK_INT(o.retry, 1);
    outbox_batch_settle(NULL, 0, 0, &o);
    MC_CHECK_INT(o.done, 0);
    MC_CHECK_INT(o.retry, 0);
}

static void test_alive(void)
{
    MC_CHECK(outbox_relay_alive("active", 0.1, 300));
    MC_CHECK(outbox_relay_alive("standby", 299, 300));
    MC_CHECK(outbox_relay_alive("starting", 0, 300));
    MC_CHECK(!outbox_relay_alive("active", 301, 300)); /* stuck */
    MC_CHECK(!outbox_relay_alive("failed", 0, 300));   /* stopped for good */
}

int main(void)
{
    MC_TEST_RUN(test_refused);
    MC_TEST_RUN(test_settle);
    MC_TEST_RUN(test_alive);
    MC_TEST_DONE();
}
