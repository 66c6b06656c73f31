/* test_kafka.c - configuration pass-through, refusal messages, and headers through the
 * librdkafka mock cluster (a real broker is for the system tests). */
#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_log.h"
#include "mc_test.h"

#include <librdkafka/rdkafka_mock.h>

static void test_env_to_prop(void)
{
    char out[64];
    mc_kafka_env_to_prop("BOOTSTRAP_SERVERS", out, sizeof out);
    MC_CHECK_STR(out, "bootstrap.servers");
    mc_kafka_env_to_prop("LINGER_MS", out, sizeof out);
    MC_CHECK_STR(out, "linger.ms");
    mc_kafka_env_to_prop("LINGER_MS", out, 4);
    MC_CHECK_STR(out, "lin");
}

static void test_conf_layers(void)
{
    char err[512] = "";
    char val[256];
    size_t len = sizeof val;
    const char *defaults[] = {"linger.ms", "5", "client.id", "dflt", NULL};
    const char *forced[] = {"enable.idempotence", "true", NULL};
    char *envp[] = {"MC_KAFKA_LINGER_MS=7", "MC_KAFKA_ENABLE_IDEMPOTENCE=false",
                    "OTHER=1", "MC_KAFKA_=x", NULL};
    rd_kafka_conf_t *conf = mc_kafka_conf_new(defaults, forced, envp, err, sizeof err);
    MC_CHECK(conf != NULL);
    if (!conf)
        return;
    MC_CHECK_INT(rd_kafka_conf_get(conf, "linger.ms", val, &len), RD_KAFKA_CONF_OK);
    MC_CHECK_STR(val, "7"); /* environment beats defaults */
    len = sizeof val;
    rd_kafka_conf_get(conf, "enable.idempotence", val, &len);
    MC_CHECK_STR(val, "true"); /* forced beats environment */
    len = sizeof val;
    rd_kafka_conf_get(conf, "client.id", val, &len);
    MC_CHECK_STR(val, "dflt");
    rd_kafka_conf_destroy(conf);
}

static void test_conf_refusal_names_variable(void)
{
    char err[512] = "";
    char *envp[] = {"MC_KAFKA_NO_SUCH_PROPERTY=1", NULL};
    rd_kafka_conf_t *conf = mc_kafka_conf_new(NULL, NULL, envp, err, sizeof err);
    MC_CHECK(conf == NULL);
    MC_CHECK_CONTAINS(err, "MC_KAFKA_NO_SUCH_PROPERTY");
    MC_CHECK_CONTAINS(err, "no.such.property");
}

static void test_conf_untyped_skips_role_variables(void)
{
    char err[512] = "";
    char *envp[] = {"MC_KAFKA_CONSUMER_FETCH_WAIT_MAX_MS=7", "MC_KAFKA_PRODUCER_LINGER_MS=3",
                    NULL};
    rd_kafka_conf_t *conf = mc_kafka_conf_new(NULL, NULL, envp, err, sizeof err);
    MC_CHECK(conf != NULL);
    if (!conf)
        return;
    char val[64];
    size_t len = sizeof val;
    rd_kafka_conf_get(conf, "linger.ms", val, &len);
    MC_CHECK(strcmp(val, "3") != 0);
    rd_kafka_conf_destroy(conf);
}

static void conf_get(rd_kafka_conf_t *conf, const char *prop, char *val, size_t size)
{
    size_t len = size;
    val[0] = '\0';
    if (rd_kafka_conf_get(conf, prop, val, &len) != RD_KAFKA_CONF_OK)
        snprintf(val, size, "(unset)");
}

static void test_conf_typed_layers(void)
{
    char err[512] = "", val[64];
    const char *defaults[] = {"linger.ms", "1", NULL};
    const char *forced[] = {"enable.auto.commit", "false", NULL};
    char *envp[] = {"MC_KAFKA_SESSION_TIMEOUT_MS=7000", "MC_KAFKA_LINGER_MS=4",
                    "MC_KAFKA_CLIENT_ID=both", "MC_KAFKA_PRODUCER_LINGER_MS=9",
                    "MC_KAFKA_CONSUMER_CLIENT_ID=reader",
                    "MC_KAFKA_CONSUMER_ENABLE_AUTO_COMMIT=true", NULL};
    rd_kafka_conf_t *p = mc_kafka_conf_new_for(RD_KAFKA_PRODUCER, defaults, NULL, envp, err,
                                               sizeof err);
    rd_kafka_conf_t *c = mc_kafka_conf_new_for(RD_KAFKA_CONSUMER, NULL, forced, envp, err,
                                               sizeof err);
    MC_CHECK(p != NULL && c != NULL);
    if (p) {
        conf_get(p, "linger.ms", val, sizeof val);
        MC_CHECK_STR(val, "9"); /* defaults < MC_KAFKA_ < MC_KAFKA_PRODUCER_ */
        conf_get(p, "client.id", val, sizeof val);
        MC_CHECK_STR(val, "both");
        conf_get(p, "session.timeout.ms", val, sizeof val);
        MC_CHECK(strcmp(val, "7000") != 0); /* a consumer property: not given to producers */
        rd_kafka_conf_destroy(p);
    }
    if (c) {
        conf_get(c, "session.timeout.ms", val, sizeof val);
        MC_CHECK_STR(val, "7000");
        conf_get(c, "client.id", val, sizeof val);
        MC_CHECK_STR(val, "reader");
        conf_get(c, "enable.auto.commit", val, sizeof val);
        MC_CHECK_STR(val, "false"); /* forced beats MC_KAFKA_CONSUMER_ */
        rd_kafka_conf_destroy(c);
    }
}

