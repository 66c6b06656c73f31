/* test_pusher_protocol.c - client frame validation (every error code) and server frames. */
#include "mc_error.h"
#include "mc_test.h"
#include "protocol.h"

#include <string.h>

#define MAXF 1024

static proto_err_t parse(const char *s, proto_request_t *req)
{
    char msg[200];
    return proto_parse(s, strlen(s), 0, MAXF, req, msg, sizeof msg);
}

static void test_valid_frames(void)
{
    proto_request_t r;
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"Application\"}", &r), PROTO_OK);
    MC_CHECK_INT(r.type, PROTO_SUBSCRIBE);
    MC_CHECK_STR(r.channel, "Application");
    MC_CHECK_INT(parse("{\"type\":\"unsubscribe\",\"channel\":\"User:42.a_b-c\"}", &r), PROTO_OK);
    MC_CHECK_INT(r.type, PROTO_UNSUBSCRIBE);
    MC_CHECK_STR(r.channel, "User:42.a_b-c");
    MC_CHECK_INT(parse("{\"type\":\"ping\"}", &r), PROTO_OK);
    MC_CHECK_INT(r.type, PROTO_PING);
    MC_CHECK_INT(parse(" {\"type\":\"ping\",\"extra\":[1,2]} ", &r), PROTO_OK);
}

static void test_bad_frame(void)
{
    proto_request_t r;
    char msg[200] = "";
    MC_CHECK_INT(parse("", &r), PROTO_ERR_BAD_FRAME);
    MC_CHECK_INT(parse("{", &r), PROTO_ERR_BAD_FRAME);
    MC_CHECK_INT(parse("[1]", &r), PROTO_ERR_BAD_FRAME);
    MC_CHECK_INT(parse("\"ping\"", &r), PROTO_ERR_BAD_FRAME);
    MC_CHECK_INT(parse("{}", &r), PROTO_ERR_BAD_FRAME);
    MC_CHECK_INT(parse("{\"type\":7}", &r), PROTO_ERR_BAD_FRAME);
    MC_CHECK_INT(parse("{\"type\":\"ping\",\"type\":\"ping\"}", &r), PROTO_ERR_BAD_FRAME);
    MC_CHECK_INT(proto_parse("{\"type\":\"ping\"}", 15, 1, MAXF, &r, msg, sizeof msg),
                 PROTO_ERR_BAD_FRAME);
    MC_CHECK_CONTAINS(msg, "binary");
    /* Embedded NUL and invalid UTF-8 */
    MC_CHECK_INT(proto_parse("{\"type\":\"ping\"}\0x", 17, 0, MAXF, &r, msg, sizeof msg),
                 PROTO_ERR_BAD_FRAME);
    MC_CHECK_INT(parse("{\"type\":\"\xff\"}", &r), PROTO_ERR_BAD_FRAME);
}

static void test_unknown_type(void)
{
    proto_request_t r;
    MC_CHECK_INT(parse("{\"type\":\"authenticate\"}", &r), PROTO_ERR_UNKNOWN_TYPE);
    MC_CHECK_INT(parse("{\"type\":\"\"}", &r), PROTO_ERR_UNKNOWN_TYPE);
}

static void test_bad_channel(void)
{
    proto_request_t r;
    char big[400];
    MC_CHECK_INT(parse("{\"type\":\"subscribe\"}", &r), PROTO_ERR_BAD_CHANNEL);
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"\"}", &r), PROTO_ERR_BAD_CHANNEL);
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":5}", &r), PROTO_ERR_BAD_CHANNEL);
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"a b\"}", &r), PROTO_ERR_BAD_CHANNEL);
    MC_CHECK_INT(parse("{\"type\":\"unsubscribe\",\"channel\":\"a\\\\b\"}", &r),
                 PROTO_ERR_BAD_CHANNEL);
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"a\\\"b\"}", &r),
                 PROTO_ERR_BAD_CHANNEL);
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"a\\tb\"}", &r),
                 PROTO_ERR_BAD_CHANNEL);
    /* jansson refuses \u0000 in strings: the frame itself is refused */
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"a\\u0000b\"}", &r),
                 PROTO_ERR_BAD_FRAME);
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"\xc3\xa9\"}", &r),
                 PROTO_ERR_BAD_CHANNEL);
    snprintf(big, sizeof big, "{\"type\":\"subscribe\",\"channel\":\"%0320d\"}", 0);
    MC_CHECK_INT(parse(big, &r), PROTO_OK);
    MC_CHECK_INT((long long)strlen(r.channel), 320);
    snprintf(big, sizeof big, "{\"type\":\"subscribe\",\"channel\":\"%0321d\"}", 0);
    MC_CHECK_INT(parse(big, &r), PROTO_ERR_BAD_CHANNEL);
    MC_CHECK(proto_channel_valid("A-z_0.9:x"));
    MC_CHECK(!proto_channel_valid(NULL));
    MC_CHECK(!proto_channel_valid(""));
}

