/*
 * resume.c - subscription jobs in three stages. See resume.h and docs/protocol.md
 * ("Positions and resume").
 *
 * 1. Authorization, on MC_RESUME_THREADS threads: connections with jobs waiting form a ring,
 *    each turn takes one job of the connection at its head, so one connection's many
 *    subscriptions never keep another's first one waiting.
 * 2. Position: the partition's watermarks, queried once for every job of the partition
 *    waiting at the moment the query starts (the thread that finds no query under way makes
 *    it and answers them all), and only once the live feed is positioned.
 * 3. Replay (jobs with "since" and something to replay), on MC_REPLAY_THREADS threads, each
 *    with one long-lived consumer: a thread takes the oldest waiting replay and every other
 *    one of the same partition, reads the partition once from the lowest start, and hands
 *    each delivery to the jobs whose range holds it. A job whose client has more than the
 *    replay window waiting leaves the pass (parked) and continues in a later one, once the
 *    client has read; one whose client does not read in MC_REPLAY_TIMEOUT_MS is closed 4008.
 *
 * Why it is gap-free: the worker attaches the subscription (pending, holding live frames)
 * before it submits the job, and the watermark query starts after that, so every delivery
 * committed after the query reaches the subscription live. The job replays [since+1, high)
 * and tells the worker to go live from high: held frames below high were replayed and are
 * dropped, the rest are sent, and nothing below high is taken later (the hub's floor). The
 * handle is read_committed, so the "high" watermark of ListOffsets is the last stable offset:
 * nothing below it can still commit later. No query is made before the feed is positioned:
 * the feed started at a watermark queried earlier, so it delivers everything from high on.
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
#define RESUME_BATCH_MAX 256     /* replays served by one pass */
#define RESUME_PARK_POLL_MS 20   /* how often parked replays look at their client */
#define RESUME_READY_POLL_MS 20  /* how often a job waiting for the feed looks again */

typedef struct {
    resume_job_t *head, *tail;   /* jobs waiting for this partition's watermarks */
    int busy;                    /* a thread is querying them */
} resume_part_t;

typedef struct {
    resume_t *r;
    rd_kafka_t *rk;              /* this reader's consumer */
    pthread_t thread;
    int started;
} resume_reader_t;

struct resume {
    resume_opts_t o;
    char *topic;
    rd_kafka_t *meta;            /* metadata and watermark queries (thread-safe) */
    pthread_t *threads;
    int nthreads;
    resume_reader_t *readers;
    int nreaders;
    pthread_mutex_t lock;
    pthread_cond_t cond;         /* authorization work */
    pthread_cond_t rcond;        /* replay work */
    resume_conn_t *chead, *ctail; /* connections with jobs waiting for authorization */
    resume_part_t *parts;        /* per partition, grown as needed */
    int32_t nparts_alloc;
    resume_job_t *rhead, *rtail; /* replays waiting for a reader */
    resume_job_t *parked;        /* replays waiting for their client to read */
    int stopping;                /* guarded by lock */
    atomic_int stop;             /* the same, for loops to poll */
    atomic_size_t pending;       /* jobs submitted and not finished */
    int32_t partitions;          /* cached partition count (guarded by lock) */
    time_t partitions_at;
    mc_metric_t *replays, *resyncs, *refused, *passes, *slow;
};

static int64_t resume__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void resume__nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

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

/* ------------------------------------------------------------------ connections and jobs */

resume_conn_t *resume_conn_new(const char *token)
{
    resume_conn_t *rc = calloc(1, sizeof *rc);
    if (!rc)
        return NULL;
    if (token && !(rc->token = strdup(token))) {
        free(rc);
        return NULL;
    }
    atomic_init(&rc->refs, 1);
    atomic_init(&rc->backlog, 0);
    atomic_init(&rc->replays, 0);
    return rc;
}

resume_conn_t *resume_conn_ref(resume_conn_t *rc)
{
    atomic_fetch_add_explicit(&rc->refs, 1, memory_order_relaxed);
    return rc;
}

void resume_conn_unref(resume_conn_t *rc)
{
    if (rc && atomic_fetch_sub_explicit(&rc->refs, 1, memory_order_acq_rel) == 1) {
        free(rc->token);
        free(rc);
    }
}

