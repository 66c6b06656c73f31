/*
 * resume.h - the off-loop half of a subscription: authorizes it, finds the channel's Kafka
 * position and replays a partition from a client's "since", on a few threads of its own,
 * answering each job through its worker's inbox (never blocking a service thread).
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

/* What a job hands back to its worker, in this order per job: SEND* then LIVE or REFUSE. */
typedef enum {
    RESUME_SEND,   /* frame for the client (subscribed, resync, replayed change) */
    RESUME_LIVE,   /* make the subscription live from (partition, offset): the last event */
    RESUME_REFUSE, /* frame is an error: drop the pending subscription; the last event */
} resume_event_t;

/*
 * Hands one outcome of job to its worker; called on a resume thread, in order. Takes
 * ownership of frame (may be NULL for LIVE) and takes its own reference to job when it
 * keeps it. Waits while the worker is full. Returns MC_OK, or MC_ERR_BUSY when the worker
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

/* One subscribe request. Refcounted: the worker and the resume thread each hold one. */
struct resume_job {
    atomic_int refs;
    atomic_int cancelled;          /* set by the worker: stop early, results are ignored */
    void *worker;                  /* the worker (ws_server_t) to answer */
    void *conn;                    /* the worker's handle of the connection; the worker's
                                      thread alone reads and clears it */
    char channel[PROTO_CHANNEL_MAX + 1];
    int has_since;
    int32_t since_partition;
    int64_t since_offset;
    char *token;                   /* may be NULL */
    resume_job_t *next;            /* resume's queue */
};

typedef struct {
    const char *topic;               /* deliveries topic */
    int threads;                     /* >= 1 */
    int replay_timeout_ms;           /* bound of one replay */
    resume_emit_fn emit;
    resume_authorize_fn authorize;   /* NULL: allow everything */
    void *authorize_arg;
    mc_metrics_t *metrics;           /* may be NULL */
} resume_opts_t;

/*
 * Creates the resume pool: a Kafka handle for metadata and watermarks, built from conf
 * (takes ownership of conf in every case; replays use copies of it), and opts->threads
 * threads, started at once. Returns NULL with err filled on failure.
 */
resume_t *resume_new(const resume_opts_t *opts, rd_kafka_conf_t *conf, char *err, size_t errlen);

/* Stops the threads (jobs still queued are dropped) and frees r. NULL-safe. */
void resume_free(resume_t *r);

/*
 * A new job with one reference held by the caller; token may be NULL (copied).
 * NULL on allocation failure.
 */
resume_job_t *resume_job_new(void *worker, void *conn, const proto_request_t *req,
                             const char *token);

resume_job_t *resume_job_ref(resume_job_t *job);

/* Drops one reference; the last one frees the job. NULL-safe, thread-safe. */
void resume_job_unref(resume_job_t *job);

/* Queues job (takes one more reference). Returns MC_OK, or MC_ERR_BUSY when stopping. */
int resume_submit(resume_t *r, resume_job_t *job);

/*
 * The partition of channel among n partitions, as authz's producer chooses it (librdkafka's
 * murmur2 partitioner, Java-compatible: (murmur2(key) & 0x7fffffff) % n). -1 when n <= 0.
 */
int32_t resume_partition_of(const char *channel, int32_t n);

#endif
