/* schema_migrate.c - DDL for models, the outbox and its triggers; additive migration. */
#include "schema_migrate.h"
#include "mc_buf.h"
#include "mc_contract.h"
#include "mc_error.h"
#include "mc_log.h"
#include "mc_pg.h"
#include "outbox_relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Key of the advisory lock held while migrating ("mcmigrat"). */
#define MIGRATE_LOCK_KEY "7837283417394668916"

/*
 * The outbox: one row per committed change, written by the AFTER trigger in the same
 * transaction as the change. The relay publishes rows in id order and deletes them once
 * Kafka acknowledged them; a row Kafka refuses for good (too large...) moves to
 * modelcast_outbox_dead with the reason. The BEFORE trigger owns version and the
 * timestamps, so every writer (this API or any SQL session) bumps the version the same
 * way. The AFTER trigger also wakes the relay with a NOTIFY, except in sessions that set
 * modelcast.notify to 'off': model-api's own, which wake the relay in-process and so do
 * not take the NOTIFY queue's lock at commit. The op values are those of mc_contract.h.
 * The trace context of a change (traceparent, tracestate: docs/events.md) comes from the
 * writing transaction's settings modelcast.traceparent and modelcast.tracestate, which this
 * API sets in the statement of each write (rest.c) and any SQL session may set (SET LOCAL);
 * without them both columns are NULL and the relay starts a trace. The two columns came
 * after the tables: an outbox made before gets them (once, checked first, so a restart takes
 * no lock on it).
 */
static const char outbox_sql[] =
    "CREATE TABLE IF NOT EXISTS modelcast_outbox (\n"
    "  id bigserial PRIMARY KEY,\n"
    "  event_id uuid NOT NULL DEFAULT gen_random_uuid(),\n"
    "  model text NOT NULL,\n"
    "  record_id bigint NOT NULL,\n"
    "  op text NOT NULL,\n"
    "  version bigint NOT NULL,\n"
    "  before jsonb,\n"
    "  after jsonb,\n"
    "  changed jsonb NOT NULL DEFAULT '[]',\n"
    "  txid bigint NOT NULL DEFAULT txid_current(),\n"
    "  committed_at timestamptz NOT NULL DEFAULT now(),\n"
    "  traceparent text,\n"
    "  tracestate text\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS modelcast_outbox_dead (\n"
    "  id bigint PRIMARY KEY,\n"
    "  event_id uuid NOT NULL,\n"
    "  model text NOT NULL,\n"
    "  record_id bigint NOT NULL,\n"
    "  op text NOT NULL,\n"
    "  version bigint NOT NULL,\n"
    "  before jsonb,\n"
    "  after jsonb,\n"
    "  changed jsonb NOT NULL,\n"
    "  txid bigint NOT NULL,\n"
    "  committed_at timestamptz NOT NULL,\n"
    "  error text NOT NULL,\n"
    "  event_bytes bigint NOT NULL,\n"
    "  set_aside_at timestamptz NOT NULL DEFAULT now(),\n"
    "  traceparent text,\n"
    "  tracestate text\n"
    ");\n"
    "DO $$\n"
    "DECLARE t text;\n"
    "BEGIN\n"
    "  FOREACH t IN ARRAY ARRAY['modelcast_outbox', 'modelcast_outbox_dead'] LOOP\n"
    "    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = t::regclass\n"
    "                   AND attname = 'tracestate' AND NOT attisdropped) THEN\n"
    "      EXECUTE format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS traceparent text, '\n"
    "                     'ADD COLUMN IF NOT EXISTS tracestate text', t);\n"
    "    END IF;\n"
    "  END LOOP;\n"
    "END $$;\n"
    "CREATE OR REPLACE FUNCTION modelcast_stamp() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF TG_OP = 'INSERT' THEN\n"
    "    NEW.version := 1;\n"
    "    NEW.created_at := now();\n"
    "    NEW.updated_at := NEW.created_at;\n"
    "  ELSE\n"
    "    IF NEW.id IS DISTINCT FROM OLD.id THEN\n"
    "      RAISE EXCEPTION 'modelcast: the id of a record cannot change'\n"
    "        USING ERRCODE = 'check_violation';\n"
    "    END IF;\n"
    "    NEW.version := OLD.version + 1;\n"
    "    NEW.created_at := OLD.created_at;\n"
    "    NEW.updated_at := now();\n"
    "  END IF;\n"
    "  RETURN NEW;\n"
    "END $$;\n"
    "CREATE OR REPLACE FUNCTION modelcast_capture() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "DECLARE\n"
    "  b jsonb;\n"
    "  a jsonb;\n"
    "  ch jsonb := '[]';\n"
    "BEGIN\n"
    "  IF TG_OP <> 'INSERT' THEN b := to_jsonb(OLD); END IF;\n"
    "  IF TG_OP <> 'DELETE' THEN a := to_jsonb(NEW); END IF;\n"
    "  IF TG_OP = 'INSERT' THEN\n"
    "    SELECT coalesce(jsonb_agg(k), '[]') INTO ch FROM jsonb_object_keys(a) k\n"
    "     WHERE k NOT IN ('id', 'version', 'created_at', 'updated_at');\n"
    "  ELSIF TG_OP = 'UPDATE' THEN\n"
    "    SELECT coalesce(jsonb_agg(e.key), '[]') INTO ch FROM jsonb_each(a) e\n"
    "     WHERE e.key NOT IN ('version', 'updated_at') AND b -> e.key IS DISTINCT FROM e.value;\n"
    "  END IF;\n"
    "  INSERT INTO modelcast_outbox (model, record_id, op, version, before, after, changed,\n"
    "                                traceparent, tracestate)\n"
    "  VALUES (TG_ARGV[0], coalesce(NEW.id, OLD.id),\n"
    "          CASE TG_OP WHEN 'INSERT' THEN '" MC_OP_CREATE "'"
    " WHEN 'UPDATE' THEN '" MC_OP_UPDATE "'\n"
    "                     ELSE '" MC_OP_DESTROY "' END,\n"
    "          CASE TG_OP WHEN 'DELETE' THEN OLD.version ELSE NEW.version END, b, a, ch,\n"
    "          left(nullif(current_setting('modelcast.traceparent', true), ''), 55),\n"
    "          left(nullif(current_setting('modelcast.tracestate', true), ''), 513));\n"
    "  IF coalesce(current_setting('modelcast.notify', true), '') <> 'off' THEN\n"
    "    PERFORM pg_notify('" OUTBOX_RELAY_CHANNEL "', '');\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END $$;\n";