resume_job_t *resume_job_new(void *worker, void *conn, resume_conn_t *rc,
                             const proto_request_t *req)
{
    resume_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    atomic_init(&j->refs, 1);
    atomic_init(&j->cancelled, 0);
    atomic_init(&j->transit, 0);
    j->worker = worker;
    j->conn = conn;
    j->rc = resume_conn_ref(rc);
    snprintf(j->channel, sizeof j->channel, "%s", req->channel);
    j->has_since = req->has_since;
    j->since_partition = req->since_partition;
    j->since_offset = req->since_offset;
    j->partition = -1;
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
        resume_conn_unref(job->rc);
        free(job);
    }
}

static void resume__done(resume_t *r, resume_job_t *j);

/* Puts rc at the back of the ring of connections waiting for authorization (lock held). */
static void resume__ring_push(resume_t *r, resume_conn_t *rc)
{
    rc->queued = 1;
    rc->next = NULL;
    rc->prev = r->ctail;
    if (r->ctail)
        r->ctail->next = rc;
    else
        r->chead = rc;
    r->ctail = rc;
}

/* Takes rc out of the ring (lock held). */
static void resume__ring_remove(resume_t *r, resume_conn_t *rc)
{
    if (rc->prev)
        rc->prev->next = rc->next;
    else
        r->chead = rc->next;
    if (rc->next)
        rc->next->prev = rc->prev;
    else
        r->ctail = rc->prev;
    rc->next = rc->prev = NULL;
    rc->queued = 0;
}

int resume_submit(resume_t *r, resume_job_t *job)
{
    resume_conn_t *rc = job->rc;
    int rc_ = MC_ERR_BUSY;
    pthread_mutex_lock(&r->lock);
    if (!r->stopping) {
        if (atomic_load(&r->pending) >= r->o.max_pending) {
            pthread_mutex_unlock(&r->lock);
            return MC_ERR_TOO_LARGE;
        }
        atomic_fetch_add(&r->pending, 1);
        job->next = NULL;
        resume_job_ref(job);
        if (rc->tail)
            rc->tail->next = job;
        else
            rc->head = job;
        rc->tail = job;
        if (!rc->queued)
            resume__ring_push(r, rc);
        pthread_cond_signal(&r->cond);
        rc_ = MC_OK;
    }
    pthread_mutex_unlock(&r->lock);
    return rc_;
}

void resume_cancel(resume_t *r, resume_job_t *job)
{
    resume_conn_t *rc = job->rc;
    resume_job_t **pp;
    int found = 0;

    atomic_store(&job->cancelled, 1);
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    for (pp = &rc->head; *pp; pp = &(*pp)->next)
        if (*pp == job) {
            *pp = job->next;
            found = 1;
            break;
        }
    if (found) {
        rc->tail = NULL;
        for (resume_job_t *j = rc->head; j; j = j->next)
            rc->tail = j;
        if (!rc->head && rc->queued)
            resume__ring_remove(r, rc); /* nothing left: the connection leaves the ring */
    }
    pthread_mutex_unlock(&r->lock);
    if (found)
        resume__done(r, job);
}

size_t resume_pending(resume_t *r)
{
    return atomic_load(&r->pending);
}

/* The job is over for resume: drops its reference. */
static void resume__done(resume_t *r, resume_job_t *j)
{
    atomic_fetch_sub(&r->pending, 1);
    resume_job_unref(j);
}

static int resume__cancelled(const resume_job_t *j)
{
    return atomic_load(&((resume_job_t *)j)->cancelled);
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
    if ((ev == RESUME_SEND || ev == RESUME_REFUSE) && !f) {
        /* Out of memory building a frame: refuse rather than leave the job hanging. */
        ev = RESUME_REFUSE;
        f = proto_error(PROTO_ERR_UNAVAILABLE, j->channel, "out of memory");
        if (!f)
            return MC_ERR_NOMEM;
    }
    return r->o.emit(j->worker, j, ev, f, partition, offset);
}

/* Refuses j with code and ends it. */
static void resume__refuse(resume_t *r, resume_job_t *j, proto_err_t code, const char *msg)
{
    mc_metric_add(r->refused, 1);
    resume__emit(r, j, RESUME_REFUSE, proto_error(code, j->channel, msg), -1, -1);
    resume__done(r, j);
}

