/* test_attr.c - attribute types: names, column types, value checks, parameter text and
 * RFC 3339 timestamps. */
#include "mc_attr.h"
#include "mc_test.h"

static void test_type_names(void)
{
    for (int t = 0; t < MC_ATTR__COUNT; t++)
        MC_CHECK_INT(mc_attr_type_from_name(mc_attr_type_name((mc_attr_type_t)t)), t);
    MC_CHECK_STR(mc_attr_type_name(MC_ATTR_REFERENCE), "reference");
    MC_CHECK_STR(mc_attr_type_name(MC_ATTR__COUNT), "unknown");
    MC_CHECK_INT(mc_attr_type_from_name("strin"), MC_ATTR__COUNT);
    MC_CHECK_INT(mc_attr_type_from_name(NULL), MC_ATTR__COUNT);
}

static void test_sql_type(void)
{
    char buf[32];
    mc_attr_t s = {.type = MC_ATTR_STRING, .max_length = 200};
    MC_CHECK_STR(mc_attr_sql_type(&s, buf, sizeof buf), "varchar(200)");
    s.max_length = 0;
    MC_CHECK_STR(mc_attr_sql_type(&s, buf, sizeof buf), "varchar");
    mc_attr_t r = {.type = MC_ATTR_REFERENCE}, f = {.type = MC_ATTR_FLOAT},
              ts = {.type = MC_ATTR_TIMESTAMP}, j = {.type = MC_ATTR_JSON};
    MC_CHECK_STR(mc_attr_sql_type(&r, NULL, 0), "bigint");
    MC_CHECK_STR(mc_attr_sql_type(&f, NULL, 0), "double precision");
    MC_CHECK_STR(mc_attr_sql_type(&ts, NULL, 0), "timestamptz");
    MC_CHECK_STR(mc_attr_sql_type(&j, NULL, 0), "jsonb");
}

/* Checks the JSON value text against a: want is NULL for a valid value, else (a part of)
 * the message. */
static void expect_check(const mc_attr_t *a, const char *text, const char *want)
{
    char buf[64];
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    MC_CHECK(v != NULL);
    const char *msg = mc_attr_check_value(a, v, buf, sizeof buf);
    if (want)
        MC_CHECK_CONTAINS(msg, want);
    else if (msg)
        MC_CHECK_STR(msg, "(valid)");
    json_decref(v);
}

static void test_check_value(void)
{
    mc_attr_t s = {.name = "s", .type = MC_ATTR_STRING, .max_length = 3, .required = 1};
    expect_check(&s, "\"h\xc3\xa9h\"", NULL); /* 3 characters, 4 bytes */
    expect_check(&s, "\"four\"", "is longer than 3 characters");
    expect_check(&s, "null", "is required");
    expect_check(&s, "1", "must be a string");

    mc_attr_t i = {.name = "i", .type = MC_ATTR_INTEGER, .has_max = 1, .max = 10};
    expect_check(&i, "null", NULL);
    expect_check(&i, "3000000000", "must be an integer in the 32-bit range");
    expect_check(&i, "11", "must be at most 10");
    expect_check(&i, "10", NULL);

    mc_attr_t e = {.name = "e", .type = MC_ATTR_STRING,
                   .enum_values = json_pack("[s,s]", "a", "b")};
    expect_check(&e, "\"b\"", NULL);
    expect_check(&e, "\"c\"", "is not one of the allowed values");
    json_decref(e.enum_values);

    mc_attr_t t = {.name = "t", .type = MC_ATTR_TIMESTAMP};
    expect_check(&t, "\"2026-11-27T10:00:00Z\"", NULL);
    expect_check(&t, "\"tomorrow\"", "RFC 3339");
}

/* Bytes of the JSON text value as attribute a in an event (mc_attr_event_bytes). */
static size_t event_bytes(const mc_attr_t *a, const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    MC_CHECK(v != NULL);
    size_t n = mc_attr_event_bytes(a, v);
    json_decref(v);
    return n;
}

