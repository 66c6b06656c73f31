/*
 * mc_model.h - the model schema declared in config/models.json: models, their attributes
 * and constraints, loaded and validated once at start (model_load.c); looking things up in
 * it and validating record input against it (model.c).
 */
#ifndef MC_MODEL_H
#define MC_MODEL_H

#include <jansson.h>
#include <stddef.h>

#include "mc_attr.h"

/* A named, declarative filter (see mc_condition.h for the condition language). */
typedef struct {
    char *name;
    json_t *condition;
} mc_scope_t;

/* One key of an ORDER BY: a column (declared attribute or system column). */
typedef struct {
    const mc_attr_t *attr;
    int desc;
} mc_order_key_t;

#define MC_ORDER_MAX 4

typedef struct {
    char *name;             /* [A-Z][A-Za-z0-9_]*, the REST path segment and event model */
    char *table;            /* SQL table, default: name lowercased */
    int server_only;        /* neither served over REST nor pushed */
    mc_attr_t *attrs;
    size_t nattrs;
    mc_scope_t *scopes;
    size_t nscopes;
    mc_order_key_t order[MC_ORDER_MAX]; /* default order (then id ascending) */
    size_t norder;
} mc_model_t;

typedef struct {
    mc_model_t *models;
    size_t nmodels;
} mc_schema_t;

/* Columns every table has besides the declared attributes, in order. */
extern const char *const mc_model_system_columns[];
#define MC_MODEL_NSYSTEM 4

/*
 * Reads and validates the models file at path. On error returns MC_ERR_CONFIG (or
 * MC_ERR_IO / MC_ERR_JSON) with err naming the file, the path inside it and the problem,
 * e.g. "config/models.json: models.Todo.attributes.title.type: unknown type 'strin'".
 * On success *out is a schema the caller frees with mc_schema_free().
 */
int mc_schema_load(const char *path, mc_schema_t **out, char *err, size_t errlen);

/* As mc_schema_load() from an already parsed document; file names the source in errors. */
int mc_schema_parse(const json_t *root, const char *file, mc_schema_t **out, char *err,
                    size_t errlen);

void mc_schema_free(mc_schema_t *schema);

/* The model called name, or NULL. */
const mc_model_t *mc_schema_find(const mc_schema_t *schema, const char *name);

/* The attribute called name, or NULL. */
const mc_attr_t *mc_model_attr(const mc_model_t *model, const char *name);

/* The attribute or system column (id, version, created_at, updated_at) called name, or NULL. */
const mc_attr_t *mc_model_column(const mc_model_t *model, const char *name);

/* Whether name is one of the system columns (id, version, created_at, updated_at). */
int mc_model_is_system(const char *name);

/* The scope called name, or NULL. */
const mc_scope_t *mc_model_scope(const mc_model_t *model, const char *name);

/*
 * Parses an order specification "word,-created_at" (at most MC_ORDER_MAX keys, columns
 * that can be ordered: not json) into keys. Returns MC_OK or MC_ERR_INVAL with err.
 */
int mc_model_parse_order(const mc_model_t *model, const char *spec, mc_order_key_t *keys,
                         size_t *nkeys, char *err, size_t errlen);

/*
 * Checks a create (partial = 0) or update (partial = 1) body against the model: unknown
 * or system attributes, missing required ones, wrong JSON types, lengths, integer ranges.
 * Returns MC_OK, or MC_ERR_INVAL with *errors set to a new object
 * {"attribute": ["message", ...]} the caller owns.
 */
int mc_model_validate(const mc_model_t *model, const json_t *body, int partial,
                      json_t **errors);

/*
 * An upper bound of the bytes of the change event of a write to a record of model (its
 * JSON value as the relay publishes it): before and after are the record before and after
 * the write as objects of column -> value (NULL for a create's before or a destroy's
 * after; a column after lacks counts as its largest value for a system column and as null
 * otherwise), with the envelope (model, id, op, version, changed, txid, committed_at).
 */
size_t mc_model_event_bytes(const mc_model_t *model, const json_t *before, const json_t *after);

/*
 * The largest event any write can produce under the declared limits: the envelope and
 * twice the largest record (an update carries before and after).
 */
size_t mc_model_event_bytes_max(const mc_model_t *model);

#endif
