/* test_pusher_hub.c - channel index, fan-out refcounts, queue bound, connection removal. */
#include "hub.h"
#include "mc_error.h"
#include "mc_metrics.h"
#include "mc_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wakes;

static void count_wake(hub_conn_t *c, void *arg)
{
    (void)c;
    (void)arg;
    wakes++;
}

static int refs(pusher_frame_t *f)
{
    return atomic_load(&f->refs);
}

static void test_frame_layout(void)
{
    pusher_frame_t *f = pusher_frame_new("hello", 5, "Application");
    MC_CHECK(f != NULL);
    if (!f)
        return;
    MC_CHECK_INT(f->len, 5);
    MC_CHECK_STR((const char *)PUSHER_FRAME_DATA(f), "hello");
    MC_CHECK_STR(f->channel, "Application");
    MC_CHECK_INT(refs(f), 1);
    pusher_frame_ref(f);
    MC_CHECK_INT(refs(f), 2);
    pusher_frame_unref(f);
    pusher_frame_unref(f);
    pusher_frame_unref(NULL);
}

static void test_subscribe_unsubscribe(void)
{
    hub_t *h = hub_new(1024, 2, NULL);
    hub_conn_t a, b;
    const char *pos = "x";

    hub_conn_add(h, &a, (void *)1);
    hub_conn_add(h, &b, (void *)2);
    MC_CHECK_INT(hub_conn_count(h), 2);
    MC_CHECK_INT(hub_subscribe(h, &a, "Application", &pos), MC_OK);
    MC_CHECK(pos == NULL);
    MC_CHECK_INT(hub_subscribe(h, &a, "Application", NULL), MC_OK); /* twice is fine */
    MC_CHECK_INT(a.nsubs, 1);
    MC_CHECK_INT(hub_subscribe(h, &b, "Application", NULL), MC_OK);
    MC_CHECK_INT(hub_subscriber_count(h, "Application"), 2);
    MC_CHECK_INT(hub_channel_count(h), 1);
    MC_CHECK_INT(hub_subscribe(h, &a, "User:1", NULL), MC_OK);
    MC_CHECK_INT(hub_subscribe(h, &a, "User:2", NULL), MC_ERR_TOO_LARGE);
    MC_CHECK_INT(a.nsubs, 2);
    MC_CHECK_INT(hub_unsubscribe(h, &a, "User:2"), MC_ERR_NOT_FOUND);
    MC_CHECK_INT(hub_unsubscribe(h, &a, "User:1"), MC_OK);
    MC_CHECK_INT(hub_channel_count(h), 1); /* empty channel is dropped */
    MC_CHECK_INT(hub_unsubscribe(h, &b, "Application"), MC_OK);
    MC_CHECK_INT(hub_subscriber_count(h, "Application"), 1);
    hub_conn_remove(h, &a);
    hub_conn_remove(h, &b);
    MC_CHECK_INT(hub_channel_count(h), 0);
    MC_CHECK_INT(hub_conn_count(h), 0);
    hub_free(h);
}

static void test_fanout_refcounts_and_position(void)
{
    hub_t *h = hub_new(1 << 20, 64, NULL);
    hub_conn_t c[3];
    pusher_frame_t *f = pusher_frame_new("{\"x\":1}", 7, "Application");
    pusher_frame_t *other = pusher_frame_new("{}", 2, "Nobody");
    const char *pos;

    for (int i = 0; i < 3; i++)
        hub_conn_add(h, &c[i], NULL);
    hub_subscribe(h, &c[0], "Application", NULL);
    hub_subscribe(h, &c[1], "Application", NULL);
    hub_subscribe(h, &c[2], "Other", NULL);
    wakes = 0;
    MC_CHECK_INT(hub_publish(h, f, "2:41", count_wake, NULL), 2);
    MC_CHECK_INT(wakes, 2);
    MC_CHECK_INT(refs(f), 3); /* ours + two queues: serialized once, shared */
    MC_CHECK(hub_conn_peek(&c[0]) == f);
    MC_CHECK(hub_conn_peek(&c[1]) == f);
    MC_CHECK(hub_conn_peek(&c[2]) == NULL);
    MC_CHECK_INT(hub_publish(h, other, NULL, count_wake, NULL), 0);
    MC_CHECK_INT(refs(other), 1);
    hub_subscribe(h, &c[2], "Application", &pos);
    MC_CHECK_STR(pos, "2:41");
    hub_conn_pop(h, &c[0]);
    MC_CHECK_INT(refs(f), 2);
    MC_CHECK(hub_conn_peek(&c[0]) == NULL);
    hub_conn_remove(h, &c[1]); /* drops its queued reference */
    MC_CHECK_INT(refs(f), 1);
    pusher_frame_unref(f);
    pusher_frame_unref(other);
    hub_free(h); /* detaches c[0], c[2] */
}

