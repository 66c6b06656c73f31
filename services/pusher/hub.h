/*
 * hub.h - the channel → subscribers index and each connection's bounded send queue: routes a
 * shared frame to every subscriber of its channel without scanning all connections. Pure C.
 */
#ifndef PUSHER_HUB_H
#define PUSHER_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "mc_metrics.h"

typedef struct hub hub_t;
typedef struct hub_sub hub_sub_t;

/* Series the hub keeps up to date (any may be NULL). Shared by all hubs of a process. */
typedef struct {
    mc_metric_t *connections;   /* gauge: connections attached */
    mc_metric_t *subscriptions; /* gauge: (connection, channel) pairs */
    mc_metric_t *queue_bytes;   /* gauge: bytes held in send queues */
    mc_metric_t *drops;         /* counter: connections dropped as slow consumers */
    mc_metric_t *frames_out;    /* counter: frames taken off send queues (sent) */
} hub_metrics_t;

/*
 * One connection as the hub sees it. The owner embeds it (e.g. in lws per-session data) and
 * hands it to hub_conn_add(); the fields are the hub's, except user which is the owner's.
 */
typedef struct hub_conn {
    void *user;                  /* owner's handle (the lws wsi) */
    int attached;                /* between hub_conn_add and hub_conn_remove */
    int slow;                    /* send queue overflowed: the owner must close it */
    size_t nsubs;
    hub_sub_t *subs;             /* this connection's subscriptions */
    pusher_frame_t **q;          /* ring of queued frames, each holding one reference */
    size_t qhead, qlen, qcap;
    size_t qoff;                 /* wire bytes of the oldest frame already written */
    size_t qbytes;               /* payload bytes queued */
    size_t pbytes;               /* payload bytes held by pending subscriptions */
    size_t sbytes;               /* bytes the socket still holds (kernel, lws), as last
                                    measured by the owner: counted against the bound too */
    size_t npending;             /* subscriptions in the pending state */
    struct hub_conn *prev, *next;
} hub_conn_t;

/*
 * Creates a hub. queue_max bounds each connection's queued payload bytes; max_subs its
 * subscriptions. metrics is copied (NULL: none). Returns NULL on allocation failure.
 */
hub_t *hub_new(size_t queue_max, size_t max_subs, const hub_metrics_t *metrics);

/* Detaches every remaining connection (dropping their queues) and frees the hub. NULL-safe. */
void hub_free(hub_t *h);

/* Zeroes c, stores user and attaches c to h. c must stay valid until hub_conn_remove(). */
void hub_conn_add(hub_t *h, hub_conn_t *c, void *user);

/* Removes c from every channel, drops its queue and detaches it. Idempotent. */
void hub_conn_remove(hub_t *h, hub_conn_t *c);

/*
 * Subscribes c to channel (copied), live at once and without a floor (every frame of the
 * channel is queued). Subscribing twice is not an error.
 * *position (optional) receives the channel's last delivered position ("p:o") or NULL;
 * it stays valid until the next call into the hub.
 * Returns MC_OK, MC_ERR_TOO_LARGE (over max_subs) or MC_ERR_NOMEM.
 */
int hub_subscribe(hub_t *h, hub_conn_t *c, const char *channel, const char **position);

/*
 * Subscribes c to channel in the pending state: live frames of the channel are held back
 * (counted against the send queue bound) until hub_sub_activate(). pending (not owned by the
 * hub) is handed to the release function (hub_set_pending_release) when the subscription
 * stops being pending in any way other than hub_sub_activate: unsubscribe, connection removed.
 * Returns MC_OK, MC_ERR_BUSY (already subscribed or pending), MC_ERR_TOO_LARGE, MC_ERR_NOMEM.
 */
int hub_subscribe_pending(hub_t *h, hub_conn_t *c, const char *channel, void *pending);

