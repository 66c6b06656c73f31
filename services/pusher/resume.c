/*
 * resume.c - subscription jobs: authorize, watermarks (batched per partition), replay with a
 * short-lived consumer per job. See resume.h and docs/protocol.md ("Positions and resume").
 *
 * Why it is gap-free: the worker attaches the subscription (pending, holding live frames)
 * before it submits the job, so every delivery committed after the job's watermark query
 * reaches the subscription live. The job replays [since+1, high) and tells the worker to go
 * live from high: held frames below high were replayed and are dropped, the rest are sent.
 * The handle is read_committed, so the "high" watermark of ListOffsets is the last stable
 * offset: nothing below it can still commit later.
 */
#include "resume.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_log.h"

#define RESUME_QUERY_MS 5000
#define RESUME_METADATA_TTL_S 30

struct resume {
    resume_opts_t o;
    char *topic;
    rd_kafka_conf_t *conf;       /* template for replay consumers */
    rd_kafka_t *meta;            /* metadata and watermark queries (thread-safe) */
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    resume_job_t *head, *tail;   /* queued jobs */
    int stopping;                /* guarded by lock */
    atomic_int stop;             /* the same, for replays to poll */
    int32_t partitions;          /* cached partition count (guarded by lock) */
    time_t partitions_at;
    mc_metric_t *replays, *resyncs, *refused;
};

/* ------------------------------------------------------------------ partitioning */

int32_t resume_partition_of(const char *channel, int32_t n)
{
    if (n <= 0)
        return -1;
    /*
     * authz produces with partitioner=murmur2_random, which for every non-NULL key is
     * rd_kafka_msg_partitioner_murmur2; that one needs no topic handle (the _random variant
     * reads it for NULL keys only), so it is called with none.
     */
    return rd_kafka_msg_partitioner_murmur2(NULL, channel, strlen(channel), n, NULL, NULL);
}

/* ------------------------------------------------------------------ jobs */

resume_job_t *resume_job_new(void *worker, void *conn, const proto_request_t *req,
                             const char *token)
{
    resume_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    if (token && !(j->token = strdup(token))) {
        free(j);
        return NULL;
    }
    atomic_init(&j->refs, 1);
    atomic_init(&j->cancelled, 0);
    j->worker = worker;
    j->conn = conn;
    snprintf(j->channel, sizeof j->channel, "%s", req->channel);
    j->has_since = req->has_since;
    j->since_partition = req->since_partition;
    j->since_offset = req->since_offset;
    return j;
}

resume_job_t *resume_job_ref(resume_job_t *job)
{
    atomic_fetch_add_explicit(&job->refs, 1, memory_order_relaxed);
    return job;
}

void resume_job_unref(resume_job_t *job)
{
    if (job && atomic_fetch_sub_explicit(&job->refs, 1, memory_order_acq_rel) == 1) {
        free(job->token);
        free(job);
    }
}

