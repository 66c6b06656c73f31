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

/* Fills err and answers MC_ERR_INVAL. */
#define LQ_BAD(...) (snprintf(err, errlen, __VA_ARGS__), MC_ERR_INVAL)

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

/*
 * An order key as ORDER BY and the cursor compare it: strings in byte (code point) order,
 * whatever the column's or the database's collation - the order mc_cond_eval, the scopes'
 * SQL and the JavaScript client use. A column whose own collation is byte order (bytewise:
 * every column model-api created, declared COLLATE "C") is left bare so that its index
 * serves the order; any other string column is ordered COLLATE "C" (right, but its index
 * cannot serve that: schema_migrate warns).
 */
static void lq__key(mc_sql_t *sql, const mc_attr_t *a)
{
    mc_sql_ident(sql, a->name);
    if ((a->type == MC_ATTR_STRING || a->type == MC_ATTR_TEXT) && !a->bytewise)
        mc_sql_add(sql, " COLLATE \"C\"");
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
    if (failed)
        mc_sql_fail(sql);
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
    if (failed)
        mc_sql_fail(sql);
    mc_sql_add(sql, "(");
    lq__key(sql, k->attr);
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

/* What list_query_build() gathers from the query string before it writes the SQL. */
typedef struct {
    const mc_model_t *m;
    json_t *cond;                               /* the filters as one condition */
    const mc_scope_t *scopes[LQ_MAX_SCOPES];
    size_t nscopes;
    const char *needed[LQ_MAX_NEEDED];          /* the columns filtered, ordered or scoped by */
    size_t nneeded;
    json_t *cursor_vals;                        /* order keys to continue after, or NULL */
} lq_parts_t;

/* The query parameters that are not filters. */
enum { A_ORDER, A_SCOPE, A_CURSOR, A_LIMIT, A__COUNT };
static const char *const lq_named[A__COUNT] = {"order", "scope", "cursor", "limit"};

/* Adds name to the columns a query needs (once). -1 when there are too many. */
static int lq__need(lq_parts_t *p, const char *name)
{
    for (size_t i = 0; i < p->nneeded; i++)
        if (strcmp(p->needed[i], name) == 0)
            return 0;
    if (p->nneeded == LQ_MAX_NEEDED)
        return -1;
    p->needed[p->nneeded++] = name;
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

/*
 * Adds the columns a (checked) condition reads to the needed ones; -1 when one is not
 * visible to the caller (the scope is then as unknown to it as a missing one) or there are
 * too many.
 */
static int lq__cond_columns(lq_parts_t *p, const json_t *cond, const json_t *visible)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cond, k, v) {
        if (strcmp(k, "and") == 0 || strcmp(k, "or") == 0) {
            size_t i;
            json_t *c;
            json_array_foreach(v, i, c) {
                if (lq__cond_columns(p, c, visible) != 0)
                    return -1;
            }
        } else if (strcmp(k, "not") == 0) {
            if (lq__cond_columns(p, v, visible) != 0)
                return -1;
        } else {
            const mc_attr_t *a = mc_model_column(p->m, k);
            if (!a || !lq__visible(visible, a->name) || lq__need(p, a->name) != 0)
                return -1;
        }
    }
    return 0;
}

/* Sorts args into the filters (p->cond, checked) and the named parameters. */
static int lq__args(lq_parts_t *p, const struct _u_map *args, const char *named[A__COUNT],
                    char *err, size_t errlen)
{
    const char **keys = u_map_enum_keys(args);
    for (int i = 0; keys && keys[i]; i++) {
        const char *k = keys[i], *v = u_map_get(args, k);
        int a = 0;
        if (strcmp(k, "model") == 0)
            continue; /* the path segment, also in this map */
        while (a < A__COUNT && strcmp(k, lq_named[a]) != 0)
            a++;
        if (a < A__COUNT)
            named[a] = v ? v : "";
        else if (lq__filter(p->m, k, v ? v : "", p->cond, err, errlen) != MC_OK)
            return MC_ERR_INVAL;
    }
    if (json_object_size(p->cond) > 0 &&
        mc_cond_check(p->m, p->cond, "filter", err, errlen) != MC_OK)
        return MC_ERR_INVAL;
    return MC_OK;
}

