/* test_error.c - every error code has a name and a description. */
#include "mc_error.h"
#include "mc_test.h"

static void test_every_code_has_text(void)
{
    for (int i = 0; i < MC_ERR__COUNT; i++) {
        MC_CHECK(strcmp(mc_strerror(i), "unknown error") != 0);
        MC_CHECK(strncmp(mc_errname(i), "MC_", 3) == 0);
        MC_CHECK(strcmp(mc_errname(i), "MC_ERR_UNKNOWN") != 0);
    }
    MC_CHECK_STR(mc_strerror(-1), "unknown error");
    MC_CHECK_STR(mc_strerror(MC_ERR__COUNT), "unknown error");
    MC_CHECK_STR(mc_errname(MC_ERR_NOMEM), "MC_ERR_NOMEM");
}

int main(void)
{
    MC_TEST_RUN(test_every_code_has_text);
    MC_TEST_DONE();
}
