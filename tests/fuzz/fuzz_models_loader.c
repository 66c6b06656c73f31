/*
 * fuzz_models_loader.c - the models file loader (mc_schema_parse, common/src/model_load.c).
 * Input: a models.json document. A schema that loads must hold only names that are safe
 * in SQL (model [A-Z][A-Za-z0-9_]*, table and attribute [a-z_][a-z0-9_]*, at most 63
 * characters), distinct tables, and scopes that compile to well-formed SQL; the table DDL
 * model-api runs for it (schema_table_sql) quotes only those names; its list queries
 * (default order, then its first four orderable columns) build and pass the SQL oracle; the shipped
 * config/policies.json is compiled against it (refused or accepted, never a crash).
 */
#include "fuzz_common.h"
#include "list_query.h"
#include "mc_condition.h"
#include "mc_error.h"
#include "schema_migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid_name(const char *s, int model)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= '0' && c <= '9' && i > 0) || c == '_' || (c >= 'a' && c <= 'z') ||
                 (model && c >= 'A' && c <= 'Z');
        if (!ok || (model && i == 0 && !(c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

static void check_model(const mc_schema_t *s, const mc_model_t *m)
{
    FUZZ_ASSERT(valid_name(m->name, 1), "a model name unsafe in SQL was accepted");
    FUZZ_ASSERT(valid_name(m->table, 0), "a table name unsafe in SQL was accepted");
    FUZZ_ASSERT(mc_schema_find(s, m->name) == m, "mc_schema_find misses a model");
    FUZZ_ASSERT(m->nattrs > 0, "a model without attributes");
    for (size_t i = 0; i < m->nattrs; i++) {
        FUZZ_ASSERT(valid_name(m->attrs[i].name, 0), "an attribute name unsafe in SQL");
        FUZZ_ASSERT(!mc_model_is_system(m->attrs[i].name), "an attribute named as a system column");
        FUZZ_ASSERT(mc_model_attr(m, m->attrs[i].name) == &m->attrs[i], "attribute lookup");
    }
    for (size_t i = 0; i < m->nscopes; i++) {
        mc_sql_t sql;
        mc_sql_init(&sql);
        mc_cond_sql(m, m->scopes[i].condition, &sql);
        fuzz_check_sql(&sql, "scope");
        mc_sql_cleanup(&sql);
    }
    char *ddl = schema_table_sql(m);
    FUZZ_ASSERT(ddl != NULL, "no DDL");
    size_t quotes = 0;
    for (const char *c = ddl; *c; c++)
        quotes += *c == '\'';
    FUZZ_ASSERT(quotes == 2, "the DDL holds a quote besides the model name's");
    free(ddl);

    /* The list queries model-api builds for it: its default order, then its first four
     * orderable columns, descending. */
    struct _u_map args;
    char spec[512] = "";
    size_t nkeys = 0, len = 0;
    u_map_init(&args);
    for (int round = 0; round < 2; round++) {
        list_query_t q;
        const char *code = NULL;
        char qerr[512];
        int rc = list_query_build(m, &args, 100, 0, NULL, NULL, &q, &code, qerr, sizeof qerr);
        FUZZ_ASSERT(rc == MC_OK, "a list query in a valid order of a loaded model is refused");
        fuzz_check_sql(&q.sql, "list page");
        list_query_cleanup(&q);
        for (size_t i = 0; i < m->nattrs && nkeys < MC_ORDER_MAX; i++) {
            if (m->attrs[i].type == MC_ATTR_JSON)
                continue;
            len += (size_t)snprintf(spec + len, sizeof spec - len, "%s-%s", nkeys ? "," : "",
                                    m->attrs[i].name);
            nkeys++;
        }
        if (nkeys == 0 || len >= 256) /* mc_model_parse_order's limit on the text */
            break;
        u_map_put(&args, "order", spec);
    }
    u_map_clean(&args);

    /* A record with nothing in it: a create misses the required attributes, an update not. */
    json_t *empty = json_object(), *errors = NULL;
    FUZZ_ASSERT(mc_model_validate(m, empty, 1, &errors) == MC_OK, "an empty update refused");
    if (mc_model_validate(m, empty, 0, &errors) != MC_OK)
        json_decref(errors);
    json_decref(empty);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    mc_schema_t *s = NULL;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!root)
        return 0;
    int rc = mc_schema_parse(root, "fuzz.json", &s, err, sizeof err);
    if (rc == MC_OK) {
        FUZZ_ASSERT(s && s->nmodels > 0, "an empty schema was accepted");
        for (size_t i = 0; i < s->nmodels; i++) {
            check_model(s, &s->models[i]);
            for (size_t j = 0; j < i; j++)
                FUZZ_ASSERT(strcmp(s->models[i].table, s->models[j].table) != 0,
                            "two models share a table");
        }
        /* The shipped policies against this schema. */
        mc_policy_t *p = NULL;
        if (mc_policy_parse(fuzz_json("config/policies.json"), "policies.json", s, &p, err,
                            sizeof err) == MC_OK)
            mc_policy_free(p);
        mc_schema_free(s);
    } else {
        FUZZ_ASSERT(s == NULL, "a refused schema was returned");
        FUZZ_ASSERT(strlen(err) > 0, "refused without a message");
    }
    json_decref(root);
    return 0;
}
