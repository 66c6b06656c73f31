/* openapi.c - OpenAPI 3.1 document generated from models.json. */
#include "openapi.h"

#include <stdio.h>
#include <string.h>

/* The JSON Schema of one attribute's value. */
static json_t *oa__attr_schema(const mc_attr_t *a)
{
    json_t *s = json_object();
    const char *type = "string";
    switch (a->type) {
    case MC_ATTR_STRING:
    case MC_ATTR_TEXT:
        if (a->max_length)
            json_object_set_new(s, "maxLength", json_integer(a->max_length));
        break;
    case MC_ATTR_INTEGER:
        type = "integer";
        json_object_set_new(s, "format", json_string("int32"));
        break;
    case MC_ATTR_BIGINT:
    case MC_ATTR_REFERENCE:
        type = "integer";
        json_object_set_new(s, "format", json_string("int64"));
        if (a->references)
            json_object_set_new(s, "description",
                                json_sprintf("id of a %s record", a->references));
        break;
    case MC_ATTR_FLOAT:
        type = "number";
        json_object_set_new(s, "format", json_string("double"));
        break;
    case MC_ATTR_BOOLEAN:
        type = "boolean";
        break;
    case MC_ATTR_TIMESTAMP:
        json_object_set_new(s, "format", json_string("date-time"));
        break;
    case MC_ATTR_JSON:
    default:
        type = NULL; /* any JSON value */
        if (a->max_bytes)
            json_object_set_new(s, "description",
                                json_sprintf("any JSON value of at most %ld bytes as a change "
                                             "event prints it (PostgreSQL jsonb text)",
                                             a->max_bytes));
        break;
    }
    if (type) {
        if (a->required)
            json_object_set_new(s, "type", json_string(type));
        else
            json_object_set_new(s, "type", json_pack("[s, s]", type, "null"));
    }
    if (a->has_min)
        json_object_set_new(s, "minimum", json_real(a->min));
    if (a->has_max)
        json_object_set_new(s, "maximum", json_real(a->max));
    if (a->enum_values)
        json_object_set(s, "enum", a->enum_values);
    return s;
}

static json_t *oa__ref(const char *name)
{
    return json_sprintf("#/components/schemas/%s", name);
}

static json_t *oa__json_content(json_t *schema)
{
    return json_pack("{s:{s:{s:o}}}", "content", "application/json", "schema", schema);
}

static json_t *oa__response(const char *description, json_t *schema)
{
    json_t *r = schema ? oa__json_content(schema) : json_object();
    json_object_set_new(r, "description", json_string(description));
    return r;
}

static json_t *oa__error(const char *description)
{
    return oa__response(description, json_pack("{s:o}", "$ref", oa__ref("Error")));
}

static json_t *oa__param(const char *name, const char *in, int required, json_t *schema,
                         const char *description)
{
    return json_pack("{s:s, s:s, s:b, s:o, s:s}", "name", name, "in", in, "required", required,
                     "schema", schema, "description", description);
}

/*
 * The security requirement of an operation: the bearer token, or nothing (anonymous) as
 * well when anonymous is true.
 */
static json_t *oa__security(int anonymous)
{
    json_t *sec = json_pack("[{s:[]}]", "bearerAuth");
    if (anonymous)
        json_array_append_new(sec, json_object());
    return sec;
}

/* Whether the policies let an anonymous caller do op ("read" or a write op) on m; a write
 * is tried on a record without attributes (rules on attribute values may admit more). */
static int oa__anonymous(const mc_policy_t *policy, const mc_model_t *m, const char *op)
{
    if (!policy)
        return 1;
    if (strcmp(op, "read") == 0) {
        json_t *cols = mc_policy_visible_attributes(policy, m->name, NULL);
        json_decref(cols);
        return cols != NULL;
    }
    json_t *rec = json_object();
    int create = strcmp(op, "create") == 0;
    int ok = mc_policy_can_write(policy, m->name, op, NULL, create ? NULL : rec,
                                 strcmp(op, "destroy") == 0 ? NULL : rec, NULL);
    json_decref(rec);
    return ok;
}

/* Sets the security of the operation method of path item. */
static void oa__secure(json_t *item, const char *method, int anonymous)
{
    json_t *op = json_object_get(item, method);
    if (op) {
        json_object_set_new(op, "security", oa__security(anonymous));
        if (json_object_get(op, "responses"))
            json_object_set_new(json_object_get(op, "responses"), "401",
                                oa__error("the token was refused, or the policies need one"));
    }
}

