/* test_api_config.c - model-api's settings: defaults and the checks across settings. */
#include "api_config.h"
#include "mc_error.h"
#include "mc_test.h"

static void test_defaults_agree(void)
{
    api_config_t cfg = {0};
    char err[512] = "";
    char *argv[] = {"model-api", NULL};
    MC_CHECK_INT(mc_config_load(api_config_options, &cfg, "model-api", "", 1, argv, err,
                                sizeof err),
                 MC_OK);
    MC_CHECK_INT(cfg.max_body, 262144);
    MC_CHECK_INT(cfg.event_max_bytes, 1000000);
    MC_CHECK_INT(api_config_check(&cfg, err, sizeof err), MC_OK);
    mc_config_cleanup(api_config_options, &cfg);
}

static void test_body_must_fit_twice_in_an_event(void)
{
    api_config_t cfg = {.max_body = 497952, .event_max_bytes = 1000000};
    char err[512] = "";
    MC_CHECK_INT(api_config_check(&cfg, err, sizeof err), MC_OK); /* (1000000 - 4096) / 2 */
    cfg.max_body = 497953;
    MC_CHECK_INT(api_config_check(&cfg, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_CONTAINS(err, "MC_MAX_BODY: 497953");
    MC_CHECK_CONTAINS(err, "MC_EVENT_MAX_BYTES 1000000");
}

int main(void)
{
    MC_TEST_RUN(test_defaults_agree);
    MC_TEST_RUN(test_body_must_fit_twice_in_an_event);
    MC_TEST_DONE();
}
