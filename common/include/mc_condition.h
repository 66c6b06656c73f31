/*
 * mc_condition.h - the declarative condition language of models.json scopes, list filters
 * and policy `when` rules: validated against a model once, then compiled to SQL with bound
 * parameters or evaluated on a record in memory, with the same meaning both ways.
 *
 *   condition := { member, ... }                (members are AND-ed)
 *   member    := "and": [condition, ...] | "or": [condition, ...] | "not": condition
 *              | "<column>": { op: value, ... } (ops on one column are AND-ed)
 *   op        := eq | ne | gt | gte | lt | lte  (value of the column's type)
 *              | in: [value, ...]  (1..100 values)  | null: true|false
 */
#ifndef MC_CONDITION_H
#define MC_CONDITION_H

#include <jansson.h>
#include <stddef.h>

#include "mc_model.h"
#include "mc_sql.h"

#define MC_COND_MAX_DEPTH 8
#define MC_COND_MAX_IN 100

/*
 * Checks cond against model m (columns exist, ops are known and fit the type, values have
 * the column's type). path prefixes error messages ("models.json: models.Todo.scopes.open").
 * Returns MC_OK or MC_ERR_CONFIG with err filled.
 */
int mc_cond_check(const mc_model_t *m, const json_t *cond, const char *path, char *err,
                  size_t errlen);

/* Appends a checked cond to sql as a parenthesised boolean expression. */
void mc_cond_sql(const mc_model_t *m, const json_t *cond, mc_sql_t *sql);

/* Evaluates a checked cond on record (column → value, as PostgreSQL's to_jsonb gives it). */
int mc_cond_eval(const mc_model_t *m, const json_t *cond, const json_t *record);

/* The cast used for a bound value compared with a column of type t ("text", "bigint"...). */
const char *mc_cond_cast(mc_attr_type_t t);

#endif
