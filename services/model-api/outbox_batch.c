/* outbox_batch.c - what a relay round does with each row once Kafka answered. */
#include "outbox_batch.h"

#include <string.h>

int outbox_batch_refused(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:    /* over message.max.bytes (either side) */
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: /* a batch over the segment size */
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:        /* the broker's record validation */
        return 1;
    default:
        return 0;
    }
}

void outbox_batch_settle(const ob_row_t *rows, size_t n, int alone, ob_outcome_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const ob_row_t *r = &rows[i];
        if (r->state == OB_ACKED) {
            out->done++;
            continue;
        }
        if (r->state == OB_REFUSED && (r->at_produce || (alone && n == 1))) {
            out->done++;
            out->refused++;
            continue;
        }
        if (r->state == OB_REFUSED)
            out->isolate = r->id;
        else
            out->retry = 1;
        return;
    }
}
