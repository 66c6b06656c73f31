/* test_json.c - JSON files read as every configuration loader reads them. */
#include "mc_error.h"
#include "mc_json.h"
#include "mc_test.h"

#include <unistd.h>

/* Writes text to a new temporary file; path receives its name. */
static void write_temp(const char *text, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "/tmp/mc_test_json_XXXXXX");
    int fd = mkstemp(path);
    MC_CHECK(fd >= 0);
    if (fd < 0)
        return;
    MC_CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
}

static void expect(const char *text, int rc, const char *needle)
{
    char path[64], err[256] = "";
    json_t *root = (json_t *)1;
    write_temp(text, path, sizeof path);
    MC_CHECK_INT(mc_json_load_file(path, &root, err, sizeof err), rc);
    if (rc == MC_OK) {
        MC_CHECK(json_is_object(root));
        MC_CHECK_STR(err, "");
    } else {
        MC_CHECK(root == NULL);
        MC_CHECK_CONTAINS(err, path);
        MC_CHECK_CONTAINS(err, needle);
    }
    json_decref(root);
    unlink(path);
}

static void test_load(void)
{
    expect("{\"a\": [1, 2]}", MC_OK, "");
    expect("{\"a\": 1,\n \"a\": 2}", MC_ERR_JSON, "line 2");
    expect("{\"a\": }", MC_ERR_JSON, "line 1 column");
    expect("", MC_ERR_IO, "line"); /* nothing read */
}

static void test_missing_file(void)
{
    char err[256] = "";
    json_t *root = (json_t *)1;
    MC_CHECK_INT(mc_json_load_file("/nonexistent/x.json", &root, err, sizeof err), MC_ERR_IO);
    MC_CHECK(root == NULL);
    MC_CHECK_CONTAINS(err, "/nonexistent/x.json: ");
}

int main(void)
{
    MC_TEST_RUN(test_load);
    MC_TEST_RUN(test_missing_file);
    MC_TEST_DONE();
}
