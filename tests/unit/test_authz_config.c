/* test_authz_config.c - authz's identity in Kafka: MC_TRANSACTIONAL_ID, else one derived from
 * MC_INSTANCE_ID, else from the hostname and port (two instances on one host differ). */
#include "authz_config.h"
#include "mc_test.h"

static void test_transactional_id(void)
{
    char out[128];
    authz_config_t cfg = {.http_port = 8702};
    authz_config_transactional_id(&cfg, "host-a", out, sizeof out);
    MC_CHECK_STR(out, "modelcast-authz-host-a-8702");
    cfg.http_port = 8712;
    authz_config_transactional_id(&cfg, "host-a", out, sizeof out);
    MC_CHECK_STR(out, "modelcast-authz-host-a-8712");
    cfg.instance_id = "authz-1";
    authz_config_transactional_id(&cfg, "host-a", out, sizeof out);
    MC_CHECK_STR(out, "modelcast-authz-authz-1");
    cfg.transactional_id = "pinned-0";
    authz_config_transactional_id(&cfg, "host-a", out, sizeof out);
    MC_CHECK_STR(out, "pinned-0");
    cfg.transactional_id = "";
    authz_config_transactional_id(&cfg, "host-a", out, sizeof out);
    MC_CHECK_STR(out, "modelcast-authz-authz-1");
}

int main(void)
{
    MC_TEST_RUN(test_transactional_id);
    MC_TEST_DONE();
}
