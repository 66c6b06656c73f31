/* test_model.c - models.json parsing errors name file and path; input validation. */
#include "mc_error.h"
#include "mc_model.h"
#include "mc_test.h"

static int parse(const char *text, mc_schema_t **s, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root) {
        fprintf(stderr, "test JSON invalid: %s\n", jerr.text);
        return -1;
    }
    int rc = mc_schema_parse(root, "models.json", s, err, errlen);
    json_decref(root);
    return rc;
}

static void test_valid_schema(void)
{
    mc_schema_t *s = NULL;
    char err[512] = "";
    MC_CHECK_INT(parse("{\"models\":{\"Dictionary\":{\"attributes\":{"
                       "\"word\":{\"type\":\"string\",\"required\":true,\"max_length\":200},"
                       "\"definition\":{\"type\":\"text\"}}},"
                       "\"Todo\":{\"table\":\"todos\",\"attributes\":{"
                       "\"dict_id\":{\"type\":\"reference\",\"references\":\"Dictionary\"},"
                       "\"n\":{\"type\":\"integer\"}}}}}",
                       &s, err, sizeof err),
                 MC_OK);
    MC_CHECK_STR(err, "");
    MC_CHECK(s != NULL);
    if (!s)
        return;
    MC_CHECK_INT(s->nmodels, 2);
    const mc_model_t *d = mc_schema_find(s, "Dictionary");
    MC_CHECK(d != NULL);
    if (!d)
        return;
    MC_CHECK_STR(d->table, "dictionary");
    MC_CHECK_INT(d->nattrs, 2);
    MC_CHECK_STR(d->attrs[0].name, "word"); /* declaration order is kept */
    MC_CHECK_INT(d->attrs[0].max_length, 200);
    MC_CHECK_INT(d->attrs[0].required, 1);
    MC_CHECK_STR(mc_schema_find(s, "Todo")->table, "todos");
    MC_CHECK(mc_schema_find(s, "Nope") == NULL);
    char buf[64];
    MC_CHECK_STR(mc_attr_sql_type(&d->attrs[0], buf, sizeof buf), "varchar(200)");
    MC_CHECK_STR(mc_attr_sql_type(mc_model_attr(mc_schema_find(s, "Todo"), "dict_id"), buf,
                                  sizeof buf),
                 "bigint");
    mc_schema_free(s);
}

static void expect_error(const char *text, const char *needle)
{
    mc_schema_t *s = NULL;
    char err[512] = "";
    MC_CHECK_INT(parse(text, &s, err, sizeof err), MC_ERR_CONFIG);
    MC_CHECK(s == NULL);
    MC_CHECK_CONTAINS(err, "models.json");
    MC_CHECK_CONTAINS(err, needle);
}

static void test_errors_name_the_path(void)
{
    expect_error("[]", "expected a JSON object");
    expect_error("{\"models\":{}}", "models: expected a non-empty object");
    expect_error("{\"models\":{\"bad name\":{\"attributes\":{\"a\":{\"type\":\"text\"}}}}}",
                 "models.bad name: model names");
    expect_error("{\"models\":{\"M\":{\"attributes\":{\"a\":{\"type\":\"strin\"}}}}}",
                 "models.M.attributes.a.type: unknown type 'strin'");
    expect_error("{\"models\":{\"M\":{\"attributes\":{\"id\":{\"type\":\"text\"}}}}}",
                 "models.M.attributes.id: 'id' is a system column");
    expect_error("{\"models\":{\"M\":{\"attributes\":{\"A\":{\"type\":\"text\"}}}}}",
                 "models.M.attributes.A: attribute names");
    expect_error("{\"models\":{\"M\":{\"attributes\":{\"a\":{\"type\":\"integer\","
                 "\"max_length\":3}}}}}",
                 "models.M.attributes.a.max_length: only for string and text");
    expect_error("{\"models\":{\"M\":{\"attributes\":{\"a\":{\"type\":\"reference\","
                 "\"references\":\"Ghost\"}}}}}",
                 "models.M.attributes.a.references: unknown model 'Ghost'");
    expect_error("{\"models\":{\"M\":{\"attributes\":{\"a\":{\"type\":\"text\",\"x\":1}}}}}",
                 "models.M.attributes.a.x: unknown key");
    expect_error("{\"models\":{\"M\":{\"table\":\"x; drop\",\"attributes\":{\"a\":{\"type\":"
                 "\"text\"}}}}}",
                 "models.M.table");
    expect_error("{\"models\":{\"M\":{\"table\":\"t\",\"attributes\":{\"a\":{\"type\":\"text\"}}},"
                 "\"N\":{\"table\":\"t\",\"attributes\":{\"a\":{\"type\":\"text\"}}}}}",
                 "table 't' is already used");
    expect_error("{\"models\":{\"M\":{\"attributes\":{}}}}", "models.M.attributes");
    expect_error("{\"models\":{\"M\":{\"attributes\":{\"a\":{\"type\":\"text\","
                 "\"max_bytes\":100}}}}}",
                 "models.M.attributes.a.max_bytes: only for json");
    expect_error("{\"models\":{\"M\":{\"attributes\":{\"a\":{\"type\":\"json\","
                 "\"max_bytes\":0}}}}}",
                 "models.M.attributes.a.max_bytes: expected an integer");
}