int resume_submit(resume_t *r, resume_job_t *job)
{
    int rc = MC_ERR_BUSY;
    pthread_mutex_lock(&r->lock);
    if (!r->stopping) {
        job->next = NULL;
        resume_job_ref(job);
        if (r->tail)
            r->tail->next = job;
        else
            r->head = job;
        r->tail = job;
        pthread_cond_signal(&r->cond);
        rc = MC_OK;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ------------------------------------------------------------------ Kafka queries */

/* The topic's partition count, from a cache refreshed every RESUME_METADATA_TTL_S. */
static int32_t resume__partitions(resume_t *r)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt;
    int32_t n;
    time_t now = time(NULL);

    pthread_mutex_lock(&r->lock);
    n = r->partitions;
    if (n > 0 && now - r->partitions_at < RESUME_METADATA_TTL_S) {
        pthread_mutex_unlock(&r->lock);
        return n;
    }
    pthread_mutex_unlock(&r->lock);
    if (!(rkt = rd_kafka_topic_new(r->meta, r->topic, NULL)))
        return n;
    if (rd_kafka_metadata(r->meta, 0, rkt, &md, RESUME_QUERY_MS) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
        n = md->topics[0].partition_cnt;
        pthread_mutex_lock(&r->lock);
        r->partitions = n;
        r->partitions_at = now;
        pthread_mutex_unlock(&r->lock);
    } else
        MC_WARN("resume: no metadata for topic %s", r->topic);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

static int resume__watermarks(resume_t *r, int32_t partition, int64_t *lo, int64_t *hi)
{
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(r->meta, r->topic, partition, lo, hi, RESUME_QUERY_MS);
    if (e) {
        MC_WARN("resume: watermarks of %s [%" PRId32 "]: %s", r->topic, partition,
                rd_kafka_err2str(e));
        return MC_ERR_KAFKA;
    }
    return MC_OK;
}

/* ------------------------------------------------------------------ answering */

static int resume__emit(resume_t *r, resume_job_t *j, resume_event_t ev, pusher_frame_t *f,
                        int32_t partition, int64_t offset)
{
    if (ev != RESUME_LIVE && !f) {
        /* Out of memory building a frame: refuse rather than leave the job hanging. */
        ev = RESUME_REFUSE;
        f = proto_error(PROTO_ERR_UNAVAILABLE, j->channel, "out of memory");
        if (!f)
            return MC_ERR_NOMEM;
    }
    return r->o.emit(j->worker, j, ev, f, partition, offset);
}

static void resume__refuse(resume_t *r, resume_job_t *j, proto_err_t code, const char *msg)
{
    mc_metric_add(r->refused, 1);
    resume__emit(r, j, RESUME_REFUSE, proto_error(code, j->channel, msg), -1, -1);
}

/* "subscribed" at p:(hi-1), then live from hi. */
static void resume__subscribed_at_end(resume_t *r, resume_job_t *j, int32_t p, int64_t hi)
{
    char pos[48];
    snprintf(pos, sizeof pos, "%" PRId32 ":%" PRId64, p, hi - 1);
    if (resume__emit(r, j, RESUME_SEND, proto_subscribed(j->channel, pos), -1, -1) == MC_OK)
        resume__emit(r, j, RESUME_LIVE, NULL, p, hi);
}

static void resume__resync(resume_t *r, resume_job_t *j, int32_t p, int64_t hi,
                           const char *why)
{
    MC_INFO("resume: resync of %s from %" PRId32 ":%" PRId64 " (%s)", j->channel,
            j->since_partition, j->since_offset, why);
    mc_metric_add(r->resyncs, 1);
    if (resume__emit(r, j, RESUME_SEND, proto_resync(j->channel), -1, -1) == MC_OK)
        resume__subscribed_at_end(r, j, p, hi);
}

static int resume__cancelled(const resume_job_t *j)
{
    return atomic_load(&((resume_job_t *)j)->cancelled);
}

/*
 * Replays partition p of the topic from j->since_offset + 1 up to (excluding) hi, sending
 * the deliveries keyed by j->channel. Returns MC_OK (all sent), MC_ERR_NOT_FOUND (the start
 * fell out of retention meanwhile), MC_ERR_TIMEOUT, MC_ERR_BUSY (cancelled or stopping) or
 * MC_ERR_KAFKA.
 */
static int resume__replay_range(resume_t *r, resume_job_t *j, int32_t p, int64_t hi)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(r->conf);
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *list;
    size_t clen = strlen(j->channel);
    struct timespec t0, now;
    int rc = MC_ERR_TIMEOUT;

    if (rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) ||
        rd_kafka_conf_set(conf, "auto.offset.reset", "error", err, sizeof err) ||
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "50", err, sizeof err)) {
        MC_ERROR("resume: replay consumer configuration: %s", err);
        rd_kafka_conf_destroy(conf);
        return MC_ERR_KAFKA;
    }
    if (!(rk = mc_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
        MC_ERROR("resume: replay consumer: %s", err);
        return MC_ERR_KAFKA;
    }
    rd_kafka_poll_set_consumer(rk);
    list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, r->topic, p)->offset = j->since_offset + 1;
    if (rd_kafka_assign(rk, list)) {
        rc = MC_ERR_KAFKA;
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        rd_kafka_message_t *m;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >
            r->o.replay_timeout_ms) {
            rc = MC_ERR_TIMEOUT;
            break;
        }
        if (resume__cancelled(j) || atomic_load(&r->stop)) {
            rc = MC_ERR_BUSY;
            break;
        }
        if (!(m = rd_kafka_consumer_poll(rk, 100)))
            continue;
        if (m->err) {
            int done = 0;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                done = m->offset >= hi;
                if (done)
                    rc = MC_OK;
            } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                       m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                rc = MC_ERR_NOT_FOUND;
                done = 1;
            } else
                MC_WARN("resume: replay of %s: %s", j->channel, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (done)
                break;
            continue;
        }
        if (m->offset >= hi) {
            rd_kafka_message_destroy(m);
            rc = MC_OK;
            break;
        }
        if (m->key_len == clen && memcmp(m->key, j->channel, clen) == 0) {
            pusher_frame_t *f = NULL;
            if (proto_change(m->payload, m->len, m->partition, m->offset, &f, err,
                             sizeof err) == MC_OK) {
                if (resume__emit(r, j, RESUME_SEND, f, -1, -1) != MC_OK) {
                    rd_kafka_message_destroy(m);
                    rc = MC_ERR_BUSY;
                    break;
                }
            } else
                MC_WARN("resume: skipping malformed delivery at %" PRId32 ":%" PRId64 ": %s",
                        m->partition, m->offset, err);
        }
        rd_kafka_message_destroy(m);
    }
