/* test_list_query.c - query strings → SQL: filters, scopes, order, cursors, refusals; the
 * record select list. */
#include "list_query.h"
#include "mc_error.h"
#include "mc_test.h"

static mc_schema_t *schema(void)
{
    json_t *root = json_loads(
        "{\"models\":{\"Item\":{\"attributes\":{\"name\":{\"type\":\"string\"},"
        "\"qty\":{\"type\":\"integer\"},\"meta\":{\"type\":\"json\"}},"
        "\"scopes\":{\"named\":{\"name\":{\"null\":false}}},\"order\":\"-qty\"}}}",
        0, NULL);
    mc_schema_t *s = NULL;
    char err[256];
    if (mc_schema_parse(root, "m.json", &s, err, sizeof err) != MC_OK)
        fprintf(stderr, "%s\n", err);
    json_decref(root);
    return s;
}

static int build(const mc_model_t *m, const char *const *kv, int count, list_query_t *q,
                 const char **code, char *err, size_t errlen)
{
    struct _u_map args;
    u_map_init(&args);
    for (; kv && kv[0]; kv += 2)
        u_map_put(&args, kv[0], kv[1]);
    int rc = list_query_build(m, &args, 100, count, NULL, NULL, q, code, err, errlen);
    u_map_clean(&args);
    return rc;
}

static void test_filters_and_order(void)
{
    mc_schema_t *s = schema();
    list_query_t q;
    const char *code = NULL;
    char err[256] = "";
    const char *kv[] = {"model", "Item", "qty[gte]", "2", "name", "x'y", "scope", "named",
                        "limit", "500", NULL};
    MC_CHECK_INT(build(&s->models[0], kv, 0, &q, &code, err, sizeof err), MC_OK);
    MC_CHECK_CONTAINS(mc_sql_text(&q.sql), "FROM \"item\" WHERE TRUE AND ((\"qty\" >= $1::integer) AND "
                                  "(\"name\" = $2::text)) AND ((\"name\" IS NOT NULL))");
    MC_CHECK_CONTAINS(mc_sql_text(&q.sql), "ORDER BY \"qty\" DESC NULLS FIRST, \"id\" ASC NULLS LAST "
                                  "LIMIT 101");
    MC_CHECK_INT(q.limit, 100);
    MC_CHECK_STR(q.sql.params[1], "x'y");
    MC_CHECK_STR(q.order_spec, "-qty,id");

    json_t *row = json_loads("{\"id\":7,\"qty\":null,\"name\":\"a\"}", 0, NULL);
    char *cursor = list_query_cursor(&q, row);
    MC_CHECK(cursor != NULL);
    list_query_cleanup(&q);

    const char *kv2[] = {"cursor", cursor, NULL};
    MC_CHECK_INT(build(&s->models[0], kv2, 0, &q, &code, err, sizeof err), MC_OK);
    /* after (qty NULL, id 7) in "-qty,id": non-null qty, or null qty and a larger id */
    MC_CHECK_CONTAINS(mc_sql_text(&q.sql), "AND ((\"qty\" IS NOT NULL) OR (\"qty\" IS NULL AND "
                                  "(\"id\" > $1::bigint OR \"id\" IS NULL)))");
    MC_CHECK_STR(q.sql.params[0], "7");
    list_query_cleanup(&q);

    /* the same cursor under another order is refused */
    const char *kv3[] = {"cursor", cursor, "order", "name", NULL};
    MC_CHECK_INT(build(&s->models[0], kv3, 0, &q, &code, err, sizeof err), MC_ERR_INVAL);
    MC_CHECK_STR(code, "bad_cursor");
    list_query_cleanup(&q);
    free(cursor);
    json_decref(row);

    const char *kv4[] = {"qty[in]", "1,2,3", NULL};
    MC_CHECK_INT(build(&s->models[0], kv4, 1, &q, &code, err, sizeof err), MC_OK);
    MC_CHECK_CONTAINS(mc_sql_text(&q.sql), "SELECT count(*) FROM \"item\" WHERE TRUE AND ((\"qty\" IN "
                                  "($1::integer, $2::integer, $3::integer)))");
    MC_CHECK(strstr(mc_sql_text(&q.sql), "ORDER BY") == NULL);
    list_query_cleanup(&q);
    mc_schema_free(s);
}

/* Strings order by bytes (COLLATE "C") in ORDER BY and in the cursor's comparison, as the
 * conditions and the clients compare them, whatever the column's collation. */
