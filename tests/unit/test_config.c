/* test_config.c - defaults, environment, validation messages and --help. */
#include "mc_config.h"
#include "mc_error.h"
#include "mc_test.h"

#include <stddef.h>

typedef struct {
    char *name;
    long port;
    int flag;
    char *unset;
} conf_t;

static const mc_cfg_option_t opts[] = {
    {"MCT_NAME", MC_CFG_STRING, "default-name", offsetof(conf_t, name), 0, 0, "a name"},
    {"MCT_PORT", MC_CFG_INT, "8080", offsetof(conf_t, port), 1, 65535, "a port"},
    {"MCT_FLAG", MC_CFG_BOOL, "false", offsetof(conf_t, flag), 0, 0, "a flag"},
    {"MCT_UNSET", MC_CFG_STRING, NULL, offsetof(conf_t, unset), 0, 0, "no default"},
    MC_CFG_END,
};

static int load(conf_t *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    return mc_config_load(opts, c, "prog", "A test program.", argc, argv, err, errlen);
}

static void test_defaults(void)
{
    conf_t c;
    char err[256] = "";
    char *argv[] = {"prog"};
    unsetenv("MCT_NAME");
    unsetenv("MCT_PORT");
    unsetenv("MCT_FLAG");
    MC_CHECK_INT(load(&c, 1, argv, err, sizeof err), MC_OK);
    MC_CHECK_STR(c.name, "default-name");
    MC_CHECK_INT(c.port, 8080);
    MC_CHECK_INT(c.flag, 0);
    MC_CHECK(c.unset == NULL);
    mc_config_cleanup(opts, &c);
    MC_CHECK(c.name == NULL);
}

static void test_environment_overrides(void)
{
    conf_t c;
    char err[256] = "";
    char *argv[] = {"prog"};
    setenv("MCT_NAME", "from-env", 1);
    setenv("MCT_PORT", "9000", 1);
    setenv("MCT_FLAG", "yes", 1);
    MC_CHECK_INT(load(&c, 1, argv, err, sizeof err), MC_OK);
    MC_CHECK_STR(c.name, "from-env");
    MC_CHECK_INT(c.port, 9000);
    MC_CHECK_INT(c.flag, 1);
    mc_config_cleanup(opts, &c);
    unsetenv("MCT_NAME");
    unsetenv("MCT_FLAG");
    unsetenv("MCT_PORT");
}

static void test_empty_optional_string_is_unset(void)
{
    conf_t c;
    char err[256] = "";
    char *argv[] = {"prog"};
    setenv("MCT_UNSET", "", 1);
    setenv("MCT_NAME", "", 1);
    MC_CHECK_INT(load(&c, 1, argv, err, sizeof err), MC_OK);
    MC_CHECK(c.unset == NULL);
    /* a setting with a default keeps an explicit empty value */
    MC_CHECK_STR(c.name, "");
    mc_config_cleanup(opts, &c);
    setenv("MCT_UNSET", "x", 1);
    MC_CHECK_INT(load(&c, 1, argv, err, sizeof err), MC_OK);
    MC_CHECK_STR(c.unset, "x");
    mc_config_cleanup(opts, &c);
    unsetenv("MCT_UNSET");
    unsetenv("MCT_NAME");
}

static void test_bad_values_name_the_setting(void)
{
    conf_t c;
    char err[256] = "";
    char *argv[] = {"prog"};
    setenv("MCT_PORT", "80x", 1);
    MC_CHECK_INT(load(&c, 1, argv, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_CONTAINS(err, "MCT_PORT");
    MC_CHECK_CONTAINS(err, "80x");
    mc_config_cleanup(opts, &c);
    setenv("MCT_PORT", "70000", 1);
    MC_CHECK_INT(load(&c, 1, argv, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_CONTAINS(err, "out of range");
    mc_config_cleanup(opts, &c);
    unsetenv("MCT_PORT");
    setenv("MCT_FLAG", "maybe", 1);
    MC_CHECK_INT(load(&c, 1, argv, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_CONTAINS(err, "MCT_FLAG");
    mc_config_cleanup(opts, &c);
    unsetenv("MCT_FLAG");
}

static void test_arguments(void)
{
    conf_t c;
    char err[256] = "";
    char *bad[] = {"prog", "--port=1"};
    MC_CHECK_INT(load(&c, 2, bad, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_CONTAINS(err, "--port=1");
    mc_config_cleanup(opts, &c);

    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    mc_config_print_help(mem, opts, "prog", "A test program.");
    fclose(mem);
    MC_CHECK_CONTAINS(buf, "Usage: prog");
    MC_CHECK_CONTAINS(buf, "MCT_PORT");
    MC_CHECK_CONTAINS(buf, "default: 8080");
    free(buf);
}

int main(void)
{
    MC_TEST_RUN(test_defaults);
    MC_TEST_RUN(test_environment_overrides);
    MC_TEST_RUN(test_empty_optional_string_is_unset);
    MC_TEST_RUN(test_bad_values_name_the_setting);
    MC_TEST_RUN(test_arguments);
    MC_TEST_DONE();
}