const char *schema_outbox_sql(void)
{
    return outbox_sql;
}

/*
 * What follows an attribute's column type: COLLATE "C" for strings, so that the column, its
 * unique index and every comparison order text by bytes (code points), as the lists'
 * ORDER BY (list_query.c), the conditions and the clients do, whatever the database's
 * collation; NOT NULL when required.
 */
static const char *migrate__col_suffix(const mc_attr_t *a)
{
    int text = a->type == MC_ATTR_STRING || a->type == MC_ATTR_TEXT;
    return text ? (a->required ? " COLLATE \"C\" NOT NULL" : " COLLATE \"C\"")
                : (a->required ? " NOT NULL" : "");
}

char *schema_table_sql(const mc_model_t *m)
{
    mc_buf_t d;
    char tbuf[64];

    mc_buf_init(&d);
    /* Identifiers were validated against [a-z_][a-z0-9_]* when the models file loaded;
     * they are quoted anyway. The model name is a validated literal for TG_ARGV. */
    mc_buf_appendf(&d, "CREATE TABLE IF NOT EXISTS \"%s\" (\n"
                       "  id bigserial PRIMARY KEY,\n"
                       "  version bigint NOT NULL DEFAULT 1,\n"
                       "  created_at timestamptz NOT NULL DEFAULT now(),\n"
                       "  updated_at timestamptz NOT NULL DEFAULT now()",
                   m->table);
    for (size_t i = 0; i < m->nattrs; i++) {
        const mc_attr_t *a = &m->attrs[i];
        mc_buf_appendf(&d, ",\n  \"%s\" %s%s", a->name, mc_attr_sql_type(a, tbuf, sizeof tbuf),
                       migrate__col_suffix(a));
    }
    mc_buf_appendf(&d, "\n);\n");
    for (size_t i = 0; i < m->nattrs; i++) {
        const mc_attr_t *a = &m->attrs[i];
        if (a->unique)
            mc_buf_appendf(&d,
                           "CREATE UNIQUE INDEX IF NOT EXISTS \"%s_%s_key\" ON \"%s\" (\"%s\");\n",
                           m->table, a->name, m->table, a->name);
    }
    mc_buf_appendf(&d,
                   "CREATE OR REPLACE TRIGGER modelcast_stamp BEFORE INSERT OR UPDATE ON \"%s\"\n"
                   "  FOR EACH ROW EXECUTE FUNCTION modelcast_stamp();\n",
                   m->table);
    mc_buf_appendf(&d,
                   "CREATE OR REPLACE TRIGGER modelcast_capture AFTER INSERT OR UPDATE OR DELETE "
                   "ON \"%s\"\n  FOR EACH ROW EXECUTE FUNCTION modelcast_capture('%s');\n",
                   m->table, m->name);
    return mc_buf_steal(&d);
}

