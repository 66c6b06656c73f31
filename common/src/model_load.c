/* model_load.c - read and check config/models.json into an mc_schema_t. */
#include "mc_model.h"
#include "mc_condition.h"
#include "mc_error.h"
#include "mc_json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_DEFAULT_MAX_LENGTH 255
#define MODEL_DEFAULT_TEXT_LENGTH 10000
#define MODEL_DEFAULT_JSON_BYTES 65536
#define MODEL_MAX_JSON_BYTES (64L * 1024 * 1024)
#define MODEL_NAME_MAX 63

/* Model names: [A-Z][A-Za-z0-9_]*; attribute and table names: [a-z_][a-z0-9_]*. */
static int model__valid_name(const char *s, int model)
{
    size_t n = strlen(s);
    if (n == 0 || n > MODEL_NAME_MAX)
        return 0;
    if (model ? !isupper((unsigned char)s[0]) : !(islower((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isdigit(c) || c == '_' || (model ? isalpha(c) : islower(c))))
            return 0;
    }
    return 1;
}

static void model__free_one(mc_model_t *m)
{
    for (size_t i = 0; i < m->nattrs; i++) {
        free(m->attrs[i].name);
        free(m->attrs[i].references);
        json_decref(m->attrs[i].enum_values);
    }
    free(m->attrs);
    for (size_t i = 0; i < m->nscopes; i++) {
        free(m->scopes[i].name);
        json_decref(m->scopes[i].condition);
    }
    free(m->scopes);
    free(m->name);
    free(m->table);
}

void mc_schema_free(mc_schema_t *schema)
{
    if (!schema)
        return;
    for (size_t i = 0; i < schema->nmodels; i++)
        model__free_one(&schema->models[i]);
    free(schema->models);
    free(schema);
}

#define FAIL(...)                                                                 \
    do {                                                                          \
        snprintf(err, errlen, __VA_ARGS__);                                       \
        return MC_ERR_CONFIG;                                                     \
    } while (0)

/* One key of attribute aname's spec besides "type" (a->type is set). */
static int model__parse_attr_option(const char *file, const char *mname, const char *aname,
                                    const char *key, json_t *v, mc_attr_t *a, char *err,
                                    size_t errlen)
{
    if (strcmp(key, "required") == 0) {
        if (!json_is_boolean(v))
            FAIL("%s: models.%s.attributes.%s.required: expected true or false", file, mname,
                 aname);
        a->required = json_is_true(v);
    } else if (strcmp(key, "max_length") == 0) {
        if (a->type != MC_ATTR_STRING && a->type != MC_ATTR_TEXT)
            FAIL("%s: models.%s.attributes.%s.max_length: only for string and text", file,
                 mname, aname);
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > 10485760)
            FAIL("%s: models.%s.attributes.%s.max_length: expected an integer in "
                 "[1, 10485760]", file, mname, aname);
        a->max_length = (long)json_integer_value(v);
    } else if (strcmp(key, "max_bytes") == 0) {
        if (a->type != MC_ATTR_JSON)
            FAIL("%s: models.%s.attributes.%s.max_bytes: only for json", file, mname, aname);
        if (!json_is_integer(v) || json_integer_value(v) < 16 ||
            json_integer_value(v) > MODEL_MAX_JSON_BYTES)
            FAIL("%s: models.%s.attributes.%s.max_bytes: expected an integer in [16, %ld]",
                 file, mname, aname, MODEL_MAX_JSON_BYTES);
        a->max_bytes = (long)json_integer_value(v);
    } else if (strcmp(key, "references") == 0) {
        if (a->type != MC_ATTR_REFERENCE || !json_is_string(v))
            FAIL("%s: models.%s.attributes.%s.references: a model name, only for type "
                 "reference", file, mname, aname);
        if (!(a->references = strdup(json_string_value(v))))
            return MC_ERR_NOMEM;
    } else if (strcmp(key, "unique") == 0) {
        if (!json_is_boolean(v) || a->type == MC_ATTR_JSON)
            FAIL("%s: models.%s.attributes.%s.unique: expected true or false (not for json)",
                 file, mname, aname);
        a->unique = json_is_true(v);
    } else if (strcmp(key, "min") == 0 || strcmp(key, "max") == 0) {
        if (a->type != MC_ATTR_INTEGER && a->type != MC_ATTR_BIGINT &&
            a->type != MC_ATTR_FLOAT)
            FAIL("%s: models.%s.attributes.%s.%s: only for integer, bigint and float", file,
                 mname, aname, key);
        if (!json_is_number(v))
            FAIL("%s: models.%s.attributes.%s.%s: expected a number", file, mname, aname,
                 key);
        if (key[1] == 'i') {
            a->has_min = 1;
            a->min = json_number_value(v);
        } else {
            a->has_max = 1;
            a->max = json_number_value(v);
        }
    } else if (strcmp(key, "enum") == 0) {
        size_t i;
        json_t *e;
        if (a->type != MC_ATTR_STRING && a->type != MC_ATTR_TEXT &&
            a->type != MC_ATTR_INTEGER && a->type != MC_ATTR_BIGINT)
            FAIL("%s: models.%s.attributes.%s.enum: only for string, text, integer and "
                 "bigint", file, mname, aname);
        if (!json_is_array(v) || json_array_size(v) == 0)
            FAIL("%s: models.%s.attributes.%s.enum: expected a non-empty array", file, mname,
                 aname);
        json_array_foreach(v, i, e) {
            int is_str = a->type == MC_ATTR_STRING || a->type == MC_ATTR_TEXT;
            if (is_str ? !json_is_string(e) : !json_is_integer(e))
                FAIL("%s: models.%s.attributes.%s.enum[%zu]: expected a%s", file, mname,
                     aname, i, is_str ? " string" : "n integer");
        }
        a->enum_values = json_incref(v);
    } else {
        FAIL("%s: models.%s.attributes.%s.%s: unknown key (known: type, required, "
             "max_length, max_bytes, references, unique, min, max, enum)", file, mname, aname,
             key);
    }
    return MC_OK;
}