static void test_queue_bound_marks_slow(void)
{
    mc_metrics_t *m = mc_metrics_new();
    hub_metrics_t hm = {
        .connections = mc_metrics_gauge(m, "c", "c", NULL),
        .subscriptions = mc_metrics_gauge(m, "s", "s", NULL),
        .queue_bytes = mc_metrics_gauge(m, "q", "q", NULL),
        .drops = mc_metrics_counter(m, "d", "d", NULL),
        .frames_out = mc_metrics_counter(m, "o", "o", NULL),
    };
    hub_t *h = hub_new(100, 64, &hm);
    hub_conn_t fast, slow;
    char payload[40];
    pusher_frame_t *f;

    memset(payload, 'x', sizeof payload);
    f = pusher_frame_new(payload, sizeof payload, "ch");
    hub_conn_add(h, &fast, NULL);
    hub_conn_add(h, &slow, NULL);
    hub_subscribe(h, &fast, "ch", NULL);
    hub_subscribe(h, &slow, "ch", NULL);
    MC_CHECK_INT(mc_metric_value(hm.subscriptions), 2);
    hub_publish(h, f, "0:1", NULL, NULL);
    hub_publish(h, f, "0:2", NULL, NULL);
    MC_CHECK_INT(slow.qbytes, 80);
    MC_CHECK_INT(mc_metric_value(hm.queue_bytes), 160);
    hub_conn_pop(h, &fast);
    hub_conn_pop(h, &fast);
    MC_CHECK_INT(mc_metric_value(hm.frames_out), 2);
    wakes = 0;
    hub_publish(h, f, "0:3", count_wake, NULL); /* 120 > 100 for slow only */
    MC_CHECK_INT(wakes, 2);
    MC_CHECK(slow.slow);
    MC_CHECK(!fast.slow);
    MC_CHECK_INT(slow.qlen, 0); /* released at once: memory stays bounded */
    MC_CHECK_INT(slow.qbytes, 0);
    MC_CHECK_INT(refs(f), 2);   /* ours + fast's queue */
    MC_CHECK_INT(mc_metric_value(hm.drops), 1);
    MC_CHECK_INT(mc_metric_value(hm.queue_bytes), 40);
    MC_CHECK_INT(hub_enqueue(h, &slow, f), MC_ERR_BUSY);
    MC_CHECK_INT(mc_metric_value(hm.drops), 1);
    /* A single frame over the bound also trips it. */
    {
        hub_t *h2 = hub_new(10, 64, NULL);
        hub_conn_t c;
        hub_conn_add(h2, &c, NULL);
        MC_CHECK_INT(hub_enqueue(h2, &c, f), MC_ERR_TOO_LARGE);
        MC_CHECK(c.slow);
        hub_free(h2);
    }
    hub_conn_remove(h, &fast);
    hub_conn_remove(h, &slow);
    MC_CHECK_INT(mc_metric_value(hm.connections), 0);
    MC_CHECK_INT(mc_metric_value(hm.subscriptions), 0);
    MC_CHECK_INT(mc_metric_value(hm.queue_bytes), 0);
    MC_CHECK_INT(refs(f), 1);
    pusher_frame_unref(f);
    hub_free(h);
    mc_metrics_free(m);
}

