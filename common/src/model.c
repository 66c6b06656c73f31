/* model.c - look up models, attributes and scopes; order keys; validate record input. */
#include "mc_model.h"
#include "mc_error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mc_model_system_columns[] = {"id", "version", "created_at", "updated_at"};

static const mc_attr_t model__system_attrs[MC_MODEL_NSYSTEM] = {
    {.name = "id", .type = MC_ATTR_BIGINT},
    {.name = "version", .type = MC_ATTR_BIGINT},
    {.name = "created_at", .type = MC_ATTR_TIMESTAMP},
    {.name = "updated_at", .type = MC_ATTR_TIMESTAMP},
};

int mc_model_is_system(const char *name)
{
    for (size_t i = 0; i < MC_MODEL_NSYSTEM; i++)
        if (strcmp(name, mc_model_system_columns[i]) == 0)
            return 1;
    return 0;
}

const mc_model_t *mc_schema_find(const mc_schema_t *schema, const char *name)
{
    for (size_t i = 0; schema && name && i < schema->nmodels; i++)
        if (strcmp(schema->models[i].name, name) == 0)
            return &schema->models[i];
    return NULL;
}

const mc_attr_t *mc_model_attr(const mc_model_t *model, const char *name)
{
    for (size_t i = 0; model && name && i < model->nattrs; i++)
        if (strcmp(model->attrs[i].name, name) == 0)
            return &model->attrs[i];
    return NULL;
}

const mc_attr_t *mc_model_column(const mc_model_t *model, const char *name)
{
    const mc_attr_t *a = mc_model_attr(model, name);
    for (size_t i = 0; !a && name && i < MC_MODEL_NSYSTEM; i++)
        if (strcmp(name, model__system_attrs[i].name) == 0)
            a = &model__system_attrs[i];
    return a;
}

const mc_scope_t *mc_model_scope(const mc_model_t *model, const char *name)
{
    for (size_t i = 0; model && name && i < model->nscopes; i++)
        if (strcmp(model->scopes[i].name, name) == 0)
            return &model->scopes[i];
    return NULL;
}

int mc_model_parse_order(const mc_model_t *model, const char *spec, mc_order_key_t *keys,
                         size_t *nkeys, char *err, size_t errlen)
{
    char buf[256];
    char *save = NULL;
    *nkeys = 0;
    if (!spec || strlen(spec) >= sizeof buf || !*spec) {
        snprintf(err, errlen, "expected a comma-separated list of attributes");
        return MC_ERR_INVAL;
    }
    memcpy(buf, spec, strlen(spec) + 1);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int desc = *tok == '-';
        const mc_attr_t *a = mc_model_column(model, tok + desc);
        if (!a) {
            snprintf(err, errlen, "cannot order by '%.64s': not an attribute", tok + desc);
            return MC_ERR_INVAL;
        }
        if (a->type == MC_ATTR_JSON) {
            snprintf(err, errlen, "cannot order by json attribute '%s'", a->name);
            return MC_ERR_INVAL;
        }
        for (size_t i = 0; i < *nkeys; i++) {
            if (keys[i].attr == a) {
                snprintf(err, errlen, "'%s' appears twice", a->name);
                return MC_ERR_INVAL;
            }
        }
        if (*nkeys == MC_ORDER_MAX) {
            snprintf(err, errlen, "at most %d order keys", MC_ORDER_MAX);
            return MC_ERR_INVAL;
        }
        keys[*nkeys].attr = a;
        keys[*nkeys].desc = desc;
        (*nkeys)++;
    }
    if (*nkeys == 0) {
        snprintf(err, errlen, "expected a comma-separated list of attributes");
        return MC_ERR_INVAL;
    }
    return MC_OK;
}

static void model__add_error(json_t *errors, const char *attr, const char *msg)
{
    json_t *list = json_object_get(errors, attr);
    if (!list) {
        list = json_array();
        json_object_set_new(errors, attr, list);
    }
    json_array_append_new(list, json_string(msg));
}