static void test_conf_typed_refuses_other_role(void)
{
    char err[512] = "";
    char *envp[] = {"MC_KAFKA_PRODUCER_SESSION_TIMEOUT_MS=7000", NULL};
    rd_kafka_conf_t *conf = mc_kafka_conf_new_for(RD_KAFKA_PRODUCER, NULL, NULL, envp, err,
                                                  sizeof err);
    MC_CHECK(conf == NULL);
    MC_CHECK_CONTAINS(err, "MC_KAFKA_PRODUCER_SESSION_TIMEOUT_MS");
    MC_CHECK_CONTAINS(err, "consumer property");
    char *unknown[] = {"MC_KAFKA_CONSUMER_NO_SUCH_THING=1", NULL};
    conf = mc_kafka_conf_new_for(RD_KAFKA_CONSUMER, NULL, NULL, unknown, err, sizeof err);
    MC_CHECK(conf == NULL);
    MC_CHECK_CONTAINS(err, "MC_KAFKA_CONSUMER_NO_SUCH_THING");
}

static int confwarns;

static void count_confwarn(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)buf;
    if (strcmp(fac, "CONFWARN") == 0)
        confwarns++;
}

/* A producer built with a consumer-only property logs CONFWARN; the typed form avoids it. */
static void test_conf_typed_producer_does_not_warn(void)
{
    char err[512] = "";
    char *envp[] = {"MC_KAFKA_SESSION_TIMEOUT_MS=7000", "MC_KAFKA_FETCH_WAIT_MAX_MS=10", NULL};
    for (int typed = 0; typed < 2; typed++) {
        rd_kafka_conf_t *conf =
            typed ? mc_kafka_conf_new_for(RD_KAFKA_PRODUCER, NULL, NULL, envp, err, sizeof err)
                  : mc_kafka_conf_new(NULL, NULL, envp, err, sizeof err);
        MC_CHECK(conf != NULL);
        if (!conf)
            continue;
        rd_kafka_conf_set_log_cb(conf, count_confwarn);
        confwarns = 0;
        rd_kafka_t *rk = mc_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        MC_CHECK(rk != NULL);
        if (rk)
            rd_kafka_destroy(rk);
        if (typed)
            MC_CHECK_INT(confwarns, 0);
        else
            MC_CHECK(confwarns > 0);
    }
}

static void test_headers_round_trip(void)
{
    char err[512] = "";
    char *envp[] = {NULL};
    const char *pforced[] = {"test.mock.num.brokers", "1", NULL};
    rd_kafka_conf_t *pconf = mc_kafka_conf_new(NULL, pforced, envp, err, sizeof err);
    rd_kafka_t *p = mc_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
    MC_CHECK(p != NULL);
    if (!p)
        return;
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(rd_kafka_handle_mock_cluster(p));
    MC_CHECK_INT(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(0),
                                   RD_KAFKA_V_KEY("k", 1), RD_KAFKA_V_VALUE("v", 1),
                                   RD_KAFKA_V_HEADER("ce_id", "abc", 3), RD_KAFKA_V_END),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
    MC_CHECK_INT(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    MC_CHECK_INT(mc_kafka_ping(p, 5000), MC_OK);

    const char *cdefaults[] = {"bootstrap.servers", bootstraps, "group.id", "unit", NULL};
    rd_kafka_conf_t *cconf = mc_kafka_conf_new(cdefaults, NULL, envp, err, sizeof err);
    rd_kafka_t *c = mc_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof err);
    MC_CHECK(c != NULL);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, "t", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    rd_kafka_message_t *msg = NULL;
    for (int i = 0; i < 100 && !msg; i++) {
        msg = rd_kafka_consumer_poll(c, 100);
        if (msg && msg->err) {
            rd_kafka_message_destroy(msg);
            msg = NULL;
        }
    }
    MC_CHECK(msg != NULL);
    if (msg) {
        char buf[16];
        MC_CHECK_INT(mc_kafka_header(msg, "ce_id", buf, sizeof buf), MC_OK);
        MC_CHECK_STR(buf, "abc");
        MC_CHECK_INT(mc_kafka_header(msg, "ce_id", buf, 3), MC_OK);
        MC_CHECK_STR(buf, "ab");
        MC_CHECK_INT(mc_kafka_header(msg, "nope", buf, sizeof buf), MC_ERR_NOT_FOUND);
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
}

int main(void)
{
    mc_log_init("unit", MC_LOG_ERROR);
    MC_TEST_RUN(test_env_to_prop);
    MC_TEST_RUN(test_conf_layers);
    MC_TEST_RUN(test_conf_refusal_names_variable);
    MC_TEST_RUN(test_conf_untyped_skips_role_variables);
    MC_TEST_RUN(test_conf_typed_layers);
    MC_TEST_RUN(test_conf_typed_refuses_other_role);
    MC_TEST_RUN(test_conf_typed_producer_does_not_warn);
    MC_TEST_RUN(test_headers_round_trip);
    MC_TEST_DONE();
}