static void oa__model(json_t *paths, json_t *schemas, const mc_model_t *m,
                      const mc_policy_t *policy, long limit_max, long max_body)
{
    char name[160], path[192];
    json_t *record = json_object(), *props = json_object(), *required = json_array();
    json_t *input = json_object(), *iprops = json_object(), *irequired = json_array();
    json_t *patch;

    json_object_set_new(props, "id", json_pack("{s:s, s:s}", "type", "integer", "format", "int64"));
    json_object_set_new(props, "version", json_pack("{s:s, s:s, s:s}", "type", "integer", "format",
                                                    "int64", "description",
                                                    "bumped by every update"));
    json_object_set_new(props, "created_at", json_pack("{s:s, s:s}", "type", "string", "format",
                                                       "date-time"));
    json_object_set_new(props, "updated_at", json_pack("{s:s, s:s}", "type", "string", "format",
                                                       "date-time"));
    for (size_t i = 0; i < MC_MODEL_NSYSTEM; i++)
        json_array_append_new(required, json_string(mc_model_system_columns[i]));
    for (size_t i = 0; i < m->nattrs; i++) {
        const mc_attr_t *a = &m->attrs[i];
        json_object_set_new(props, a->name, oa__attr_schema(a));
        json_object_set_new(iprops, a->name, oa__attr_schema(a));
        json_array_append_new(required, json_string(a->name));
        if (a->required)
            json_array_append_new(irequired, json_string(a->name));
    }
    json_object_set_new(record, "type", json_string("object"));
    json_object_set_new(record, "properties", props);
    json_object_set_new(record, "required", required);
    json_object_set_new(schemas, m->name, record);

    json_object_set_new(input, "type", json_string("object"));
    json_object_set_new(input, "additionalProperties", json_false());
    json_object_set(input, "properties", iprops);
    patch = json_deep_copy(input);
    json_object_set_new(input, "required", irequired);
    snprintf(name, sizeof name, "%sCreate", m->name);
    json_object_set_new(schemas, name, input);
    json_object_set_new(patch, "minProperties", json_integer(1));
    snprintf(name, sizeof name, "%sPatch", m->name);
    json_object_set_new(schemas, name, patch);
    json_decref(iprops);

    /* Filters: one eq parameter per column; the other operators are documented in text. */
    json_t *list_params = json_array();
    json_array_append_new(list_params,
                          oa__param("limit", "query", 0,
                                    json_pack("{s:s, s:i, s:I}", "type", "integer", "minimum", 1,
                                              "maximum", (json_int_t)limit_max),
                                    "page size (default 50)"));
    json_array_append_new(list_params, oa__param("cursor", "query", 0,
                                                 json_pack("{s:s}", "type", "string"),
                                                 "next_cursor of the previous page"));
    json_array_append_new(list_params,
                          oa__param("order", "query", 0, json_pack("{s:s}", "type", "string"),
                                    "comma-separated attributes, '-' for descending"));
    if (m->nscopes) {
        json_t *names = json_array();
        for (size_t i = 0; i < m->nscopes; i++)
            json_array_append_new(names, json_string(m->scopes[i].name));
        json_array_append_new(list_params,
                              oa__param("scope", "query", 0,
                                        json_pack("{s:s, s:o}", "type", "string", "examples",
                                                  names),
                                        "comma-separated scope names"));
    }
    for (size_t i = 0; i < m->nattrs + MC_MODEL_NSYSTEM; i++) {
        const mc_attr_t *a = i < MC_MODEL_NSYSTEM ? mc_model_column(m, mc_model_system_columns[i])
                                                  : &m->attrs[i - MC_MODEL_NSYSTEM];
        if (a->type == MC_ATTR_JSON)
            continue;
        json_array_append_new(list_params,
                              oa__param(a->name, "query", 0, json_pack("{s:s}", "type", "string"),
                                        "equals; also name[ne|gt|gte|lt|lte]=v, name[in]=a,b, "
                                        "name[null]=true|false"));
    }
    json_t *count_params = json_deep_copy(list_params);
    json_array_remove(count_params, 0); /* limit */
    json_array_remove(count_params, 0); /* cursor */
    json_array_remove(count_params, 0); /* order */

    char desc[128];
    snprintf(desc, sizeof desc, "request body over %ld bytes", max_body);
    json_t *page = json_pack("{s:s, s:{s:{s:s, s:{s:o}}, s:{s:[s, s]}}, s:[s, s]}", "type",
                             "object", "properties", "data", "type", "array", "items", "$ref",
                             oa__ref(m->name), "next_cursor", "type", "string", "null",
                             "required", "data", "next_cursor");
    snprintf(path, sizeof path, "/v1/%s", m->name);
    snprintf(name, sizeof name, "%sCreate", m->name);
    json_object_set_new(
        paths, path,
        json_pack("{s:{s:s, s:o, s:{s:o, s:o, s:o}}, s:{s:s, s:{s:b, s:{s:{s:{s:o}}}}, "
                  "s:{s:o, s:o, s:o, s:o, s:o, s:o}}}",
                  "get", "summary", "List records", "parameters", list_params, "responses",
                  "200", oa__response("a page of records", page), "400",
                  oa__error("malformed query or cursor"), "404", oa__error("unknown model"),
                  "post", "summary", "Create a record", "requestBody", "required", 1, "content",
                  "application/json", "schema", "$ref", oa__ref(name), "responses", "201",
                  oa__response("the created record", json_pack("{s:o}", "$ref", oa__ref(m->name))),
                  "400", oa__error("malformed JSON"), "413", oa__error(desc), "415",
                  oa__error("not application/json"), "422", oa__error("validation failed"),
                  "503", oa__error("database unavailable")));
    snprintf(path, sizeof path, "/v1/%s/count", m->name);
    json_object_set_new(paths, path,
                        json_pack("{s:{s:s, s:o, s:{s:o, s:o}}}", "get", "summary",
                                  "Count records", "parameters", count_params, "responses", "200",
                                  oa__response("the count", json_pack("{s:s, s:{s:{s:s}}}",
                                                                      "type", "object",
                                                                      "properties", "count",
                                                                      "type", "integer")),
                                  "400", oa__error("malformed query")));
    snprintf(path, sizeof path, "/v1/%s/{id}", m->name);
    snprintf(name, sizeof name, "%sPatch", m->name);
    json_t *id_param = oa__param("id", "path", 1,
                                 json_pack("{s:s, s:s}", "type", "integer", "format", "int64"),
                                 "record id");
    json_t *if_match = oa__param("If-Match", "header", 0, json_pack("{s:s}", "type", "string"),
                                 "the version the change is based on (412 when stale)");
    json_object_set_new(
        paths, path,
        json_pack("{s:[o], s:{s:s, s:{s:o, s:o}}, s:{s:s, s:[o], s:{s:b, s:{s:{s:{s:o}}}}, "
                  "s:{s:o, s:o, s:o, s:o, s:o}}, s:{s:s, s:[O], s:{s:o, s:o, s:o}}}",
                  "parameters", id_param, "get", "summary", "Get a record", "responses", "200",
                  oa__response("the record", json_pack("{s:o}", "$ref", oa__ref(m->name))), "404",
                  oa__error("no such record"), "patch", "summary", "Update some attributes",
                  "parameters", json_incref(if_match), "requestBody", "required", 1, "content",
                  "application/json", "schema", "$ref", oa__ref(name), "responses", "200",
                  oa__response("the updated record",
                               json_pack("{s:o}", "$ref", oa__ref(m->name))),
                  "404", oa__error("no such record"), "412", oa__error("stale If-Match version"),
                  "415", oa__error("not application/json"), "422",
                  oa__error("validation failed"), "delete", "summary", "Delete a record",
                  "parameters", if_match, "responses", "204", oa__response("deleted", NULL),
                  "404", oa__error("no such record"), "412", oa__error("stale If-Match version")));
    json_decref(if_match);

    int read = oa__anonymous(policy, m, "read");
    snprintf(path, sizeof path, "/v1/%s", m->name);
    oa__secure(json_object_get(paths, path), "get", read);
    oa__secure(json_object_get(paths, path), "post", oa__anonymous(policy, m, "create"));
    snprintf(path, sizeof path, "/v1/%s/count", m->name);
    oa__secure(json_object_get(paths, path), "get", read);
    snprintf(path, sizeof path, "/v1/%s/{id}", m->name);
    oa__secure(json_object_get(paths, path), "get", read);
    oa__secure(json_object_get(paths, path), "patch", oa__anonymous(policy, m, "update"));
    oa__secure(json_object_get(paths, path), "delete", oa__anonymous(policy, m, "destroy"));
}

