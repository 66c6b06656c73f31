/*
 * ws_server.c - the libwebsockets side of a worker: a foreign libuv loop we own, one context,
 * one protocol serving HTTP endpoints and /ws, and the inbox the feed thread posts into.
 * Everything below except ws_server_post/ws_server_stop runs on the service thread.
 *
 * Writes: frames are complete WebSocket frames (frame.h), written raw (LWS_WRITE_RAW, which
 * lws hands to the socket as they are) as soon as they are queued - at the end of the loop
 * turn that queued them, several frames of a connection gathered into one send() - while
 * nothing of the connection is waiting in lws or for POLLOUT; otherwise at its WRITEABLE.
 * A write the kernel takes only in part leaves the rest with lws (lws_partial_buffered),
 * which sends it before anything else of the connection, its own control frames included;
 * nothing more is written until then. Each socket's send buffer is capped (SO_SNDBUF) and,
 * while a connection waits for POLLOUT, what the kernel and lws hold for it counts against
 * MC_SEND_QUEUE_MAX with what is queued: a client that stops reading is closed with 4008.
 */
#define _GNU_SOURCE /* accept4 */
#include "ws_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "fanout_trace.h"
#include "hub.h"
#include "mc_error.h"
#include "mc_log.h"
#include "protocol.h"
#include "ws_guard.h"

_Static_assert(PUSHER_FRAME_PRE >= LWS_PRE, "frame headroom must cover LWS_PRE");

#define WS_CLOSE_SLOW_CONSUMER 4008
#define WS_CLOSE_ORIGIN 4003
/*
 * lws 4.1 keeps opcode 4 (close) out of the public enum ("handled by lws_close_reason"), but
 * lws_close_reason only reaches the peer when the close starts outside WRITEABLE; see
 * ws__send_close.
 */
#define WS_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)
#define WS_INBOX_DEFAULT 65536
#define WS_SHUTDOWN_GRACE_MS 2500
#define WS_COALESCE_MAX 65536      /* bytes per send(): frames gathered, or a big one's part */
#define WS_WRITES_PER_FLUSH 16     /* send()s per connection per flush before yielding */
#define WS_SNDBUF_MAX 65536        /* SO_SNDBUF cap (the kernel doubles it for overhead) */
#define WS_SNDBUF_MIN 4096
#define WS_DRAIN_MIN_BYTES 4096    /* fan-out per loop turn: at least this, see ws__drain */
#define WS_PING_INTERVAL_DEFAULT_S 25
#define WS_PING_TIMEOUT_DEFAULT_S 60
#define WS_PENDING_DEFAULT 16
#define WS_TRACED_MAX 64          /* traced changes whose span ends after a turn's writes */

/* What the inbox carries: live changes from the feed, and resume jobs' answers. */
typedef enum {
    WS_ITEM_CHANGE,
    WS_ITEM_SEND,
    WS_ITEM_LIVE,
    WS_ITEM_REFUSE,
    WS_ITEM_SLOW,
    WS_ITEM_FLOOR
} ws_item_kind_t;

typedef struct {
    ws_item_kind_t kind;
    pusher_frame_t *frame;     /* owned; NULL for LIVE, SLOW and FLOOR */
    resume_job_t *job;         /* one reference, for the job items */
    int32_t partition;         /* LIVE, FLOOR: (will) go live from partition:offset */
    int64_t offset;
} ws_item_t;

typedef struct ws_pss ws_pss_t;

struct ws_server {
    ws_server_opts_t o;
    char *bind;
    uv_loop_t loop;
    uv_timer_t stop_timer;
    int listen_fd;              /* ours, SO_REUSEPORT: accepted sockets go to lws */
    uv_poll_t listen_poll;
    uv_timer_t accept_timer;    /* resumes accepting after EMFILE */
    struct lws_vhost *vhost;
    struct lws_context *ctx;
    struct lws_protocols protocols[2];
    hub_t *hub;
    mc_metric_t *rejected;
    mc_metric_t *origin_refused;
    mc_metric_t *lag;           /* modelcast_pusher_delivery_lag_seconds */
    lws_retry_bo_t idle_policy; /* server pings and dead-peer hang-up (vhost keeps a pointer) */
    int sndbuf;                 /* SO_SNDBUF of accepted sockets */
    unsigned char *scratch;     /* WS_COALESCE_MAX bytes: frames gathered for one send() */
    ws_pss_t *dirty;            /* connections with frames queued this loop turn */
    atomic_long own_connections;
    atomic_long *open;          /* o.open_connections or &own_connections */
    pthread_t thread;
    int started;
    atomic_int stopping;
    int shutdown_begun;         /* service thread only */
    int tearing_down;           /* in ws_server_free: no more uv_stop from callbacks */
    pthread_mutex_t lock;       /* guards the inbox */
    pthread_cond_t space;
    ws_item_t *inbox;           /* the feed appends here */
    size_t inbox_len, inbox_cap;
    ws_item_t *work;            /* service thread: taken from the inbox, being fanned out */
    size_t work_len, work_pos;
    int inbox_closed;
    /* Service thread: the turn's traced changes (a reference each) and their subscribers,
     * whose fan-out spans end once the turn's writes are done (fanout_trace.h). */
    pusher_frame_t *traced[WS_TRACED_MAX];
    size_t traced_subs[WS_TRACED_MAX];
    size_t ntraced;
};

/* Per-session data: lws allocates it zeroed, for HTTP and WebSocket connections alike. */
struct ws_pss {
    hub_conn_t conn;            /* attached from ESTABLISHED to CLOSED */
    int close_code;             /* nonzero: close at the next WRITEABLE */
    const char *close_reason;
    char *rx;                   /* reassembly of one inbound message */
    size_t rxlen, rxcap;
    int rx_active, rx_binary;
    int want_write;             /* POLLOUT requested (by us, or by lws for what it holds) */
    int close_sent;             /* our close frame is out: drop at the next WRITEABLE */
    int peer_closed;            /* the client's close frame came: no more data frames */
    int dirty;                  /* in ws->dirty */
    ws_pss_t *dirty_next;
    size_t lws_held;            /* bytes lws may hold of the last write (partial) */
    int fd;                     /* the socket, for SIOCOUTQ and the guard */
    unsigned long frames_in;    /* complete messages received */
    resume_conn_t *rc;          /* token and turn of the subscriptions (from auth or the
                                   first subscribe) */
    pusher_frame_t *http_body;  /* HTTP response waiting for HTTP_WRITEABLE */
    int http_wait_body;         /* the request has a body: answer once it was read */
};