/* Identity-provider subjects as instance ids (docs/protocol.md, "Channel names"): the
 * pusher takes what the policy engine lists and routes (mc_channel.h). */
static void test_idp_channels(void)
{
    static const char *const names[] = {
        "User-auth0|abc123", "User-google-oauth2|1234", "User-jane.doe+todo@example.com",
        "User-hTZ2mwQ8Hbo/AqWSCU2h2aK2dVM=", "User-https://login.example.com/id/00D/005",
        "User-~x"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        proto_request_t r;
        char frame[256];
        snprintf(frame, sizeof frame, "{\"type\":\"subscribe\",\"channel\":\"%s\"}", names[i]);
        MC_CHECK_INT(parse(frame, &r), PROTO_OK);
        MC_CHECK_STR(r.channel, names[i]);
    }
    /* a delivery to such a channel becomes a change frame routed to it */
    pusher_frame_t *f = NULL;
    char err[128];
    const char *d = "{\"channel\":\"User-auth0|abc123\",\"model\":\"Note\",\"id\":1,"
                    "\"op\":\"create\",\"version\":1,\"attributes\":{\"id\":1}}";
    MC_CHECK_INT(proto_change(d, strlen(d), 0, 5, &f, err, sizeof err), MC_OK);
    MC_CHECK(f != NULL);
    if (f) {
        MC_CHECK_STR(f->channel, "User-auth0|abc123");
        pusher_frame_unref(f);
    }
    d = "{\"channel\":\"User-jane doe\",\"model\":\"Note\",\"id\":1,\"op\":\"create\"}";
    MC_CHECK_INT(proto_change(d, strlen(d), 0, 6, &f, err, sizeof err), MC_ERR_JSON);
}

static void test_oversize(void)
{
    proto_request_t r;
    char msg[200];
    char buf[MAXF + 1];
    memset(buf, ' ', sizeof buf);
    MC_CHECK_INT(proto_parse(buf, sizeof buf, 0, MAXF, &r, msg, sizeof msg), PROTO_ERR_TOO_LARGE);
    MC_CHECK_INT(proto_parse(buf, sizeof buf, 1, MAXF, &r, msg, sizeof msg), PROTO_ERR_TOO_LARGE);
    MC_CHECK_INT(proto_parse(buf, MAXF, 0, MAXF, &r, msg, sizeof msg), PROTO_ERR_BAD_FRAME);
}

static void test_error_codes_and_frames(void)
{
    pusher_frame_t *f;
    MC_CHECK_STR(proto_err_code(PROTO_ERR_BAD_FRAME), "bad_frame");
    MC_CHECK_STR(proto_err_code(PROTO_ERR_UNKNOWN_TYPE), "unknown_type");
    MC_CHECK_STR(proto_err_code(PROTO_ERR_BAD_CHANNEL), "bad_channel");
    MC_CHECK_STR(proto_err_code(PROTO_ERR_TOO_MANY_SUBSCRIPTIONS), "too_many_subscriptions");
    MC_CHECK_STR(proto_err_code((proto_err_t)99), "internal");

    f = proto_error(PROTO_ERR_TOO_MANY_SUBSCRIPTIONS, "App", "at most 2 \"subs\"");
    MC_CHECK_STR((char *)PUSHER_FRAME_DATA(f),
                 "{\"type\":\"error\",\"code\":\"too_many_subscriptions\",\"channel\":\"App\","
                 "\"message\":\"at most 2 \\\"subs\\\"\"}");
    MC_CHECK(f->channel == NULL);
    pusher_frame_unref(f);
    f = proto_subscribed("App", NULL);
    MC_CHECK_STR((char *)PUSHER_FRAME_DATA(f),
                 "{\"type\":\"subscribed\",\"channel\":\"App\",\"position\":null}");
    pusher_frame_unref(f);
    f = proto_subscribed("App", "3:17");
    MC_CHECK_STR((char *)PUSHER_FRAME_DATA(f),
                 "{\"type\":\"subscribed\",\"channel\":\"App\",\"position\":\"3:17\"}");
    pusher_frame_unref(f);
    f = proto_unsubscribed("App");
    MC_CHECK_STR((char *)PUSHER_FRAME_DATA(f), "{\"type\":\"unsubscribed\",\"channel\":\"App\"}");
    pusher_frame_unref(f);
    f = proto_pong();
    MC_CHECK_STR((char *)PUSHER_FRAME_DATA(f), "{\"type\":\"pong\"}");
    MC_CHECK_INT(f->len, strlen("{\"type\":\"pong\"}"));
    pusher_frame_unref(f);
}

