/* test_trace.c - traceparent and tracestate as the W3C test suite (w3c/trace-context,
 * test/test.py) takes and refuses them; spans begun, continued, sampled and ended. */
#include "mc_error.h"
#include "mc_test.h"
#include "mc_trace.h"

#include <stdint.h>

#define TID "12345678901234567890123456789012"
#define PID "1234567890123456"

static int parses(const char *text)
{
    mc_trace_ctx_t c;
    return mc_trace_parse(text, &c) == MC_OK;
}

static void test_traceparent_valid(void)
{
    mc_trace_ctx_t c;
    char out[MC_TRACEPARENT_LEN + 1];
    MC_CHECK_INT(mc_trace_parse("00-" TID "-" PID "-01", &c), MC_OK);
    MC_CHECK_INT(c.trace_id[0], 0x12);
    MC_CHECK_INT(c.trace_id[15], 0x12);
    MC_CHECK_INT(c.span_id[7], 0x56);
    MC_CHECK_INT(c.flags, MC_TRACE_SAMPLED);
    mc_trace_format(&c, out);
    MC_CHECK_STR(out, "00-" TID "-" PID "-01");
    /* the spec's example */
    MC_CHECK_INT(mc_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &c),
                 MC_OK);
    MC_CHECK_INT(c.flags, 0);
    char tid[33];
    mc_trace_id_hex(&c, tid);
    MC_CHECK_STR(tid, "4bf92f3577b34da6a3ce929d0e0e4736");
    /* other flags are kept as they came */
    MC_CHECK_INT(mc_trace_parse("00-" TID "-" PID "-09", &c), MC_OK);
    MC_CHECK_INT(c.flags, 9);
    /* optional white space around the value (test_traceparent_ows_handling) */
    MC_CHECK(parses(" 00-" TID "-" PID "-01"));
    MC_CHECK(parses("\t00-" TID "-" PID "-01"));
    MC_CHECK(parses("00-" TID "-" PID "-01 "));
    MC_CHECK(parses("00-" TID "-" PID "-01\t"));
    MC_CHECK(parses("\t 00-" TID "-" PID "-01 \t"));
    /* a future version: its first fields as version 00's (test_traceparent_version_0xcc) */
    MC_CHECK(parses("cc-" TID "-" PID "-01"));
    MC_CHECK(parses("cc-" TID "-" PID "-01-what-the-future-will-be-like"));
    MC_CHECK_INT(mc_trace_parse("cc-" TID "-" PID "-01-what-the-future-will-be-like", &c), MC_OK);
    mc_trace_format(&c, out);
    MC_CHECK_STR(out, "00-" TID "-" PID "-01"); /* passed on as version 00 */
}

static void test_traceparent_invalid(void)
{
    static const char *const bad[] = {
        "",
        "00-" TID "-" PID "-01.",                          /* version 00 with more */
        "00-" TID "-" PID "-01-what-the-future-will-be-like",
        "cc-" TID "-" PID "-01.what-the-future-will-be-like",
        "ff-" TID "-" PID "-01",                           /* version 255 */
        ".0-" TID "-" PID "-01", "0.-" TID "-" PID "-01",  /* illegal version characters */
        "000-" TID "-" PID "-01", "0000-" TID "-" PID "-01", "0-" TID "-" PID "-01",
        "00-00000000000000000000000000000000-" PID "-01",  /* all-zero trace-id */
        "00-.2345678901234567890123456789012-" PID "-01",
        "00-1234567890123456789012345678901.-" PID "-01",
        "00-123456789012345678901234567890123-" PID "-01", /* trace-id too long */
        "00-1234567890123456789012345678901-" PID "-01",   /* too short */
        "00-" TID "-0000000000000000-01",                  /* all-zero parent-id */
        "00-" TID "-.234567890123456-01", "00-" TID "-123456789012345.-01",
        "00-" TID "-12345678901234567-01", "00-" TID "-123456789012345-01",
        "00-" TID "-" PID "-.0", "00-" TID "-" PID "-0.",  /* flags */
        "00-" TID "-" PID "-001", "00-" TID "-" PID "-1",
        "00-ABCDEF78901234567890123456789012-" PID "-01",  /* uppercase hex */
        "00-" TID "-ABCDEF7890123456-01", "00-" TID "-" PID "-0A",
        "00_" TID "-" PID "-01", "00-" TID "_" PID "-01",  /* separators */
        "00-" TID "-" PID "-01,00-" TID "-" PID "-01",     /* two headers joined */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parses(bad[i])) {
            fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
            MC_CHECK(!parses(bad[i]));
        }
    mc_trace_ctx_t c;
    MC_CHECK_INT(mc_trace_parse(NULL, &c), MC_ERR_INVAL);
}

