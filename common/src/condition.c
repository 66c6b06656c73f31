/* condition.c - check, compile to SQL and evaluate declarative conditions. */
#include "mc_condition.h"
#include "mc_attr.h"
#include "mc_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ops[] = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "null"};
static const char *const op_sql[] = {"=", "IS DISTINCT FROM", ">", ">=", "<", "<="};
enum { OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE, OP_IN, OP_NULL, OP__COUNT };

static int cond__op(const char *name)
{
    for (int i = 0; i < OP__COUNT; i++)
        if (strcmp(name, ops[i]) == 0)
            return i;
    return -1;
}

const char *mc_cond_cast(mc_attr_type_t t)
{
    /* strings compare as text whatever their length limit; the others as their column */
    mc_attr_t bare = {.type = t};
    return t == MC_ATTR_STRING ? "text" : mc_attr_sql_type(&bare, NULL, 0);
}

#define FAIL(...)                                   \
    do {                                            \
        snprintf(err, errlen, __VA_ARGS__);         \
        return MC_ERR_CONFIG;                       \
    } while (0)

/* Type check only: constraints such as enum or max_length do not apply to filter values. */
static const char *cond__type_error(const mc_attr_t *a, const json_t *v)
{
    mc_attr_t bare = {.name = a->name, .type = a->type};
    char buf[16];
    if (json_is_null(v))
        return "null is not a value here (use the null operator)";
    return mc_attr_check_value(&bare, v, buf, sizeof buf);
}

/* NOLINTNEXTLINE(misc-no-recursion): depth checked against MC_COND_MAX_DEPTH */
static int cond__check(const mc_model_t *m, const json_t *cond, const char *path, int depth,
                       char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    char sub[512];

    if (depth > MC_COND_MAX_DEPTH)
        FAIL("%s: nested deeper than %d levels", path, MC_COND_MAX_DEPTH);
    if (!json_is_object(cond) || json_object_size(cond) == 0)
        FAIL("%s: expected a non-empty object of conditions", path);
    json_object_foreach((json_t *)cond, key, v) {
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        if (strcmp(key, "and") == 0 || strcmp(key, "or") == 0) {
            size_t i;
            json_t *c;
            if (!json_is_array(v) || json_array_size(v) == 0)
                FAIL("%s: expected a non-empty array of conditions", sub);
            json_array_foreach(v, i, c) {
                char item[560];
                snprintf(item, sizeof item, "%s[%zu]", sub, i);
                int rc = cond__check(m, c, item, depth + 1, err, errlen);
                if (rc != MC_OK)
                    return rc;
            }
            continue;
        }
        if (strcmp(key, "not") == 0) {
            int rc = cond__check(m, v, sub, depth + 1, err, errlen);
            if (rc != MC_OK)
                return rc;
            continue;
        }
        const mc_attr_t *a = mc_model_column(m, key);
        if (!a)
            FAIL("%s: '%s' is not an attribute of %s", sub, key, m->name);
        if (!json_is_object(v) || json_object_size(v) == 0)
            FAIL("%s: expected an object of operators, e.g. {\"eq\": ...}", sub);
        const char *opname;
        json_t *val;
        json_object_foreach(v, opname, val) {
            int op = cond__op(opname);
            const char *why;
            if (op < 0)
                FAIL("%s.%s: unknown operator (eq, ne, gt, gte, lt, lte, in, null)", sub, opname);
            if (op == OP_NULL) {
                if (!json_is_boolean(val))
                    FAIL("%s.null: expected true or false", sub);
                continue;
            }
            if (a->type == MC_ATTR_JSON)
                FAIL("%s.%s: json attributes only take the null operator", sub, opname);
            if (a->type == MC_ATTR_BOOLEAN && op != OP_EQ && op != OP_NE && op != OP_IN)
                FAIL("%s.%s: booleans only take eq, ne, in and null", sub, opname);
            if (op == OP_IN) {
                size_t i;
                json_t *e;
                if (!json_is_array(val) || json_array_size(val) == 0 ||
                    json_array_size(val) > MC_COND_MAX_IN)
                    FAIL("%s.in: expected an array of 1 to %d values", sub, MC_COND_MAX_IN);
                json_array_foreach(val, i, e) {
                    if ((why = cond__type_error(a, e)))
                        FAIL("%s.in[%zu]: %s", sub, i, why);
                }
                continue;
            }
            if ((why = cond__type_error(a, val)))
                FAIL("%s.%s: %s", sub, opname, why);
        }
    }
    return MC_OK;
}

int mc_cond_check(const mc_model_t *m, const json_t *cond, const char *path, char *err,
                  size_t errlen)
{
    return cond__check(m, cond, path, 0, err, errlen);
}

static void cond__bind(mc_sql_t *sql, const mc_attr_t *a, const json_t *v)
{
    int failed = 0;
    char *text = mc_attr_param_text(a, v, &failed);
    if (failed)
        mc_sql_fail(sql);
    mc_sql_param(sql, text, mc_cond_cast(a->type));
    free(text);
}

