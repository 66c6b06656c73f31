/* test_cors.c - MC_CORS_ORIGINS: what is an origin, what is refused at start, matching. */
#include "cors.h"
#include "mc_error.h"
#include "mc_test.h"

static void expect_refused(const char *spec, const char *needle)
{
    cors_t *c = NULL;
    char err[256] = "";
    MC_CHECK_INT(cors_new(spec, &c, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK(c == NULL);
    MC_CHECK_CONTAINS(err, "MC_CORS_ORIGINS");
    MC_CHECK_CONTAINS(err, needle);
}

static void test_parse(void)
{
    cors_t *c = NULL;
    char err[256] = "";
    MC_CHECK_INT(cors_new(NULL, &c, err, sizeof err), MC_OK);
    MC_CHECK(!cors_enabled(c));
    MC_CHECK(cors_allow(c, "https://a.example") == NULL);
    cors_free(c);
    MC_CHECK_INT(cors_new("", &c, err, sizeof err), MC_OK);
    MC_CHECK(!cors_enabled(c));
    cors_free(c);
    MC_CHECK_INT(cors_new(" https://app.example.com , http://localhost:3000,http://[::1]:8080,"
                          "capacitor://localhost",
                          &c, err, sizeof err),
                 MC_OK);
    MC_CHECK(cors_enabled(c) && !cors_any(c));
    MC_CHECK_STR(cors_allow(c, "https://app.example.com"), "https://app.example.com");
    MC_CHECK_STR(cors_allow(c, "http://localhost:3000"), "http://localhost:3000");
    MC_CHECK_STR(cors_allow(c, "http://[::1]:8080"), "http://[::1]:8080");
    MC_CHECK(cors_allow(c, "http://localhost:3001") == NULL);
    MC_CHECK(cors_allow(c, "https://app.example.com.evil.example") == NULL);
    MC_CHECK(cors_allow(c, "https://app.example.co") == NULL);
    MC_CHECK(cors_allow(c, "null") == NULL);
    MC_CHECK(cors_allow(c, NULL) == NULL);
    cors_free(c);
    MC_CHECK_INT(cors_new("*", &c, err, sizeof err), MC_OK);
    MC_CHECK(cors_any(c));
    MC_CHECK_STR(cors_allow(c, "https://whoever.example"), "*");
    MC_CHECK(cors_allow(c, NULL) == NULL);
    cors_free(c);
}

static void test_refused(void)
{
    expect_refused("https://app.example.com/", "'https://app.example.com/'");
    expect_refused("https://app.example.com/path", "no path");
    expect_refused("app.example.com", "expected scheme://host");
    expect_refused("https://App.example.com", "lower-case");
    expect_refused("HTTPS://app.example.com", "scheme");
    expect_refused("https://user@app.example.com", "no user@");
    expect_refused("https://a.example:0", "port");
    expect_refused("https://a.example:65536", "port");
    expect_refused("https://a.example:80x", "port");
    expect_refused("https://a.example:443", "default port");
    expect_refused("http://a.example:80", "default port");
    expect_refused("https://", "host is missing");
    expect_refused("null", "never allowed");
    expect_refused("*, https://a.example", "'*' allows every origin");
    expect_refused("https://a.example,,https://b.example", "empty entry");
}

int main(void)
{
    MC_TEST_RUN(test_parse);
    MC_TEST_RUN(test_refused);
    MC_TEST_DONE();
}
