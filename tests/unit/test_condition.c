/* test_condition.c - the condition language: checks, SQL text with parameters, and
 * in-memory evaluation agreeing with SQL's NULL semantics. */
#include "mc_condition.h"
#include "mc_error.h"
#include "mc_test.h"

static mc_schema_t *schema(void)
{
    json_t *root = json_loads(
        "{\"models\":{\"T\":{\"attributes\":{\"name\":{\"type\":\"string\"},"
        "\"n\":{\"type\":\"integer\"},\"done\":{\"type\":\"boolean\"},"
        "\"due\":{\"type\":\"timestamp\"},\"meta\":{\"type\":\"json\"}}}}}",
        0, NULL);
    mc_schema_t *s = NULL;
    char err[256];
    mc_schema_parse(root, "m.json", &s, err, sizeof err);
    json_decref(root);
    return s;
}

static json_t *J(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    if (!v)
        fprintf(stderr, "bad test JSON: %s\n", text);
    return v;
}

static void expect_check_error(const mc_model_t *m, const char *cond, const char *needle)
{
    char err[512] = "";
    json_t *c = J(cond);
    MC_CHECK_INT(mc_cond_check(m, c, "scopes.x", err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK_CONTAINS(err, needle);
    json_decref(c);
}

static void test_check(void)
{
    mc_schema_t *s = schema();
    const mc_model_t *m = &s->models[0];
    char err[512] = "";
    json_t *ok = J("{\"or\":[{\"n\":{\"gt\":1,\"lte\":5}},{\"name\":{\"in\":[\"a\",\"b\"]}}],"
                   "\"not\":{\"done\":{\"eq\":true}},\"meta\":{\"null\":false},"
                   "\"due\":{\"lt\":\"2026-01-01T00:00:00Z\"},\"id\":{\"ne\":3}}");
    MC_CHECK_INT(mc_cond_check(m, ok, "scopes.ok", err, sizeof err), MC_OK);
    MC_CHECK_STR(err, "");
    json_decref(ok);
    expect_check_error(m, "{}", "scopes.x: expected a non-empty object");
    expect_check_error(m, "{\"ghost\":{\"eq\":1}}", "scopes.x.ghost: 'ghost' is not an attribute");
    expect_check_error(m, "{\"n\":{\"like\":1}}", "scopes.x.n.like: unknown operator");
    expect_check_error(m, "{\"n\":{\"eq\":\"1\"}}", "scopes.x.n.eq: must be an integer");
    expect_check_error(m, "{\"n\":{\"eq\":null}}", "use the null operator");
    expect_check_error(m, "{\"meta\":{\"eq\":1}}", "json attributes only take the null");
    expect_check_error(m, "{\"done\":{\"gt\":true}}", "booleans only take");
    expect_check_error(m, "{\"n\":{\"in\":[]}}", "expected an array of 1 to 100");
    expect_check_error(m, "{\"n\":{\"null\":1}}", "expected true or false");
    expect_check_error(m, "{\"and\":[]}", "scopes.x.and: expected a non-empty array");
    expect_check_error(m, "{\"and\":[{\"n\":{\"eq\":1}},{\"x\":{\"eq\":1}}]}", "scopes.x.and[1].x");
    expect_check_error(m, "{\"due\":{\"gt\":\"tomorrow\"}}", "RFC 3339");
    expect_check_error(m, "{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":"
                          "{\"not\":{\"not\":{\"n\":{\"eq\":1}}}}}}}}}}}",
                       "nested deeper");
    mc_schema_free(s);
}

static void test_sql(void)
{
    mc_schema_t *s = schema();
    const mc_model_t *m = &s->models[0];
    mc_sql_t sql;
    mc_sql_init(&sql);
    json_t *c = J("{\"or\":[{\"n\":{\"gt\":1}},{\"name\":{\"in\":[\"a\",\"b'; drop\"]}}],"
                  "\"not\":{\"done\":{\"eq\":true}},\"meta\":{\"null\":false}}");
    mc_cond_sql(m, c, &sql);
    MC_CHECK_STR(mc_sql_text(&sql), "((((\"n\" > $1::integer)) OR ((\"name\" IN ($2::text, $3::text)))) "
                           "AND (((\"done\" = $4::boolean)) IS NOT TRUE) AND "
                           "(\"meta\" IS NOT NULL))");
    MC_CHECK_INT(sql.nparams, 4);
    MC_CHECK_STR(sql.params[2], "b'; drop"); /* values only ever travel as parameters */
    MC_CHECK_STR(sql.params[3], "true");
    json_decref(c);
    mc_sql_cleanup(&sql);

    mc_sql_init(&sql);
    mc_sql_ident(&sql, "we\"ird");
    mc_sql_param(&sql, NULL, NULL);
    MC_CHECK_STR(mc_sql_text(&sql), "\"we\"\"ird\"$1");
    MC_CHECK(sql.params[0] == NULL);
    mc_sql_cleanup(&sql);
    mc_schema_free(s);
}

static void test_eval(void)
{
    mc_schema_t *s = schema();
    const mc_model_t *m = &s->models[0];
    json_t *rec = J("{\"id\":1,\"name\":\"b\",\"n\":3,\"done\":false,\"meta\":null,"
                    "\"due\":\"2025-06-01T12:00:00.5+02:00\"}");
    struct {
        const char *cond;
        int want;
    } cases[] = {
        {"{\"n\":{\"gt\":1,\"lte\":3}}", 1},
        {"{\"n\":{\"gt\":3}}", 0},
        {"{\"name\":{\"in\":[\"a\",\"b\"]}}", 1},
        {"{\"name\":{\"lt\":\"a\"}}", 0},
        {"{\"meta\":{\"null\":true}}", 1},
        {"{\"meta\":{\"null\":false}}", 0},
        {"{\"due\":{\"lt\":\"2025-06-01T10:00:01Z\"}}", 1}, /* 10:00:00.5 UTC */
        {"{\"due\":{\"gt\":\"2025-06-01T10:00:00Z\"}}", 1},
        {"{\"due\":{\"gt\":\"2025-06-01\"}}", 1},
        {"{\"not\":{\"done\":{\"eq\":true}}}", 1},
        {"{\"or\":[{\"n\":{\"eq\":9}},{\"id\":{\"eq\":1}}]}", 1},
        {"{\"and\":[{\"n\":{\"eq\":9}},{\"id\":{\"eq\":1}}]}", 0},
        {"{\"ghost_null\":{\"eq\":1}}", 0},
        /* NULL column: comparisons are false, ne and not(...) are true, as in SQL here */
        {"{\"missing\":{\"null\":true}}", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *c = J(cases[i].cond);
        int got = mc_cond_eval(m, c, rec);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu: %s\n", i, cases[i].cond);
        MC_CHECK_INT(got, cases[i].want);
        json_decref(c);
    }
    json_t *nulls = J("{\"id\":2,\"n\":null}");
    json_t *gt = J("{\"n\":{\"gt\":1}}"), *ne = J("{\"n\":{\"ne\":1}}"),
           *notgt = J("{\"not\":{\"n\":{\"gt\":1}}}");
    MC_CHECK_INT(mc_cond_eval(m, gt, nulls), 0);
    MC_CHECK_INT(mc_cond_eval(m, ne, nulls), 1);
    MC_CHECK_INT(mc_cond_eval(m, notgt, nulls), 1);
    json_decref(gt);
    json_decref(ne);
    json_decref(notgt);
    json_decref(nulls);
    json_decref(rec);
    mc_schema_free(s);
}

int main(void)
{
    MC_TEST_RUN(test_check);
    MC_TEST_RUN(test_sql);
    MC_TEST_RUN(test_eval);
    MC_TEST_DONE();
}