/* NOLINTNEXTLINE(misc-no-recursion): a checked condition: MC_COND_MAX_DEPTH levels */
void mc_cond_sql(const mc_model_t *m, const json_t *cond, mc_sql_t *sql)
{
    const char *key;
    json_t *v;
    int first = 1;

    mc_sql_add(sql, "(");
    json_object_foreach((json_t *)cond, key, v) {
        if (!first)
            mc_sql_add(sql, " AND ");
        first = 0;
        if (strcmp(key, "and") == 0 || strcmp(key, "or") == 0) {
            size_t i;
            json_t *c;
            mc_sql_add(sql, "(");
            json_array_foreach(v, i, c) {
                if (i)
                    mc_sql_add(sql, key[0] == 'a' ? " AND " : " OR ");
                mc_cond_sql(m, c, sql);
            }
            mc_sql_add(sql, ")");
            continue;
        }
        if (strcmp(key, "not") == 0) {
            /* NOT of a comparison with NULL must be true, as in mc_cond_eval. */
            mc_sql_add(sql, "(");
            mc_cond_sql(m, v, sql);
            mc_sql_add(sql, " IS NOT TRUE)");
            continue;
        }
        const mc_attr_t *a = mc_model_column(m, key);
        const char *opname;
        json_t *val;
        int first_op = 1;
        mc_sql_add(sql, "(");
        json_object_foreach(v, opname, val) {
            int op = cond__op(opname);
            if (!first_op)
                mc_sql_add(sql, " AND ");
            first_op = 0;
            mc_sql_ident(sql, a->name);
            if (op == OP_NULL) {
                mc_sql_add(sql, json_is_true(val) ? " IS NULL" : " IS NOT NULL");
            } else if (op == OP_IN) {
                size_t i;
                json_t *e;
                mc_sql_add(sql, " IN (");
                json_array_foreach(val, i, e) {
                    if (i)
                        mc_sql_add(sql, ", ");
                    cond__bind(sql, a, e);
                }
                mc_sql_add(sql, ")");
            } else {
                int is_text = a->type == MC_ATTR_STRING || a->type == MC_ATTR_TEXT;
                /* Byte order for strings, as mc_cond_eval compares them. */
                if (is_text && op >= OP_GT)
                    mc_sql_add(sql, " COLLATE \"C\"");
                mc_sql_add(sql, " %s ", op_sql[op]);
                cond__bind(sql, a, val);
            }
        }
        mc_sql_add(sql, ")");
    }
    mc_sql_add(sql, ")");
}

/* Compares a record value with a condition value of attr's type: <0, 0, >0; 2 = unknown. */
static int cond__cmp(const mc_attr_t *a, const json_t *rv, const json_t *cv)
{
    switch (a->type) {
    case MC_ATTR_STRING:
    case MC_ATTR_TEXT: {
        if (!json_is_string(rv))
            return 2;
        int c = strcmp(json_string_value(rv), json_string_value(cv));
        return c < 0 ? -1 : c > 0;
    }
    case MC_ATTR_TIMESTAMP: {
        double x, y;
        if (!json_is_string(rv) || mc_attr_parse_time(json_string_value(rv), &x) ||
            mc_attr_parse_time(json_string_value(cv), &y))
            return 2;
        return x < y ? -1 : x > y;
    }
    case MC_ATTR_BOOLEAN:
        if (!json_is_boolean(rv))
            return 2;
        return json_is_true(rv) == json_is_true(cv) ? 0 : 1;
    case MC_ATTR_INTEGER:
    case MC_ATTR_BIGINT:
    case MC_ATTR_REFERENCE:
        if (json_is_integer(rv) && json_is_integer(cv)) {
            json_int_t x = json_integer_value(rv), y = json_integer_value(cv);
            return x < y ? -1 : x > y;
        }
        /* fall through */
    case MC_ATTR_FLOAT: {
        if (!json_is_number(rv))
            return 2;
        double x = json_number_value(rv), y = json_number_value(cv);
        return x < y ? -1 : x > y;
    }
    default:
        return json_equal((json_t *)rv, (json_t *)cv) ? 0 : 2;
    }
}

/* NOLINTNEXTLINE(misc-no-recursion): a checked condition: MC_COND_MAX_DEPTH levels */
int mc_cond_eval(const mc_model_t *m, const json_t *cond, const json_t *record)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)cond, key, v) {
        if (strcmp(key, "and") == 0 || strcmp(key, "or") == 0) {
            size_t i;
            json_t *c;
            int any = 0, all = 1;
            json_array_foreach(v, i, c) {
                int r = mc_cond_eval(m, c, record);
                any |= r;
                all &= r;
            }
            if (!(key[0] == 'a' ? all : any))
                return 0;
            continue;
        }
        if (strcmp(key, "not") == 0) {
            if (mc_cond_eval(m, v, record))
                return 0;
            continue;
        }
        const mc_attr_t *a = mc_model_column(m, key);
        json_t *rv = json_object_get(record, key);
        int is_null = !rv || json_is_null(rv);
        const char *opname;
        json_t *val;
        if (!a)
            return 0;
        json_object_foreach(v, opname, val) {
            int op = cond__op(opname), c;
            if (op == OP_NULL) {
                if (is_null != json_is_true(val))
                    return 0;
                continue;
            }
            if (op == OP_NE) {
                if (!is_null && cond__cmp(a, rv, val) == 0)
                    return 0;
                continue;
            }
            if (is_null)
                return 0; /* SQL: a comparison with NULL is not true */
            if (op == OP_IN) {
                size_t i;
                json_t *e;
                int hit = 0;
                json_array_foreach(val, i, e) hit |= cond__cmp(a, rv, e) == 0;
                if (!hit)
                    return 0;
                continue;
            }
            c = cond__cmp(a, rv, val);
            if (c == 2 || (op == OP_EQ && c != 0) || (op == OP_GT && c <= 0) ||
                (op == OP_GTE && c < 0) || (op == OP_LT && c >= 0) || (op == OP_LTE && c > 0))
                return 0;
        }
    }
    return 1;
}
