/*
 * resume.h - the off-loop half of a subscription: authorizes it, finds the channel's Kafka
 * position and replays a partition from a client's "since", on threads of its own, answering
 * each job through its worker's inbox (never blocking a service thread). Authorization and
 * positions (MC_RESUME_THREADS, taking connections in turn) never wait behind replays
 * (MC_REPLAY_THREADS, each with one long-lived consumer reading a partition once for every
 * replay of it that is waiting).
 */
#ifndef PUSHER_RESUME_H
#define PUSHER_RESUME_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "mc_metrics.h"
#include "protocol.h"

typedef struct resume resume_t;
typedef struct resume_job resume_job_t;
typedef struct resume_conn resume_conn_t;

/*
 * What a job hands back to its worker, in this order per job: SEND and FLOOR events, then
 * LIVE, REFUSE or SLOW.
 */
typedef enum {
    RESUME_SEND,   /* frame for the client (subscribed, resync, replayed change) */
    RESUME_LIVE,   /* make the subscription live from (partition, offset): the last event */
    RESUME_REFUSE, /* frame is an error: drop the pending subscription; the last event */
    RESUME_SLOW,   /* the client did not read its replay in time: close it (4008); the last */
    RESUME_FLOOR,  /* a replay's end is known: it goes live from (partition, offset) */
} resume_event_t;

/*
 * Hands one outcome of job to its worker; called on a resume thread, in order. Takes
 * ownership of frame (NULL for LIVE, SLOW and FLOOR) and takes its own reference to job when
 * it keeps it. Waits while the worker is full. Returns MC_OK, or MC_ERR_BUSY when the worker
 * is stopping (frame released): the job ends.
 */
typedef int (*resume_emit_fn)(void *worker, resume_job_t *job, resume_event_t ev,
                              pusher_frame_t *frame, int32_t partition, int64_t offset);

/*
 * Decides whether token may subscribe to channel. Called on a resume thread (it may block,
 * e.g. on an HTTP call to authz). Returns PROTO_OK, or the error code to refuse with and a
 * message in msg.
 */
typedef proto_err_t (*resume_authorize_fn)(void *arg, const char *token, const char *channel,
                                           char *msg, size_t msglen);

/*
 * One connection as resume sees it: its token, held once however many subscriptions wait
 * (refcounted: the worker's connection and each job hold one), and its turn in the queue of
 * authorizations. backlog is written by the worker while a replay of the connection runs:
 * the bytes waiting for the client, which a replay keeps under its window.
 */
struct resume_conn {
    atomic_int refs;
    char *token;                     /* NULL: anonymous */
    atomic_size_t backlog;
    atomic_int replays;              /* replays of this connection in progress */
    /* resume's, under its lock */
    resume_job_t *head, *tail;       /* jobs waiting for authorization, oldest first */
    resume_conn_t *next, *prev;      /* the ring of connections with jobs waiting */
    int queued;
};

/* One subscribe request. Refcounted: the worker and resume each hold one. */
struct resume_job {
    atomic_int refs;
    atomic_int cancelled;          /* set by the worker: stop early, results are ignored */
    void *worker;                  /* the worker (ws_server_t) to answer */
    void *conn;                    /* the worker's handle of the connection; the worker's
                                      thread alone reads and clears it */
    resume_conn_t *rc;             /* one reference */
    char channel[PROTO_CHANNEL_MAX + 1];
    int has_since;
    int32_t since_partition;
    int64_t since_offset;
    atomic_size_t transit;         /* replayed bytes emitted, not yet queued by the worker
                                      (which updates rc->backlog first, then this) */
    /* resume's */
    resume_job_t *next;
    int32_t partition;             /* replay: partition, next offset to send, end (excl.) */
    int64_t from, to;
    int64_t deadline_ms;           /* replay: monotonic ms by which it must be done, not
                                      counting the time parked */
    int64_t parked_ms;             /* replay: parked (waiting for the client to read its
                                      backlog) since then; 0 when not parked */
};

typedef struct {
    const char *topic;               /* deliveries topic */
    int threads;                     /* authorization and positions, >= 1 */
    int replay_threads;              /* replay readers, >= 1 */
    int replay_timeout_ms;           /* bound of one replay's reading, of the time its client
                                        may leave it unread, and of the wait for the feed */
    size_t max_pending;              /* jobs in progress at once (resume_submit refuses more) */
    size_t replay_window;            /* bytes a replay lets wait for its client (backlog) */
    resume_emit_fn emit;
    resume_authorize_fn authorize;   /* NULL: allow everything */
    void *authorize_arg;
    int (*ready)(void *arg);         /* nonzero once the live feed is positioned (NULL: always):
                                        no position is handed out before */
    void *ready_arg;
    mc_metrics_t *metrics;           /* may be NULL */
} resume_opts_t;

/*
 * Creates the resume pool: a Kafka handle for metadata and watermarks and one consumer per
 * replay thread, built from conf (takes ownership of conf in every case), and the threads,
 * started at once. Returns NULL with err filled on failure.
 */
resume_t *resume_new(const resume_opts_t *opts, rd_kafka_conf_t *conf, char *err, size_t errlen);

/* Stops the threads (jobs still queued are dropped) and frees r. NULL-safe. */
void resume_free(resume_t *r);

/* A connection's resume side holding a copy of token (NULL: anonymous); NULL on no memory. */
resume_conn_t *resume_conn_new(const char *token);
resume_conn_t *resume_conn_ref(resume_conn_t *rc);
/* Drops one reference; the last one frees rc. NULL-safe, thread-safe. */
void resume_conn_unref(resume_conn_t *rc);

/*
 * A new job for connection rc (takes a reference to it) with one reference held by the
 * caller. NULL on allocation failure.
 */
resume_job_t *resume_job_new(void *worker, void *conn, resume_conn_t *rc,
                             const proto_request_t *req);

resume_job_t *resume_job_ref(resume_job_t *job);

/* Drops one reference; the last one frees the job. NULL-safe, thread-safe. */
void resume_job_unref(resume_job_t *job);

/*
 * Queues job (takes one more reference) behind the jobs of its connection; connections are
 * served in turn. Returns MC_OK, MC_ERR_TOO_LARGE when opts->max_pending jobs are in
 * progress, or MC_ERR_BUSY when stopping.
 */
int resume_submit(resume_t *r, resume_job_t *job);

/*
 * The worker gave up job (unsubscribed, connection gone): marks it cancelled; when it still
 * waits for authorization it leaves the queue at once, freeing its place in the bound of
 * max_pending (a job already on a thread ends there soon). Called on the worker's thread.
 */
void resume_cancel(resume_t *r, resume_job_t *job);

/* Jobs in progress (submitted and not yet answered or dropped). */
size_t resume_pending(resume_t *r);

/*
 * The partition of channel among n partitions, as authz's producer chooses it (librdkafka's
 * murmur2 partitioner, Java-compatible: (murmur2(key) & 0x7fffffff) % n). -1 when n <= 0.
 */
int32_t resume_partition_of(const char *channel, int32_t n);

#endif
