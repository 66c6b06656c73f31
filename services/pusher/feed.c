/* feed.c - Kafka consumer thread: assign all partitions at OFFSET_END, build change frames. */
#include "feed.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fanout_trace.h"
#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_log.h"
#include "protocol.h"

struct feed {
    char *topic;
    rd_kafka_t *rk;
    feed_sink_fn sink;
    void *sink_arg;
    mc_metric_t *in_total, *malformed_total;
    const mc_tracer_t *tracer;  /* NULL: no spans */
    pthread_t thread;
    int started;
    atomic_int stop;
    atomic_int ready;
};

#define FEED_POLL_MS 100
#define FEED_METADATA_MS 2000

rd_kafka_conf_t *feed_kafka_conf_new(char *err, size_t errlen)
{
    static const char *const defaults[] = {
        "client.id", "modelcast-pusher", "group.id", "modelcast-pusher", NULL};
    static const char *const forced[] = {
        "enable.auto.commit", "false", "enable.auto.offset.store", "false",
        "isolation.level", "read_committed", "enable.partition.eof", "false", NULL};
    return mc_kafka_conf_new_for(RD_KAFKA_CONSUMER, defaults, forced, NULL, err, errlen);
}

feed_t *feed_new(const char *topic, rd_kafka_conf_t *conf, feed_sink_fn sink, void *sink_arg,
                 mc_metrics_t *metrics, char *err, size_t errlen)
{
    feed_t *f = calloc(1, sizeof *f);
    if (!f || !(f->topic = strdup(topic))) {
        free(f);
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->rk = mc_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!f->rk) {
        free(f->topic);
        free(f);
        return NULL;
    }
    rd_kafka_poll_set_consumer(f->rk);
    f->sink = sink;
    f->sink_arg = sink_arg;
    if (metrics) {
        f->in_total = mc_metrics_counter(metrics, "modelcast_pusher_deliveries_in_total",
                                         "Deliveries read from Kafka and turned into frames.",
                                         NULL);
        f->malformed_total =
            mc_metrics_counter(metrics, "modelcast_pusher_deliveries_malformed_total",
                               "Deliveries skipped because they were malformed.", NULL);
    }
    atomic_init(&f->stop, 0);
    atomic_init(&f->ready, 0);
    return f;
}

/* Sleeps ms milliseconds in short steps, returning early when asked to stop. */
static void feed__nap(feed_t *f, int ms)
{
    for (; ms > 0 && !atomic_load(&f->stop); ms -= 50) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Assigns every partition of the topic at its current end. Returns MC_OK or MC_ERR_KAFKA. */
static int feed__assign(feed_t *f, int *warned)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(f->rk, f->topic, NULL);
    rd_kafka_topic_partition_list_t *list = NULL;
    rd_kafka_resp_err_t rc;
    int ret = MC_ERR_KAFKA;

    if (!rkt)
        return MC_ERR_KAFKA;
    rc = rd_kafka_metadata(f->rk, 0, rkt, &md, FEED_METADATA_MS);
    if (rc == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
        rc = md->topics[0].err;
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[0].partition_cnt == 0) {
        if (!*warned)
            MC_WARN("feed: no partitions for topic %s yet (%s); retrying", f->topic,
                    rd_kafka_err2str(rc));
        *warned = 1;
        goto out;
    }
    /*
     * Start each partition at an explicit offset, its end (the last stable offset, as this
     * handle is read_committed) queried now: with OFFSET_END, resolved later and
     * asynchronously, a delivery written in between would be skipped although /readyz
     * already says we are live. Subscriptions rely on "ready" meaning "no gap from here".
     */
    list = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int32_t id = md->topics[0].partitions[i].id;
        int64_t lo, hi;
        rc = rd_kafka_query_watermark_offsets(f->rk, f->topic, id, &lo, &hi, FEED_METADATA_MS);
        if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (!*warned)
                MC_WARN("feed: no end offset for %s [%d] yet (%s); retrying", f->topic, id,
                        rd_kafka_err2str(rc));
            *warned = 1;
            goto out;
        }
        rd_kafka_topic_partition_list_add(list, f->topic, id)->offset = hi;
    }
    rc = rd_kafka_assign(f->rk, list);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        MC_ERROR("feed: assign of %s failed: %s", f->topic, rd_kafka_err2str(rc));
        goto out;
    }
    MC_INFO("feed: consuming %d partitions of %s from the live end",
            md->topics[0].partition_cnt, f->topic);
    ret = MC_OK;
out:
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return ret;
}

void feed_set_tracer(feed_t *f, const mc_tracer_t *tracer)
{
    f->tracer = tracer;
}

static void feed__handle(feed_t *f, rd_kafka_message_t *msg)
{
    pusher_frame_t *frame = NULL;
    char err[256], pos[48], event_id[64];
    /* the trace is read only when a span may record or the log shows it */
    int traced = (f->tracer && f->tracer->export) || mc_log_level() <= MC_LOG_DEBUG;

    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            MC_WARN("feed: consumer error: %s", rd_kafka_message_errstr(msg));
        return;
    }
    snprintf(pos, sizeof pos, "%" PRId32 ":%" PRId64, msg->partition, msg->offset);
    if (proto_change_id(msg->payload, msg->len, msg->partition, msg->offset, &frame,
                        traced ? event_id : NULL, sizeof event_id, err, sizeof err) != MC_OK) {
        mc_metric_add(f->malformed_total, 1);
        MC_WARN("feed: skipping malformed delivery at %s: %s", pos, err);
        return;
    }
    mc_metric_add(f->in_total, 1);
    frame->kafka_ts_ms = rd_kafka_message_timestamp(msg, NULL); /* -1 when unknown */
    if (traced)
        frame->trace = fanout_trace_begin(f->tracer, msg, frame->channel, event_id);
    while (f->sink(f->sink_arg, frame, pos) == MC_ERR_BUSY) {
        if (atomic_load(&f->stop)) {
            pusher_frame_unref(frame);
            return;
        }
    }
}

static void *feed__run(void *arg)
{
    feed_t *f = arg;
    int warned = 0;

    while (!atomic_load(&f->stop)) {
        rd_kafka_message_t *msg;
        if (!atomic_load(&f->ready)) {
            if (feed__assign(f, &warned) == MC_OK)
                atomic_store(&f->ready, 1);
            else
                feed__nap(f, 1000);
        }
        msg = rd_kafka_consumer_poll(f->rk, FEED_POLL_MS);
        if (msg) {
            feed__handle(f, msg);
            rd_kafka_message_destroy(msg);
        }
    }
    atomic_store(&f->ready, 0);
    return NULL;
}

int feed_start(feed_t *f)
{
    if (pthread_create(&f->thread, NULL, feed__run, f) != 0)
        return MC_ERR_NOMEM;
    f->started = 1;
    return MC_OK;
}

int feed_ready(const feed_t *f)
{
    return atomic_load(&((feed_t *)f)->ready);
}

void feed_stop(feed_t *f)
{
    if (!f || !f->started)
        return;
    atomic_store(&f->stop, 1);
    pthread_join(f->thread, NULL);
    f->started = 0;
}

void feed_free(feed_t *f)
{
    if (!f)
        return;
    feed_stop(f);
    rd_kafka_consumer_close(f->rk);
    rd_kafka_destroy(f->rk);
    free(f->topic);
    free(f);
}