static void test_queue_ring_grows_in_order(void)
{
    hub_t *h = hub_new(1 << 20, 64, NULL);
    hub_conn_t c;
    pusher_frame_t *fr[50];
    int next = 0, ok = 1;

    hub_conn_add(h, &c, NULL);
    for (int i = 0; i < 50; i++) {
        char s[8];
        snprintf(s, sizeof s, "%d", i);
        fr[i] = pusher_frame_new(s, strlen(s), NULL);
        MC_CHECK_INT(hub_enqueue(h, &c, fr[i]), MC_OK);
        if (i % 3 == 2) { /* interleaved pops make the ring wrap while it grows */
            ok &= hub_conn_peek(&c) == fr[next++];
            hub_conn_pop(h, &c);
        }
    }
    while (next < 50) {
        ok &= hub_conn_peek(&c) == fr[next++];
        hub_conn_pop(h, &c);
    }
    MC_CHECK(ok);
    MC_CHECK(hub_conn_peek(&c) == NULL);
    MC_CHECK_INT(c.qbytes, 0);
    for (int i = 0; i < 50; i++) {
        MC_CHECK_INT(refs(fr[i]), 1);
        pusher_frame_unref(fr[i]);
    }
    hub_free(h);
}

static void test_remove_from_all_channels_many(void)
{
    hub_t *h = hub_new(1 << 20, 1000, NULL);
    hub_conn_t a, b;
    char name[32];

    hub_conn_add(h, &a, NULL);
    hub_conn_add(h, &b, NULL);
    for (int i = 0; i < 500; i++) { /* forces the bucket array to grow */
        snprintf(name, sizeof name, "Model:%d", i);
        MC_CHECK_INT(hub_subscribe(h, &a, name, NULL), MC_OK);
        if (i % 2)
            hub_subscribe(h, &b, name, NULL);
    }
    MC_CHECK_INT(hub_channel_count(h), 500);
    MC_CHECK_INT(hub_subscriber_count(h, "Model:7"), 2);
    MC_CHECK_INT(hub_subscriber_count(h, "Model:8"), 1);
    hub_conn_remove(h, &a);
    hub_conn_remove(h, &a); /* idempotent */
    MC_CHECK_INT(hub_channel_count(h), 250);
    MC_CHECK_INT(hub_subscriber_count(h, "Model:7"), 1);
    MC_CHECK_INT(hub_subscriber_count(h, "Model:8"), 0);
    hub_conn_remove(h, &b);
    MC_CHECK_INT(hub_channel_count(h), 0);
    hub_free(h);
}

static int released;
static void count_release(void *pending)
{
    (void)pending;
    released++;
}

static pusher_frame_t *change(const char *ch, int32_t p, int64_t o)
{
    pusher_frame_t *f = pusher_frame_new("{\"type\":\"change\"}", 17, ch);
    f->partition = p;
    f->offset = o;
    return f;
}