/* Every value has a bounded size by default, and so has every change event. */
static void test_sizes(void)
{
    mc_schema_t *s = NULL;
    char err[512] = "";
    MC_CHECK_INT(parse("{\"models\":{\"M\":{\"attributes\":{"
                       "\"s\":{\"type\":\"string\"},\"t\":{\"type\":\"text\"},"
                       "\"j\":{\"type\":\"json\"},\"k\":{\"type\":\"json\",\"max_bytes\":100},"
                       "\"n\":{\"type\":\"text\",\"max_length\":20}}}}}",
                       &s, err, sizeof err),
                 MC_OK);
    const mc_model_t *m = mc_schema_find(s, "M");
    if (!m)
        return;
    MC_CHECK_INT(mc_model_attr(m, "s")->max_length, 255);
    MC_CHECK_INT(mc_model_attr(m, "t")->max_length, 10000);
    MC_CHECK_INT(mc_model_attr(m, "j")->max_bytes, 65536);
    MC_CHECK_INT(mc_model_attr(m, "k")->max_bytes, 100);
    MC_CHECK_INT(mc_model_attr(m, "n")->max_length, 20);

    /* A create's event holds after only; an update's before and after. */
    json_t *rec = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)7, "version",
                            (json_int_t)1, "created_at", "2026-12-01T00:00:00Z", "updated_at",
                            "2026-12-01T00:00:00Z", "s", "hello", "n", "x");
    size_t created = mc_model_event_bytes(m, NULL, rec);
    size_t updated = mc_model_event_bytes(m, rec, rec);
    size_t destroyed = mc_model_event_bytes(m, rec, NULL);
    MC_CHECK(created > 200 && created < 2000);
    MC_CHECK_INT(destroyed, created);
    MC_CHECK(updated > created);
    /* Each character written out as \u00XX counts 6 bytes. */
    json_object_set_new(rec, "t", json_string("\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"));
    MC_CHECK_INT(mc_model_event_bytes(m, NULL, rec), created + 60 + 2 - 4);
    /* A body without system columns counts their largest values. */
    json_t *body = json_pack("{s:s}", "s", "hello");
    MC_CHECK(mc_model_event_bytes(m, NULL, body) >= created - 10);
    /* The worst case: 255 and 10,000 and 20 characters, 65,536 + 100 bytes, twice. */
    size_t max = mc_model_event_bytes_max(m);
    MC_CHECK(max > 2 * (6 * (255 + 10000 + 20) + 65536 + 100));
    MC_CHECK(max < 2 * (6 * (255 + 10000 + 20) + 65536 + 100) + 4096);
    json_decref(rec);
    json_decref(body);
    mc_schema_free(s);
}

static void test_load_file_errors(void)
{
    mc_schema_t *s = NULL;
    char err[512] = "";
    MC_CHECK(mc_schema_load("/nonexistent/models.json", &s, err, sizeof err) != MC_OK);
    MC_CHECK_CONTAINS(err, "/nonexistent/models.json");
}

static void test_validate(void)
{
    mc_schema_t *s = NULL;
    char err[512];
    json_t *errors = NULL;
    parse("{\"models\":{\"M\":{\"attributes\":{"
          "\"word\":{\"type\":\"string\",\"required\":true,\"max_length\":3},"
          "\"n\":{\"type\":\"integer\"},\"f\":{\"type\":\"float\"},\"b\":{\"type\":\"boolean\"},"
          "\"j\":{\"type\":\"json\"}}}}}",
          &s, err, sizeof err);
    const mc_model_t *m = mc_schema_find(s, "M");
    json_t *ok = json_pack("{s:s, s:i, s:f, s:b, s:[i]}", "word", "héé", "n", 5, "f", 1.5, "b",
                           1, "j", 1);
    MC_CHECK_INT(mc_model_validate(m, ok, 0, &errors), MC_OK);
    MC_CHECK(errors == NULL);

    json_t *bad = json_pack("{s:s, s:s, s:I, s:i, s:s}", "word", "long", "n", "5", "f",
                            (json_int_t)1, "b", 1, "version", "x");
    MC_CHECK_INT(mc_model_validate(m, bad, 0, &errors), MC_ERR_INVAL);
    char *text = json_dumps(errors, JSON_COMPACT | JSON_SORT_KEYS);
    MC_CHECK_STR(text, "{\"b\":[\"must be true or false\"],\"n\":[\"must be an integer in the "
                       "32-bit range\"],\"version\":[\"is maintained by the server\"],"
                       "\"word\":[\"is longer than 3 characters\"]}");
    free(text);
    json_decref(errors);

    json_t *missing = json_pack("{s:i}", "n", 1);
    MC_CHECK_INT(mc_model_validate(m, missing, 0, &errors), MC_ERR_INVAL);
    MC_CHECK(json_object_get(errors, "word") != NULL);
    json_decref(errors);
    MC_CHECK_INT(mc_model_validate(m, missing, 1, &errors), MC_OK); /* partial update */

    json_t *big = json_pack("{s:s, s:I}", "word", "a", "n", (json_int_t)3000000000LL);
    MC_CHECK_INT(mc_model_validate(m, big, 0, &errors), MC_ERR_INVAL);
    json_decref(errors);

    int failed = 0;
    char *p = mc_attr_param_text(mc_model_attr(m, "j"), json_object_get(ok, "j"), &failed);
    MC_CHECK_STR(p, "[1]");
    free(p);
    p = mc_attr_param_text(mc_model_attr(m, "b"), json_true(), &failed);
    MC_CHECK_STR(p, "true");
    free(p);
    MC_CHECK(mc_attr_param_text(mc_model_attr(m, "n"), json_null(), &failed) == NULL);
    MC_CHECK_INT(failed, 0);

    json_decref(ok);
    json_decref(bad);
    json_decref(missing);
    json_decref(big);
    mc_schema_free(s);
}

int main(void)
{
    MC_TEST_RUN(test_valid_schema);
    MC_TEST_RUN(test_errors_name_the_path);
    MC_TEST_RUN(test_sizes);
    MC_TEST_RUN(test_load_file_errors);
    MC_TEST_RUN(test_validate);
    MC_TEST_DONE();
}
