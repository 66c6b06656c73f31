/* test_condition_vectors.c - the shared condition vectors (tests/vectors/conditions.json),
 * also run by the JavaScript client's tests: mc_cond_check accepts every eval condition and
 * gives each invalid one's exact message; mc_cond_eval gives each record's expected result.
 * Only the public API of mc_condition.h and mc_model.h. */
#include "mc_condition.h"
#include "mc_error.h"
#include "mc_model.h"
#include "mc_test.h"

#ifndef MC_VECTORS_FILE
#define MC_VECTORS_FILE "tests/vectors/conditions.json"
#endif

static const char *vectors_path = MC_VECTORS_FILE;
static json_t *vectors;
static mc_schema_t *schema;

static void load(void)
{
    json_error_t jerr;
    char err[512] = "";
    /* JSON_ALLOW_NUL: one invalid vector holds a NUL character inside a string. */
    vectors = json_load_file(vectors_path, JSON_ALLOW_NUL, &jerr);
    if (!vectors) {
        fprintf(stderr, "%s:%d: %s\n", vectors_path, jerr.line, jerr.text);
        return;
    }
    json_t *root = json_pack("{s:O}", "models", json_object_get(vectors, "models"));
    MC_CHECK_INT(mc_schema_parse(root, vectors_path, &schema, err, sizeof err), MC_OK);
    MC_CHECK_STR(err, "");
    json_decref(root);
}

static const mc_model_t *model_of(const json_t *v)
{
    const char *name = json_string_value(json_object_get(v, "model"));
    const mc_model_t *m = schema ? mc_schema_find(schema, name) : NULL;
    if (!m)
        fprintf(stderr, "vector names an unknown model '%s'\n", name ? name : "(none)");
    return m;
}

static void test_eval_vectors(void)
{
    size_t i, j, cases = 0;
    json_t *v, *c;
    MC_CHECK(vectors != NULL && schema != NULL);
    json_array_foreach(json_object_get(vectors, "eval"), i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        const mc_model_t *m = model_of(v);
        json_t *cond = json_object_get(v, "cond");
        char err[512] = "";
        MC_CHECK(m != NULL);
        if (!m)
            continue;
        if (mc_cond_check(m, cond, "cond", err, sizeof err) != MC_OK) {
            fprintf(stderr, "eval vector '%s': check failed: %s\n", name, err);
            MC_CHECK(0);
            continue;
        }
        json_array_foreach(json_object_get(v, "cases"), j, c) {
            json_t *record = json_object_get(c, "record");
            int want = json_is_true(json_object_get(c, "expect"));
            int got = mc_cond_eval(m, cond, record);
            if (got != want) {
                char *ct = json_dumps(cond, JSON_COMPACT), *rt = json_dumps(record, JSON_COMPACT);
                fprintf(stderr, "eval vector '%s': %s on %s: expected %s, got %s\n", name, ct, rt,
                        want ? "true" : "false", got ? "true" : "false");
                free(ct);
                free(rt);
            }
            MC_CHECK_INT(got, want);
            cases++;
        }
    }
    MC_CHECK(cases >= 150);
    printf("     %zu eval cases\n", cases);
}

static void test_invalid_vectors(void)
{
    size_t i, n = 0;
    json_t *v;
    MC_CHECK(vectors != NULL && schema != NULL);
    json_array_foreach(json_object_get(vectors, "invalid"), i, v) {
        const mc_model_t *m = model_of(v);
        char err[512] = "";
        MC_CHECK(m != NULL);
        if (!m)
            continue;
        MC_CHECK_INT(mc_cond_check(m, json_object_get(v, "cond"), "cond", err, sizeof err),
                     MC_ERR_CONFIG);
        MC_CHECK_STR(err, json_string_value(json_object_get(v, "error")));
        n++;
    }
    MC_CHECK(n >= 50);
    printf("     %zu invalid conditions\n", n);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        vectors_path = argv[1];
    load();
    MC_TEST_RUN(test_eval_vectors);
    MC_TEST_RUN(test_invalid_vectors);
    mc_schema_free(schema);
    json_decref(vectors);
    MC_TEST_DONE();
}
