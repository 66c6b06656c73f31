/* test_pusher_workers.c - a set of workers: its size, the fan-out of a frame, the stop. */
#include "mc_error.h"
#include "mc_test.h"
#include "workers.h"

#include <unistd.h>

static ws_server_opts_t opts(void)
{
    ws_server_opts_t o = {0};
    o.bind = "127.0.0.1";
    o.port = 0; /* each worker its own ephemeral port: none is started here */
    o.max_connections = 16;
    o.max_subscriptions = 4;
    o.max_frame = 4096;
    o.send_queue_max = 65536;
    return o;
}

static void test_count(void)
{
    ws_server_opts_t o = opts();
    char err[256] = "";
    workers_t *w = workers_new(&o, 3, err, sizeof err);
    MC_CHECK(w != NULL);
    if (!w)
        return;
    MC_CHECK_INT(workers_count(w), 3);
    workers_free(w);

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    w = workers_new(&o, 0, err, sizeof err);
    MC_CHECK(w != NULL);
    if (!w)
        return;
    MC_CHECK_INT(workers_count(w), cores > 0 ? cores : 1);
    workers_free(w);
    workers_free(NULL);
}

static void test_bad_bind_names_the_worker(void)
{
    ws_server_opts_t o = opts();
    char err[256] = "";
    o.bind = "not-an-address";
    MC_CHECK(workers_new(&o, 2, err, sizeof err) == NULL);
    MC_CHECK_STR(err, "worker 0: MC_HTTP_BIND: \"not-an-address\" is not an IPv4 address");
}

static void test_sink_then_stop(void)
{
    ws_server_opts_t o = opts();
    char err[256] = "";
    workers_t *w = workers_new(&o, 3, err, sizeof err);
    MC_CHECK(w != NULL);
    if (!w)
        return;
    /* Queued in each worker's inbox (a copy for all but the last); freed with the workers. */
    pusher_frame_t *f = pusher_frame_new("{\"type\":\"change\"}", 17, "Application");
    MC_CHECK(f != NULL);
    if (f)
        MC_CHECK_INT(workers_sink(w, f, "0:1"), MC_OK);
    workers_stop(w);
    workers_stop(w);
    /* After the stop every copy and the frame itself are dropped (LeakSanitizer checks). */
    f = pusher_frame_new("{\"type\":\"change\"}", 17, "Application");
    MC_CHECK(f != NULL);
    if (f)
        MC_CHECK_INT(workers_sink(w, f, "0:2"), MC_OK);
    workers_free(w);
}

int main(void)
{
    MC_TEST_RUN(test_count);
    MC_TEST_RUN(test_bad_bind_names_the_worker);
    MC_TEST_RUN(test_sink_then_stop);
    MC_TEST_DONE();
}
