/* test_pusher_config.c - the pusher's settings table: defaults, bounds and the cross checks. */
#include "mc_error.h"
#include "mc_test.h"
#include "pusher_config.h"

#include <stdlib.h>

static int load(pusher_config_t *c, char *err, size_t errlen)
{
    char *argv[] = {"modelcast-pusher"};
    memset(c, 0, sizeof *c);
    return mc_config_load(pusher_config_options, c, "modelcast-pusher", "test", 1, argv, err,
                          errlen);
}

static void clear_env(void)
{
    for (const mc_cfg_option_t *o = pusher_config_options; o->env; o++)
        unsetenv(o->env);
}

static void test_defaults(void)
{
    pusher_config_t c;
    char err[256] = "";
    size_t n = 0;
    clear_env();
    for (const mc_cfg_option_t *o = pusher_config_options; o->env; o++)
        n++;
    MC_CHECK_INT(n, 25); /* 19 of its own and the 6 trace settings (MC_TRACE_OPTIONS) */
    MC_CHECK_INT(load(&c, err, sizeof err), MC_OK);
    MC_CHECK_STR(c.http_bind, "127.0.0.1");
    MC_CHECK_INT(c.http_port, 8703);
    MC_CHECK_STR(c.log_level, "info");
    MC_CHECK_STR(c.deliveries_topic, "modelcast.deliveries");
    MC_CHECK_INT(c.max_connections, 10000);
    MC_CHECK_INT(c.workers, 0);
    MC_CHECK_STR(c.ws_origins, "");
    MC_CHECK_INT(c.resume_threads, 4);
    MC_CHECK_INT(c.replay_threads, 2);
    MC_CHECK_INT(c.replay_timeout_ms, 30000);
    MC_CHECK_INT(c.max_subscriptions, 64);
    MC_CHECK_INT(c.max_pending, 16);
    MC_CHECK_INT(c.max_pending_total, 10000);
    MC_CHECK_INT(c.max_frame, 65536);
    MC_CHECK_INT(c.send_queue_max, 1048576);
    MC_CHECK_STR(c.authz_url, "http://127.0.0.1:8702");
    MC_CHECK_INT(c.authz_timeout_ms, 2000);
    MC_CHECK_INT(c.ping_interval_s, 25);
    MC_CHECK_INT(c.ping_timeout_s, 60);
    MC_CHECK(c.trace.otlp_endpoint == NULL); /* tracing off by default */
    MC_CHECK_STR(c.trace.sample, "1");
    MC_CHECK_INT(c.trace.otlp_queue, 2048);
    MC_CHECK_INT(pusher_config_check(&c, err, sizeof err), MC_OK);
    mc_config_cleanup(pusher_config_options, &c);
}

static void test_bounds(void)
{
    pusher_config_t c;
    char err[256] = "";
    clear_env();
    setenv("MC_WORKERS", "257", 1);
    MC_CHECK_INT(load(&c, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_CONTAINS(err, "MC_WORKERS: 257");
    mc_config_cleanup(pusher_config_options, &c);
    clear_env();
}

static void test_ping_timeout_must_exceed_interval(void)
{
    pusher_config_t c;
    char err[256] = "";
    clear_env();
    setenv("MC_PING_INTERVAL_S", "30", 1);
    setenv("MC_PING_TIMEOUT_S", "30", 1);
    MC_CHECK_INT(load(&c, err, sizeof err), MC_OK);
    MC_CHECK_INT(pusher_config_check(&c, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_STR(err, "MC_PING_TIMEOUT_S: 30 must be greater than MC_PING_INTERVAL_S (30)");
    mc_config_cleanup(pusher_config_options, &c);
    setenv("MC_PING_TIMEOUT_S", "31", 1);
    MC_CHECK_INT(load(&c, err, sizeof err), MC_OK);
    MC_CHECK_INT(pusher_config_check(&c, err, sizeof err), MC_OK);
    mc_config_cleanup(pusher_config_options, &c);
    clear_env();
}

static void test_topic_must_not_be_empty(void)
{
    pusher_config_t c;
    char err[256] = "";
    clear_env();
    setenv("MC_DELIVERIES_TOPIC", "", 1);
    MC_CHECK_INT(load(&c, err, sizeof err), MC_OK);
    MC_CHECK_INT(pusher_config_check(&c, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_STR(err, "MC_DELIVERIES_TOPIC: must not be empty");
    mc_config_cleanup(pusher_config_options, &c);
    clear_env();
}

static void test_origins_must_be_origins(void)
{
    pusher_config_t c;
    char err[256] = "";
    clear_env();
    setenv("MC_WS_ORIGINS", "https://app.example, app.example", 1);
    MC_CHECK_INT(load(&c, err, sizeof err), MC_OK);
    MC_CHECK_INT(pusher_config_check(&c, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_STR(err, "MC_WS_ORIGINS: 'app.example' is not an origin (scheme://host[:port], "
                      "or *)");
    mc_config_cleanup(pusher_config_options, &c);
    setenv("MC_WS_ORIGINS", "https://app.example, *", 1);
    MC_CHECK_INT(load(&c, err, sizeof err), MC_OK);
    MC_CHECK_INT(pusher_config_check(&c, err, sizeof err), MC_OK);
    mc_config_cleanup(pusher_config_options, &c);
    clear_env();
}

int main(void)
{
    MC_TEST_RUN(test_defaults);
    MC_TEST_RUN(test_origins_must_be_origins);
    MC_TEST_RUN(test_bounds);
    MC_TEST_RUN(test_ping_timeout_must_exceed_interval);
    MC_TEST_RUN(test_topic_must_not_be_empty);
    MC_TEST_DONE();
}
