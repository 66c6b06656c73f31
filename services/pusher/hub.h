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
    size_t qbytes;               /* payload bytes queued */
    size_t pbytes;               /* payload bytes held by pending subscriptions */
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
 * Subscribes c to channel (copied). Subscribing twice is not an error.
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

/* Sets the function that releases the pending handles of hub_subscribe_pending. */
void hub_set_pending_release(hub_t *h, void (*release)(void *pending));

/*
 * The pending handle of c's subscription to channel, or NULL when it is not pending (or
 * does not exist).
 */
void *hub_sub_pending(const hub_conn_t *c, const char *channel);

/*
 * Makes c's pending subscription to channel live: of the frames held back, those of another
 * partition than partition, or at an offset >= from_offset, move to the send queue in order;
 * the others (already replayed) are dropped. The pending handle is returned to the caller
 * (not released). Returns MC_OK, MC_ERR_NOT_FOUND (not pending), or MC_ERR_TOO_LARGE (c
 * became slow).
 */
int hub_sub_activate(hub_t *h, hub_conn_t *c, const char *channel, int32_t partition,
                     int64_t from_offset, void **pending);

/* Unsubscribes c from channel. Returns MC_OK or MC_ERR_NOT_FOUND. */
int hub_unsubscribe(hub_t *h, hub_conn_t *c, const char *channel);

/*
 * Appends a reference to f to c's queue (the caller keeps its own).
 * Returns MC_OK; MC_ERR_TOO_LARGE when f would exceed the bound: c becomes slow, its queue
 * is released at once and drops is counted; MC_ERR_BUSY when c was already slow (nothing
 * queued); MC_ERR_NOMEM.
 */
int hub_enqueue(hub_t *h, hub_conn_t *c, pusher_frame_t *f);

/* Called by hub_publish for each connection that got a frame or just became slow. */
typedef void (*hub_wake_fn)(hub_conn_t *c, void *arg);

/*
 * Queues f (the caller keeps its reference) on every subscriber of f->channel and records
 * position (may be NULL) as the channel's last. Calls wake for each connection touched.
 * Returns the number of subscribers of the channel.
 */
size_t hub_publish(hub_t *h, pusher_frame_t *f, const char *position, hub_wake_fn wake,
                   void *arg);

/* The oldest queued frame of c (borrowed), or NULL. */
pusher_frame_t *hub_conn_peek(const hub_conn_t *c);

/* Removes the oldest queued frame of c (it was sent) and drops its reference. */
void hub_conn_pop(hub_t *h, hub_conn_t *c);

/* Calls fn for every attached connection; fn must not add or remove connections. */
void hub_foreach_conn(hub_t *h, void (*fn)(hub_conn_t *c, void *arg), void *arg);

/* Counts, for tests and logs. */
size_t hub_conn_count(const hub_t *h);
size_t hub_channel_count(const hub_t *h);
size_t hub_subscriber_count(const hub_t *h, const char *channel);

#endif
