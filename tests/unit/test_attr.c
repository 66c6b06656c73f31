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

static void test_check_value(void)
{
    char buf[64];
    mc_attr_t s = {.name = "s", .type = MC_ATTR_STRING, .max_length = 3, .required = 1};
    json_t *v = json_string("h\xc3\xa9h"); /* 3 characters, 4 bytes */
    MC_CHECK(mc_attr_check_value(&s, v, buf, sizeof buf) == NULL);
    json_decref(v);
    v = json_string("four");
    MC_CHECK_STR(mc_attr_check_value(&s, v, buf, sizeof buf), "is longer than 3 characters");
    json_decref(v);
    MC_CHECK_STR(mc_attr_check_value(&s, json_null(), buf, sizeof buf), "is required");
    v = json_integer(1);
    MC_CHECK_STR(mc_attr_check_value(&s, v, buf, sizeof buf), "must be a string");
    json_decref(v);

    mc_attr_t i = {.name = "i", .type = MC_ATTR_INTEGER, .has_max = 1, .max = 10};
    MC_CHECK(mc_attr_check_value(&i, json_null(), buf, sizeof buf) == NULL);
    v = json_integer(3000000000);
    MC_CHECK_STR(mc_attr_check_value(&i, v, buf, sizeof buf),
                 "must be an integer in the 32-bit range");
    json_decref(v);
    v = json_integer(11);
    MC_CHECK_STR(mc_attr_check_value(&i, v, buf, sizeof buf), "must be at most 10");
    json_decref(v);

    mc_attr_t e = {.name = "e", .type = MC_ATTR_STRING, .enum_values = json_pack("[s,s]", "a",
                                                                                  "b")};
    v = json_string("b");
    MC_CHECK(mc_attr_check_value(&e, v, buf, sizeof buf) == NULL);
    json_decref(v);
    v = json_string("c");
    MC_CHECK_STR(mc_attr_check_value(&e, v, buf, sizeof buf), "is not one of the allowed values");
    json_decref(v);
    json_decref(e.enum_values);

    mc_attr_t t = {.name = "t", .type = MC_ATTR_TIMESTAMP};
    v = json_string("2026-11-27T10:00:00Z");
    MC_CHECK(mc_attr_check_value(&t, v, buf, sizeof buf) == NULL);
    json_decref(v);
    v = json_string("tomorrow");
    MC_CHECK_CONTAINS(mc_attr_check_value(&t, v, buf, sizeof buf), "RFC 3339");
    json_decref(v);
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
    MC_TEST_RUN(test_param_text);
    MC_TEST_RUN(test_parse_time);
    MC_TEST_DONE();
}