static void test_strings_order_by_bytes(void)
{
    mc_schema_t *s = schema();
    list_query_t q;
    const char *code = NULL;
    char err[256] = "";
    const char *kv[] = {"order", "-name,qty", NULL};
    MC_CHECK_INT(build(&s->models[0], kv, 0, &q, &code, err, sizeof err), MC_OK);
    MC_CHECK_CONTAINS(mc_sql_text(&q.sql), "ORDER BY \"name\" COLLATE \"C\" DESC NULLS FIRST, "
                                           "\"qty\" ASC NULLS LAST, \"id\" ASC NULLS LAST");
    json_t *row = json_loads("{\"id\":3,\"qty\":1,\"name\":\"B\"}", 0, NULL);
    char *cursor = list_query_cursor(&q, row);
    list_query_cleanup(&q);
    const char *kv2[] = {"order", "-name,qty", "cursor", cursor, NULL};
    MC_CHECK_INT(build(&s->models[0], kv2, 0, &q, &code, err, sizeof err), MC_OK);
    MC_CHECK_CONTAINS(mc_sql_text(&q.sql), "AND (((\"name\" COLLATE \"C\" < $1::text)) OR "
                                           "(\"name\" = $2::text AND (\"qty\" > $3::integer OR "
                                           "\"qty\" IS NULL))");
    list_query_cleanup(&q);
    /* A column whose own collation is byte order (created COLLATE "C") stays bare, so that
     * its index serves the order. */
    ((mc_attr_t *)mc_model_attr(&s->models[0], "name"))->bytewise = 1;
    MC_CHECK_INT(build(&s->models[0], kv2, 0, &q, &code, err, sizeof err), MC_OK);
    MC_CHECK_CONTAINS(mc_sql_text(&q.sql), "AND (((\"name\" < $1::text)) OR");
    MC_CHECK_CONTAINS(mc_sql_text(&q.sql), "ORDER BY \"name\" DESC NULLS FIRST, ");
    list_query_cleanup(&q);
    free(cursor);
    json_decref(row);
    mc_schema_free(s);
}

/* GET /v1/models lists a scope (and its condition) only when the caller sees every
 * attribute it reads, as a list only takes such scopes. */
static void test_scope_usable(void)
{
    mc_schema_t *s = schema();
    const mc_model_t *m = &s->models[0];
    const mc_scope_t *named = mc_model_scope(m, "named");
    json_t *all = json_loads("[\"id\",\"name\",\"qty\"]", 0, NULL);
    json_t *some = json_loads("[\"id\",\"qty\"]", 0, NULL);
    MC_CHECK(named != NULL);
    MC_CHECK_INT(list_query_scope_usable(m, named, all), 1);
    MC_CHECK_INT(list_query_scope_usable(m, named, some), 0);
    MC_CHECK_INT(list_query_scope_usable(m, named, NULL), 1);
    json_decref(all);
    json_decref(some);
    mc_schema_free(s);
}

static void test_select_lists_system_columns_then_attributes(void)
{
    mc_schema_t *s = schema();
    mc_sql_t sql;
    mc_sql_init(&sql);
    list_query_select(&s->models[0], "w", &sql);
    MC_CHECK_STR(mc_sql_text(&sql), "SELECT row_to_json(r)::text FROM (SELECT \"id\", \"version\", "
                           "\"created_at\", \"updated_at\", \"name\", \"qty\", \"meta\" "
                           "FROM \"w\"");
    mc_sql_cleanup(&sql);
    mc_schema_free(s);
}

static void expect_bad(const char *key, const char *value, const char *needle)
{
    mc_schema_t *s = schema();
    list_query_t q;
    const char *code = NULL;
    char err[256] = "";
    const char *kv[] = {key, value, NULL};
    MC_CHECK_INT(build(&s->models[0], kv, 0, &q, &code, err, sizeof err), MC_ERR_INVAL);
    MC_CHECK_CONTAINS(err, needle);
    list_query_cleanup(&q);
    mc_schema_free(s);
}

static void test_refusals(void)
{
    expect_bad("qty", "1 OR 1=1", "not a valid integer");
    expect_bad("name\"; DROP TABLE item; --", "x", "unknown query parameter");
    expect_bad("qty[gt", "1", "malformed filter");
    expect_bad("qty[regex]", "1", "unknown operator");
    expect_bad("order", "name; DROP TABLE item", "not an attribute");
    expect_bad("order", "meta", "json");
    expect_bad("order", "name,name", "twice");
    expect_bad("scope", "nope", "no scope 'nope'");
    expect_bad("cursor", "!!!", "cursor");
    expect_bad("limit", "-1", "positive");
    expect_bad("meta[eq]", "{}", "null operator");
}

int main(void)
{
    MC_TEST_RUN(test_filters_and_order);
    MC_TEST_RUN(test_strings_order_by_bytes);
    MC_TEST_RUN(test_scope_usable);
    MC_TEST_RUN(test_select_lists_system_columns_then_attributes);
    MC_TEST_RUN(test_refusals);
    MC_TEST_DONE();
}
