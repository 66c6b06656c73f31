/* list_query.c - filters, scopes, order and cursors → SQL with bound parameters. */
#include "list_query.h"
#include "mc_condition.h"
#include "mc_error.h"

#include <errno.h>
#include <orcania.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LQ_DEFAULT_LIMIT 50
#define LQ_CURSOR_MAX 2048
#define LQ_VALUE_MAX 1024

/* err already holds the message. */
#define KEEP(c)                                 \
    do {                                        \
        *code = (c);                            \
        rc = MC_ERR_INVAL;                      \
        goto out;                               \
    } while (0)

#define BAD(c, ...)                             \
    do {                                        \
        *code = (c);                            \
        snprintf(err, errlen, __VA_ARGS__);     \
        rc = MC_ERR_INVAL;                      \
        goto out;                               \
    } while (0)

/* Converts one query-string value to the JSON type of attr; NULL if it does not parse. */
static json_t *lq__value(const mc_attr_t *a, const char *text)
{
    char *end;
    switch (a->type) {
    case MC_ATTR_INTEGER:
    case MC_ATTR_BIGINT:
    case MC_ATTR_REFERENCE: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno || end == text || *end)
            return NULL;
        return json_integer(v);
    }
    case MC_ATTR_FLOAT: {
        errno = 0;
        double v = strtod(text, &end);
        if (errno || end == text || *end)
            return NULL;
        return json_real(v);
    }
    case MC_ATTR_BOOLEAN:
        if (strcmp(text, "true") == 0)
            return json_true();
        if (strcmp(text, "false") == 0)
            return json_false();
        return NULL;
    default:
        return json_string(text);
    }
}

/* Adds the filter key=value (key is "name" or "name[op]") to cond. */
static int lq__filter(const mc_model_t *m, const char *key, const char *value, json_t *cond,
                      char *err, size_t errlen)
{
    char name[80], op[16] = "eq";
    const char *br = strchr(key, '[');
    size_t nlen = br ? (size_t)(br - key) : strlen(key);

    if (nlen == 0 || nlen >= sizeof name) {
        snprintf(err, errlen, "unknown query parameter '%.64s'", key);
        return MC_ERR_INVAL;
    }
    memcpy(name, key, nlen);
    name[nlen] = '\0';
    if (br) {
        size_t olen = strlen(br + 1);
        if (olen < 2 || olen > sizeof op || br[olen] != ']') {
            snprintf(err, errlen, "malformed filter '%.64s' (expected name[op])", key);
            return MC_ERR_INVAL;
        }
        memcpy(op, br + 1, olen - 1);
        op[olen - 1] = '\0';
    }
    const mc_attr_t *a = mc_model_column(m, name);
    if (!a) {
        snprintf(err, errlen, "unknown query parameter '%.64s' (not an attribute of %s)", name,
                 m->name);
        return MC_ERR_INVAL;
    }
    if (strlen(value) > LQ_VALUE_MAX) {
        snprintf(err, errlen, "filter value for '%s' is too long", name);
        return MC_ERR_INVAL;
    }
    json_t *v = NULL;
    if (strcmp(op, "null") == 0) {
        v = strcmp(value, "true") == 0 ? json_true() : strcmp(value, "false") == 0 ? json_false()
                                                                                  : NULL;
    } else if (strcmp(op, "in") == 0) {
        char *copy = strdup(value), *save = NULL;
        v = json_array();
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && v;
             tok = strtok_r(NULL, ",", &save)) {
            json_t *e = lq__value(a, tok);
            if (!e) {
                json_decref(v);
                v = NULL;
            } else {
                json_array_append_new(v, e);
            }
        }
        free(copy);
    } else {
        v = lq__value(a, value);
    }
    if (!v) {
        snprintf(err, errlen, "filter %s[%s]: '%.64s' is not a valid %s value", name, op, value,
                 strcmp(op, "null") == 0 ? "boolean" : mc_attr_type_name(a->type));
        return MC_ERR_INVAL;
    }
    json_t *ops = json_object_get(cond, name);
    if (!ops) {
        ops = json_object();
        json_object_set_new(cond, name, ops);
    }
    if (json_object_get(ops, op)) {
        json_decref(v);
        snprintf(err, errlen, "filter %s[%s] given twice", name, op);
        return MC_ERR_INVAL;
    }
    json_object_set_new(ops, op, v);
    return MC_OK;
}

