/* delivery.c - change event → deliveries. Every change currently goes to one class
 * channel with all attributes; policies (config/policies.json) will narrow this. */
#include "delivery.h"
#include "mc_error.h"

#include <stdio.h>
#include <string.h>

#define FAIL(...)                                   \
    do {                                            \
        snprintf(reason, reasonlen, __VA_ARGS__);   \
        json_decref(ev);                            \
        return MC_ERR_INVAL;                        \
    } while (0)

int delivery_route(const char *value, size_t len, const char *event_id, const char *channel,
                   json_t **out, char *reason, size_t reasonlen)
{
    json_error_t jerr;
    json_t *ev = NULL;
    const char *model, *op;
    json_t *id, *version, *attrs, *changed;

    *out = NULL;
    if (!event_id || !*event_id) {
        snprintf(reason, reasonlen, "missing ce_id header");
        return MC_ERR_INVAL;
    }
    if (!value || len == 0) {
        snprintf(reason, reasonlen, "empty value");
        return MC_ERR_INVAL;
    }
    ev = json_loadb(value, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!ev)
        FAIL("value is not JSON: %s", jerr.text);
    if (!json_is_object(ev))
        FAIL("value is not a JSON object");
    model = json_string_value(json_object_get(ev, "model"));
    op = json_string_value(json_object_get(ev, "op"));
    id = json_object_get(ev, "id");
    version = json_object_get(ev, "version");
    changed = json_object_get(ev, "changed");
    if (!model || !*model)
        FAIL("model is missing");
    if (!json_is_integer(id))
        FAIL("id is not an integer");
    if (!json_is_integer(version))
        FAIL("version is not an integer");
    if (!op || (strcmp(op, "create") && strcmp(op, "update") && strcmp(op, "destroy")))
        FAIL("op is not create, update or destroy");
    attrs = json_object_get(ev, strcmp(op, "destroy") == 0 ? "before" : "after");
    if (!json_is_object(attrs))
        FAIL("%s is not an object", strcmp(op, "destroy") == 0 ? "before" : "after");
    if (changed && !json_is_array(changed))
        FAIL("changed is not an array");

    json_t *d = json_pack("{s:s, s:s, s:O, s:s, s:O, s:O, s:o, s:s}", "channel", channel,
                          "model", model, "id", id, "op", op, "version", version, "attributes",
                          attrs, "changed", changed ? json_incref(changed) : json_array(),
                          "event_id", event_id);
    json_decref(ev);
    if (!d) {
        snprintf(reason, reasonlen, "out of memory");
        return MC_ERR_NOMEM;
    }
    *out = json_array();
    json_array_append_new(*out, d);
    return MC_OK;
}
