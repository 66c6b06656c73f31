/* sql.c - a growable SQL statement with its bound parameters. */
#include "mc_sql.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mc_sql_text(const mc_sql_t *sql)
{
    return sql->buf.data ? sql->buf.data : "";
}

int mc_sql_failed(const mc_sql_t *sql)
{
    return sql->buf.failed;
}

void mc_sql_fail(mc_sql_t *sql)
{
    sql->buf.failed = 1;
}

void mc_sql_init(mc_sql_t *sql)
{
    memset(sql, 0, sizeof *sql);
}

void mc_sql_cleanup(mc_sql_t *sql)
{
    for (int i = 0; i < sql->nparams; i++)
        free(sql->params[i]);
    free(sql->params);
    mc_buf_cleanup(&sql->buf);
    memset(sql, 0, sizeof *sql);
}

void mc_sql_add(mc_sql_t *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mc_buf_vappendf(&sql->buf, fmt, ap);
    va_end(ap);
}

void mc_sql_ident(mc_sql_t *sql, const char *ident)
{
    mc_buf_t *b = &sql->buf;
    size_t n = strlen(ident);
    if (mc_buf_reserve(b, n * 2 + 2) != 0)
        return;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (ident[i] == '"')
            b->data[b->len++] = '"';
        b->data[b->len++] = ident[i];
    }
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
}

int mc_sql_param_only(mc_sql_t *sql, const char *value)
{
    char *copy = NULL;
    if (sql->buf.failed)
        return 0;
    if (sql->nparams == sql->cap_params) {
        int ncap = sql->cap_params ? sql->cap_params * 2 : 8;
        char **n = realloc(sql->params, (size_t)ncap * sizeof *n);
        if (!n) {
            sql->buf.failed = 1;
            return 0;
        }
        sql->params = n;
        sql->cap_params = ncap;
    }
    if (value && !(copy = strdup(value))) {
        sql->buf.failed = 1;
        return 0;
    }
    sql->params[sql->nparams++] = copy;
    return sql->nparams;
}

int mc_sql_param(mc_sql_t *sql, const char *value, const char *cast)
{
    int n = mc_sql_param_only(sql, value);
    if (n == 0)
        return 0;
    if (cast)
        mc_sql_add(sql, "$%d::%s", n, cast);
    else
        mc_sql_add(sql, "$%d", n);
    return sql->buf.failed ? 0 : n;
}

const char *const *mc_sql_values(const mc_sql_t *sql)
{
    return (const char *const *)sql->params;
}