static int model__parse_attr(const char *file, const char *mname, const char *aname,
                             const json_t *spec, mc_attr_t *a, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    const char *type;

    if (!model__valid_name(aname, 0))
        FAIL("%s: models.%s.attributes.%s: attribute names must match [a-z_][a-z0-9_]* "
             "(at most %d characters)", file, mname, aname, MODEL_NAME_MAX);
    if (mc_model_is_system(aname))
        FAIL("%s: models.%s.attributes.%s: '%s' is a system column every model has", file,
             mname, aname, aname);
    if (!json_is_object(spec))
        FAIL("%s: models.%s.attributes.%s: expected an object like {\"type\": \"string\"}",
             file, mname, aname);
    type = json_string_value(json_object_get(spec, "type"));
    if (!type)
        FAIL("%s: models.%s.attributes.%s.type: missing (one of string, text, integer, bigint, "
             "float, boolean, timestamp, json, reference)", file, mname, aname);
    a->type = mc_attr_type_from_name(type);
    if (a->type == MC_ATTR__COUNT)
        FAIL("%s: models.%s.attributes.%s.type: unknown type '%s' (one of string, text, "
             "integer, bigint, float, boolean, timestamp, json, reference)", file, mname,
             aname, type);
    if (!(a->name = strdup(aname)))
        return MC_ERR_NOMEM;
    /* Every value has a bounded size, so that every change event fits in a Kafka message. */
    a->max_length = a->type == MC_ATTR_STRING ? MODEL_DEFAULT_MAX_LENGTH
                    : a->type == MC_ATTR_TEXT ? MODEL_DEFAULT_TEXT_LENGTH
                                              : 0;
    a->max_bytes = a->type == MC_ATTR_JSON ? MODEL_DEFAULT_JSON_BYTES : 0;

    json_object_foreach((json_t *)spec, key, v) {
        if (strcmp(key, "type") == 0)
            continue;
        int rc = model__parse_attr_option(file, mname, aname, key, v, a, err, errlen);
        if (rc != MC_OK)
            return rc;
    }
    if (a->has_min && a->has_max && a->min > a->max)
        FAIL("%s: models.%s.attributes.%s: min is greater than max", file, mname, aname);
    if (a->type == MC_ATTR_REFERENCE && !a->references)
        FAIL("%s: models.%s.attributes.%s.references: missing (the referenced model)", file,
             mname, aname);
    return MC_OK;
}

/* The named conditions of m (its attributes are parsed). */
static int model__parse_scopes(const char *file, mc_model_t *m, const json_t *scopes, char *err,
                               size_t errlen)
{
    const char *key;
    json_t *v;
    char path[256];
    int rc;
    if (!json_is_object(scopes))
        FAIL("%s: models.%s.scopes: expected an object of named conditions", file, m->name);
    m->scopes = calloc(json_object_size(scopes) + 1, sizeof *m->scopes);
    if (!m->scopes)
        return MC_ERR_NOMEM;
    json_object_foreach((json_t *)scopes, key, v) {
        if (!model__valid_name(key, 0))
            FAIL("%s: models.%s.scopes.%s: scope names must match [a-z_][a-z0-9_]*", file,
                 m->name, key);
        snprintf(path, sizeof path, "%s: models.%s.scopes.%s", file, m->name, key);
        if ((rc = mc_cond_check(m, v, path, err, errlen)) != MC_OK)
            return rc;
        m->scopes[m->nscopes].name = strdup(key);
        m->scopes[m->nscopes].condition = json_incref(v);
        if (!m->scopes[m->nscopes++].name)
            return MC_ERR_NOMEM;
    }
    return MC_OK;
}