/* "subscribed" at p:(hi-1), then live from hi; ends j. */
static void resume__subscribed_at_end(resume_t *r, resume_job_t *j, int32_t p, int64_t hi)
{
    char pos[48];
    snprintf(pos, sizeof pos, "%" PRId32 ":%" PRId64, p, hi - 1);
    if (resume__emit(r, j, RESUME_SEND, proto_subscribed(j->channel, pos), -1, -1) == MC_OK)
        resume__emit(r, j, RESUME_LIVE, NULL, p, hi);
    resume__done(r, j);
}

/* "resync", then a fresh position; ends j. */
static void resume__resync(resume_t *r, resume_job_t *j, int32_t p, int64_t hi,
                           const char *why)
{
    MC_INFO("resume: resync of %s from %" PRId32 ":%" PRId64 " (%s)", j->channel,
            j->since_partition, j->since_offset, why);
    mc_metric_add(r->resyncs, 1);
    if (resume__emit(r, j, RESUME_SEND, proto_resync(j->channel), -1, -1) != MC_OK) {
        resume__done(r, j);
        return;
    }
    resume__subscribed_at_end(r, j, p, hi);
}

/* ------------------------------------------------------------------ replays */

/* Hands j (its range set) to the replay readers. */
static void resume__replay_queue(resume_t *r, resume_job_t *j)
{
    pthread_mutex_lock(&r->lock);
    j->next = NULL;
    if (r->rtail)
        r->rtail->next = j;
    else
        r->rhead = j;
    r->rtail = j;
    pthread_cond_signal(&r->rcond);
    pthread_mutex_unlock(&r->lock);
}

/* The replay of j is over (answered, or cancelled): ends j. */
static void resume__replay_end(resume_t *r, resume_job_t *j)
{
    atomic_fetch_sub(&j->rc->replays, 1);
    resume__done(r, j);
}

/* Everything of j's range was sent: live from its end. */
static void resume__replay_live(resume_t *r, resume_job_t *j)
{
    resume__emit(r, j, RESUME_LIVE, NULL, j->partition, j->to);
    resume__replay_end(r, j);
}

/* Retention overtook j's replay: what was sent is a prefix; resync from the end. */
static void resume__replay_expired(resume_t *r, resume_job_t *j)
{
    int64_t lo, hi;
    atomic_fetch_sub(&j->rc->replays, 1);
    if (resume__watermarks(r, j->partition, &lo, &hi) == MC_OK)
        resume__resync(r, j, j->partition, hi, "position expired during the replay");
    else
        resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "Kafka did not answer; retry");
}

/* The client of j has more than the replay window waiting (the frame about to go counted). */
static int resume__window_full(resume_t *r, resume_job_t *j, size_t more)
{
    size_t waiting = atomic_load(&j->transit); /* then backlog: see resume_job_t.transit */
    waiting += atomic_load(&j->rc->backlog);
    return waiting > 0 && waiting + more > r->o.replay_window;
}

/*
 * Moves parked replays whose client read enough back to the ready queue; takes out (into
 * *late) those cancelled or whose client read nothing for MC_REPLAY_TIMEOUT_MS. Called with
 * the lock held.
 */
static void resume__unpark(resume_t *r, resume_job_t **late)
{
    int64_t now = resume__now_ms();
    resume_job_t **pp = &r->parked;
    while (*pp) {
        resume_job_t *j = *pp;
        size_t waiting = atomic_load(&j->transit);
        waiting += atomic_load(&j->rc->backlog);
        if (resume__cancelled(j) || now - j->parked_ms > r->o.replay_timeout_ms) {
            *pp = j->next;
            j->next = *late;
            *late = j;
        } else if (waiting <= r->o.replay_window / 2) {
            *pp = j->next;
            j->deadline_ms += now - j->parked_ms; /* the time parked does not count */
            j->parked_ms = 0;
            j->next = NULL;
            if (r->rtail)
                r->rtail->next = j;
            else
                r->rhead = j;
            r->rtail = j;
        } else
            pp = &j->next;
    }
}

static void resume__park(resume_t *r, resume_job_t *j)
{
    pthread_mutex_lock(&r->lock);
    j->parked_ms = resume__now_ms();
    j->next = r->parked;
    r->parked = j;
    pthread_mutex_unlock(&r->lock);
}