static int state_ok(const char *text, const char *want)
{
    char out[MC_TRACESTATE_MAX + 1];
    int rc = mc_tracestate_check(text, out, sizeof out);
    if (want == NULL)
        return rc == MC_ERR_INVAL;
    if (rc != MC_OK || strcmp(out, want) != 0) {
        fprintf(stderr, "tracestate \"%s\": rc %d, \"%s\" (want \"%s\")\n", text, rc,
                rc == MC_OK ? out : "", want);
        return 0;
    }
    return 1;
}

static void test_tracestate(void)
{
    MC_CHECK(state_ok("foo=1,bar=2", "foo=1,bar=2"));
    MC_CHECK(state_ok("foo=1 \t , \t bar=2, \t baz=3", "foo=1,bar=2,baz=3"));
    MC_CHECK(state_ok("\t foo=1 \t", "foo=1"));
    MC_CHECK(state_ok("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    MC_CHECK(state_ok("foo=1,,bar=2", "foo=1,bar=2")); /* empty members are dropped */
    MC_CHECK(state_ok("tenant@system=x", "tenant@system=x"));
    MC_CHECK(state_ok("1tenant@sys_-*/=v", "1tenant@sys_-*/=v"));
    /* all allowed characters (test_tracestate_all_allowed_characters) */
    char key[64] = "", value[128] = "", text[256], want[256];
    size_t k = 0, v = 0;
    for (char ch = 'a'; ch <= 'z'; ch++)
        key[k++] = ch;
    memcpy(key + k, "0123456789_-*/", 14);
    for (int ch = 0x20; ch <= 0x7e; ch++)
        if (ch != ',' && ch != '=')
            value[v++] = (char)ch;
    snprintf(text, sizeof text, "%s=%s", key, value);
    snprintf(want, sizeof want, "%s", text);
    MC_CHECK(state_ok(text, want));
    /* refused as a whole */
    MC_CHECK(state_ok("", NULL));
    MC_CHECK(state_ok(" , ", NULL));
    MC_CHECK(state_ok("foo=1,foo=1", NULL));    /* duplicated keys */
    MC_CHECK(state_ok("foo=1,foo=2", NULL));
    MC_CHECK(state_ok("foo =1", NULL));         /* illegal key characters */
    MC_CHECK(state_ok("FOO=1", NULL));
    MC_CHECK(state_ok("foo.bar=1", NULL));
    MC_CHECK(state_ok("foo@=1,bar=2", NULL));   /* illegal vendor format */
    MC_CHECK(state_ok("@foo=1,bar=2", NULL));
    MC_CHECK(state_ok("foo@@bar=1,bar=2", NULL));
    MC_CHECK(state_ok("foo@bar@baz=1,bar=2", NULL));
    MC_CHECK(state_ok("foo=", NULL));           /* a value has at least one character */
    MC_CHECK(state_ok("foo", NULL));
    MC_CHECK(state_ok("foo=1=2", NULL));
    MC_CHECK(state_ok("foo=a\x01", NULL));
    MC_CHECK(state_ok(NULL, NULL));
    /* 32 members pass, 33 do not (test_tracestate_member_count_limit) */
    char many[600];
    size_t n = 0;
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%sk%d=%d", i ? "," : "", i, i);
    MC_CHECK(state_ok(many, NULL));
    *strrchr(many, ',') = '\0';
    MC_CHECK(state_ok(many, many));
    /* longer than MC_TRACESTATE_MAX: not passed on */
    char longer[MC_TRACESTATE_MAX + 64];
    n = 0;
    for (int i = 0; n < MC_TRACESTATE_MAX + 8; i++)
        n += (size_t)snprintf(longer + n, sizeof longer - n, "%sk%d=%s", i ? "," : "", i,
                              "0123456789abcdef0123456789abcdef");
    MC_CHECK(state_ok(longer, NULL));
}

static int captured;
static mc_span_t last;

static void capture(void *arg, const mc_span_t *span)
{
    (void)arg;
    captured++;
    last = *span;
}

static int zero8(const uint8_t *b)
{
    for (int i = 0; i < 8; i++)
        if (b[i])
            return 0;
    return 1;
}

static void test_span_off(void)
{
    mc_tracer_t off = {.sample = 1.0};
    mc_trace_ctx_t parent;
    mc_span_t s;
    captured = 0;
    MC_CHECK_INT(mc_trace_parse("00-" TID "-" PID "-01", &parent), MC_OK);
    /* without an exporter the context passes through unchanged */
    mc_span_begin(&off, &s, "x", MC_SPAN_SERVER, &parent);
    MC_CHECK(!s.recording);
    MC_CHECK(memcmp(&s.ctx, &parent, sizeof parent) == 0);
    mc_span_attr_str(&s, "k", "v");
    MC_CHECK_INT(s.nattrs, 0);
    mc_span_end(&off, &s, 0);
    MC_CHECK_INT(captured, 0);
    /* a root gets ids, sampled by the ratio */
    mc_span_begin(&off, &s, "x", MC_SPAN_SERVER, NULL);
    MC_CHECK(!s.recording);
    MC_CHECK(zero8(s.parent_id));
    MC_CHECK(!zero8(s.ctx.span_id));
    MC_CHECK_INT(s.ctx.flags, MC_TRACE_SAMPLED);
    mc_span_begin(NULL, &s, "x", MC_SPAN_SERVER, NULL);
    MC_CHECK(!s.recording);
}

static void test_span_on(void)
{
    mc_tracer_t on = {.sample = 1.0, .export = capture};
    mc_trace_ctx_t parent;
    mc_span_t s;
    captured = 0;
    MC_CHECK_INT(mc_trace_parse("00-" TID "-" PID "-01", &parent), MC_OK);
    mc_span_begin(&on, &s, "child", MC_SPAN_CONSUMER, &parent);
    MC_CHECK(s.recording);
    MC_CHECK(memcmp(s.ctx.trace_id, parent.trace_id, 16) == 0);
    MC_CHECK(memcmp(s.parent_id, parent.span_id, 8) == 0);
    MC_CHECK(memcmp(s.ctx.span_id, parent.span_id, 8) != 0); /* a span of its own */
    MC_CHECK(s.start_ns > 0);
    for (int i = 0; i < MC_SPAN_MAX_ATTRS + 2; i++)
        mc_span_attr_int(&s, "n", i);
    MC_CHECK_INT(s.nattrs, MC_SPAN_MAX_ATTRS);
    mc_span_end(&on, &s, s.start_ns + 1500);
    MC_CHECK_INT(captured, 1);
    MC_CHECK_INT(last.end_ns - last.start_ns, 1500);
    MC_CHECK_STR(last.name, "child");
    /* an unsampled parent is followed: nothing recorded, the context passes through */
    MC_CHECK_INT(mc_trace_parse("00-" TID "-" PID "-00", &parent), MC_OK);
    mc_span_begin(&on, &s, "child", MC_SPAN_CONSUMER, &parent);
    MC_CHECK(!s.recording);
    MC_CHECK(memcmp(s.ctx.span_id, parent.span_id, 8) == 0);
    mc_span_end(&on, &s, 0);
    MC_CHECK_INT(captured, 1);
    /* sample 0: new traces are not sampled; sample 0.5: about half, by trace-id */
    mc_tracer_t none = {.sample = 0.0, .export = capture};
    mc_span_begin(&none, &s, "root", MC_SPAN_SERVER, NULL);
    MC_CHECK_INT(s.ctx.flags, 0);
    MC_CHECK(!s.recording);
    mc_tracer_t half = {.sample = 0.5, .export = capture};
    int sampled = 0;
    for (int i = 0; i < 2000; i++) {
        mc_span_begin(&half, &s, "root", MC_SPAN_SERVER, NULL);
        sampled += s.recording;
    }
    MC_CHECK(sampled > 800 && sampled < 1200);
}

static void test_sample_setting(void)
{
    double r = -1;
    char err[128];
    MC_CHECK_INT(mc_trace_sample_parse("0.25", &r, err, sizeof err), MC_OK);
    MC_CHECK(r == 0.25);
    MC_CHECK_INT(mc_trace_sample_parse("1", &r, err, sizeof err), MC_OK);
    MC_CHECK_INT(mc_trace_sample_parse("1.5", &r, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_CONTAINS(err, "MC_TRACE_SAMPLE");
    MC_CHECK_INT(mc_trace_sample_parse("-0.1", &r, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_INT(mc_trace_sample_parse("half", &r, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_INT(mc_trace_sample_parse("nan", &r, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_INT(mc_trace_sample_parse("", &r, err, sizeof err), MC_ERR_CONFIG);
}

int main(void)
{
    MC_TEST_RUN(test_traceparent_valid);
    MC_TEST_RUN(test_traceparent_invalid);
    MC_TEST_RUN(test_tracestate);
    MC_TEST_RUN(test_span_off);
    MC_TEST_RUN(test_span_on);
    MC_TEST_RUN(test_sample_setting);
    MC_TEST_DONE();
}