/* PostgreSQL's format_type() spelling of an attribute's column type. */
static void migrate__pg_type(const mc_attr_t *a, char *buf, size_t buflen)
{
    switch (a->type) {
    case MC_ATTR_STRING:
        if (a->max_length > 0)
            snprintf(buf, buflen, "character varying(%ld)", a->max_length);
        else
            snprintf(buf, buflen, "character varying");
        break;
    case MC_ATTR_TIMESTAMP:
        snprintf(buf, buflen, "timestamp with time zone");
        break;
    default:
        snprintf(buf, buflen, "%s", mc_attr_sql_type(a, buf, buflen));
        break;
    }
}

/* Marks every string attribute of m bytewise: its column was just declared COLLATE "C". */
static void migrate__all_bytewise(mc_model_t *m)
{
    for (size_t i = 0; i < m->nattrs; i++)
        m->attrs[i].bytewise = m->attrs[i].type == MC_ATTR_STRING ||
                               m->attrs[i].type == MC_ATTR_TEXT;
}

/*
 * The live columns of a table: name, format_type() and whether the column's collation
 * orders by bytes - "C" or "POSIX", or the default collation of a database whose own is C
 * or POSIX with the libc provider (datlocprovider: PostgreSQL 15 on, else libc).
 */
static const char migrate_columns_sql[] =
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
    "  a.attcollation IN ('pg_catalog.\"C\"'::regcollation, 'pg_catalog.\"POSIX\"'::regcollation) "
    "  OR (a.attcollation = 'pg_catalog.\"default\"'::regcollation AND d.datcollate IN ('C', "
    "'POSIX') AND coalesce(to_jsonb(d)->>'datlocprovider', 'c') = 'c') "
    "FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_database d ON d.datname = current_database() "
    "WHERE c.relname = $1 AND n.nspname = current_schema() AND a.attnum > 0 "
    "AND NOT a.attisdropped";