/*
 * Asks for SERVER_WRITEABLE once. Asking again before it arrives is not only wasted: with
 * the libuv event lib each request restarts the uv_poll, which drops a writable event already
 * fetched in the same loop turn - fan-out on every turn would then starve all writes.
 */
static void ws__want_write(struct lws *wsi, ws_pss_t *pss)
{
    if (pss->want_write)
        return;
    pss->want_write = 1;
    if (lws_callback_on_writable(wsi) < 0)
        pss->want_write = 0;
}

static void ws__lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    mc_log_level_t l = (level & LLL_ERR) ? MC_LOG_ERROR
                       : (level & LLL_WARN) ? MC_LOG_WARN
                                            : MC_LOG_DEBUG;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    MC_LOG(l, "lws: %.*s", (int)n, line);
}

/* Closes wsi from inside one of its own callbacks: returns -1 for the callback to return. */
static int ws__close_now(struct lws *wsi, int code, const char *reason)
{
    lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
    return -1;
}

/* Marks a connection to be closed at its next WRITEABLE (or by timeout if it never is). */
static void ws__close_later(struct lws *wsi, ws_pss_t *pss, int code, const char *reason,
                            int timeout_s)
{
    if (pss->close_code)
        return;
    pss->close_code = code;
    pss->close_reason = reason;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, timeout_s);
    ws__want_write(wsi, pss);
}

/*
 * What waits for the client in the queue and in lws, for the replays of the connection to
 * pace themselves on (the kernel's part is bounded by the capped send buffer: a client that
 * does not read stops taking it, and then the queue grows).
 */
static void ws__backlog(ws_pss_t *pss)
{
    if (pss->rc)
        atomic_store(&pss->rc->backlog, pss->conn.qbytes + pss->lws_held);
}

/*
 * Writes what the connection has queued (see the top of the file), when nothing of it waits
 * in lws or for POLLOUT: send() straight to the socket, frames gathered up to
 * WS_COALESCE_MAX. When the kernel takes only part of a frame, the rest of that frame goes
 * to lws (lws_write RAW), which sends it before anything else of the connection - its own
 * control frames included - so the stream never holds half a frame when lws writes; whole
 * frames stay in the queue. Returns 0, or -1 when the socket failed (the caller closes it).
 */