static void test_change_frame(void)
{
    const char *d = "{\"channel\":\"Application\",\"model\":\"Word\",\"id\":7,\"op\":\"update\","
                    "\"version\":3,\"attributes\":{\"text\":\"hi\"},\"changed\":[\"text\"],"
                    "\"event_id\":\"e1\",\"type\":\"spoof\",\"position\":\"spoof\"}";
    pusher_frame_t *f = NULL;
    char err[200] = "";

    MC_CHECK_INT(proto_change(d, strlen(d), 2, 41, &f, err, sizeof err), MC_OK);
    MC_CHECK(f != NULL);
    if (!f)
        return;
    MC_CHECK_STR(f->channel, "Application");
    MC_CHECK_STR((char *)PUSHER_FRAME_DATA(f),
                 "{\"type\":\"change\",\"channel\":\"Application\",\"model\":\"Word\",\"id\":7,"
                 "\"op\":\"update\",\"version\":3,\"attributes\":{\"text\":\"hi\"},"
                 "\"changed\":[\"text\"],\"event_id\":\"e1\",\"position\":\"2:41\"}");
    pusher_frame_unref(f);
}

static void test_malformed_deliveries(void)
{
    static const char *bad[] = {
        "",
        "not json",
        "[]",
        "{\"model\":\"Word\",\"op\":\"create\"}",
        "{\"channel\":\"bad channel\",\"model\":\"Word\",\"op\":\"create\"}",
        "{\"channel\":\"A\",\"op\":\"create\"}",
        "{\"channel\":\"A\",\"model\":\"Word\"}",
        "{\"channel\":\"A\",\"model\":\"Word\",\"op\":\"explode\"}",
        "{\"channel\":\"A\",\"model\":1,\"op\":\"create\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pusher_frame_t *f = (pusher_frame_t *)1;
        char err[200] = "";
        MC_CHECK_INT(proto_change(bad[i], strlen(bad[i]), 0, 0, &f, err, sizeof err),
                     MC_ERR_JSON);
        MC_CHECK(f == NULL);
        MC_CHECK(err[0] != '\0');
    }
    {
        pusher_frame_t *f = NULL;
        char err[200];
        MC_CHECK_INT(proto_change(NULL, 0, 0, 0, &f, err, sizeof err), MC_ERR_JSON);
    }
}

static void test_auth_and_since(void)
{
    proto_request_t r;
    int32_t p;
    int64_t o;
    MC_CHECK_INT(parse("{\"type\":\"auth\",\"token\":\"abc.def\"}", &r), PROTO_OK);
    MC_CHECK_INT(r.type, PROTO_AUTH);
    MC_CHECK_STR(r.token, "abc.def");
    MC_CHECK_INT(parse("{\"type\":\"auth\"}", &r), PROTO_OK);
    MC_CHECK_STR(r.token, "");
    MC_CHECK_INT(parse("{\"type\":\"auth\",\"token\":null}", &r), PROTO_OK);
    MC_CHECK_INT(parse("{\"type\":\"auth\",\"token\":5}", &r), PROTO_ERR_BAD_TOKEN);
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"A\",\"since\":\"3:41\"}", &r),
                 PROTO_OK);
    MC_CHECK(r.has_since);
    MC_CHECK_INT(r.since_partition, 3);
    MC_CHECK_INT(r.since_offset, 41);
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"A\",\"since\":null}", &r),
                 PROTO_OK);
    MC_CHECK(!r.has_since);
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"A\",\"since\":\"3:-1\"}", &r),
                 PROTO_OK);
    MC_CHECK_INT(r.since_offset, -1);
    static const char *const bad[] = {"", ":", "3", "3:", ":4", "a:1", "1:b", "-1:0", "1:-2",
                                      "1:2:3", "1:99999999999999999999", "99999999999:0", " 1:2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char buf[200];
        snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"channel\":\"A\",\"since\":\"%s\"}",
                 bad[i]);
        MC_CHECK_INT(parse(buf, &r), PROTO_ERR_BAD_SINCE);
        MC_CHECK_INT(proto_position_parse(bad[i], &p, &o), -1);
    }
    MC_CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"A\",\"since\":5}", &r),
                 PROTO_ERR_BAD_SINCE);
    MC_CHECK_INT(proto_position_parse("2147483647:9223372036854775807", &p, &o), 0);
    MC_CHECK_INT(p, 2147483647);
    MC_CHECK_INT(o, 9223372036854775807LL);
}

int main(void)
{
    MC_TEST_RUN(test_valid_frames);
    MC_TEST_RUN(test_bad_frame);
    MC_TEST_RUN(test_unknown_type);
    MC_TEST_RUN(test_bad_channel);
    MC_TEST_RUN(test_idp_channels);
    MC_TEST_RUN(test_oversize);
    MC_TEST_RUN(test_error_codes_and_frames);
    MC_TEST_RUN(test_change_frame);
    MC_TEST_RUN(test_malformed_deliveries);
    MC_TEST_RUN(test_auth_and_since);
    MC_TEST_DONE();
}