/* A pending subscription holds live frames back; activation drops those already replayed. */
static void test_pending_holds_then_activates(void)
{
    hub_t *h = hub_new(1000, 8, NULL);
    hub_conn_t c, other;
    int tag = 7;
    void *pend = NULL;
    pusher_frame_t *f[4] = {change("ch", 2, 10), change("ch", 2, 11), change("ch", 2, 12),
                            change("ch", 2, 13)};

    hub_set_pending_release(h, count_release);
    hub_conn_add(h, &c, NULL);
    hub_conn_add(h, &other, NULL);
    MC_CHECK_INT(hub_subscribe_pending(h, &c, "ch", &tag), MC_OK);
    MC_CHECK_INT(hub_subscribe_pending(h, &c, "ch", &tag), MC_ERR_BUSY);
    MC_CHECK(hub_sub_pending(&c, "ch") == &tag);
    hub_subscribe(h, &other, "ch", NULL);
    for (int i = 0; i < 3; i++)
        hub_publish(h, f[i], NULL, NULL, NULL);
    MC_CHECK_INT(c.qlen, 0);           /* held back */
    MC_CHECK_INT(c.pbytes, 3 * 17);    /* but counted against the bound */
    MC_CHECK_INT(other.qlen, 3);
    /* replay covered up to offset 11: live from 12 */
    MC_CHECK_INT(hub_sub_activate(h, &c, "ch", 2, 12, &pend), MC_OK);
    MC_CHECK(pend == &tag);
    MC_CHECK_INT(c.pbytes, 0);
    MC_CHECK_INT(c.qlen, 1);
    MC_CHECK(hub_conn_peek(&c) == f[2]);
    MC_CHECK(hub_sub_pending(&c, "ch") == NULL);
    hub_publish(h, f[3], NULL, NULL, NULL);
    MC_CHECK_INT(c.qlen, 2);
    MC_CHECK_INT(hub_sub_activate(h, &c, "ch", 2, 0, NULL), MC_ERR_NOT_FOUND);
    MC_CHECK_INT(released, 0);
    /* a pending subscription dropped with its connection is released */
    MC_CHECK_INT(hub_subscribe_pending(h, &c, "other", &tag), MC_OK);
    hub_publish(h, f[0], NULL, NULL, NULL);
    hub_conn_remove(h, &c);
    MC_CHECK_INT(released, 1);
    MC_CHECK_INT(refs(f[0]), 3); /* ours + twice in other's queue, none held */
    hub_free(h);
    for (int i = 0; i < 4; i++) {
        MC_CHECK_INT(refs(f[i]), 1);
        pusher_frame_unref(f[i]);
    }
}

/* Held frames count against MC_SEND_QUEUE_MAX like queued ones. */
static void test_pending_bound(void)
{
    hub_t *h = hub_new(40, 8, NULL);
    hub_conn_t c;
    int tag = 1;
    pusher_frame_t *f = change("ch", 0, 1);
    released = 0;
    hub_set_pending_release(h, count_release);
    hub_conn_add(h, &c, NULL);
    hub_subscribe_pending(h, &c, "ch", &tag);
    hub_publish(h, f, NULL, NULL, NULL);
    hub_publish(h, f, NULL, NULL, NULL);
    MC_CHECK(!c.slow);
    hub_publish(h, f, NULL, NULL, NULL); /* 51 > 40 */
    MC_CHECK(c.slow);
    MC_CHECK_INT(c.pbytes, 0);
    MC_CHECK_INT(refs(f), 1);
    hub_free(h);
    MC_CHECK_INT(released, 1);
    pusher_frame_unref(f);
}

/* The WebSocket header written once before the payload: final text frame, unmasked. */
static void test_frame_wire_header(void)
{
    static char big[70000];
    struct {
        size_t len;
        uint8_t hlen;
        unsigned char h[10];
    } v[] = {{0, 2, {0x81, 0}},
             {125, 2, {0x81, 125}},
             {126, 4, {0x81, 126, 0, 126}},
             {65535, 4, {0x81, 126, 0xff, 0xff}},
             {65536, 10, {0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}}};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        pusher_frame_t *f = pusher_frame_new(big, v[i].len, NULL);
        MC_CHECK_INT(f->hlen, v[i].hlen);
        MC_CHECK_INT(PUSHER_FRAME_WIRE_LEN(f), v[i].len + v[i].hlen);
        MC_CHECK(memcmp(PUSHER_FRAME_WIRE(f), v[i].h, v[i].hlen) == 0);
        MC_CHECK(PUSHER_FRAME_WIRE(f) + f->hlen == PUSHER_FRAME_DATA(f));
        pusher_frame_unref(f);
    }
}