/* Removes j from the singly linked list *list. */
static void resume__unlink(resume_job_t **list, resume_job_t *j)
{
    while (*list && *list != j)
        list = &(*list)->next;
    if (*list)
        *list = j->next;
}

/*
 * Reads batch's partition once, from the lowest start, for every job of batch (all of one
 * partition), ending each: live at the end of its range, parked, refused or resynced.
 */
static void resume__pass(resume_reader_t *rd, resume_job_t *batch)
{
    resume_t *r = rd->r;
    int32_t p = batch->partition;
    int64_t start = batch->from;
    rd_kafka_topic_partition_list_t *list;
    resume_job_t *active = batch;
    char err[256];

    for (resume_job_t *j = batch; j; j = j->next)
        if (j->from < start)
            start = j->from;
    mc_metric_add(r->passes, 1);
    list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, r->topic, p)->offset = start;
    if (rd_kafka_assign(rd->rk, list) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(list);
        for (resume_job_t *j = active, *next; j; j = next) {
            next = j->next;
            atomic_fetch_sub(&j->rc->replays, 1);
            resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "the replay could not start; retry");
        }
        return;
    }
    rd_kafka_topic_partition_list_destroy(list);

    while (active) {
        rd_kafka_message_t *m;
        int64_t now = resume__now_ms();
        pusher_frame_t *frame = NULL;
        int malformed = 0;

        for (resume_job_t *j = active, *next; j; j = next) {
            next = j->next;
            if (atomic_load(&r->stop) || resume__cancelled(j)) {
                resume__unlink(&active, j);
                resume__replay_end(r, j);
            } else if (now > j->deadline_ms) {
                resume__unlink(&active, j);
                atomic_fetch_sub(&j->rc->replays, 1);
                resume__refuse(r, j, PROTO_ERR_UNAVAILABLE,
                               "the replay did not complete in time; retry");
            }
        }
        if (!active || !(m = rd_kafka_consumer_poll(rd->rk, 100)))
            continue;
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition == p) {
                for (resume_job_t *j = active, *next; j; j = next) {
                    next = j->next;
                    if (j->to <= m->offset) {
                        resume__unlink(&active, j);
                        resume__replay_live(r, j);
                    }
                }
            } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                       m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                for (resume_job_t *j = active, *next; j; j = next) {
                    next = j->next;
                    resume__replay_expired(r, j);
                }
                active = NULL;
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                MC_WARN("resume: replay of %s [%" PRId32 "]: %s", r->topic, p,
                        rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->partition != p) {
            rd_kafka_message_destroy(m);
            continue;
        }
        for (resume_job_t *j = active, *next; j; j = next) {
            size_t clen = strlen(j->channel);
            next = j->next;
            if (m->offset < j->from)
                continue; /* j starts further on */
            if (m->offset >= j->to) {
                resume__unlink(&active, j);
                resume__replay_live(r, j);
                continue;
            }
            if (m->key_len == clen && memcmp(m->key, j->channel, clen) == 0 && !malformed) {
                if (!frame &&
                    proto_change(m->payload, m->len, m->partition, m->offset, &frame, err,
                                 sizeof err) != MC_OK) {
                    MC_WARN("resume: skipping malformed delivery at %" PRId32 ":%" PRId64
                            ": %s",
                            m->partition, m->offset, err);
                    malformed = 1;
                }
                if (frame && resume__window_full(r, j, frame->len)) {
                    resume__unlink(&active, j);
                    j->from = m->offset; /* this one is still to be sent */
                    resume__park(r, j);
                    continue;
                }
                if (frame) {
                    atomic_fetch_add(&j->transit, frame->len);
                    if (resume__emit(r, j, RESUME_SEND, pusher_frame_ref(frame), -1, -1) !=
                        MC_OK) {
                        resume__unlink(&active, j);
                        resume__replay_end(r, j);
                        continue;
                    }
                }
            }
            j->from = m->offset + 1;
            if (j->from >= j->to) {
                resume__unlink(&active, j);
                resume__replay_live(r, j);
            }
        }
        pusher_frame_unref(frame);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rd->rk, NULL);
}

