/* hub.c - channel index (chained hash map) and per-connection bounded send queues. */
#include "hub.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mc_error.h"

typedef struct hub_channel {
    char *name;
    uint64_t hash;
    struct hub_channel *next; /* bucket chain */
    hub_sub_t *subs;          /* subscribers */
    size_t nsubs;
    char position[48];        /* last delivered "p:o", "" for none */
} hub_channel_t;

/* One (connection, channel) pair, linked into both the channel's and the connection's list. */
struct hub_sub {
    hub_channel_t *ch;
    hub_conn_t *conn;
    hub_sub_t *ch_prev, *ch_next;
    hub_sub_t *conn_prev, *conn_next;
    void *pending;            /* non-NULL: pending, frames held in held[] */
    pusher_frame_t **held;
    size_t nheld, heldcap, heldbytes;
    int32_t floor_partition;  /* live: frames of this partition below floor_offset are */
    int64_t floor_offset;     /* dropped; -1: no floor (hub_subscribe) */
};

struct hub {
    size_t queue_max, max_subs;
    hub_metrics_t m;
    hub_channel_t **buckets;
    size_t nbuckets, nchannels;
    hub_conn_t *conns;
    size_t nconns;
    void (*release)(void *pending);
};

#define HUB_INITIAL_BUCKETS 64

static uint64_t hub__hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

hub_t *hub_new(size_t queue_max, size_t max_subs, const hub_metrics_t *metrics)
{
    hub_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof *p of an array of pointers */
    h->buckets = calloc(HUB_INITIAL_BUCKETS, sizeof *h->buckets);
    if (!h->buckets) {
        free(h);
        return NULL;
    }
    h->nbuckets = HUB_INITIAL_BUCKETS;
    h->queue_max = queue_max;
    h->max_subs = max_subs;
    if (metrics)
        h->m = *metrics;
    return h;
}

static hub_channel_t *hub__find(const hub_t *h, const char *name, uint64_t hash)
{
    for (hub_channel_t *ch = h->buckets[hash & (h->nbuckets - 1)]; ch; ch = ch->next)
        if (ch->hash == hash && strcmp(ch->name, name) == 0)
            return ch;
    return NULL;
}