static int model__parse_model(const char *file, const char *mname, const json_t *spec,
                              mc_model_t *m, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    const json_t *attrs;
    int rc;

    if (!model__valid_name(mname, 1))
        FAIL("%s: models.%s: model names must match [A-Z][A-Za-z0-9_]* (at most %d "
             "characters)", file, mname, MODEL_NAME_MAX);
    if (!json_is_object(spec))
        FAIL("%s: models.%s: expected an object", file, mname);
    json_object_foreach((json_t *)spec, key, v) {
        if (strcmp(key, "attributes") != 0 && strcmp(key, "table") != 0 &&
            strcmp(key, "server_only") != 0 && strcmp(key, "scopes") != 0 &&
            strcmp(key, "order") != 0)
            FAIL("%s: models.%s.%s: unknown key (known: table, attributes, server_only, scopes, "
                 "order)", file, mname, key);
    }
    if (!(m->name = strdup(mname)))
        return MC_ERR_NOMEM;
    v = json_object_get(spec, "table");
    if (v) {
        if (!json_is_string(v) || !model__valid_name(json_string_value(v), 0))
            FAIL("%s: models.%s.table: expected a name matching [a-z_][a-z0-9_]*", file, mname);
        m->table = strdup(json_string_value(v));
    } else {
        m->table = strdup(mname);
        for (char *p = m->table; p && *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    if (!m->table)
        return MC_ERR_NOMEM;
    if (strncmp(m->table, "modelcast_", 10) == 0)
        FAIL("%s: models.%s.table: the prefix modelcast_ is reserved", file, mname);
    v = json_object_get(spec, "server_only");
    if (v && !json_is_boolean(v))
        FAIL("%s: models.%s.server_only: expected true or false", file, mname);
    m->server_only = json_is_true(v);

    attrs = json_object_get(spec, "attributes");
    if (!json_is_object(attrs) || json_object_size(attrs) == 0)
        FAIL("%s: models.%s.attributes: expected a non-empty object of attributes", file, mname);
    m->attrs = calloc(json_object_size(attrs), sizeof *m->attrs);
    if (!m->attrs)
        return MC_ERR_NOMEM;
    json_object_foreach((json_t *)attrs, key, v) {
        rc = model__parse_attr(file, mname, key, v, &m->attrs[m->nattrs], err, errlen);
        m->nattrs++;
        if (rc != MC_OK)
            return rc;
    }

    /* Scopes come after the attributes they refer to. */
    if ((v = json_object_get(spec, "scopes")) &&
        (rc = model__parse_scopes(file, m, v, err, errlen)) != MC_OK)
        return rc;
    v = json_object_get(spec, "order");
    if (v) {
        char why[256];
        if (!json_is_string(v))
            FAIL("%s: models.%s.order: expected a string like \"-created_at,word\"", file,
                 mname);
        if (mc_model_parse_order(m, json_string_value(v), m->order, &m->norder, why,
                                 sizeof why) != MC_OK)
            FAIL("%s: models.%s.order: %s", file, mname, why);
    }
    return MC_OK;
}

int mc_schema_parse(const json_t *root, const char *file, mc_schema_t **out, char *err,
                    size_t errlen)
{
    const json_t *models = json_object_get(root, "models");
    const char *key;
    json_t *v;
    int rc;
    mc_schema_t *s;

    *out = NULL;
    if (!json_is_object(root))
        FAIL("%s: expected a JSON object with a \"models\" member", file);
    json_object_foreach((json_t *)root, key, v) {
        if (strcmp(key, "models") != 0 && strcmp(key, "$comment") != 0)
            FAIL("%s: %s: unknown key (known: models)", file, key);
    }
    if (!json_is_object(models) || json_object_size(models) == 0)
        FAIL("%s: models: expected a non-empty object of models", file);
    if (!(s = calloc(1, sizeof *s)) ||
        !(s->models = calloc(json_object_size(models), sizeof *s->models))) {
        free(s);
        return MC_ERR_NOMEM;
    }
    json_object_foreach((json_t *)models, key, v) {
        rc = model__parse_model(file, key, v, &s->models[s->nmodels], err, errlen);
        s->nmodels++;
        if (rc != MC_OK)
            goto fail;
    }
    /* Cross-checks: references name a model; table names are unique. */
    for (size_t i = 0; i < s->nmodels; i++) {
        const mc_model_t *m = &s->models[i];
        for (size_t j = 0; j < m->nattrs; j++) {
            const char *ref = m->attrs[j].references;
            if (ref && !mc_schema_find(s, ref)) {
                snprintf(err, errlen, "%s: models.%s.attributes.%s.references: unknown model "
                         "'%s'", file, m->name, m->attrs[j].name, ref);
                rc = MC_ERR_CONFIG;
                goto fail;
            }
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(s->models[k].table, m->table) == 0) {
                snprintf(err, errlen, "%s: models.%s.table: table '%s' is already used by "
                         "model %s", file, m->name, m->table, s->models[k].name);
                rc = MC_ERR_CONFIG;
                goto fail;
            }
        }
    }
    *out = s;
    return MC_OK;
fail:
    mc_schema_free(s);
    return rc;
}

int mc_schema_load(const char *path, mc_schema_t **out, char *err, size_t errlen)
{
    json_t *root;
    *out = NULL;
    int rc = mc_json_load_file(path, &root, err, errlen);
    if (rc != MC_OK)
        return rc;
    rc = mc_schema_parse(root, path, out, err, errlen);
    json_decref(root);
    return rc;
}