static void lq__keyset_eq(mc_sql_t *sql, const mc_order_key_t *k, const json_t *v)
{
    int failed = 0;
    mc_sql_ident(sql, k->attr->name);
    if (json_is_null(v)) {
        mc_sql_add(sql, " IS NULL");
        return;
    }
    char *text = mc_attr_param_text(k->attr, v, &failed);
    sql->failed |= failed;
    mc_sql_add(sql, " = ");
    mc_sql_param(sql, text, mc_cond_cast(k->attr->type));
    free(text);
}

/* "after" for one key under ASC NULLS LAST / DESC NULLS FIRST. */
static void lq__keyset_after(mc_sql_t *sql, const mc_order_key_t *k, const json_t *v)
{
    int failed = 0;
    if (json_is_null(v)) {
        if (k->desc) {
            mc_sql_ident(sql, k->attr->name);
            mc_sql_add(sql, " IS NOT NULL");
        } else {
            mc_sql_add(sql, "FALSE");
        }
        return;
    }
    char *text = mc_attr_param_text(k->attr, v, &failed);
    sql->failed |= failed;
    mc_sql_add(sql, "(");
    mc_sql_ident(sql, k->attr->name);
    mc_sql_add(sql, k->desc ? " < " : " > ");
    mc_sql_param(sql, text, mc_cond_cast(k->attr->type));
    if (!k->desc) {
        mc_sql_add(sql, " OR ");
        mc_sql_ident(sql, k->attr->name);
        mc_sql_add(sql, " IS NULL");
    }
    mc_sql_add(sql, ")");
    free(text);
}

/* Decodes a cursor into its key values; NULL when it is not one of ours for this order. */
static json_t *lq__decode_cursor(const list_query_t *q, const char *cursor)
{
    unsigned char buf[LQ_CURSOR_MAX];
    size_t len = 0;
    size_t clen = strlen(cursor);
    if (clen == 0 || clen > LQ_CURSOR_MAX ||
        !o_base64url_decode((const unsigned char *)cursor, clen, NULL, &len) ||
        len >= sizeof buf ||
        !o_base64url_decode((const unsigned char *)cursor, clen, buf, &len))
        return NULL;
    json_t *c = json_loadb((const char *)buf, len, 0, NULL);
    json_t *vals = json_object_get(c, "v");
    const char *o = json_string_value(json_object_get(c, "o"));
    if (!o || strcmp(o, q->order_spec) != 0 || !json_is_array(vals) ||
        json_array_size(vals) != q->norder) {
        json_decref(c);
        return NULL;
    }
    for (size_t i = 0; i < q->norder; i++) {
        json_t *v = json_array_get(vals, i);
        char tmp[16];
        mc_attr_t bare = {.name = q->order[i].attr->name, .type = q->order[i].attr->type};
        if (!json_is_null(v) && mc_attr_check_value(&bare, v, tmp, sizeof tmp)) {
            json_decref(c);
            return NULL;
        }
        if (json_is_null(v) && strcmp(q->order[i].attr->name, "id") == 0) {
            json_decref(c);
            return NULL;
        }
    }
    json_incref(vals);
    json_decref(c);
    return vals;
}

#define LQ_MAX_NEEDED 64
#define LQ_MAX_SCOPES 16

/* Adds name to the columns a query needs (once). -1 when there are too many. */
static int lq__need(const char **needed, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(needed[i], name) == 0)
            return 0;
    if (*n == LQ_MAX_NEEDED)
        return -1;
    needed[(*n)++] = name;
    return 0;
}

static int lq__visible(const json_t *cols, const char *name);

/*
 * Adds the columns a (checked) condition reads to needed; -1 when one is not visible to the
 * caller (the scope is then as unknown to it as a missing one) or there are too many.
 */
static int lq__cond_columns(const mc_model_t *m, const json_t *cond, const json_t *visible,
                            const char **needed, size_t *n)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cond, k, v) {
        if (strcmp(k, "and") == 0 || strcmp(k, "or") == 0) {
            size_t i;
            json_t *c;
            json_array_foreach(v, i, c) {
                if (lq__cond_columns(m, c, visible, needed, n) != 0)
                    return -1;
            }
        } else if (strcmp(k, "not") == 0) {
            if (lq__cond_columns(m, v, visible, needed, n) != 0)
                return -1;
        } else {
            const mc_attr_t *a = mc_model_column(m, k);
            if (!a || !lq__visible(visible, a->name) || lq__need(needed, n, a->name) != 0)
                return -1;
        }
    }
    return 0;
}

