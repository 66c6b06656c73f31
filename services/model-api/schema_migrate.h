/*
 * schema_migrate.h - creates and additively migrates the tables of the declared models,
 * the outbox table and the capture triggers; refuses incompatible changes.
 */
#ifndef SCHEMA_MIGRATE_H
#define SCHEMA_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "mc_model.h"

/*
 * SQL creating the outbox table and the two trigger functions (idempotent).
 * Returns a static string.
 */
const char *schema_outbox_sql(void);

/*
 * SQL creating model's table if missing, plus its triggers (idempotent). Columns added
 * later are handled by schema_migrate(). Returns a heap string the caller frees, or NULL.
 */
char *schema_table_sql(const mc_model_t *model);

/*
 * Brings the database in line with schema inside one transaction, serialised against
 * other model-api instances by an advisory lock: creates what is missing, adds new
 * attributes as columns, and refuses (MC_ERR_CONFIG, err naming model and attribute) a
 * changed column type or a column that is no longer declared. Nothing is applied on refusal.
 * Sets each string attribute's bytewise (mc_attr.h): new columns are declared COLLATE "C";
 * an existing column is bytewise when its collation is "C" or "POSIX" (or the default one
 * of a C database). A unique string column that is not gets a warning: lists order it
 * COLLATE "C", which its index cannot serve.
 */
int schema_migrate(PGconn *conn, mc_schema_t *schema, char *err, size_t errlen);

#endif
