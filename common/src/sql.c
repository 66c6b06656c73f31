/* sql.c - a growable SQL statement with its bound parameters. */
#include "mc_sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mc_sql_init(mc_sql_t *sql)
{
    memset(sql, 0, sizeof *sql);
}

void mc_sql_cleanup(mc_sql_t *sql)
{
    for (int i = 0; i < sql->nparams; i++)
        free(sql->params[i]);
    free(sql->params);
    free(sql->text);
    memset(sql, 0, sizeof *sql);
}

static int sql__reserve(mc_sql_t *sql, size_t more)
{
    if (sql->failed)
        return -1;
    if (sql->len + more + 1 <= sql->cap)
        return 0;
    size_t ncap = (sql->cap ? sql->cap : 256);
    while (ncap < sql->len + more + 1)
        ncap *= 2;
    char *n = realloc(sql->text, ncap);
    if (!n) {
        sql->failed = 1;
        return -1;
    }
    sql->text = n;
    sql->cap = ncap;
    return 0;
}

void mc_sql_add(mc_sql_t *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sql__reserve(sql, (size_t)n) != 0) {
        sql->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(sql->text + sql->len, sql->cap - sql->len, fmt, ap);
    va_end(ap);
    sql->len += (size_t)n;
}

void mc_sql_ident(mc_sql_t *sql, const char *ident)
{
    size_t n = strlen(ident);
    if (sql__reserve(sql, n * 2 + 2) != 0)
        return;
    sql->text[sql->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (ident[i] == '"')
            sql->text[sql->len++] = '"';
        sql->text[sql->len++] = ident[i];
    }
    sql->text[sql->len++] = '"';
    sql->text[sql->len] = '\0';
}

int mc_sql_param_only(mc_sql_t *sql, const char *value)
{
    char *copy = NULL;
    if (sql->failed)
        return 0;
    if (sql->nparams == sql->cap_params) {
        int ncap = sql->cap_params ? sql->cap_params * 2 : 8;
        char **n = realloc(sql->params, (size_t)ncap * sizeof *n);
        if (!n) {
            sql->failed = 1;
            return 0;
        }
        sql->params = n;
        sql->cap_params = ncap;
    }
    if (value && !(copy = strdup(value))) {
        sql->failed = 1;
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
    return sql->failed ? 0 : n;
}

const char *const *mc_sql_values(const mc_sql_t *sql)
{
    return (const char *const *)sql->params;
}