out:
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static void resume__replay(resume_t *r, resume_job_t *j, int32_t nparts)
{
    int32_t home = resume_partition_of(j->channel, nparts), p = j->since_partition;
    int64_t lo, hi, o = j->since_offset;
    char pos[48];
    int rc;

    if (resume__watermarks(r, home, &lo, &hi) != MC_OK) {
        resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "Kafka did not answer; retry");
        return;
    }
    if (p != home) {
        resume__resync(r, j, home, hi, "position is not in the channel's partition");
        return;
    }
    if (o + 1 < lo) {
        resume__resync(r, j, home, hi, "position is no longer retained");
        return;
    }
    if (o >= hi) {
        resume__resync(r, j, home, hi, "position is past the end of the partition");
        return;
    }
    mc_metric_add(r->replays, 1);
    snprintf(pos, sizeof pos, "%" PRId32 ":%" PRId64, p, o);
    if (resume__emit(r, j, RESUME_SEND, proto_subscribed(j->channel, pos), -1, -1) != MC_OK)
        return;
    rc = o + 1 < hi ? resume__replay_range(r, j, p, hi) : MC_OK;
    switch (rc) {
    case MC_OK:
        resume__emit(r, j, RESUME_LIVE, NULL, p, hi);
        break;
    case MC_ERR_NOT_FOUND:
        /* Retention overtook us after the query: what was sent is a prefix; start over. */
        if (resume__watermarks(r, home, &lo, &hi) == MC_OK)
            resume__resync(r, j, home, hi, "position expired during the replay");
        else
            resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "Kafka did not answer; retry");
        break;
    case MC_ERR_BUSY:
        break;
    default:
        resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "the replay did not complete; retry");
    }
}

/* Answers a batch: authorization, then one watermark query per partition for the jobs
 * without "since", then each replay in turn. Drops the queue's reference of each job. */