/* Written bytes pop whole frames and leave the offset inside the next. */
static void test_consume_by_wire_bytes(void)
{
    hub_t *h = hub_new(1000, 8, NULL);
    hub_conn_t c;
    pusher_frame_t *a = pusher_frame_new("aaaa", 4, NULL), *b = pusher_frame_new("bb", 2, NULL);
    hub_conn_add(h, &c, NULL);
    hub_enqueue(h, &c, a);
    hub_enqueue(h, &c, b);
    MC_CHECK(hub_conn_frame(&c, 0) == a);
    MC_CHECK(hub_conn_frame(&c, 1) == b);
    MC_CHECK(hub_conn_frame(&c, 2) == NULL);
    hub_conn_consume(h, &c, 3); /* a's header (2) and one byte */
    MC_CHECK_INT(c.qoff, 3);
    MC_CHECK_INT(c.qlen, 2);
    hub_conn_consume(h, &c, 3 + 1); /* the rest of a (3) and b's first header byte */
    MC_CHECK_INT(c.qlen, 1);
    MC_CHECK(hub_conn_peek(&c) == b);
    MC_CHECK_INT(c.qoff, 1);
    MC_CHECK_INT(c.qbytes, 2);
    hub_conn_consume(h, &c, 3);
    MC_CHECK_INT(c.qlen, 0);
    MC_CHECK_INT(c.qoff, 0);
    MC_CHECK_INT(c.qbytes, 0);
    hub_free(h);
    MC_CHECK_INT(refs(a), 1);
    pusher_frame_unref(a);
    pusher_frame_unref(b);
}

/* What the socket holds (sbytes) counts against the bound with the queue. */
static void test_socket_bytes_count_against_the_bound(void)
{
    hub_t *h = hub_new(40, 8, NULL);
    hub_conn_t c;
    pusher_frame_t *f = change("ch", 0, 1); /* 17 bytes */
    hub_conn_add(h, &c, NULL);
    MC_CHECK_INT(hub_enqueue(h, &c, f), MC_OK);
    c.sbytes = 10;
    MC_CHECK_INT(hub_enqueue(h, &c, f), MC_ERR_TOO_LARGE); /* 17 + 10 + 17 > 40 */
    MC_CHECK(c.slow);
    MC_CHECK_INT(c.qlen, 0);
    hub_free(h);
    pusher_frame_unref(f);
}

/* A live subscription takes only higher positions than its floor and the last one taken. */
static void test_live_floor_and_strictly_growing_positions(void)
{
    hub_t *h = hub_new(100000, 8, NULL);
    hub_conn_t c;
    int tag = 3;
    pusher_frame_t *f[6] = {change("ch", 3, 32150), change("ch", 3, 32651),
                            change("ch", 3, 32652), change("ch", 3, 32652),
                            change("ch", 3, 32653), change("ch", 1, 5)};
    released = 0;
    hub_set_pending_release(h, count_release);
    hub_conn_add(h, &c, NULL);
    MC_CHECK_INT(hub_subscribe_pending(h, &c, "ch", &tag), MC_OK);
    MC_CHECK_INT(c.npending, 1);
    /* "subscribed" at 3:32651: live from 32652 */
    MC_CHECK_INT(hub_sub_activate(h, &c, "ch", 3, 32652, NULL), MC_OK);
    MC_CHECK_INT(c.npending, 0);
    wakes = 0;
    for (int i = 0; i < 6; i++)
        hub_publish(h, f[i], NULL, count_wake, NULL);
    /* the feed was behind (32150, 32651), one repeat (32652 twice): none of them */
    MC_CHECK_INT(c.qlen, 3);
    MC_CHECK(hub_conn_frame(&c, 0) == f[2]);
    MC_CHECK(hub_conn_frame(&c, 1) == f[4]);
    MC_CHECK(hub_conn_frame(&c, 2) == f[5]); /* another partition is not comparable */
    MC_CHECK_INT(wakes, 3);
    hub_free(h);
    MC_CHECK_INT(released, 0);
    for (int i = 0; i < 6; i++)
        pusher_frame_unref(f[i]);
}

