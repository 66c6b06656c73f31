/*
 * mc_sql.h - builds SQL text and its bound parameters together: identifiers are quoted,
 * values never enter the text (they become $n parameters). Used for every dynamic query.
 */
#ifndef MC_SQL_H
#define MC_SQL_H

#include <stddef.h>

#include "mc_buf.h"

typedef struct {
    mc_buf_t buf;       /* the SQL text; buf.failed: an allocation failed, never run it */
    char **params;      /* parameter values as text; NULL entries are SQL NULL */
    int nparams, cap_params;
} mc_sql_t;

/* The SQL text so far ("" when empty); owned by sql. */
const char *mc_sql_text(const mc_sql_t *sql);

/* Whether building the statement failed (out of memory, a value that could not be bound):
 * such a statement must not be run. */
int mc_sql_failed(const mc_sql_t *sql);

/* Marks the statement failed. */
void mc_sql_fail(mc_sql_t *sql);

/* Initialises an empty statement the caller owns. */
void mc_sql_init(mc_sql_t *sql);

/* Frees the text and the parameters; sql can be initialised again. */
void mc_sql_cleanup(mc_sql_t *sql);

/* Appends printf-formatted text. Only for SQL keywords and numbers the code controls. */
void mc_sql_add(mc_sql_t *sql, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends an identifier, double-quoted with embedded quotes doubled. */
void mc_sql_ident(mc_sql_t *sql, const char *ident);

/*
 * Adds a parameter (value is copied; NULL binds SQL NULL) and appends its placeholder
 * "$n", followed by "::cast" when cast is not NULL. Returns n, or 0 on allocation failure.
 */
int mc_sql_param(mc_sql_t *sql, const char *value, const char *cast);

/* Adds a parameter without appending a placeholder. Returns n, or 0 on failure. */
int mc_sql_param_only(mc_sql_t *sql, const char *value);

/* The parameter array in the form PQexecParams() takes. */
const char *const *mc_sql_values(const mc_sql_t *sql);

#endif