/* The effective order: requested (or the model's default), then id as the tie-breaker. */
static int lq__order(const mc_model_t *m, const char *order_arg, list_query_t *q, char *err,
                     size_t errlen)
{
    if (order_arg) {
        char why[256];
        if (mc_model_parse_order(m, order_arg, q->order, &q->norder, why, sizeof why) != MC_OK)
            return LQ_BAD("order: %s", why);
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
    return MC_OK;
}

/* Resolves the comma-separated scope names of scope_arg into p->scopes. */
static int lq__scopes(lq_parts_t *p, const char *scope_arg, char *err, size_t errlen)
{
    char copy[512], *save = NULL;
    if (strlen(scope_arg) >= sizeof copy || !*scope_arg)
        return LQ_BAD("scope: expected a comma-separated list of scope names");
    memcpy(copy, scope_arg, strlen(scope_arg) + 1);
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const mc_scope_t *sc = mc_model_scope(p->m, tok);
        if (!sc)
            return LQ_BAD("scope: %s has no scope '%.64s'", p->m->name, tok);
        if (p->nscopes == LQ_MAX_SCOPES)
            return LQ_BAD("scope: at most %d scopes", LQ_MAX_SCOPES);
        p->scopes[p->nscopes++] = sc;
    }
    return MC_OK;
}

/*
 * The caller filters, orders and scopes only by what it can see (else it could probe a
 * withheld attribute); collects those columns into p->needed for the read predicate, which
 * then only counts rules sure to show them.
 */
static int lq__check_visible(lq_parts_t *p, const list_query_t *q, const json_t *visible,
                             char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach(p->cond, k, v) {
        if (!lq__visible(visible, k))
            return LQ_BAD("unknown query parameter '%.64s' (not an attribute of %s)", k,
                          p->m->name);
        if (lq__need(p, mc_model_column(p->m, k)->name) != 0)
            return LQ_BAD("too many filters");
    }
    for (size_t i = 0; i < q->norder; i++) {
        if (!lq__visible(visible, q->order[i].attr->name))
            return LQ_BAD("order: cannot order by '%s': not an attribute",
                          q->order[i].attr->name);
        if (lq__need(p, q->order[i].attr->name) != 0)
            return LQ_BAD("too many filters");
    }
    for (size_t i = 0; i < p->nscopes; i++) {
        if (lq__cond_columns(p, p->scopes[i]->condition, visible) != 0)
            return LQ_BAD("scope: %s has no scope '%.64s'", p->m->name, p->scopes[i]->name);
    }
    return MC_OK;
}

/* Appends " AND (keys after the cursor's)" in the order of q. */
static void lq__keyset(mc_sql_t *sql, const list_query_t *q, const json_t *vals)
{
    mc_sql_add(sql, " AND (");
    for (size_t i = 0; i < q->norder; i++) {
        mc_sql_add(sql, i ? " OR (" : "(");
        for (size_t j = 0; j < i; j++) {
            lq__keyset_eq(sql, &q->order[j], json_array_get(vals, j));
            mc_sql_add(sql, " AND ");
        }
        lq__keyset_after(sql, &q->order[i], json_array_get(vals, i));
        mc_sql_add(sql, ")");
    }
    mc_sql_add(sql, ")");
}