int mc_model_validate(const mc_model_t *model, const json_t *body, int partial,
                      json_t **errors)
{
    const char *key;
    json_t *v;
    json_t *errs = json_object();

    *errors = NULL;
    if (!errs)
        return MC_ERR_NOMEM;
    json_object_foreach((json_t *)body, key, v) {
        const mc_attr_t *a = mc_model_attr(model, key);
        if (!a)
            model__add_error(errs, key, mc_model_is_system(key)
                                            ? "is maintained by the server"
                                            : "is not an attribute of this model");
        else {
            char buf[128];
            const char *msg = mc_attr_check_value(a, v, buf, sizeof buf);
            if (msg)
                model__add_error(errs, key, msg);
        }
    }
    if (!partial) {
        for (size_t i = 0; i < model->nattrs; i++) {
            if (model->attrs[i].required && !json_object_get(body, model->attrs[i].name))
                model__add_error(errs, model->attrs[i].name, "is required");
        }
    }
    if (json_object_size(errs) == 0) {
        json_decref(errs);
        return MC_OK;
    }
    *errors = errs;
    return MC_ERR_INVAL;
}

/* Envelope of an event besides before and after: the keys and separators of
 * json_build_object ("model" : ...), model, id, op, version, txid, committed_at. */
#define MODEL_EVENT_ENVELOPE 256

/* Bytes of one column in a record: "key": value, and the ", " before it. */
static size_t model__column_bytes(const char *name, size_t value)
{
    return strlen(name) + 2 + 2 + value + 2;
}

/* The bound of a record (NULL: the JSON null of a create's before, a destroy's after). */
static size_t model__record_bytes(const mc_model_t *m, const json_t *rec)
{
    size_t n = 2;
    if (!rec)
        return 4;
    for (size_t i = 0; i < MC_MODEL_NSYSTEM; i++) {
        const json_t *v = json_object_get(rec, model__system_attrs[i].name);
        n += model__column_bytes(model__system_attrs[i].name,
                                 v ? mc_attr_event_bytes(&model__system_attrs[i], v)
                                   : mc_attr_event_bytes_max(&model__system_attrs[i]));
    }
    for (size_t i = 0; i < m->nattrs; i++)
        n += model__column_bytes(m->attrs[i].name,
                                 mc_attr_event_bytes(&m->attrs[i],
                                                     json_object_get(rec, m->attrs[i].name)));
    return n;
}

/* The envelope: fixed fields, the model's name and "changed", a list of column names. */
static size_t model__envelope_bytes(const mc_model_t *m)
{
    size_t n = MODEL_EVENT_ENVELOPE + strlen(m->name);
    for (size_t i = 0; i < MC_MODEL_NSYSTEM; i++)
        n += strlen(model__system_attrs[i].name) + 4;
    for (size_t i = 0; i < m->nattrs; i++)
        n += strlen(m->attrs[i].name) + 4;
    return n;
}

size_t mc_model_event_bytes(const mc_model_t *model, const json_t *before, const json_t *after)
{
    return model__envelope_bytes(model) + model__record_bytes(model, before) +
           model__record_bytes(model, after);
}

size_t mc_model_event_bytes_max(const mc_model_t *model)
{
    size_t rec = 2;
    for (size_t i = 0; i < MC_MODEL_NSYSTEM; i++)
        rec += model__column_bytes(model__system_attrs[i].name,
                                   mc_attr_event_bytes_max(&model__system_attrs[i]));
    for (size_t i = 0; i < model->nattrs; i++) {
        size_t v = mc_attr_event_bytes_max(&model->attrs[i]);
        if (v == 0)
            return SIZE_MAX;
        rec += model__column_bytes(model->attrs[i].name, v > 4 ? v : 4);
    }
    return model__envelope_bytes(model) + 2 * rec;
}