static void *resume__replay_run(void *arg)
{
    resume_reader_t *rd = arg;
    resume_t *r = rd->r;

    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        resume_job_t *late = NULL, *batch, **tail;
        size_t n = 1;

        resume__unpark(r, &late);
        if (late) {
            pthread_mutex_unlock(&r->lock);
            for (resume_job_t *j = late, *next; j; j = next) {
                next = j->next;
                if (!resume__cancelled(j)) {
                    /* Parked to the end: the client did not read its replay. */
                    MC_INFO("resume: replay of %s: the client did not read it within "
                            "MC_REPLAY_TIMEOUT_MS; closing it",
                            j->channel);
                    mc_metric_add(r->slow, 1);
                    resume__emit(r, j, RESUME_SLOW, NULL, -1, -1);
                }
                resume__replay_end(r, j);
            }
            pthread_mutex_lock(&r->lock);
            continue;
        }
        if (!r->rhead) {
            if (r->parked) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += RESUME_PARK_POLL_MS * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&r->rcond, &r->lock, &ts);
            } else
                pthread_cond_wait(&r->rcond, &r->lock);
            continue;
        }
        /* The oldest waiting replay, and every other one of its partition (up to a bound). */
        batch = r->rhead;
        r->rhead = batch->next;
        batch->next = NULL;
        tail = &batch->next;
        for (resume_job_t **pp = &r->rhead; *pp && n < RESUME_BATCH_MAX;) {
            resume_job_t *j = *pp;
            if (j->partition == batch->partition) {
                *pp = j->next;
                j->next = NULL;
                *tail = j;
                tail = &j->next;
                n++;
            } else
                pp = &j->next;
        }
        r->rtail = NULL;
        for (resume_job_t *j = r->rhead; j; j = j->next)
            r->rtail = j;
        pthread_mutex_unlock(&r->lock);
        resume__pass(rd, batch);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* ------------------------------------------------------------------ positions */

/* Answers j once its partition p's watermarks are known (ok: lo, hi are valid); ends j or
 * hands it to the replay readers. */
static void resume__positioned(resume_t *r, resume_job_t *j, int32_t p, int ok, int64_t lo,
                               int64_t hi)
{
    int64_t o = j->since_offset;
    char pos[48];

    if (resume__cancelled(j) || atomic_load(&r->stop)) {
        resume__done(r, j);
        return;
    }
    if (!ok) {
        resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "Kafka did not answer; retry");
        return;
    }
    if (!j->has_since) {
        resume__subscribed_at_end(r, j, p, hi);
        return;
    }
    if (j->since_partition != p) {
        resume__resync(r, j, p, hi, "position is not in the channel's partition");
        return;
    }
    if (o + 1 < lo) {
        resume__resync(r, j, p, hi, "position is no longer retained");
        return;
    }
    if (o >= hi) {
        resume__resync(r, j, p, hi, "position is past the end of the partition");
        return;
    }
    mc_metric_add(r->replays, 1);
    snprintf(pos, sizeof pos, "%" PRId32 ":%" PRId64, p, o);
    if (resume__emit(r, j, RESUME_SEND, proto_subscribed(j->channel, pos), -1, -1) != MC_OK) {
        resume__done(r, j);
        return;
    }
    if (o + 1 >= hi) {
        resume__emit(r, j, RESUME_LIVE, NULL, p, hi);
        resume__done(r, j);
        return;
    }
    /* Live frames below hi need not be held meanwhile: they are replayed. */
    if (resume__emit(r, j, RESUME_FLOOR, NULL, p, hi) != MC_OK) {
        resume__done(r, j);
        return;
    }
    j->partition = p;
    j->from = o + 1;
    j->to = hi;
    j->deadline_ms = resume__now_ms() + r->o.replay_timeout_ms;
    atomic_fetch_add(&j->rc->replays, 1);
    resume__replay_queue(r, j);
}

/*
 * Positions j in partition p: joins the jobs waiting for p's watermarks; when no thread is
 * querying them, this one does, for all of them, until none is left waiting.
 */
