/*
 * ws_server.h - one pusher worker: a libwebsockets context on its own libuv loop and service
 * thread, serving /ws (the protocol), /healthz, /readyz and /metrics on one port.
 */
#ifndef PUSHER_WS_SERVER_H
#define PUSHER_WS_SERVER_H

#include <stdatomic.h>
#include <stddef.h>

#include "frame.h"
#include "mc_metrics.h"
#include "origin.h"
#include "resume.h"

typedef struct ws_server ws_server_t;

typedef struct {
    const char *bind;          /* IPv4 address; "0.0.0.0" for every interface */
    long port;
    size_t max_connections;    /* WebSocket connections at once */
    size_t max_subscriptions;  /* per connection */
    size_t max_pending;        /* subscriptions waiting for an answer, per connection (0: 16) */
    const ws_origins_t *origins; /* MC_WS_ORIGINS (NULL: same-origin only); not owned */
    size_t max_frame;          /* largest inbound message (close 1009 beyond) */
    size_t send_queue_max;     /* queued bytes per connection (close 4008 beyond) */
    size_t inbox_max;          /* frames waiting for the service thread (0: default) */
    mc_metrics_t *metrics;     /* rendered by /metrics and updated here; not owned */
    int (*ready)(void *arg);   /* /readyz: 200 while it returns nonzero (NULL: always) */
    void *ready_arg;
    resume_t *resume;          /* answers subscriptions off the loop; not owned */
    atomic_long *open_connections; /* shared by the workers of an instance (NULL: own) */
    int worker_id;             /* for logs */
    unsigned ping_interval_s;  /* idle seconds before a WebSocket ping (0: 25) */
    unsigned ping_timeout_s;   /* seconds without a pong before hanging up (0: 60) */
} ws_server_opts_t;

/*
 * Creates the loop and lws context and binds the port (from the calling thread; the service
 * thread takes over in ws_server_start). The listening socket has SO_REUSEPORT, so several
 * workers (and processes) share the port; the kernel spreads connections among them.
 * Returns NULL with err filled on failure.
 */
ws_server_t *ws_server_new(const ws_server_opts_t *opts, char *err, size_t errlen);

/* Starts the service thread. Returns MC_OK or MC_ERR_NOMEM. */
int ws_server_start(ws_server_t *ws);

/*
 * Hands a change frame (routed by frame->channel, at frame->partition:offset) to the service
 * thread; frames are immutable, so one may go to every worker (a reference each).
 * Thread-safe. Returns MC_OK having taken ownership of one reference to frame, or
 * MC_ERR_BUSY when the inbox stayed full for ~100 ms or the server is stopping (not taken).
 */
int ws_server_post(ws_server_t *ws, pusher_frame_t *frame);

/*
 * resume_emit_fn of the workers (worker is the ws_server_t of job): queues the outcome for
 * the service thread, waiting while the inbox is full. Returns MC_OK, or MC_ERR_BUSY when
 * the server is stopping (frame released).
 */
int ws_server_post_job(void *worker, resume_job_t *job, resume_event_t ev,
                       pusher_frame_t *frame, int32_t partition, int64_t offset);

/*
 * Closes every client with 1001 "going away" (waiting up to ~2 s for them), stops the loop
 * and joins the service thread. Thread-safe; idempotent.
 */
void ws_server_stop(ws_server_t *ws);

/*
 * Forgets opts->resume (about to be freed): subscriptions still pending when the last
 * connections close are then only marked cancelled. Call after ws_server_stop.
 */
void ws_server_detach_resume(ws_server_t *ws);

/* Stops if needed, destroys the context and loop, frees ws. NULL-safe. */
void ws_server_free(ws_server_t *ws);

#endif