/* Compares the live columns of m's table with the declaration; adds new columns. */
static int migrate__table(PGconn *conn, mc_model_t *m, char *err, size_t errlen)
{
    const char *params[1] = {m->table};
    PGresult *res = PQexecParams(conn, migrate_columns_sql, 1, NULL, params, NULL, NULL, 0);
    int rc = mc_pg_check(conn, res, PGRES_TUPLES_OK, err, errlen);
    char want[64], sql[512], tbuf[64];

    if (rc != MC_OK)
        goto out;
    if (PQntuples(res) == 0) {
        char *ddl = schema_table_sql(m);
        rc = ddl ? mc_pg_exec(conn, ddl, err, errlen) : MC_ERR_NOMEM;
        if (rc == MC_OK) {
            MC_INFO("created table %s for model %s", m->table, m->name);
            migrate__all_bytewise(m);
        }
        free(ddl);
        goto out;
    }
    /* Every live column must still be declared, with the same type. */
    for (int r = 0; r < PQntuples(res); r++) {
        const char *col = PQgetvalue(res, r, 0), *type = PQgetvalue(res, r, 1);
        int system = 0;
        for (size_t i = 0; i < MC_MODEL_NSYSTEM; i++)
            system |= strcmp(col, mc_model_system_columns[i]) == 0;
        if (system)
            continue;
        mc_attr_t *a = (mc_attr_t *)mc_model_attr(m, col);
        if (!a) {
            snprintf(err, errlen, "model %s: table %s has column '%s' that the models file no "
                     "longer declares; dropping attributes is not done automatically (drop the "
                     "column yourself or declare it again)", m->name, m->table, col);
            rc = MC_ERR_CONFIG;
            goto out;
        }
        migrate__pg_type(a, want, sizeof want);
        if (strcmp(want, type) != 0) {
            snprintf(err, errlen, "model %s: attribute %s is %s in the database but declared "
                     "as %s (%s); type changes are not applied automatically", m->name, col,
                     type, mc_attr_type_name(a->type), want);
            rc = MC_ERR_CONFIG;
            goto out;
        }
        a->bytewise = (a->type == MC_ATTR_STRING || a->type == MC_ATTR_TEXT) &&
                      strcmp(PQgetvalue(res, r, 2), "t") == 0;
        if ((a->type == MC_ATTR_STRING || a->type == MC_ATTR_TEXT) && !a->bytewise && a->unique)
            MC_WARN("model %s: column %s.%s does not sort by bytes (its collation is not "
                    "\"C\"): lists order it COLLATE \"C\", which its unique index cannot "
                    "serve; ALTER TABLE \"%s\" ALTER COLUMN \"%s\" TYPE %s COLLATE \"C\" "
                    "rebuilds the index so that it can (docs/rest.md, \"Order of strings\")",
                    m->name, m->table, col, m->table, col, type);
    }
    /* New attributes become new columns; a required one needs the table to be empty. */
    for (size_t i = 0; i < m->nattrs; i++) {
        mc_attr_t *a = &m->attrs[i];
        int found = 0;
        for (int r = 0; r < PQntuples(res) && !found; r++)
            found = strcmp(PQgetvalue(res, r, 0), a->name) == 0;
        if (found)
            continue;
        snprintf(sql, sizeof sql, "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s%s", m->table, a->name,
                 mc_attr_sql_type(a, tbuf, sizeof tbuf), migrate__col_suffix(a));
        rc = mc_pg_exec(conn, sql, err, errlen);
        if (rc != MC_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "model %s: cannot add attribute %s: %s%s", m->name, a->name,
                     why, a->required ? " (a required attribute can only be added to an "
                                        "empty table)" : "");
            goto out;
        }
        a->bytewise = a->type == MC_ATTR_STRING || a->type == MC_ATTR_TEXT;
        MC_INFO("model %s: added attribute %s", m->name, a->name);
    }
    /* Unique indexes and triggers are (re)installed idempotently. */
    char *ddl = schema_table_sql(m);
    char *trig = ddl ? strstr(ddl, ");\n") : NULL;
    if (trig)
        trig += 3;
    rc = trig ? mc_pg_exec(conn, trig, err, errlen) : MC_ERR_NOMEM;
    free(ddl);
out:
    PQclear(res);
    return rc;
}

int schema_migrate(PGconn *conn, mc_schema_t *schema, char *err, size_t errlen)
{
    int rc = mc_pg_exec(conn, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", err,
                        errlen);
    if (rc != MC_OK)
        return rc;
    rc = mc_pg_exec(conn, outbox_sql, err, errlen);
    for (size_t i = 0; rc == MC_OK && i < schema->nmodels; i++)
        rc = migrate__table(conn, &schema->models[i], err, errlen);
    if (rc == MC_OK) {
        rc = mc_pg_exec(conn, "COMMIT", err, errlen);
    } else {
        char ignored[128];
        mc_pg_exec(conn, "ROLLBACK", ignored, sizeof ignored);
    }
    return rc;
}