/* Whether name is in the caller's visible columns (an array of strings). */
static int lq__visible(const json_t *cols, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c) {
        if (strcmp(json_string_value(c), name) == 0)
            return 1;
    }
    return 0;
}

int list_query_build(const mc_model_t *m, const struct _u_map *args, long limit_max, int count,
                     const mc_policy_t *policy, const json_t *claims, list_query_t *q,
                     const char **code, char *err, size_t errlen)
{
    json_t *visible = NULL;
    const char *needed[LQ_MAX_NEEDED];
    size_t nneeded = 0;
    const mc_scope_t *scopes[LQ_MAX_SCOPES];
    size_t nscopes = 0;
    json_t *cond = json_object(), *cursor_vals = NULL;
    const char **keys = u_map_enum_keys(args);
    const char *order_arg = NULL, *scope_arg = NULL, *cursor_arg = NULL, *limit_arg = NULL;
    int rc = MC_OK;
    char path[128];

    memset(q, 0, sizeof *q);
    mc_sql_init(&q->sql);
    q->limit = LQ_DEFAULT_LIMIT;
    *code = "bad_query";
    for (int i = 0; keys && keys[i]; i++) {
        const char *k = keys[i], *v = u_map_get(args, k);
        if (!v)
            v = "";
        if (strcmp(k, "model") == 0)
            continue; /* the path segment, also in this map */
        if (strcmp(k, "order") == 0)
            order_arg = v;
        else if (strcmp(k, "scope") == 0)
            scope_arg = v;
        else if (strcmp(k, "cursor") == 0)
            cursor_arg = v;
        else if (strcmp(k, "limit") == 0)
            limit_arg = v;
        else if (lq__filter(m, k, v, cond, err, errlen) != MC_OK)
            KEEP("bad_query");
    }
    if (json_object_size(cond) > 0) {
        snprintf(path, sizeof path, "filter");
        if (mc_cond_check(m, cond, path, err, errlen) != MC_OK)
            KEEP("bad_query");
    }
    if (limit_arg) {
        char *end;
        errno = 0;
        long l = strtol(limit_arg, &end, 10);
        if (errno || end == limit_arg || *end || l < 1)
            BAD("bad_query", "limit must be a positive integer");
        q->limit = l > limit_max ? limit_max : l;
    }

    /* Effective order: requested (or the model's default), then id as the tie-breaker. */
    if (order_arg) {
        char why[256];
        if (mc_model_parse_order(m, order_arg, q->order, &q->norder, why, sizeof why) != MC_OK)
            BAD("bad_query", "order: %s", why);
    } else {
        memcpy(q->order, m->order, m->norder * sizeof *m->order);
        q->norder = m->norder;
    }
    int has_id = 0;
    for (size_t i = 0; i < q->norder; i++)
        has_id |= strcmp(q->order[i].attr->name, "id") == 0;
    if (!has_id) {
        q->order[q->norder].attr = mc_model_column(m, "id");
        q->order[q->norder++].desc = 0;
    }
    size_t olen = 0;
    for (size_t i = 0; i < q->norder; i++)
        olen += (size_t)snprintf(q->order_spec + olen, sizeof q->order_spec - olen, "%s%s%s",
                                 i ? "," : "", q->order[i].desc ? "-" : "",
                                 q->order[i].attr->name);
    if (scope_arg) {
        char copy[512], *save = NULL;
        if (strlen(scope_arg) >= sizeof copy || !*scope_arg)
            BAD("bad_query", "scope: expected a comma-separated list of scope names");
        memcpy(copy, scope_arg, strlen(scope_arg) + 1);
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            const mc_scope_t *sc = mc_model_scope(m, tok);
            if (!sc)
                BAD("bad_query", "scope: %s has no scope '%.64s'", m->name, tok);
            if (nscopes == LQ_MAX_SCOPES)
                BAD("bad_query", "scope: at most %d scopes", LQ_MAX_SCOPES);
            scopes[nscopes++] = sc;
        }
    }
    /* The caller filters, orders and scopes only by what it can see (else it could probe
     * a withheld attribute), and the read predicate only counts rules sure to show it. */
    if (policy) {
        const char *k;
        json_t *v;
        visible = mc_policy_visible_attributes(policy, m->name, claims);
        json_object_foreach(cond, k, v) {
            if (!lq__visible(visible, k))
                BAD("bad_query", "unknown query parameter '%.64s' (not an attribute of %s)", k,
                    m->name);
            if (lq__need(needed, &nneeded, mc_model_column(m, k)->name) != 0)
                BAD("bad_query", "too many filters");
        }
        for (size_t i = 0; i < q->norder; i++) {
            if (!lq__visible(visible, q->order[i].attr->name))
                BAD("bad_query", "order: cannot order by '%s': not an attribute",
                    q->order[i].attr->name);
            if (lq__need(needed, &nneeded, q->order[i].attr->name) != 0)
                BAD("bad_query", "too many filters");
        }
        for (size_t i = 0; i < nscopes; i++) {
            if (lq__cond_columns(m, scopes[i]->condition, visible, needed, &nneeded) != 0)
                BAD("bad_query", "scope: %s has no scope '%.64s'", m->name, scopes[i]->name);
        }
    }
    if (cursor_arg && !count) {
        if (!(cursor_vals = lq__decode_cursor(q, cursor_arg)))
            BAD("bad_cursor", "cursor is not one this API returned for this order");
    }

    /* SELECT ... FROM "table" WHERE filters AND scopes AND keyset ORDER BY ... LIMIT n+1 */
    mc_sql_t *sql = &q->sql;
    if (count) {
        mc_sql_add(sql, "SELECT count(*) FROM ");
    } else {
        mc_sql_add(sql, "SELECT row_to_json(r)::text FROM (SELECT ");
        for (size_t i = 0; i < MC_MODEL_NSYSTEM; i++) {
            mc_sql_add(sql, i ? ", " : "");
            mc_sql_ident(sql, mc_model_system_columns[i]);
        }
        for (size_t i = 0; i < m->nattrs; i++) {
            mc_sql_add(sql, ", ");
            mc_sql_ident(sql, m->attrs[i].name);
        }
        mc_sql_add(sql, " FROM ");
    }
    mc_sql_ident(sql, m->table);
    mc_sql_add(sql, " WHERE TRUE");
    if (json_object_size(cond) > 0) {
        mc_sql_add(sql, " AND ");
        mc_cond_sql(m, cond, sql);
    }
    for (size_t i = 0; i < nscopes; i++) {
        mc_sql_add(sql, " AND ");
        mc_cond_sql(m, scopes[i]->condition, sql);
    }
    if (policy) {
        mc_sql_add(sql, " AND ");
        if (mc_policy_read_filter(policy, m->name, claims, needed, nneeded, sql) != MC_OK)
            mc_sql_add(sql, "FALSE");
    }
    if (cursor_vals) {
        mc_sql_add(sql, " AND (");
        for (size_t i = 0; i < q->norder; i++) {
            mc_sql_add(sql, i ? " OR (" : "(");
            for (size_t j = 0; j < i; j++) {
                lq__keyset_eq(sql, &q->order[j], json_array_get(cursor_vals, j));
                mc_sql_add(sql, " AND ");
            }
            lq__keyset_after(sql, &q->order[i], json_array_get(cursor_vals, i));
            mc_sql_add(sql, ")");
        }
        mc_sql_add(sql, ")");
    }
    if (!count) {
        mc_sql_add(sql, " ORDER BY ");
        for (size_t i = 0; i < q->norder; i++) {
            mc_sql_add(sql, i ? ", " : "");
            mc_sql_ident(sql, q->order[i].attr->name);
            mc_sql_add(sql, q->order[i].desc ? " DESC NULLS FIRST" : " ASC NULLS LAST");
        }
        mc_sql_add(sql, " LIMIT %ld) r", q->limit + 1);
    }
    if (sql->failed)
        BAD("bad_query", "out of memory");
out:
    json_decref(cond);
    json_decref(cursor_vals);
    json_decref(visible);
    return rc;
}

void list_query_cleanup(list_query_t *q)
{
    mc_sql_cleanup(&q->sql);
}

char *list_query_cursor(const list_query_t *q, const json_t *row)
{
    json_t *vals = json_array();
    for (size_t i = 0; i < q->norder; i++) {
        json_t *v = json_object_get(row, q->order[i].attr->name);
        json_array_append(vals, v ? v : json_null());
    }
    json_t *c = json_pack("{s:s, s:o}", "o", q->order_spec, "v", vals);
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    if (!text)
        return NULL;
    size_t len = 0;
    unsigned char *out = NULL;
    if (o_base64url_encode((unsigned char *)text, strlen(text), NULL, &len) &&
        (out = malloc(len + 1)) &&
        o_base64url_encode((unsigned char *)text, strlen(text), out, &len))
        out[len] = '\0';
    else {
        free(out);
        out = NULL;
    }
    free(text);
    return (char *)out;
}