static void resume__batch(resume_t *r, resume_job_t *batch)
{
    int32_t nparts = resume__partitions(r);
    int64_t *his = NULL;
    char msg[200];

    if (nparts > 0)
        his = calloc((size_t)nparts, sizeof *his);
    for (int32_t i = 0; his && i < nparts; i++)
        his[i] = -2; /* not asked yet */
    for (resume_job_t *j = batch, *next; j; j = next) {
        proto_err_t e = PROTO_OK;
        next = j->next;
        if (resume__cancelled(j) || atomic_load(&r->stop))
            goto done;
        msg[0] = '\0';
        if (r->o.authorize)
            e = r->o.authorize(r->o.authorize_arg, j->token, j->channel, msg, sizeof msg);
        if (e != PROTO_OK) {
            resume__refuse(r, j, e, msg[0] ? msg : "subscription refused");
            goto done;
        }
        if (nparts <= 0 || !his) {
            resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "Kafka did not answer; retry");
            goto done;
        }
        if (j->has_since) {
            resume__replay(r, j, nparts);
        } else {
            int32_t p = resume_partition_of(j->channel, nparts);
            int64_t lo;
            if (his[p] == -2 && resume__watermarks(r, p, &lo, &his[p]) != MC_OK)
                his[p] = -1;
            if (his[p] < 0)
                resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "Kafka did not answer; retry");
            else
                resume__subscribed_at_end(r, j, p, his[p]);
        }
    done:
        resume_job_unref(j);
    }
    free(his);
}

static void *resume__run(void *arg)
{
    resume_t *r = arg;
    for (;;) {
        resume_job_t *batch;
        pthread_mutex_lock(&r->lock);
        while (!r->head && !r->stopping)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->stopping) {
            pthread_mutex_unlock(&r->lock);
            return NULL;
        }
        /* Take everything: jobs queued together share their watermark queries. */
        batch = r->head;
        r->head = r->tail = NULL;
        pthread_mutex_unlock(&r->lock);
        resume__batch(r, batch);
    }
}

resume_t *resume_new(const resume_opts_t *opts, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    resume_t *r = calloc(1, sizeof *r);
    rd_kafka_conf_t *mconf;

    if (!r || !(r->topic = strdup(opts->topic))) {
        free(r);
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->o = *opts;
    if (r->o.threads < 1)
        r->o.threads = 1;
    if (r->o.replay_timeout_ms <= 0)
        r->o.replay_timeout_ms = 30000;
    r->conf = conf;
    mconf = rd_kafka_conf_dup(conf);
    if (!(r->meta = mc_kafka_new(RD_KAFKA_CONSUMER, mconf, err, errlen))) {
        rd_kafka_conf_destroy(r->conf);
        free(r->topic);
        free(r);
        return NULL;
    }
    if (opts->metrics) {
        r->replays = mc_metrics_counter(opts->metrics, "modelcast_pusher_replays_total",
                                        "Subscriptions resumed from a position (replays).",
                                        NULL);
        r->resyncs = mc_metrics_counter(opts->metrics, "modelcast_pusher_resyncs_total",
                                        "Subscriptions answered with resync.", NULL);
        r->refused =
            mc_metrics_counter(opts->metrics, "modelcast_pusher_subscriptions_refused_total",
                               "Subscriptions answered with an error.", NULL);
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    atomic_init(&r->stop, 0);
    r->threads = calloc((size_t)r->o.threads, sizeof *r->threads);
    for (int i = 0; r->threads && i < r->o.threads; i++) {
        if (pthread_create(&r->threads[i], NULL, resume__run, r) != 0)
            break;
        r->nthreads++;
    }
    if (r->nthreads == 0) {
        snprintf(err, errlen, "cannot start resume threads");
        resume_free(r);
        return NULL;
    }
    return r;
}

void resume_free(resume_t *r)
{
    resume_job_t *j, *next;
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    atomic_store(&r->stop, 1);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    for (j = r->head; j; j = next) {
        next = j->next;
        resume_job_unref(j);
    }
    free(r->threads);
    rd_kafka_destroy(r->meta);
    rd_kafka_conf_destroy(r->conf);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r->topic);
    free(r);
}
