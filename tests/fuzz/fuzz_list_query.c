/*
 * fuzz_list_query.c - the list query builder of GET /v1/{Model} and /count
 * (services/model-api/list_query.c) with the policies that narrow it. Input: the caller's
 * claims JSON (empty or not an object: anonymous), FUZZ_SEP, the query string
 * ("model=Widget&qty[gte]=2&order=-qty&cursor=..."; %XX decoded as the HTTP layer does;
 * "model" picks the model, Todo by default), FUZZ_SEP, a record JSON for the cursor.
 * Models and policies: config/ (Todo, Dictionary) and tests/system/models_rest.json with
 * tests/fuzz/data/policies_widget.json (Widget, Author, Secret), and a model whose names are
 * at their length limit (tests/fuzz/data/models_limits.json, policies_limits.json).
 * Every statement built must pass the SQL shape oracle, and the cursor of a well-typed
 * row must be accepted again under the same order.
 */
#include "fuzz_common.h"
#include "list_query.h"
#include "mc_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_LIMIT_MAX 100

/* Decodes %XX and '+' in place (as the HTTP layer hands query values over). */
static void url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2] && strchr("0123456789abcdefABCDEF", s[1]) &&
            strchr("0123456789abcdefABCDEF", s[2])) {
            char hex[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *o++ = (char)(*s == '+' ? ' ' : *s);
        }
    }
    *o = '\0';
}

/* Parses "k=v&k=v" into args. */
static void parse_query(char *qs, struct _u_map *args)
{
    char *save = NULL;
    for (char *kv = strtok_r(qs, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        url_decode(kv);
        if (eq)
            url_decode(eq);
        u_map_put(args, kv, eq ? eq : "");
    }
}

/* Whether every order key of q has a value in row that a database row could hold. */
static int row_fits_order(const list_query_t *q, const json_t *row)
{
    for (size_t i = 0; i < q->norder; i++) {
        const mc_attr_t *a = q->order[i].attr;
        json_t *v = json_object_get(row, a->name);
        mc_attr_t bare = {.name = a->name, .type = a->type};
        char buf[16];
        if (!v || json_is_null(v)) {
            if (strcmp(a->name, "id") == 0)
                return 0;
        } else if (mc_attr_check_value(&bare, v, buf, sizeof buf)) {
            return 0;
        }
    }
    return 1;
}

static int in_array(const json_t *arr, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        if (strcmp(json_string_value(e), name) == 0)
            return 1;
    }
    return 0;
}

/* No probing: a query the policy let through filters and orders only by columns the caller
 * may see. */
static void check_no_probing(const mc_model_t *m, const struct _u_map *args,
                             const list_query_t *q, const mc_policy_t *policy,
                             const json_t *claims)
{
    json_t *cols = mc_policy_visible_attributes(policy, m->name, claims);
    const char **keys = u_map_enum_keys(args);
    for (int i = 0; keys && keys[i]; i++) {
        const char *k = keys[i];
        char name[128];
        if (!strcmp(k, "model") || !strcmp(k, "order") || !strcmp(k, "scope") ||
            !strcmp(k, "cursor") || !strcmp(k, "limit"))
            continue;
        snprintf(name, sizeof name, "%.*s", (int)strcspn(k, "["), k);
        const mc_attr_t *a = mc_model_column(m, name);
        FUZZ_ASSERT(a != NULL, "a filter on no column was accepted");
        FUZZ_ASSERT(in_array(cols, a->name), "a filter on a column the caller cannot see");
    }
    for (size_t i = 0; i < q->norder; i++)
        FUZZ_ASSERT(in_array(cols, q->order[i].attr->name),
                    "an order by a column the caller cannot see");
    json_decref(cols);
}

static void build(const mc_model_t *m, struct _u_map *args, int count, const mc_policy_t *policy,
                  const json_t *claims, const json_t *row)
{
    list_query_t q;
    const char *code = NULL;
    char err[512];

    int rc = list_query_build(m, args, FUZZ_LIMIT_MAX, count, policy, claims, &q, &code, err,
                              sizeof err);
    if (rc != MC_OK) {
        FUZZ_ASSERT(rc == MC_ERR_INVAL && code &&
                        (strcmp(code, "bad_query") == 0 || strcmp(code, "bad_cursor") == 0),
                    "refused without bad_query or bad_cursor");
        list_query_cleanup(&q);
        return;
    }
    fuzz_check_sql(&q.sql, count ? "list count" : "list page");
    if (policy)
        check_no_probing(m, args, &q, policy, claims);
    FUZZ_ASSERT(q.limit >= 1 && q.limit <= FUZZ_LIMIT_MAX, "limit out of range");
    FUZZ_ASSERT(q.norder >= 1 && q.norder <= MC_ORDER_MAX + 1, "order out of range");
    if (!count && row && row_fits_order(&q, row)) {
        char *cursor = list_query_cursor(&q, row);
        FUZZ_ASSERT(cursor != NULL, "no cursor for a row");
        if (strlen(cursor) <= 2048) {
            struct _u_map next;
            list_query_t q2;
            u_map_init(&next);
            u_map_put(&next, "order", q.order_spec);
            u_map_put(&next, "cursor", cursor);
            rc = list_query_build(m, &next, FUZZ_LIMIT_MAX, 0, NULL, NULL, &q2, &code, err,
                                  sizeof err);
            FUZZ_ASSERT(rc == MC_OK, "the cursor of a row is refused under its own order");
            fuzz_check_sql(&q2.sql, "list page after a cursor");
            list_query_cleanup(&q2);
            u_map_clean(&next);
        }
        free(cursor);
    }
    list_query_cleanup(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *sets[3][2] = {{"config/models.json", "config/policies.json"},
                              {"tests/system/models_rest.json",
                               "tests/fuzz/data/policies_widget.json"},
                              {"tests/fuzz/data/models_limits.json",
                               "tests/fuzz/data/policies_limits.json"}};
    fuzz_part_t parts[3];
    struct _u_map args;

    fuzz_split(data, size, parts, 3);
    json_t *claims = json_loadb(parts[0].data, parts[0].len, 0, NULL);
    if (!json_is_object(claims)) {
        json_decref(claims);
        claims = NULL;
    }
    json_t *row = json_loadb(parts[2].data, parts[2].len, 0, NULL);
    char *qs = fuzz_cstr(parts[1]);
    u_map_init(&args);
    parse_query(qs, &args);

    const char *name = u_map_get(&args, "model");
    const mc_model_t *m = NULL;
    const mc_policy_t *policy = NULL;
    for (size_t i = 0; i < 3 && !m; i++) {
        m = mc_schema_find(fuzz_schema(sets[i][0]), name ? name : "Todo");
        policy = fuzz_policy(sets[i][1], sets[i][0]);
    }
    if (m) {
        build(m, &args, 0, policy, claims, json_is_object(row) ? row : NULL);
        build(m, &args, 1, policy, claims, NULL);
        build(m, &args, 0, NULL, NULL, NULL);
    }
    u_map_clean(&args);
    free(qs);
    json_decref(row);
    json_decref(claims);
    return 0;
}