/* Once a replay's end is known, held frames below it go and no more are held. */
static void test_pending_floor_drops_what_the_replay_covers(void)
{
    hub_t *h = hub_new(100000, 8, NULL);
    hub_conn_t c;
    int tag = 4;
    pusher_frame_t *f[4] = {change("ch", 2, 10), change("ch", 2, 20), change("ch", 2, 15),
                            change("ch", 2, 21)};
    hub_set_pending_release(h, count_release);
    hub_conn_add(h, &c, NULL);
    hub_subscribe_pending(h, &c, "ch", &tag);
    hub_publish(h, f[0], NULL, NULL, NULL);
    hub_publish(h, f[1], NULL, NULL, NULL);
    MC_CHECK_INT(c.pbytes, 34);
    MC_CHECK_INT(hub_sub_floor(h, &c, "ch", 2, 20), MC_OK);
    MC_CHECK_INT(c.pbytes, 17); /* 10 dropped, 20 kept */
    hub_publish(h, f[2], NULL, NULL, NULL); /* 15: below the floor, not held */
    hub_publish(h, f[3], NULL, NULL, NULL);
    MC_CHECK_INT(c.pbytes, 34);
    MC_CHECK_INT(hub_sub_activate(h, &c, "ch", 2, 20, NULL), MC_OK);
    MC_CHECK_INT(c.qlen, 2);
    MC_CHECK(hub_conn_frame(&c, 0) == f[1]);
    MC_CHECK(hub_conn_frame(&c, 1) == f[3]);
    MC_CHECK_INT(hub_sub_floor(h, &c, "ch", 2, 30), MC_ERR_NOT_FOUND); /* live already */
    hub_free(h);
    for (int i = 0; i < 4; i++) {
        MC_CHECK_INT(refs(f[i]), 1);
        pusher_frame_unref(f[i]);
    }
}

/* hub_conn_drop: as an overflow, once. */
static void test_drop(void)
{
    mc_metrics_t *m = mc_metrics_new();
    hub_metrics_t hm = {0};
    hub_t *h;
    hub_conn_t c;
    pusher_frame_t *f = change("ch", 0, 1);
    hm.drops = mc_metrics_counter(m, "drops", "d", NULL);
    h = hub_new(1000, 8, &hm);
    hub_conn_add(h, &c, NULL);
    hub_enqueue(h, &c, f);
    hub_conn_drop(h, &c);
    hub_conn_drop(h, &c);
    MC_CHECK(c.slow);
    MC_CHECK_INT(c.qlen, 0);
    char *text = mc_metrics_render(m);
    MC_CHECK_CONTAINS(text, "drops 1");
    free(text);
    MC_CHECK_INT(hub_enqueue(h, &c, f), MC_ERR_BUSY);
    hub_free(h);
    mc_metrics_free(m);
    pusher_frame_unref(f);
}

int main(void)
{
    MC_TEST_RUN(test_frame_layout);
    MC_TEST_RUN(test_frame_wire_header);
    MC_TEST_RUN(test_consume_by_wire_bytes);
    MC_TEST_RUN(test_socket_bytes_count_against_the_bound);
    MC_TEST_RUN(test_live_floor_and_strictly_growing_positions);
    MC_TEST_RUN(test_pending_floor_drops_what_the_replay_covers);
    MC_TEST_RUN(test_drop);
    MC_TEST_RUN(test_subscribe_unsubscribe);
    MC_TEST_RUN(test_fanout_refcounts_and_position);
    MC_TEST_RUN(test_queue_bound_marks_slow);
    MC_TEST_RUN(test_queue_ring_grows_in_order);
    MC_TEST_RUN(test_remove_from_all_channels_many);
    MC_TEST_RUN(test_pending_holds_then_activates);
    MC_TEST_RUN(test_pending_bound);
    MC_TEST_DONE();
}
