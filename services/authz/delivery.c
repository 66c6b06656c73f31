/* delivery.c - change event → per-channel deliveries, through the policy engine. */
#include "delivery.h"
#include "mc_contract.h"
#include "mc_error.h"

#include <stdio.h>
#include <string.h>

#define FAIL(...)                                   \
    do {                                            \
        snprintf(reason, reasonlen, __VA_ARGS__);   \
        json_decref(ev);                            \
        return MC_ERR_INVAL;                        \
    } while (0)

/* changed, narrowed to what the channel may see (hidden attribute names must not leak). */
static json_t *delivery__changed(const json_t *changed, const json_t *attrs, const char *op)
{
    json_t *out = json_array();
    size_t i;
    json_t *name;
    if (!changed || strcmp(op, MC_OP_REMOVE) == 0)
        return out;
    json_array_foreach(changed, i, name) {
        if (json_is_string(name) && json_object_get(attrs, json_string_value(name)))
            json_array_append(out, name);
    }
    return out;
}

int delivery_route(const mc_policy_t *policy, const char *value, size_t len,
                   const char *event_id, json_t **out, char *reason, size_t reasonlen)
{
    json_error_t jerr;
    json_t *ev = NULL, *routed = NULL;
    const char *model, *op;
    json_t *id, *version, *before, *after, *changed;

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
    model = json_string_value(json_object_get(ev, MC_FIELD_MODEL));
    op = json_string_value(json_object_get(ev, MC_FIELD_OP));
    id = json_object_get(ev, MC_FIELD_ID);
    version = json_object_get(ev, MC_FIELD_VERSION);
    changed = json_object_get(ev, MC_FIELD_CHANGED);
    before = json_object_get(ev, MC_FIELD_BEFORE);
    after = json_object_get(ev, MC_FIELD_AFTER);
    if (!model || !*model)
        FAIL("model is missing");
    if (!json_is_integer(id))
        FAIL("id is not an integer");
    if (!json_is_integer(version))
        FAIL("version is not an integer");
    if (!op || (strcmp(op, MC_OP_CREATE) != 0 && strcmp(op, MC_OP_UPDATE) != 0 &&
                strcmp(op, MC_OP_DESTROY) != 0))
        FAIL("op is not create, update or destroy");
    if (strcmp(op, MC_OP_CREATE) != 0 && !json_is_object(before))
        FAIL("before is not an object");
    if (strcmp(op, MC_OP_DESTROY) != 0 && !json_is_object(after))
        FAIL("after is not an object");
    if (changed && !json_is_array(changed))
        FAIL("changed is not an array");

    int rc = mc_policy_route(policy, model, op, json_is_object(before) ? before : NULL,
                             json_is_object(after) ? after : NULL, &routed);
    if (rc == MC_ERR_NOT_FOUND)
        FAIL("model '%.64s' is not in the models file", model);
    if (rc != MC_OK)
        FAIL("the policies cannot evaluate this change (%s)", mc_strerror(rc));

    *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(routed, i, r) {
        const char *dop = json_string_value(json_object_get(r, MC_FIELD_OP));
        json_t *attrs = json_object_get(r, MC_FIELD_ATTRIBUTES);
        json_t *d = json_pack("{s:O, s:s, s:O, s:s, s:O, s:O, s:o, s:s}", MC_FIELD_CHANNEL,
                              json_object_get(r, MC_FIELD_CHANNEL), MC_FIELD_MODEL, model,
                              MC_FIELD_ID, id, MC_FIELD_OP, dop, MC_FIELD_VERSION, version,
                              MC_FIELD_ATTRIBUTES, attrs, MC_FIELD_CHANGED,
                              delivery__changed(changed, attrs, dop), MC_FIELD_EVENT_ID,
                              event_id);
        if (!d) {
            json_decref(*out);
            *out = NULL;
            json_decref(routed);
            json_decref(ev);
            snprintf(reason, reasonlen, "out of memory");
            return MC_ERR_NOMEM;
        }
        json_array_append_new(*out, d);
    }
    json_decref(routed);
    json_decref(ev);
    return MC_OK;
}