/* Each bound is at least what PostgreSQL printed for the same value (psql, jsonb). */
static void test_event_bytes(void)
{
    mc_attr_t t = {.name = "t", .type = MC_ATTR_TEXT, .max_length = 10};
    mc_attr_t j = {.name = "j", .type = MC_ATTR_JSON, .max_bytes = 40};
    mc_attr_t ts = {.name = "ts", .type = MC_ATTR_TIMESTAMP}, f = {.type = MC_ATTR_FLOAT};
    MC_CHECK_INT(event_bytes(&t, "\"abc\""), 5);
    MC_CHECK_INT(event_bytes(&t, "\"a\\u0001\\n\\\"\""), 13); /* "a\u0001\n\"" */
    MC_CHECK_INT(event_bytes(&t, "\"h\xc3\xa9\""), 5);          /* UTF-8 stays as is */
    MC_CHECK_INT(event_bytes(&t, "null"), 4);
    MC_CHECK_INT(mc_attr_event_bytes(&t, NULL), 4);
    MC_CHECK(event_bytes(&ts, "\"2026-12-01T15:56:38Z\"") >= 34); /* +00:00, microseconds */
    MC_CHECK(event_bytes(&f, "1e300") >= 301);                    /* 1 and 300 zeros */
    MC_CHECK(event_bytes(&f, "4.9e-324") >= 326);
    MC_CHECK(event_bytes(&f, "0.5") >= 3);
    /* {"a": [1, true, null]}: jsonb puts a space after ':' and ','. */
    MC_CHECK_INT(event_bytes(&j, "{\"a\":[1,true,null]}"), 22);
    MC_CHECK_INT(event_bytes(&j, "{}"), 2);
    MC_CHECK_INT(event_bytes(&j, "[\"x\",{\"b\":false}]"), 19);

    MC_CHECK_INT(mc_attr_event_bytes_max(&t), 62); /* 10 characters of \u00XX */
    MC_CHECK_INT(mc_attr_event_bytes_max(&j), 40);
    MC_CHECK(mc_attr_event_bytes_max(&f) >= 326);
    mc_attr_t unbounded = {.type = MC_ATTR_TEXT};
    MC_CHECK_INT(mc_attr_event_bytes_max(&unbounded), 0);

    expect_check(&j, "{\"a\":\"01234567890123456789012345678901\"}", "is larger than 40 bytes");
    expect_check(&j, "{\"a\":\"0123456789012345678901234567890\"}", NULL); /* 40 */
    expect_check(&j, "[1e-300]", "is larger than 40 bytes"); /* 0.000...1 */
    mc_attr_t big = {.name = "j", .type = MC_ATTR_JSON, .max_bytes = 65536};
    expect_check(&big, "{\"n\":[1e19]}", "beyond the 64-bit integer range");
    expect_check(&big, "{\"n\":[-1e19]}", "beyond the 64-bit integer range");
    expect_check(&big, "[9223372036854775807, 1e18, 0.5e-300]", NULL);
}

static void test_param_text(void)
{
    int failed = 0;
    mc_attr_t f = {.type = MC_ATTR_FLOAT}, b = {.type = MC_ATTR_BOOLEAN},
              j = {.type = MC_ATTR_JSON}, n = {.type = MC_ATTR_BIGINT};
    json_t *v = json_real(0.5);
    char *p = mc_attr_param_text(&f, v, &failed);
    MC_CHECK_STR(p, "0.5");
    free(p);
    json_decref(v);
    p = mc_attr_param_text(&b, json_false(), &failed);
    MC_CHECK_STR(p, "false");
    free(p);
    v = json_pack("{s:[i]}", "a", 1);
    p = mc_attr_param_text(&j, v, &failed);
    MC_CHECK_STR(p, "{\"a\":[1]}");
    free(p);
    json_decref(v);
    v = json_integer(-42);
    p = mc_attr_param_text(&n, v, &failed);
    MC_CHECK_STR(p, "-42");
    free(p);
    json_decref(v);
    MC_CHECK(mc_attr_param_text(&n, json_null(), &failed) == NULL);
    MC_CHECK(mc_attr_param_text(&n, NULL, &failed) == NULL);
    MC_CHECK_INT(failed, 0);
}

static void test_parse_time(void)
{
    double t;
    MC_CHECK_INT(mc_attr_parse_time("1970-01-01T00:00:00Z", &t), 0);
    MC_CHECK(t == 0);
    MC_CHECK_INT(mc_attr_parse_time("1970-01-01T01:00:00+01:00", &t), 0);
    MC_CHECK(t == 0);
    MC_CHECK_INT(mc_attr_parse_time("1970-01-01 00:00:01.25", &t), 0);
    MC_CHECK(t == 1.25);
    MC_CHECK_INT(mc_attr_parse_time("1970-01-02", &t), 0);
    MC_CHECK(t == 86400);
    MC_CHECK_INT(mc_attr_parse_time("1970-13-01", &t), -1);
    MC_CHECK_INT(mc_attr_parse_time("2026-02-30T00:00:00Z", &t), -1);
    MC_CHECK_INT(mc_attr_parse_time("2026-02-29", &t), -1);
    MC_CHECK_INT(mc_attr_parse_time("2024-02-29", &t), 0);
    MC_CHECK_INT(mc_attr_parse_time("2026-04-31", &t), -1);
    MC_CHECK_INT(mc_attr_parse_time("yesterday", &t), -1);
    MC_CHECK_INT(mc_attr_parse_time("2026-01-01T00:00:00Zjunk", &t), -1);
    MC_CHECK_INT(mc_attr_parse_time("", &t), -1);
    MC_CHECK_INT(mc_attr_parse_time(NULL, NULL), -1);
}

int main(void)
{
    MC_TEST_RUN(test_type_names);
    MC_TEST_RUN(test_sql_type);
    MC_TEST_RUN(test_check_value);
    MC_TEST_RUN(test_event_bytes);
    MC_TEST_RUN(test_param_text);
    MC_TEST_RUN(test_parse_time);
    MC_TEST_DONE();
}