/*
 * c's pending subscription to channel will go live from partition:offset (hub_sub_activate
 * with the same position follows): the frames held below it are dropped, and no more such
 * frames are held. Returns MC_OK or MC_ERR_NOT_FOUND (not pending).
 */
int hub_sub_floor(hub_t *h, hub_conn_t *c, const char *channel, int32_t partition,
                  int64_t offset);

/* Sets the function that releases the pending handles of hub_subscribe_pending. */
void hub_set_pending_release(hub_t *h, void (*release)(void *pending));

/*
 * The pending handle of c's subscription to channel, or NULL when it is not pending (or
 * does not exist).
 */
void *hub_sub_pending(const hub_conn_t *c, const char *channel);

/*
 * Makes c's pending subscription to channel live from partition:from_offset: of the frames
 * held back, those of another partition, or at an offset >= from_offset, move to the send
 * queue in order; the others (already replayed, or below the position the client was given)
 * are dropped. From then on the subscription takes only frames of that partition at a
 * higher offset than the last one it took (at least from_offset): positions grow strictly,
 * whatever order or repeats the frames come in. The pending handle is returned to the caller
 * (not released). Returns MC_OK, MC_ERR_NOT_FOUND (not pending), or MC_ERR_TOO_LARGE (c
 * became slow).
 */
int hub_sub_activate(hub_t *h, hub_conn_t *c, const char *channel, int32_t partition,
                     int64_t from_offset, void **pending);

/* Unsubscribes c from channel. Returns MC_OK or MC_ERR_NOT_FOUND. */
int hub_unsubscribe(hub_t *h, hub_conn_t *c, const char *channel);

/*
 * Appends a reference to f to c's queue (the caller keeps its own).
 * Returns MC_OK; MC_ERR_TOO_LARGE when f would exceed the bound (queued, held and socket
 * bytes plus f over queue_max): c becomes slow, its queue is released at once and drops is
 * counted; MC_ERR_BUSY when c was already slow (nothing queued); MC_ERR_NOMEM.
 */
int hub_enqueue(hub_t *h, hub_conn_t *c, pusher_frame_t *f);

/* Makes c slow as an overflow would (queue and held frames dropped, the drop counted). */
void hub_conn_drop(hub_t *h, hub_conn_t *c);

/* Called by hub_publish for each connection that got a frame or just became slow. */
typedef void (*hub_wake_fn)(hub_conn_t *c, void *arg);

/*
 * Queues f (the caller keeps its reference) on every subscriber of f->channel - held back
 * for a pending one, skipped by a live one whose floor it is not above (hub_sub_activate) -
 * and records position (may be NULL) as the channel's last. Calls wake for each connection
 * that got the frame or just became slow. Returns the number of subscribers of the channel.
 */
size_t hub_publish(hub_t *h, pusher_frame_t *f, const char *position, hub_wake_fn wake,
                   void *arg);

/* The oldest queued frame of c (borrowed), or NULL. */
pusher_frame_t *hub_conn_peek(const hub_conn_t *c);

/* The i-th queued frame of c, oldest first (borrowed), or NULL past the end. */
pusher_frame_t *hub_conn_frame(const hub_conn_t *c, size_t i);

/* Removes the oldest queued frame of c (it was sent) and drops its reference. */
void hub_conn_pop(hub_t *h, hub_conn_t *c);

/*
 * n wire bytes of c's queue were written, from c->qoff into the oldest frame on: pops every
 * frame written completely and leaves qoff inside the next. n must not exceed what is queued.
 */
void hub_conn_consume(hub_t *h, hub_conn_t *c, size_t n);

/* Calls fn for every attached connection; fn must not add or remove connections. */
void hub_foreach_conn(hub_t *h, void (*fn)(hub_conn_t *c, void *arg), void *arg);

/* Counts, for tests and logs. */
size_t hub_conn_count(const hub_t *h);
size_t hub_channel_count(const hub_t *h);
size_t hub_subscriber_count(const hub_t *h, const char *channel);

#endif
