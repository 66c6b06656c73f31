/*
 * list_query.h - turns the query string of GET /v1/{Model} and /v1/{Model}/count into SQL:
 * attribute filters (?word=x, ?created_at[gt]=..., ?id[in]=1,2, ?definition[null]=false),
 * named scopes, order and keyset cursor pagination that stays correct under inserts.
 */
#ifndef LIST_QUERY_H
#define LIST_QUERY_H

#include <jansson.h>
#include <stddef.h>
#include <ulfius.h>

#include "mc_model.h"
#include "mc_policy.h"
#include "mc_sql.h"

typedef struct {
    mc_sql_t sql;                               /* the statement and its parameters */
    long limit;
    mc_order_key_t order[MC_ORDER_MAX + 1];     /* effective order, id last */
    size_t norder;
    char order_spec[256];                       /* canonical order, bound into cursors */
} list_query_t;

/*
 * Builds the page query (count = 0; one row_to_json text per row, limit + 1 rows so the
 * caller knows whether a next page exists) or the count query (count = 1) from args,
 * narrowed to what the caller (claims, NULL = anonymous) may read under policy (NULL: no
 * narrowing). Filters and order may only name attributes the caller can see.
 * On a bad query returns MC_ERR_INVAL with *code ("bad_query" or "bad_cursor") and err.
 * The caller cleans q with list_query_cleanup() in every case.
 */
int list_query_build(const mc_model_t *m, const struct _u_map *args, long limit_max, int count,
                     const mc_policy_t *policy, const json_t *claims, list_query_t *q,
                     const char **code, char *err, size_t errlen);

void list_query_cleanup(list_query_t *q);

/*
 * Appends "SELECT row_to_json(r)::text FROM (SELECT <columns> FROM <from>": the system
 * columns, then m's attributes, of the rows of from (m's table, or a WITH name over it),
 * one JSON text per record. The caller adds WHERE ... and closes with ") r".
 */
void list_query_select(const mc_model_t *m, const char *from, mc_sql_t *sql);

/*
 * Whether the caller may use scope sc of m (?scope=name): every attribute its condition
 * reads is among visible (mc_policy_visible_attributes' array for the caller, NULL: no
 * policy, all visible). GET /v1/models lists exactly these scopes, with their conditions.
 */
int list_query_scope_usable(const mc_model_t *m, const mc_scope_t *sc, const json_t *visible);

/* The opaque cursor for the page after row (a record object). Heap string, or NULL. */
char *list_query_cursor(const list_query_t *q, const json_t *row);

#endif