json_t *openapi_build(const mc_schema_t *schema, const mc_policy_t *policy, long list_limit_max,
                      long max_body)
{
    json_t *paths = json_object(), *schemas = json_object();

    json_object_set_new(
        schemas, "Error",
        json_pack("{s:s, s:{s:{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}}, s:[s, s]}}, s:[s]}", "type",
                  "object", "properties", "error", "type", "object", "properties", "code", "type",
                  "string", "message", "type", "string", "details", "type", "object", "required",
                  "code", "message", "required", "error"));
    json_object_set_new(paths, "/v1/models",
                        json_pack("{s:{s:s, s:{s:o}}}", "get", "summary",
                                  "The models the caller may see", "responses", "200",
                                  oa__response("model schemas", json_pack("{s:s}", "type",
                                                                          "object"))));
    json_object_set_new(
        paths, "/v1/channels",
        json_pack("{s:{s:s, s:s, s:{s:o}}}", "get", "summary",
                  "The channels the caller may subscribe to", "description",
                  "channels: the channel names the caller may subscribe to on the pusher; "
                  "any_instance: the instance channel classes it may join for any instance id "
                  "(not listable one by one)",
                  "responses", "200",
                  oa__response("channels", json_pack(
                      "{s:s, s:{s:{s:s, s:{s:s}}, s:{s:s, s:{s:s}}}, s:[s, s]}", "type",
                      "object", "properties", "channels", "type", "array", "items", "type",
                      "string", "any_instance", "type", "array", "items", "type", "string",
                      "required", "channels", "any_instance"))));
    for (size_t i = 0; i < schema->nmodels; i++)
        if (!schema->models[i].server_only)
            oa__model(paths, schemas, &schema->models[i], policy, list_limit_max, max_body);
    json_object_set_new(paths, "/healthz",
                        json_pack("{s:{s:s, s:{s:o}}}", "get", "summary", "Liveness",
                                  "responses", "200", oa__response("alive", NULL)));
    json_object_set_new(paths, "/readyz",
                        json_pack("{s:{s:s, s:{s:o, s:o}}}", "get", "summary",
                                  "Readiness: PostgreSQL answers (Kafka and the outbox in the detail)",
                                  "responses", "200", oa__response("ready", NULL), "503",
                                  oa__response("not ready", NULL)));
    json_object_set_new(paths, "/metrics",
                        json_pack("{s:{s:s, s:{s:o}}}", "get", "summary", "Prometheus metrics",
                                  "responses", "200", oa__response("text exposition", NULL)));
    /* /v1/models and /v1/channels answer every caller (what it lists depends on the token); the
     * operational endpoints take no token at all. */
    oa__secure(json_object_get(paths, "/v1/models"), "get", 1);
    oa__secure(json_object_get(paths, "/v1/channels"), "get", 1);
    static const char *const open_paths[] = {"/healthz", "/readyz", "/metrics"};
    for (size_t i = 0; i < sizeof open_paths / sizeof open_paths[0]; i++)
        json_object_set_new(json_object_get(json_object_get(paths, open_paths[i]), "get"),
                            "security", json_array());
    json_t *schemes = json_pack(
        "{s:{s:s, s:s, s:s, s:s}}", "bearerAuth", "type", "http", "scheme", "bearer",
        "bearerFormat", "JWT", "description",
        "A JWT verified with the pinned MC_JWT_ALG and MC_JWT_KEY (exp, nbf, iss, aud checked). "
        "Without it the caller is anonymous: what it may read and write is what "
        "config/policies.json gives anonymous callers; an operation lists an empty "
        "requirement where that allows it.");
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:o, s:o}, s:[{s:[]}, {}]}", "openapi",
                     "3.1.0", "info", "title", "modelcast model-api", "version", MC_VERSION,
                     "description",
                     "REST over the models of models.json; every committed change is published "
                     "to Kafka (docs/events.md).",
                     "paths", paths, "components", "schemas", schemas, "securitySchemes",
                     schemes, "security", "bearerAuth");
}