/* SELECT ... FROM "table" WHERE filters AND scopes AND read AND keyset ORDER BY ... LIMIT n+1 */
static void lq__sql(const lq_parts_t *p, int count, const mc_policy_t *policy,
                    const json_t *claims, list_query_t *q)
{
    mc_sql_t *sql = &q->sql;
    if (count) {
        mc_sql_add(sql, "SELECT count(*) FROM ");
        mc_sql_ident(sql, p->m->table);
    } else {
        list_query_select(p->m, p->m->table, sql);
    }
    mc_sql_add(sql, " WHERE TRUE");
    if (json_object_size(p->cond) > 0) {
        mc_sql_add(sql, " AND ");
        mc_cond_sql(p->m, p->cond, sql);
    }
    for (size_t i = 0; i < p->nscopes; i++) {
        mc_sql_add(sql, " AND ");
        mc_cond_sql(p->m, p->scopes[i]->condition, sql);
    }
    if (policy) {
        mc_sql_add(sql, " AND ");
        if (mc_policy_read_filter(policy, p->m->name, claims, p->needed, p->nneeded, sql) !=
            MC_OK)
            mc_sql_add(sql, "FALSE");
    }
    if (p->cursor_vals)
        lq__keyset(sql, q, p->cursor_vals);
    if (!count) {
        mc_sql_add(sql, " ORDER BY ");
        for (size_t i = 0; i < q->norder; i++) {
            mc_sql_add(sql, i ? ", " : "");
            lq__key(sql, q->order[i].attr);
            mc_sql_add(sql, q->order[i].desc ? " DESC NULLS FIRST" : " ASC NULLS LAST");
        }
        mc_sql_add(sql, " LIMIT %ld) r", q->limit + 1);
    }
}

int list_query_build(const mc_model_t *m, const struct _u_map *args, long limit_max, int count,
                     const mc_policy_t *policy, const json_t *claims, list_query_t *q,
                     const char **code, char *err, size_t errlen)
{
    lq_parts_t p = {.m = m, .cond = json_object()};
    const char *named[A__COUNT] = {NULL};
    json_t *visible = NULL;
    int rc;

    memset(q, 0, sizeof *q);
    mc_sql_init(&q->sql);
    q->limit = LQ_DEFAULT_LIMIT;
    *code = "bad_query";
    if ((rc = lq__args(&p, args, named, err, errlen)) != MC_OK)
        goto out;
    if (named[A_LIMIT]) {
        char *end;
        errno = 0;
        long l = strtol(named[A_LIMIT], &end, 10);
        if (errno || end == named[A_LIMIT] || *end || l < 1) {
            rc = LQ_BAD("limit must be a positive integer");
            goto out;
        }
        q->limit = l > limit_max ? limit_max : l;
    }
    if ((rc = lq__order(m, named[A_ORDER], q, err, errlen)) != MC_OK ||
        (named[A_SCOPE] && (rc = lq__scopes(&p, named[A_SCOPE], err, errlen)) != MC_OK))
        goto out;
    if (policy) {
        visible = mc_policy_visible_attributes(policy, m->name, claims);
        if ((rc = lq__check_visible(&p, q, visible, err, errlen)) != MC_OK)
            goto out;
    }
    if (named[A_CURSOR] && !count && !(p.cursor_vals = lq__decode_cursor(q, named[A_CURSOR]))) {
        *code = "bad_cursor";
        rc = LQ_BAD("cursor is not one this API returned for this order");
        goto out;
    }
    lq__sql(&p, count, policy, claims, q);
    if (mc_sql_failed(&q->sql))
        rc = LQ_BAD("out of memory");
out:
    json_decref(p.cond);
    json_decref(p.cursor_vals);
    json_decref(visible);
    return rc;
}

void list_query_select(const mc_model_t *m, const char *from, mc_sql_t *sql)
{
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
    mc_sql_ident(sql, from);
}

int list_query_scope_usable(const mc_model_t *m, const mc_scope_t *sc, const json_t *visible)
{
    lq_parts_t p = {.m = m};
    if (!visible)
        return 1;
    return lq__cond_columns(&p, sc->condition, visible) == 0;
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