static int ws__flush(ws_server_t *ws, struct lws *wsi, ws_pss_t *pss)
{
    hub_conn_t *c = &pss->conn;
    int blocked = 0;

    if (!c->attached || c->slow || pss->close_code || pss->peer_closed || pss->want_write) {
        ws__backlog(pss);
        return 0;
    }
    if (lws_partial_buffered(wsi)) {
        /* lws still holds bytes of this connection (and asked for POLLOUT): after them. */
        pss->want_write = 1;
        ws__backlog(pss);
        return 0;
    }
    for (int w = 0;; w++) {
        pusher_frame_t *f = hub_conn_peek(c);
        const unsigned char *p;
        size_t n;
        ssize_t m;

        if (!f)
            break;
        if (w >= WS_WRITES_PER_FLUSH && c->qoff == 0) {
            ws__want_write(wsi, pss); /* more than a flush's share: at the next turn */
            break;
        }
        p = PUSHER_FRAME_WIRE(f) + c->qoff;
        n = PUSHER_FRAME_WIRE_LEN(f) - c->qoff;
        if (n < WS_COALESCE_MAX && hub_conn_frame(c, 1)) {
            size_t used = n;
            memcpy(ws->scratch, p, n);
            for (size_t i = 1; (f = hub_conn_frame(c, i)); i++) {
                size_t l = PUSHER_FRAME_WIRE_LEN(f);
                if (used + l > WS_COALESCE_MAX)
                    break;
                memcpy(ws->scratch + used, PUSHER_FRAME_WIRE(f), l);
                used += l;
            }
            p = ws->scratch;
            n = used;
        } else if (n > WS_COALESCE_MAX)
            n = WS_COALESCE_MAX;
        do
            m = send(pss->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (m < 0 && errno == EINTR);
        if (m < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (m > 0)
            hub_conn_consume(ws->hub, c, (size_t)m);
        if (m < (ssize_t)n) {
            blocked = 1;
            break;
        }
    }
    if (blocked) {
        int outq = 0;
        pss->lws_held = 0;
        if (c->qoff) {
            /* Half a frame is out: lws takes the rest and asks for POLLOUT itself. */
            pusher_frame_t *f = hub_conn_peek(c);
            size_t rest = PUSHER_FRAME_WIRE_LEN(f) - c->qoff;
            if (lws_write(wsi, (unsigned char *)PUSHER_FRAME_WIRE(f) + c->qoff, rest,
                          LWS_WRITE_RAW) < 0)
                return -1;
            hub_conn_pop(ws->hub, c);
            if (lws_partial_buffered(wsi)) {
                pss->lws_held = rest;
                pss->want_write = 1;
            }
        }
        ws__want_write(wsi, pss);
        if (ioctl(pss->fd, SIOCOUTQ, &outq) != 0)
            outq = 0;
        c->sbytes = (size_t)outq + pss->lws_held;
    } else {
        c->sbytes = 0;
        pss->lws_held = 0;
    }
    ws__backlog(pss);
    return 0;
}

/* Queues pss for the flush at the end of this loop turn (ws__flush_dirty). */
static void ws__mark(ws_server_t *ws, ws_pss_t *pss)
{
    if (pss->dirty)
        return;
    pss->dirty = 1;
    pss->dirty_next = ws->dirty;
    ws->dirty = pss;
}

/* Flushes every connection marked this turn; one whose socket failed is closed. */
static void ws__flush_dirty(ws_server_t *ws)
{
    while (ws->dirty) {
        ws_pss_t *pss = ws->dirty;
        struct lws *wsi = pss->conn.user;
        ws->dirty = pss->dirty_next;
        pss->dirty = 0;
        pss->dirty_next = NULL;
        if (ws__flush(ws, wsi, pss) != 0)
            lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

/* Takes pss out of ws->dirty (the connection closes). */
static void ws__unmark(ws_server_t *ws, ws_pss_t *pss)
{
    if (!pss->dirty)
        return;
    for (ws_pss_t **pp = &ws->dirty; *pp; pp = &(*pp)->dirty_next)
        if (*pp == pss) {
            *pp = pss->dirty_next;
            break;
        }
    pss->dirty = 0;
    pss->dirty_next = NULL;
}

/* hub_publish wake-up: the connection has something to write, or must be dropped. */
static void ws__wake(hub_conn_t *c, void *arg)
{
    ws_server_t *ws = arg;
    struct lws *wsi = c->user;
    ws_pss_t *pss = lws_wsi_user(wsi);
    if (c->slow) {
        ws__close_later(wsi, pss, WS_CLOSE_SLOW_CONSUMER, "slow consumer", 5);
        MC_INFO("ws: dropping a slow consumer");
    } else
        ws__mark(ws, pss);
}

/* Queues f (a reference is taken) on a connection outside its callbacks. */
static void ws__queue(ws_server_t *ws, ws_pss_t *pss, pusher_frame_t *f)
{
    struct lws *wsi = pss->conn.user;
    int rc = hub_enqueue(ws->hub, &pss->conn, f);
    if (rc == MC_ERR_TOO_LARGE || rc == MC_ERR_BUSY)
        ws__close_later(wsi, pss, WS_CLOSE_SLOW_CONSUMER, "slow consumer", 5);
    else if (rc != MC_OK)
        ws__close_later(wsi, pss, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory", 5);
    else
        ws__mark(ws, pss);
}

/* hub release of a pending handle: the connection or subscription went away. */
static void ws__release_job(void *pending)
{
    resume_job_t *job = pending;
    ws_server_t *ws = job->worker;
    job->conn = NULL;
    resume_cancel(ws->o.resume, job);
    resume_job_unref(job);
}

/* An answer of a resume job (see resume.h); ignored once the subscription is gone. */
static void ws__job_item(ws_server_t *ws, ws_item_t *it)
{
    resume_job_t *job = it->job;
    ws_pss_t *pss = job->conn;
    void *pending = NULL;

    if (!pss || pss->close_code) {
        if (it->kind == WS_ITEM_SEND && it->frame->partition >= 0)
            atomic_fetch_sub(&job->transit, it->frame->len);
        return;
    }
    switch (it->kind) {
    case WS_ITEM_SEND:
        ws__queue(ws, pss, it->frame);
        if (it->frame->partition >= 0) {
            /* A replayed change: in the backlog first, then out of transit (resume.h). */
            ws__backlog(pss);
            atomic_fetch_sub(&job->transit, it->frame->len);
        }
        break;
    case WS_ITEM_LIVE:
        if (hub_sub_activate(ws->hub, &pss->conn, job->channel, it->partition, it->offset,
                             &pending) == MC_ERR_TOO_LARGE)
            ws__wake(&pss->conn, ws);
        else if (hub_conn_peek(&pss->conn))
            ws__mark(ws, pss);
        if (pending == job) {
            job->conn = NULL;
            resume_job_unref(job); /* the subscription's reference */
        }
        break;
    case WS_ITEM_REFUSE:
        hub_unsubscribe(ws->hub, &pss->conn, job->channel); /* releases the job */
        ws__queue(ws, pss, it->frame);
        break;
    case WS_ITEM_FLOOR:
        hub_sub_floor(ws->hub, &pss->conn, job->channel, it->partition, it->offset);
        break;
    case WS_ITEM_SLOW:
        hub_unsubscribe(ws->hub, &pss->conn, job->channel);
        hub_conn_drop(ws->hub, &pss->conn);
        ws__wake(&pss->conn, ws); /* closes it with 4008 */
        break;
    default:
        break;
    }
}

/* Observes the age of a live delivery at fan-out: wall clock minus its Kafka timestamp. */
static void ws__observe_lag(ws_server_t *ws, const pusher_frame_t *f)
{
    struct timespec now;
    double lag;
    if (!ws->lag || f->kafka_ts_ms < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    lag = ((double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6 - (double)f->kafka_ts_ms) /
          1000.0;
    mc_metric_observe(ws->lag, lag > 0 ? lag : 0); /* clocks of other hosts may run ahead */
}

/*
 * Fans out the deliveries posted by the feed, about a quarter of MC_SEND_QUEUE_MAX bytes per
 * loop turn (at least one delivery), then writes every connection that got something - all
 * its frames of the turn in one send() where they fit. A remainder re-arms the wake-up.
 */
static void ws__drain(ws_server_t *ws)
{
    size_t budget = ws->o.send_queue_max / 4, spent = 0;
    int more;

    if (budget < WS_DRAIN_MIN_BYTES)
        budget = WS_DRAIN_MIN_BYTES;
    while (spent < budget) {
        ws_item_t *it;
        if (ws->work_pos == ws->work_len) {
            ws_item_t *taken;
            pthread_mutex_lock(&ws->lock);
            taken = ws->inbox;
            ws->inbox = ws->work;
            ws->work = taken;
            ws->work_len = ws->inbox_len;
            ws->work_pos = 0;
            ws->inbox_len = 0;
            pthread_cond_broadcast(&ws->space);
            pthread_mutex_unlock(&ws->lock);
            if (ws->work_len == 0)
                break;
        }
        it = &ws->work[ws->work_pos++];
        if (it->kind == WS_ITEM_CHANGE) {
            spent += it->frame->len;
            ws__observe_lag(ws, it->frame);
            size_t subs = hub_publish(ws->hub, it->frame, NULL, ws__wake, ws);
            if (it->frame->trace && ws->ntraced < WS_TRACED_MAX) {
                ws->traced_subs[ws->ntraced] = subs;
                ws->traced[ws->ntraced++] = pusher_frame_ref(it->frame);
            } else if (it->frame->trace) {
                fanout_trace_done(it->frame->trace, subs); /* queued; the writes follow */
            }
        } else {
            spent += it->frame ? it->frame->len : 0;
            ws__job_item(ws, it);
        }
        pusher_frame_unref(it->frame);
        it->frame = NULL;
        resume_job_unref(it->job);
        it->job = NULL;
    }
    ws__flush_dirty(ws);
    for (size_t i = 0; i < ws->ntraced; i++) {
        fanout_trace_done(ws->traced[i]->trace, ws->traced_subs[i]);
        pusher_frame_unref(ws->traced[i]);
    }
    ws->ntraced = 0;
    /*
     * Come back next turn if anything is left - including items the feed posted while we
     * worked: their wake-up was consumed by this very turn.
     */
    pthread_mutex_lock(&ws->lock);
    more = ws->work_pos < ws->work_len || ws->inbox_len > 0;
    pthread_mutex_unlock(&ws->lock);
    if (more)
        lws_cancel_service(ws->ctx);
}

static void ws__going_away(hub_conn_t *c, void *arg)
{
    struct lws *wsi = c->user;
    (void)arg;
    ws__close_later(wsi, lws_wsi_user(wsi), LWS_CLOSE_STATUS_GOINGAWAY, "going away", 2);
}

static void ws__stop_timer_cb(uv_timer_t *t)
{
    MC_WARN("ws: shutdown grace period over; closing remaining connections");
    uv_stop(t->loop);
}

static void ws__begin_shutdown(ws_server_t *ws)
{
    size_t n = hub_conn_count(ws->hub);
    ws->shutdown_begun = 1;
    uv_poll_stop(&ws->listen_poll);
    uv_timer_stop(&ws->accept_timer);
    MC_INFO("ws: shutting down, closing %zu connections", n);
    if (n == 0) {
        uv_stop(&ws->loop);
        return;
    }
    hub_foreach_conn(ws->hub, ws__going_away, ws);
    uv_timer_start(&ws->stop_timer, ws__stop_timer_cb, WS_SHUTDOWN_GRACE_MS, 0);
}

/*
 * Queues a reply frame (taking ownership of f) on the connection and writes it at once,
 * from inside the connection's own callback. Returns 0 or -1 (close).
 */
static int ws__send(ws_server_t *ws, struct lws *wsi, ws_pss_t *pss, pusher_frame_t *f)
{
    int rc;
    if (!f)
        return ws__close_now(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    rc = hub_enqueue(ws->hub, &pss->conn, f);
    pusher_frame_unref(f);
    if (rc == MC_ERR_TOO_LARGE || rc == MC_ERR_BUSY)
        return ws__close_now(wsi, WS_CLOSE_SLOW_CONSUMER, "slow consumer");
    if (rc != MC_OK)
        return ws__close_now(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    return ws__flush(ws, wsi, pss);
}

/*
 * subscribe: attaches a pending subscription (holding live frames) and hands the rest to
 * the resume pool; its answers come back through the inbox (ws__job_item). Over the bounds
 * of subscriptions waiting for an answer - per connection, and per instance (resume) - it
 * is refused at once with `busy`.
 */
static int ws__subscribe(ws_server_t *ws, struct lws *wsi, ws_pss_t *pss,
                         const proto_request_t *req)
{
    char msg[200];
    resume_job_t *job;
    int rc;

    if (pss->conn.npending >= ws->o.max_pending && !hub_sub_pending(&pss->conn, req->channel)) {
        snprintf(msg, sizeof msg,
                 "%zu subscriptions of this connection are still waiting for an answer; "
                 "retry after one of them",
                 pss->conn.npending);
        return ws__send(ws, wsi, pss, proto_error(PROTO_ERR_BUSY, req->channel, msg));
    }
    if (!pss->rc && !(pss->rc = resume_conn_new(NULL)))
        return ws__close_now(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    if (!(job = resume_job_new(ws, pss, pss->rc, req)))
        return ws__close_now(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    rc = hub_subscribe_pending(ws->hub, &pss->conn, req->channel, job);
    if (rc != MC_OK) {
        resume_job_unref(job);
        if (rc == MC_ERR_BUSY)
            return ws__send(ws, wsi, pss,
                            proto_error(PROTO_ERR_ALREADY_SUBSCRIBED, req->channel,
                                        "already subscribed (or subscribing): unsubscribe "
                                        "first to resubscribe"));
        if (rc == MC_ERR_TOO_LARGE) {
            snprintf(msg, sizeof msg, "at most %zu subscriptions per connection",
                     ws->o.max_subscriptions);
            return ws__send(ws, wsi, pss,
                            proto_error(PROTO_ERR_TOO_MANY_SUBSCRIPTIONS, req->channel, msg));
        }
        return ws__close_now(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    }
    /* The subscription holds job's first reference; the pool takes its own. */
    rc = ws->o.resume ? resume_submit(ws->o.resume, job) : MC_ERR_BUSY;
    if (rc != MC_OK) {
        hub_unsubscribe(ws->hub, &pss->conn, req->channel);
        if (rc == MC_ERR_TOO_LARGE)
            return ws__send(ws, wsi, pss,
                            proto_error(PROTO_ERR_BUSY, req->channel,
                                        "the pusher has too many subscriptions waiting for "
                                        "an answer; retry shortly"));
        return ws__send(ws, wsi, pss,
                        proto_error(PROTO_ERR_UNAVAILABLE, req->channel, "shutting down"));
    }
    return 0;
}

static int ws__message(ws_server_t *ws, struct lws *wsi, ws_pss_t *pss)
{
    proto_request_t req;
    char msg[200];
    proto_err_t e;
    int first = pss->frames_in++ == 0;

    e = proto_parse(pss->rx, pss->rxlen, pss->rx_binary, ws->o.max_frame, &req, msg, sizeof msg);
    if (e == PROTO_ERR_TOO_LARGE)
        return ws__close_now(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too large");
    if (e != PROTO_OK)
        return ws__send(ws, wsi, pss, proto_error(e, NULL, msg));
    switch (req.type) {
    case PROTO_AUTH:
        if (!first)
            return ws__send(ws, wsi, pss,
                            proto_error(PROTO_ERR_OUT_OF_ORDER, NULL,
                                        "auth must be the first frame of a connection"));
        if (!(pss->rc = resume_conn_new(req.token[0] ? req.token : NULL)))
            return ws__close_now(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return 0;
    case PROTO_PING:
        return ws__send(ws, wsi, pss, proto_pong());
    case PROTO_SUBSCRIBE:
        return ws__subscribe(ws, wsi, pss, &req);
    case PROTO_UNSUBSCRIBE:
        hub_unsubscribe(ws->hub, &pss->conn, req.channel);
        return ws__send(ws, wsi, pss, proto_unsubscribed(req.channel));
    }
    return 0;
}

static int ws__receive(ws_server_t *ws, struct lws *wsi, ws_pss_t *pss, const void *in,
                       size_t len)
{
    size_t need;
    if (!pss->conn.attached)
        return -1;
    if (pss->close_code)
        return 0; /* closing: ignore what the client still sends */
    if (!pss->rx_active) {
        pss->rx_active = 1;
        pss->rxlen = 0;
        pss->rx_binary = lws_frame_is_binary(wsi);
    }
    need = pss->rxlen + len + lws_remaining_packet_payload(wsi);
    if (need > ws->o.max_frame)
        return ws__close_now(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too large");
    if (need + 1 > pss->rxcap) {
        size_t cap = pss->rxcap ? pss->rxcap : 256;
        char *nrx;
        while (cap < need + 1)
            cap *= 2;
        if (!(nrx = realloc(pss->rx, cap)))
            return ws__close_now(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        pss->rx = nrx;
        pss->rxcap = cap;
    }
    if (len)
        memcpy(pss->rx + pss->rxlen, in, len);
    pss->rxlen += len;
    if (!lws_is_final_fragment(wsi))
        return 0;
    pss->rx_active = 0;
    return ws__message(ws, wsi, pss);
}

/*
 * Closes from WRITEABLE. lws treats a nonzero return here as a failed write and drops the
 * socket without a close frame, so write the close frame ourselves, then drop the connection
 * (at once, or at the next WRITEABLE when lws still holds part of the frame). The timeout set
 * by ws__close_later covers a peer that never reads.
 */
static int ws__send_close(struct lws *wsi, ws_pss_t *pss)
{
    unsigned char buf[LWS_PRE + 2 + 64];
    size_t rlen = strlen(pss->close_reason);

    if (pss->close_sent)
        return -1;
    if (rlen > 64)
        rlen = 64;
    buf[LWS_PRE] = (unsigned char)(pss->close_code >> 8);
    buf[LWS_PRE + 1] = (unsigned char)(pss->close_code & 0xff);
    memcpy(buf + LWS_PRE + 2, pss->close_reason, rlen);
    if (lws_write(wsi, buf + LWS_PRE, 2 + rlen, WS_LWS_WRITE_CLOSE) < 0)
        return -1;
    if (!lws_send_pipe_choked(wsi))
        return -1; /* the close frame is in the kernel: drop the socket now */
    pss->close_sent = 1;
    ws__want_write(wsi, pss);
    return 0;
}

static int ws__writeable(ws_server_t *ws, struct lws *wsi, ws_pss_t *pss)
{
    if (!pss->conn.attached)
        return -1;
    pss->want_write = 0;
    pss->lws_held = 0; /* lws calls WRITEABLE once it has sent all it held */
    if (pss->conn.slow && !pss->close_code) {
        pss->close_code = WS_CLOSE_SLOW_CONSUMER;
        pss->close_reason = "slow consumer";
    }
    if (pss->close_code)
        return ws__send_close(wsi, pss);
    return ws__flush(ws, wsi, pss);
}

/* ws_guard: the client sent an unmasked frame (RFC 6455 5.1). */
static void ws__guard_broken(void *arg)
{
    ws_pss_t *pss = arg;
    MC_INFO("ws: closing a connection: unmasked client frame");
    ws__close_later(pss->conn.user, pss, LWS_CLOSE_STATUS_PROTOCOL_ERR, "unmasked frame", 5);
}

/* A new WebSocket connection: attached to the hub, then checked (Origin, early data). */
static int ws__established(ws_server_t *ws, struct lws *wsi, ws_pss_t *pss)
{
    char origin[256], host[256];
    int has_origin;

    pusher_frame_unref(pss->http_body);
    memset(pss, 0, sizeof *pss);
    hub_conn_add(ws->hub, &pss->conn, wsi);
    atomic_fetch_add(ws->open, 1);
    pss->fd = lws_get_socket_fd(wsi);
    if (ws_guard_upgrade(pss->fd, ws__guard_broken, pss) != 0) {
        MC_INFO("ws: closing a connection: data sent before the handshake was answered");
        ws__close_later(wsi, pss, LWS_CLOSE_STATUS_PROTOCOL_ERR, "data before handshake", 5);
        return 0;
    }
    has_origin = lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) > 0;
    if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0)
        host[0] = '\0';
    if (!ws_origins_allow(ws->o.origins, has_origin ? origin : NULL, host[0] ? host : NULL)) {
        mc_metric_add(ws->origin_refused, 1);
        MC_WARN("ws: refusing a connection from origin %s (host %s): not the same origin and "
                "not in MC_WS_ORIGINS",
                origin, host[0] ? host : "(none)");
        /* After the upgrade, so that a browser sees the close code, not a failed handshake. */
        ws__close_later(wsi, pss, WS_CLOSE_ORIGIN, "origin not allowed", 5);
    }
    return 0;
}

static int ws__http_respond(struct lws *wsi, ws_pss_t *pss, unsigned status, const char *ctype,
                            const char *body)
{
    unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start,
                                      *end = buf + sizeof buf - 1;
    pusher_frame_t *f;

    if (!pss || !(f = pusher_frame_new(body, strlen(body), NULL)))
        return -1;
    if (lws_add_http_common_headers(wsi, status, ctype, f->len, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end)) {
        pusher_frame_unref(f);
        return -1;
    }
    pusher_frame_unref(pss->http_body);
    pss->http_body = f;
    if (!pss->http_wait_body)
        lws_callback_on_writable(wsi);
    return 0;
}

#define WS_JSON "application/json"

static int ws__http(ws_server_t *ws, struct lws *wsi, ws_pss_t *pss, const char *uri)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        /*
         * A request with a body is answered once lws has read it (HTTP_BODY_COMPLETION):
         * completing the transaction earlier would take the body for the next request.
         */
        char cl[24];
        if (pss && ((lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
                     strtoll(cl, NULL, 10) > 0) ||
                    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0))
            pss->http_wait_body = 1;
        return ws__http_respond(wsi, pss, 405, WS_JSON,
                                "{\"error\":{\"code\":\"method_not_allowed\","
                                "\"message\":\"only GET is served\"}}");
    }
    if (strcmp(uri, "/healthz") == 0)
        return ws__http_respond(wsi, pss, 200, WS_JSON, "{\"status\":\"ok\"}");
    if (strcmp(uri, "/readyz") == 0) {
        if (!ws->o.ready || ws->o.ready(ws->o.ready_arg))
            return ws__http_respond(wsi, pss, 200, WS_JSON, "{\"status\":\"ok\"}");
        return ws__http_respond(wsi, pss, 503, WS_JSON,
                                "{\"error\":{\"code\":\"not_ready\",\"message\":"
                                "\"the Kafka deliveries partitions are not assigned yet\"}}");
    }
    if (strcmp(uri, "/metrics") == 0) {
        char *text = ws->o.metrics ? mc_metrics_render(ws->o.metrics) : strdup("");
        int rc;
        if (!text)
            return -1;
        rc = ws__http_respond(wsi, pss, 200, "text/plain; version=0.0.4; charset=utf-8", text);
        free(text);
        return rc;
    }
    if (strcmp(uri, "/ws") == 0)
        return ws__http_respond(wsi, pss, 426, WS_JSON,
                                "{\"error\":{\"code\":\"upgrade_required\","
                                "\"message\":\"/ws takes WebSocket connections\"}}");
    return ws__http_respond(wsi, pss, 404, WS_JSON,
                            "{\"error\":{\"code\":\"not_found\",\"message\":\"no such route\"}}");
}

static int ws__http_writeable(struct lws *wsi, ws_pss_t *pss)
{
    pusher_frame_t *f;
    size_t flen;
    int n;

    if (!pss || !pss->http_body || pss->http_wait_body)
        return 0;
    f = pss->http_body;
    pss->http_body = NULL;
    flen = f->len;
    n = lws_write(wsi, PUSHER_FRAME_DATA(f), flen, LWS_WRITE_HTTP_FINAL);
    pusher_frame_unref(f);
    if (n < 0 || (size_t)n < flen)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Accepts a WebSocket handshake only on /ws, under the connection limit, while running. */
static int ws__filter(ws_server_t *ws, struct lws *wsi)
{
    char uri[64];
    if (atomic_load(&ws->stopping))
        return 1;
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws") != 0)
        return 1;
    if ((size_t)atomic_load(ws->open) >= ws->o.max_connections) {
        mc_metric_add(ws->rejected, 1);
        MC_WARN("ws: refusing a connection: MC_MAX_CONNECTIONS (%zu) reached",
                ws->o.max_connections);
        return 1;
    }
    return 0;
}

static int ws__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    ws_server_t *ws = lws_context_user(lws_get_context(wsi));
    ws_pss_t *pss = user;

    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        ws__drain(ws);
        if (atomic_load(&ws->stopping) && !ws->shutdown_begun)
            ws__begin_shutdown(ws);
        return 0;
    case LWS_CALLBACK_HTTP:
        return ws__http(ws, wsi, pss, in ? (const char *)in : "");
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return ws__http_writeable(wsi, pss);
    case LWS_CALLBACK_HTTP_BODY:
        return 0; /* a body of a refused method: read and dropped */
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (pss && pss->http_wait_body) {
            pss->http_wait_body = 0;
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        ws_guard_forget(lws_get_socket_fd(wsi));
        /* fallthrough */
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* lws frees pss after either: an answer not sent yet goes with it. */
        if (pss) {
            pusher_frame_unref(pss->http_body);
            pss->http_body = NULL;
        }
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws__filter(ws, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return ws__established(ws, wsi, pss);
    case LWS_CALLBACK_RECEIVE:
        return ws__receive(ws, wsi, pss, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return ws__writeable(ws, wsi, pss);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        pss->peer_closed = 1; /* lws answers the close; no data frame may follow */
        return 0;
    case LWS_CALLBACK_CLOSED:
        /* lws frees pss after this returns: release everything it points to. */
        ws_guard_forget(pss->fd);
        ws__unmark(ws, pss);
        if (pss->conn.attached)
            atomic_fetch_sub(ws->open, 1);
        hub_conn_remove(ws->hub, &pss->conn); /* releases pending jobs (ws__release_job) */
        resume_conn_unref(pss->rc);
        pss->rc = NULL;
        free(pss->rx);
        pss->rx = NULL;
        pss->rxcap = pss->rxlen = 0;
        if (ws->shutdown_begun && !ws->tearing_down && hub_conn_count(ws->hub) == 0)
            uv_stop(&ws->loop);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/*
 * The listening socket is ours rather than lws's: Debian's lws 4.1 (LWS_MAX_SMP 1) does not
 * set SO_REUSEPORT, so a second worker could not bind. Each worker binds its own socket with
 * SO_REUSEPORT (the kernel spreads connections among them, and among processes on the same
 * port) and hands accepted sockets to its lws vhost with lws_adopt_socket_vhost.
 */
static int ws__listen(const char *bind_addr, long port, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "MC_HTTP_BIND: \"%s\" is not an IPv4 address", bind_addr);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, errlen, "cannot serve on %s:%ld: %s", bind_addr, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/*
 * A capped send buffer (the kernel would grow it to megabytes for a client that stops
 * reading; what it holds is counted against MC_SEND_QUEUE_MAX, see ws__flush) and no Nagle
 * delay: a frame goes out when it is written.
 */
static void ws__socket_options(ws_server_t *ws, int fd)
{
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &ws->sndbuf, sizeof ws->sndbuf) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        MC_DEBUG("ws: socket options: %s", strerror(errno));
}

static void ws__accept_cb(uv_poll_t *h, int status, int events);

static void ws__accept_resume(uv_timer_t *t)
{
    ws_server_t *ws = t->data;
    if (!ws->shutdown_begun)
        uv_poll_start(&ws->listen_poll, UV_READABLE, ws__accept_cb);
}

static void ws__accept_cb(uv_poll_t *h, int status, int events)
{
    ws_server_t *ws = h->data;
    (void)events;
    if (status < 0 || ws->shutdown_begun)
        return;
    for (int i = 0; i < 256; i++) {
        int fd = accept4(ws->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: pause accepting (the backlog waits) instead of spinning. */
                MC_WARN("ws: accept: %s; pausing accepts for 100 ms", strerror(errno));
                mc_metric_add(ws->rejected, 1);
                uv_poll_stop(&ws->listen_poll);
                uv_timer_start(&ws->accept_timer, ws__accept_resume, 100, 0);
            }
            return;
        }
        ws__socket_options(ws, fd);
        ws_guard_watch(fd);
        if (!lws_adopt_socket_vhost(ws->vhost, fd)) {
            ws_guard_forget(fd);
            close(fd); /* lws logged why */
        }
    }
}

ws_server_t *ws_server_new(const ws_server_opts_t *opts, char *err, size_t errlen)
{
    struct lws_context_creation_info info;
    void *foreign_loops[1];
    hub_metrics_t hm = {0};
    ws_server_t *ws = calloc(1, sizeof *ws);

    if (!ws) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ws->o = *opts;
    if (!ws->o.inbox_max)
        ws->o.inbox_max = WS_INBOX_DEFAULT;
    if (!ws->o.max_pending)
        ws->o.max_pending = WS_PENDING_DEFAULT;
    ws->sndbuf = (int)(opts->send_queue_max / 4 < WS_SNDBUF_MAX ? opts->send_queue_max / 4
                                                                : WS_SNDBUF_MAX);
    if (ws->sndbuf < WS_SNDBUF_MIN)
        ws->sndbuf = WS_SNDBUF_MIN;
    ws->scratch = malloc(WS_COALESCE_MAX);
    ws->bind = strdup(opts->bind ? opts->bind : "127.0.0.1");
    ws->inbox = calloc(ws->o.inbox_max, sizeof *ws->inbox);
    ws->work = calloc(ws->o.inbox_max, sizeof *ws->work);
    ws->inbox_cap = ws->o.inbox_max;
    if (opts->metrics) {
        mc_metrics_t *m = opts->metrics;
        hm.connections = mc_metrics_gauge(m, "modelcast_pusher_connections",
                                          "WebSocket connections open.", NULL);
        hm.subscriptions = mc_metrics_gauge(m, "modelcast_pusher_subscriptions",
                                            "Channel subscriptions held by connections.",
                                            NULL);
        hm.queue_bytes = mc_metrics_gauge(m, "modelcast_pusher_queue_bytes",
                                          "Bytes waiting in connection send queues.", NULL);
        hm.drops = mc_metrics_counter(m, "modelcast_pusher_drops_total",
                                      "Connections dropped as slow consumers (close 4008).",
                                      NULL);
        hm.frames_out = mc_metrics_counter(m, "modelcast_pusher_frames_out_total",
                                           "Frames written to WebSocket connections.", NULL);
        ws->rejected =
            mc_metrics_counter(m, "modelcast_pusher_connections_rejected_total",
                               "WebSocket handshakes refused at MC_MAX_CONNECTIONS.", NULL);
        ws->origin_refused = mc_metrics_counter(
            m, "modelcast_pusher_origins_refused_total",
            "WebSocket connections closed with 4003: Origin not allowed.", NULL);
        ws->lag = mc_metrics_histogram(
            m, "modelcast_pusher_delivery_lag_seconds",
            "Age of a live delivery when a worker fans it out: wall clock minus the Kafka "
            "timestamp of its record in the deliveries topic.",
            NULL, mc_metrics_latency_bounds, mc_metrics_latency_nbounds);
    }
    ws->hub = hub_new(opts->send_queue_max, opts->max_subscriptions, &hm);
    if (!ws->bind || !ws->inbox || !ws->work || !ws->hub || !ws->scratch) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    hub_set_pending_release(ws->hub, ws__release_job);
    atomic_init(&ws->own_connections, 0);
    ws->open = opts->open_connections ? opts->open_connections : &ws->own_connections;
    pthread_mutex_init(&ws->lock, NULL);
    pthread_cond_init(&ws->space, NULL);
    atomic_init(&ws->stopping, 0);
    if (uv_loop_init(&ws->loop) != 0) {
        snprintf(err, errlen, "uv_loop_init failed");
        goto fail_sync;
    }
    uv_timer_init(&ws->loop, &ws->stop_timer);
    uv_timer_init(&ws->loop, &ws->accept_timer);
    ws->accept_timer.data = ws;
    ws->listen_fd = -1;

    /* Before the lws context: a bad address or a port in use leaves nothing to tear down. */
    if ((ws->listen_fd = ws__listen(ws->bind, opts->port, err, errlen)) < 0)
        goto fail_loop;

    lws_set_log_level(LLL_ERR | LLL_WARN | (mc_log_level() <= MC_LOG_DEBUG ? LLL_NOTICE : 0),
                      ws__lws_log);
    ws->protocols[0].name = "modelcast";
    ws->protocols[0].callback = ws__callback;
    ws->protocols[0].per_session_data_size = sizeof(ws_pss_t);
    ws->protocols[0].rx_buffer_size = 4096;
    /* One lws_write goes to the kernel in one send() up to this (lws's default: 4 KiB). */
    ws->protocols[0].tx_packet_size = WS_COALESCE_MAX;

    memset(&info, 0, sizeof info);
    foreign_loops[0] = &ws->loop;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* we listen: see ws__listen */
    info.protocols = ws->protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = foreign_loops;
    info.user = ws;
    info.pcontext = &ws->ctx;
    info.gid = -1;
    info.uid = -1;
    info.timeout_secs = 10;
    /*
     * Server pings (lws 4.1 dropped ws_ping_pong_interval): a connection with no proof of
     * life (a pong) for secs_since_valid_ping gets a PING control frame; one still without
     * one at secs_since_valid_hangup is closed. Applies to adopted sockets, whose wsi takes
     * the vhost's policy.
     */
    ws->idle_policy.secs_since_valid_ping =
        (uint16_t)(opts->ping_interval_s ? opts->ping_interval_s : WS_PING_INTERVAL_DEFAULT_S);
    ws->idle_policy.secs_since_valid_hangup =
        (uint16_t)(opts->ping_timeout_s ? opts->ping_timeout_s : WS_PING_TIMEOUT_DEFAULT_S);
    info.retry_and_idle_policy = &ws->idle_policy;
    ws->ctx = lws_create_context(&info);
    if (!ws->ctx || !(ws->vhost = lws_get_vhost_by_name(ws->ctx, "default"))) {
        snprintf(err, errlen, "cannot create the libwebsockets context");
        close(ws->listen_fd);
        goto fail_loop;
    }
    uv_poll_init(&ws->loop, &ws->listen_poll, ws->listen_fd);
    ws->listen_poll.data = ws;
    uv_poll_start(&ws->listen_poll, UV_READABLE, ws__accept_cb);
    return ws;

fail_loop:
    /* The caller exits: a context that was created is left to process exit. */
    uv_close((uv_handle_t *)&ws->accept_timer, NULL);
    uv_close((uv_handle_t *)&ws->stop_timer, NULL);
    uv_run(&ws->loop, UV_RUN_NOWAIT);
    if (uv_loop_close(&ws->loop) != 0)
        MC_WARN("ws: the event loop still had handles after a failed start");
fail_sync:
    pthread_cond_destroy(&ws->space);
    pthread_mutex_destroy(&ws->lock);
fail:
    hub_free(ws->hub);
    free(ws->scratch);
    free(ws->inbox);
    free(ws->work);
    free(ws->bind);
    free(ws);
    return NULL;
}

static void *ws__run(void *arg)
{
    ws_server_t *ws = arg;
    uv_run(&ws->loop, UV_RUN_DEFAULT);
    return NULL;
}

int ws_server_start(ws_server_t *ws)
{
    if (pthread_create(&ws->thread, NULL, ws__run, ws) != 0)
        return MC_ERR_NOMEM;
    ws->started = 1;
    return MC_OK;
}

/*
 * Appends *it to the inbox, waiting for room ~100 ms at a time, once (wait_all 0) or until
 * the server stops. Returns MC_OK (item taken) or MC_ERR_BUSY.
 */
static int ws__post(ws_server_t *ws, const ws_item_t *it, int wait_all)
{
    int rc = MC_ERR_BUSY;

    pthread_mutex_lock(&ws->lock);
    while (!ws->inbox_closed && ws->inbox_len == ws->inbox_cap) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ws->space, &ws->lock, &ts);
        if (!wait_all)
            break;
    }
    if (!ws->inbox_closed && ws->inbox_len < ws->inbox_cap) {
        ws->inbox[ws->inbox_len++] = *it;
        /* One wake-up per batch: the service thread drains the whole inbox each time. */
        if (ws->inbox_len == 1)
            lws_cancel_service(ws->ctx);
        rc = MC_OK;
    }
    pthread_mutex_unlock(&ws->lock);
    return rc;
}

int ws_server_post(ws_server_t *ws, pusher_frame_t *frame)
{
    ws_item_t it = {WS_ITEM_CHANGE, frame, NULL, -1, -1};
    return ws__post(ws, &it, 0);
}

int ws_server_post_job(void *worker, resume_job_t *job, resume_event_t ev,
                       pusher_frame_t *frame, int32_t partition, int64_t offset)
{
    ws_server_t *ws = worker;
    ws_item_t it = {ev == RESUME_SEND    ? WS_ITEM_SEND
                    : ev == RESUME_LIVE  ? WS_ITEM_LIVE
                    : ev == RESUME_SLOW  ? WS_ITEM_SLOW
                    : ev == RESUME_FLOOR ? WS_ITEM_FLOOR
                                         : WS_ITEM_REFUSE,
                    frame, resume_job_ref(job), partition, offset};
    int rc = ws__post(ws, &it, 1);
    if (rc != MC_OK) {
        pusher_frame_unref(frame);
        resume_job_unref(job);
    }
    return rc;
}

void ws_server_stop(ws_server_t *ws)
{
    if (!ws)
        return;
    pthread_mutex_lock(&ws->lock);
    ws->inbox_closed = 1;
    pthread_cond_broadcast(&ws->space);
    pthread_mutex_unlock(&ws->lock);
    if (!ws->started)
        return;
    atomic_store(&ws->stopping, 1);
    lws_cancel_service(ws->ctx);
    pthread_join(ws->thread, NULL);
    ws->started = 0;
}

void ws_server_detach_resume(ws_server_t *ws)
{
    if (ws)
        ws->o.resume = NULL;
}

void ws_server_free(ws_server_t *ws)
{
    if (!ws)
        return;
    ws_server_stop(ws);
    /* The service thread is gone: this thread now drives the loop through lws teardown. */
    ws->tearing_down = 1;
    uv_timer_stop(&ws->stop_timer); /* else the teardown runs below would wait for it */
    uv_close((uv_handle_t *)&ws->listen_poll, NULL);
    uv_close((uv_handle_t *)&ws->accept_timer, NULL);
    uv_run(&ws->loop, UV_RUN_NOWAIT);
    close(ws->listen_fd);
    /*
     * With a foreign loop, lws_context_destroy() finishes only after lws's handles have
     * closed in the loop; a second call then frees the context and NULLs ws->ctx (pcontext).
     */
    for (int i = 0; ws->ctx && i < 3; i++) {
        lws_context_destroy(ws->ctx);
        uv_run(&ws->loop, UV_RUN_DEFAULT);
    }
    if (ws->ctx)
        MC_WARN("ws: the lws context did not finish its teardown");
    uv_close((uv_handle_t *)&ws->stop_timer, NULL);
    uv_run(&ws->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&ws->loop) != 0)
        MC_WARN("ws: the event loop still had handles at exit");
    for (size_t i = 0; i < ws->inbox_len; i++) {
        pusher_frame_unref(ws->inbox[i].frame);
        resume_job_unref(ws->inbox[i].job);
    }
    for (size_t i = ws->work_pos; i < ws->work_len; i++) {
        pusher_frame_unref(ws->work[i].frame);
        resume_job_unref(ws->work[i].job);
    }
    hub_free(ws->hub);
    pthread_cond_destroy(&ws->space);
    pthread_mutex_destroy(&ws->lock);
    free(ws->scratch);
    free(ws->inbox);
    free(ws->work);
    free(ws->bind);
    free(ws);
}