static void resume__position(resume_t *r, resume_job_t *j, int32_t p)
{
    pthread_mutex_lock(&r->lock);
    if (p >= r->nparts_alloc) {
        int32_t n = p + 1 > 2 * r->nparts_alloc ? p + 1 : 2 * r->nparts_alloc;
        resume_part_t *np = realloc(r->parts, (size_t)n * sizeof *np);
        if (!np) {
            pthread_mutex_unlock(&r->lock);
            resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "out of memory");
            return;
        }
        memset(np + r->nparts_alloc, 0, (size_t)(n - r->nparts_alloc) * sizeof *np);
        r->parts = np;
        r->nparts_alloc = n;
    }
    j->next = NULL;
    if (r->parts[p].tail)
        r->parts[p].tail->next = j;
    else
        r->parts[p].head = j;
    r->parts[p].tail = j;
    if (r->parts[p].busy) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    r->parts[p].busy = 1;
    for (;;) {
        resume_job_t *batch = r->parts[p].head;
        int64_t lo = 0, hi = 0;
        int ok;
        r->parts[p].head = r->parts[p].tail = NULL;
        if (!batch)
            break;
        pthread_mutex_unlock(&r->lock);
        ok = resume__watermarks(r, p, &lo, &hi) == MC_OK;
        for (resume_job_t *b = batch, *next; b; b = next) {
            next = b->next;
            resume__positioned(r, b, p, ok, lo, hi);
        }
        pthread_mutex_lock(&r->lock);
    }
    r->parts[p].busy = 0;
    pthread_mutex_unlock(&r->lock);
}

