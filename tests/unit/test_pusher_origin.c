/* test_pusher_origin.c - MC_WS_ORIGINS parsing and the Origin / Host comparison. */
#include "mc_test.h"
#include "origin.h"

static void test_parse(void)
{
    char err[256] = "";
    ws_origins_t *o;
    MC_CHECK((o = ws_origins_new(NULL, err, sizeof err)) != NULL);
    ws_origins_free(o);
    MC_CHECK((o = ws_origins_new("", err, sizeof err)) != NULL);
    ws_origins_free(o);
    MC_CHECK((o = ws_origins_new(" https://a.example ,http://b.example:8080,*", err,
                                 sizeof err)) != NULL);
    ws_origins_free(o);
    static const char *const bad[] = {"a.example", "https://a.example/", "https://a.example/x",
                                      ",", "https://a.example,", "https://", "1http://a",
                                      "https://a b", "https://a.example?x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        MC_CHECK(ws_origins_new(bad[i], err, sizeof err) == NULL);
        MC_CHECK_CONTAINS(err, "MC_WS_ORIGINS: '");
    }
    ws_origins_free(NULL);
}

static void test_same_origin_and_none(void)
{
    /* No Origin: not a browser. */
    MC_CHECK(ws_origins_allow(NULL, NULL, "h:1"));
    MC_CHECK(ws_origins_allow(NULL, "http://127.0.0.1:8703", "127.0.0.1:8703"));
    MC_CHECK(ws_origins_allow(NULL, "http://App.Example", "app.example"));
    MC_CHECK(ws_origins_allow(NULL, "http://app.example", "app.example:80"));
    MC_CHECK(ws_origins_allow(NULL, "https://app.example", "app.example:443"));
    MC_CHECK(ws_origins_allow(NULL, "https://app.example:443", "app.example"));
    MC_CHECK(ws_origins_allow(NULL, "http://[::1]:8703", "[::1]:8703"));
    MC_CHECK(!ws_origins_allow(NULL, "https://app.example", "app.example:80"));
    MC_CHECK(!ws_origins_allow(NULL, "http://app.example", "app.example:8080"));
    MC_CHECK(!ws_origins_allow(NULL, "http://127.0.0.1:8704", "127.0.0.1:8703"));
    MC_CHECK(!ws_origins_allow(NULL, "http://evil.example", "app.example"));
    MC_CHECK(!ws_origins_allow(NULL, "http://app.example.evil", "app.example"));
    MC_CHECK(!ws_origins_allow(NULL, "null", "app.example"));
    MC_CHECK(!ws_origins_allow(NULL, "http://app.example", NULL));
    MC_CHECK(!ws_origins_allow(NULL, "http://app.example/x", "app.example"));
    MC_CHECK(!ws_origins_allow(NULL, "http://app.example:0", "app.example:0"));
    MC_CHECK(!ws_origins_allow(NULL, "http://app.example:99999", "app.example:99999"));
    MC_CHECK(!ws_origins_allow(NULL, "http://app.example:", "app.example:"));
}

static void test_listed_and_star(void)
{
    char err[256];
    ws_origins_t *o = ws_origins_new("https://app.example, http://other.example:8080", err,
                                     sizeof err);
    MC_CHECK(ws_origins_allow(o, "https://app.example", "pusher.internal:8703"));
    MC_CHECK(ws_origins_allow(o, "HTTPS://APP.EXAMPLE", "pusher.internal:8703"));
    MC_CHECK(ws_origins_allow(o, "http://other.example:8080", "pusher.internal:8703"));
    MC_CHECK(!ws_origins_allow(o, "https://app.example:8443", "pusher.internal:8703"));
    MC_CHECK(!ws_origins_allow(o, "http://app.example", "pusher.internal:8703"));
    MC_CHECK(ws_origins_allow(o, "http://pusher.internal:8703", "pusher.internal:8703"));
    ws_origins_free(o);
    o = ws_origins_new("*", err, sizeof err);
    MC_CHECK(ws_origins_allow(o, "http://anything.example", "h"));
    MC_CHECK(ws_origins_allow(o, "null", "h"));
    ws_origins_free(o);
}

int main(void)
{
    MC_TEST_RUN(test_parse);
    MC_TEST_RUN(test_same_origin_and_none);
    MC_TEST_RUN(test_listed_and_star);
    MC_TEST_DONE();
}