static void hub__grow(hub_t *h)
{
    size_t n = h->nbuckets * 2;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof *p of an array of pointers */
    hub_channel_t **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep the longer chains; still correct */
    for (size_t i = 0; i < h->nbuckets; i++) {
        hub_channel_t *ch = h->buckets[i], *next;
        for (; ch; ch = next) {
            next = ch->next;
            ch->next = b[ch->hash & (n - 1)];
            b[ch->hash & (n - 1)] = ch;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->nbuckets = n;
}

static hub_channel_t *hub__channel_get(hub_t *h, const char *name)
{
    uint64_t hash = hub__hash(name);
    hub_channel_t *ch = hub__find(h, name, hash);
    if (ch)
        return ch;
    ch = calloc(1, sizeof *ch);
    if (!ch || !(ch->name = strdup(name))) {
        free(ch);
        return NULL;
    }
    ch->hash = hash;
    ch->next = h->buckets[hash & (h->nbuckets - 1)];
    h->buckets[hash & (h->nbuckets - 1)] = ch;
    if (++h->nchannels > h->nbuckets)
        hub__grow(h);
    return ch;
}

static void hub__channel_drop(hub_t *h, hub_channel_t *ch)
{
    hub_channel_t **pp = &h->buckets[ch->hash & (h->nbuckets - 1)];
    while (*pp != ch)
        pp = &(*pp)->next;
    *pp = ch->next;
    h->nchannels--;
    free(ch->name);
    free(ch);
}

static void hub__queue_clear(hub_t *h, hub_conn_t *c)
{
    for (size_t i = 0; i < c->qlen; i++)
        pusher_frame_unref(c->q[(c->qhead + i) % c->qcap]);
    mc_metric_add(h->m.queue_bytes, -(double)c->qbytes);
    free(c->q);
    c->q = NULL;
    c->qhead = c->qlen = c->qcap = 0;
    c->qbytes = c->qoff = 0;
}

void hub_conn_add(hub_t *h, hub_conn_t *c, void *user)
{
    memset(c, 0, sizeof *c);
    c->user = user;
    c->attached = 1;
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;
    mc_metric_add(h->m.connections, 1);
}

static void hub__held_clear(hub_t *h, hub_sub_t *s)
{
    for (size_t i = 0; i < s->nheld; i++)
        pusher_frame_unref(s->held[i]);
    s->conn->pbytes -= s->heldbytes;
    mc_metric_add(h->m.queue_bytes, -(double)s->heldbytes);
    free(s->held);
    s->held = NULL;
    s->nheld = s->heldcap = s->heldbytes = 0;
}

static void hub__unlink_sub(hub_t *h, hub_sub_t *s)
{
    hub__held_clear(h, s);
    if (s->pending) {
        s->conn->npending--;
        if (h->release)
            h->release(s->pending);
    }
    s->pending = NULL;
    hub_channel_t *ch = s->ch;
    hub_conn_t *c = s->conn;

    if (s->ch_prev)
        s->ch_prev->ch_next = s->ch_next;
    else
        ch->subs = s->ch_next;
    if (s->ch_next)
        s->ch_next->ch_prev = s->ch_prev;
    if (s->conn_prev)
        s->conn_prev->conn_next = s->conn_next;
    else
        c->subs = s->conn_next;
    if (s->conn_next)
        s->conn_next->conn_prev = s->conn_prev;
    c->nsubs--;
    if (--ch->nsubs == 0)
        hub__channel_drop(h, ch);
    free(s);
    mc_metric_add(h->m.subscriptions, -1);
}

void hub_conn_remove(hub_t *h, hub_conn_t *c)
{
    if (!c->attached)
        return;
    while (c->subs)
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): unlinking the head advances c->subs */
        hub__unlink_sub(h, c->subs);
    hub__queue_clear(h, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->attached = 0;
    h->nconns--;
    mc_metric_add(h->m.connections, -1);
}

void hub_free(hub_t *h)
{
    if (!h)
        return;
    while (h->conns)
        hub_conn_remove(h, h->conns);
    free(h->buckets);
    free(h);
}

static hub_sub_t *hub__conn_find(const hub_conn_t *c, const char *channel)
{
    for (hub_sub_t *s = c->subs; s; s = s->conn_next)
        if (strcmp(s->ch->name, channel) == 0)
            return s;
    return NULL;
}

int hub_subscribe(hub_t *h, hub_conn_t *c, const char *channel, const char **position)
{
    hub_sub_t *s = hub__conn_find(c, channel);
    hub_channel_t *ch;

    if (position)
        *position = NULL;
    if (!s) {
        if (c->nsubs >= h->max_subs)
            return MC_ERR_TOO_LARGE;
        if (!(s = calloc(1, sizeof *s)))
            return MC_ERR_NOMEM;
        if (!(ch = hub__channel_get(h, channel))) {
            free(s);
            return MC_ERR_NOMEM;
        }
        s->ch = ch;
        s->conn = c;
        s->floor_partition = -1;
        s->floor_offset = -1;
        s->ch_next = ch->subs;
        if (ch->subs)
            ch->subs->ch_prev = s;
        ch->subs = s;
        ch->nsubs++;
        s->conn_next = c->subs;
        if (c->subs)
            c->subs->conn_prev = s;
        c->subs = s;
        c->nsubs++;
        mc_metric_add(h->m.subscriptions, 1);
    }
    if (position && s->ch->position[0])
        *position = s->ch->position;
    return MC_OK;
}

int hub_unsubscribe(hub_t *h, hub_conn_t *c, const char *channel)
{
    hub_sub_t *s = hub__conn_find(c, channel);
    if (!s)
        return MC_ERR_NOT_FOUND;
    hub__unlink_sub(h, s);
    return MC_OK;
}

/*
 * When f does not fit c's bound (queued, held and socket bytes), makes c slow: drops its
 * queue and held frames at once and counts the drop. Returns nonzero then.
 */
void hub_conn_drop(hub_t *h, hub_conn_t *c)
{
    if (c->slow)
        return;
    c->slow = 1;
    hub__queue_clear(h, c);
    for (hub_sub_t *s = c->subs; s; s = s->conn_next)
        hub__held_clear(h, s);
    mc_metric_add(h->m.drops, 1);
}

static int hub__over(hub_t *h, hub_conn_t *c, const pusher_frame_t *f)
{
    if (c->qbytes + c->pbytes + c->sbytes + f->len <= h->queue_max)
        return 0;
    hub_conn_drop(h, c);
    return 1;
}

int hub_enqueue(hub_t *h, hub_conn_t *c, pusher_frame_t *f)
{
    if (c->slow)
        return MC_ERR_BUSY;
    if (hub__over(h, c, f))
        return MC_ERR_TOO_LARGE;
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? c->qcap * 2 : 8;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof *p of an array of pointers */
        pusher_frame_t **nq = malloc(ncap * sizeof *nq);
        if (!nq)
            return MC_ERR_NOMEM;
        for (size_t i = 0; i < c->qlen; i++)
            nq[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = nq;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = pusher_frame_ref(f);
    c->qlen++;
    c->qbytes += f->len;
    mc_metric_add(h->m.queue_bytes, (double)f->len);
    return MC_OK;
}

/*
 * Holds f back on pending subscription s (unless it is below the floor its position already
 * set: it will never be sent); the same bound as hub_enqueue.
 */
static int hub__hold(hub_t *h, hub_sub_t *s, pusher_frame_t *f)
{
    hub_conn_t *c = s->conn;
    if (c->slow)
        return MC_ERR_BUSY;
    if (s->floor_partition >= 0 && f->partition == s->floor_partition &&
        f->offset < s->floor_offset)
        return MC_ERR_BUSY; /* not held, nothing to write */
    if (hub__over(h, c, f))
        return MC_ERR_TOO_LARGE;
    if (s->nheld == s->heldcap) {
        size_t ncap = s->heldcap ? s->heldcap * 2 : 8;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof *p of an array of pointers */
        pusher_frame_t **n = realloc(s->held, ncap * sizeof *n);
        if (!n)
            return MC_ERR_NOMEM;
        s->held = n;
        s->heldcap = ncap;
    }
    s->held[s->nheld++] = pusher_frame_ref(f);
    s->heldbytes += f->len;
    c->pbytes += f->len;
    mc_metric_add(h->m.queue_bytes, (double)f->len);
    return MC_ERR_BUSY; /* held, nothing to write yet */
}

int hub_subscribe_pending(hub_t *h, hub_conn_t *c, const char *channel, void *pending)
{
    hub_sub_t *s;
    int rc;
    if (hub__conn_find(c, channel))
        return MC_ERR_BUSY;
    rc = hub_subscribe(h, c, channel, NULL);
    if (rc != MC_OK)
        return rc;
    s = hub__conn_find(c, channel);
    s->pending = pending;
    c->npending++;
    return MC_OK;
}

int hub_sub_floor(hub_t *h, hub_conn_t *c, const char *channel, int32_t partition,
                  int64_t offset)
{
    hub_sub_t *s = hub__conn_find(c, channel);
    size_t kept = 0, kept_bytes = 0;

    if (!s || !s->pending)
        return MC_ERR_NOT_FOUND;
    s->floor_partition = partition;
    s->floor_offset = offset;
    for (size_t i = 0; i < s->nheld; i++) {
        pusher_frame_t *f = s->held[i];
        if (f->partition == partition && f->offset < offset) {
            pusher_frame_unref(f);
            continue;
        }
        s->held[kept++] = f;
        kept_bytes += f->len;
    }
    c->pbytes -= s->heldbytes - kept_bytes;
    mc_metric_add(h->m.queue_bytes, -(double)(s->heldbytes - kept_bytes));
    s->nheld = kept;
    s->heldbytes = kept_bytes;
    return MC_OK;
}

void hub_set_pending_release(hub_t *h, void (*release)(void *pending))
{
    h->release = release;
}

void *hub_sub_pending(const hub_conn_t *c, const char *channel)
{
    hub_sub_t *s = hub__conn_find(c, channel);
    return s ? s->pending : NULL;
}

/*
 * Whether live subscription s takes f: frames of its floor's partition only above the last
 * one taken (the floor then moves up to f). Other partitions pass (the topic's partition
 * count changed: positions of two partitions cannot be compared).
 */
static int hub__above_floor(hub_sub_t *s, const pusher_frame_t *f)
{
    if (s->floor_partition < 0 || f->partition != s->floor_partition)
        return 1;
    if (f->offset < s->floor_offset)
        return 0;
    s->floor_offset = f->offset + 1;
    return 1;
}

int hub_sub_activate(hub_t *h, hub_conn_t *c, const char *channel, int32_t partition,
                     int64_t from_offset, void **pending)
{
    hub_sub_t *s = hub__conn_find(c, channel);
    pusher_frame_t **held;
    size_t nheld;
    int rc = MC_OK;

    if (pending)
        *pending = NULL;
    if (!s || !s->pending)
        return MC_ERR_NOT_FOUND;
    if (pending)
        *pending = s->pending;
    s->pending = NULL;
    c->npending--;
    s->floor_partition = partition;
    s->floor_offset = from_offset;
    held = s->held;
    nheld = s->nheld;
    c->pbytes -= s->heldbytes;
    mc_metric_add(h->m.queue_bytes, -(double)s->heldbytes);
    s->held = NULL;
    s->nheld = s->heldcap = s->heldbytes = 0;
    for (size_t i = 0; i < nheld; i++) {
        pusher_frame_t *f = held[i];
        if (rc == MC_OK && hub__above_floor(s, f)) {
            int e = hub_enqueue(h, c, f);
            if (e == MC_ERR_TOO_LARGE || e == MC_ERR_BUSY)
                rc = MC_ERR_TOO_LARGE;
        }
        pusher_frame_unref(f);
    }
    free(held);
    return rc;
}

size_t hub_publish(hub_t *h, pusher_frame_t *f, const char *position, hub_wake_fn wake,
                   void *arg)
{
    hub_channel_t *ch;
    size_t n = 0;

    if (!f->channel || !(ch = hub__find(h, f->channel, hub__hash(f->channel))))
        return 0;
    if (position) {
        strncpy(ch->position, position, sizeof ch->position - 1);
        ch->position[sizeof ch->position - 1] = '\0';
    }
    for (hub_sub_t *s = ch->subs; s; s = s->ch_next, n++) {
        int rc;
        if (s->pending)
            rc = hub__hold(h, s, f);
        else if (hub__above_floor(s, f))
            rc = hub_enqueue(h, s->conn, f);
        else
            continue;
        if ((rc == MC_OK || rc == MC_ERR_TOO_LARGE) && wake)
            wake(s->conn, arg);
    }
    return n;
}

pusher_frame_t *hub_conn_peek(const hub_conn_t *c)
{
    return c->qlen ? c->q[c->qhead] : NULL;
}

pusher_frame_t *hub_conn_frame(const hub_conn_t *c, size_t i)
{
    return i < c->qlen ? c->q[(c->qhead + i) % c->qcap] : NULL;
}

void hub_conn_pop(hub_t *h, hub_conn_t *c)
{
    pusher_frame_t *f;
    if (!c->qlen)
        return;
    f = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    c->qbytes -= f->len;
    c->qoff = 0;
    mc_metric_add(h->m.queue_bytes, -(double)f->len);
    mc_metric_add(h->m.frames_out, 1);
    pusher_frame_unref(f);
}

void hub_conn_consume(hub_t *h, hub_conn_t *c, size_t n)
{
    while (n && c->qlen) {
        size_t left = PUSHER_FRAME_WIRE_LEN(c->q[c->qhead]) - c->qoff;
        if (n < left) {
            c->qoff += n;
            return;
        }
        n -= left;
        hub_conn_pop(h, c);
    }
}

void hub_foreach_conn(hub_t *h, void (*fn)(hub_conn_t *c, void *arg), void *arg)
{
    for (hub_conn_t *c = h->conns; c; c = c->next)
        fn(c, arg);
}

size_t hub_conn_count(const hub_t *h)
{
    return h->nconns;
}

size_t hub_channel_count(const hub_t *h)
{
    return h->nchannels;
}

size_t hub_subscriber_count(const hub_t *h, const char *channel)
{
    hub_channel_t *ch = hub__find(h, channel, hub__hash(channel));
    return ch ? ch->nsubs : 0;
}