/* Waits (bounded by MC_REPLAY_TIMEOUT_MS) until the live feed is positioned. */
static int resume__wait_ready(resume_t *r)
{
    int64_t deadline;
    if (!r->o.ready || r->o.ready(r->o.ready_arg))
        return 1;
    deadline = resume__now_ms() + r->o.replay_timeout_ms;
    while (!atomic_load(&r->stop) && resume__now_ms() < deadline) {
        resume__nap(RESUME_READY_POLL_MS);
        if (r->o.ready(r->o.ready_arg))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ authorization */

/* Authorizes j, then positions it. */
static void resume__start(resume_t *r, resume_job_t *j)
{
    char msg[200];
    proto_err_t e = PROTO_OK;
    int32_t nparts;

    if (resume__cancelled(j) || atomic_load(&r->stop)) {
        resume__done(r, j);
        return;
    }
    msg[0] = '\0';
    if (r->o.authorize)
        e = r->o.authorize(r->o.authorize_arg, j->rc->token, j->channel, msg, sizeof msg);
    if (e != PROTO_OK) {
        resume__refuse(r, j, e, msg[0] ? msg : "subscription refused");
        return;
    }
    if (!resume__wait_ready(r)) {
        resume__refuse(r, j, PROTO_ERR_UNAVAILABLE,
                       "the pusher is not reading deliveries yet; retry");
        return;
    }
    if ((nparts = resume__partitions(r)) <= 0) {
        resume__refuse(r, j, PROTO_ERR_UNAVAILABLE, "Kafka did not answer; retry");
        return;
    }
    resume__position(r, j, resume_partition_of(j->channel, nparts));
}

static void *resume__run(void *arg)
{
    resume_t *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        resume_conn_t *rc;
        resume_job_t *j;
        while (!r->chead && !r->stopping)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->stopping)
            break;
        /* The connection at the head gives one job, then goes to the back if it has more. */
        rc = r->chead;
        resume__ring_remove(r, rc);
        j = rc->head;
        rc->head = j->next;
        if (!rc->head)
            rc->tail = NULL;
        j->next = NULL;
        if (rc->head)
            resume__ring_push(r, rc);
        pthread_mutex_unlock(&r->lock);
        resume__start(r, j);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* ------------------------------------------------------------------ life cycle */

/* A replay consumer from a copy of conf. */
static rd_kafka_t *resume__consumer(const rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = rd_kafka_conf_dup(conf);
    rd_kafka_t *rk;
    if (rd_kafka_conf_set(c, "enable.partition.eof", "true", err, errlen) ||
        rd_kafka_conf_set(c, "auto.offset.reset", "error", err, errlen) ||
        rd_kafka_conf_set(c, "fetch.wait.max.ms", "50", err, errlen)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    if (!(rk = mc_kafka_new(RD_KAFKA_CONSUMER, c, err, errlen)))
        return NULL;
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

resume_t *resume_new(const resume_opts_t *opts, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    resume_t *r = calloc(1, sizeof *r);

    if (!r || !(r->topic = strdup(opts->topic))) {
        free(r);
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->o = *opts;
    if (r->o.threads < 1)
        r->o.threads = 1;
    if (r->o.replay_threads < 1)
        r->o.replay_threads = 1;
    if (r->o.replay_timeout_ms <= 0)
        r->o.replay_timeout_ms = 30000;
    if (!r->o.max_pending)
        r->o.max_pending = 10000;
    if (!r->o.replay_window)
        r->o.replay_window = 256 * 1024;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    pthread_cond_init(&r->rcond, NULL);
    atomic_init(&r->stop, 0);
    atomic_init(&r->pending, 0);
    if (opts->metrics) {
        r->replays = mc_metrics_counter(opts->metrics, "modelcast_pusher_replays_total",
                                        "Subscriptions resumed from a position (replays).",
                                        NULL);
        r->passes = mc_metrics_counter(
            opts->metrics, "modelcast_pusher_replay_passes_total",
            "Reads of a partition for replays (one serves every replay of it waiting).", NULL);
        r->slow = mc_metrics_counter(
            opts->metrics, "modelcast_pusher_replays_unread_total",
            "Replays whose client did not read them within MC_REPLAY_TIMEOUT_MS (close 4008).",
            NULL);
        r->resyncs = mc_metrics_counter(opts->metrics, "modelcast_pusher_resyncs_total",
                                        "Subscriptions answered with resync.", NULL);
        r->refused =
            mc_metrics_counter(opts->metrics, "modelcast_pusher_subscriptions_refused_total",
                               "Subscriptions answered with an error.", NULL);
    }
    r->readers = calloc((size_t)r->o.replay_threads, sizeof *r->readers);
    r->threads = calloc((size_t)r->o.threads, sizeof *r->threads);
    if (!r->readers || !r->threads) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(r->meta = mc_kafka_new(RD_KAFKA_CONSUMER, rd_kafka_conf_dup(conf), err, errlen)))
        goto fail;
    for (int i = 0; i < r->o.replay_threads; i++) {
        char why[256];
        r->readers[i].r = r;
        if (!(r->readers[i].rk = resume__consumer(conf, why, sizeof why))) {
            snprintf(err, errlen, "replay consumer: %s", why);
            goto fail;
        }
        r->nreaders++;
    }
    rd_kafka_conf_destroy(conf);
    conf = NULL;
    for (int i = 0; i < r->nreaders; i++)
        if (pthread_create(&r->readers[i].thread, NULL, resume__replay_run, &r->readers[i]) == 0)
            r->readers[i].started = 1;
    for (int i = 0; i < r->o.threads; i++) {
        if (pthread_create(&r->threads[i], NULL, resume__run, r) != 0)
            break;
        r->nthreads++;
    }
    if (r->nthreads == 0 || !r->readers[0].started) {
        snprintf(err, errlen, "cannot start resume threads");
        goto fail;
    }
    return r;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    resume_free(r);
    return NULL;
}

/* Ends every job of list (a resume-side reference each). */
static void resume__drop_list(resume_t *r, resume_job_t *list, int replays)
{
    for (resume_job_t *j = list, *next; j; j = next) {
        next = j->next;
        if (replays)
            resume__replay_end(r, j);
        else
            resume__done(r, j);
    }
}

void resume_free(resume_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    atomic_store(&r->stop, 1);
    pthread_cond_broadcast(&r->cond);
    pthread_cond_broadcast(&r->rcond);
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    for (int i = 0; r->readers && i < r->nreaders; i++) {
        if (r->readers[i].started)
            pthread_join(r->readers[i].thread, NULL);
        rd_kafka_consumer_close(r->readers[i].rk);
        rd_kafka_destroy(r->readers[i].rk);
    }
    /* The threads are gone: what is still queued is dropped. */
    for (resume_conn_t *rc = r->chead, *next; rc; rc = next) {
        resume_job_t *jobs = rc->head; /* their references may be rc's last ones */
        next = rc->next;
        rc->head = rc->tail = NULL;
        rc->next = rc->prev = NULL;
        rc->queued = 0;
        resume__drop_list(r, jobs, 0);
    }
    for (int32_t p = 0; p < r->nparts_alloc; p++)
        resume__drop_list(r, r->parts[p].head, 0);
    resume__drop_list(r, r->rhead, 1);
    resume__drop_list(r, r->parked, 1);
    free(r->parts);
    free(r->threads);
    free(r->readers);
    if (r->meta)
        rd_kafka_destroy(r->meta);
    pthread_cond_destroy(&r->rcond);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r->topic);
    free(r);
}
