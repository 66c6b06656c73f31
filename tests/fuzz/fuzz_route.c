/*
 * fuzz_route.c - the change-event router of authz (delivery_route, services/authz/
 * delivery.c) with config/policies.json and with tests/fuzz/data/policies_widget.json
 * (over tests/system/models_rest.json). Input: one change event value as read from Kafka.
 * Every delivery must name a channel, the event's model, id and event id, a known op, only
 * attributes of the event's records, and "changed" names among those attributes.
 */
#include "delivery.h"
#include "fuzz_common.h"
#include "mc_error.h"

#include <string.h>

#define FUZZ_EVENT_ID "0b7e2a4c-fuzz"

static void check(const json_t *ev, const json_t *out)
{
    size_t i;
    json_t *d;
    json_t *before = json_object_get(ev, "before"), *after = json_object_get(ev, "after");
    FUZZ_ASSERT(json_is_array(out), "deliveries are not an array");
    json_array_foreach(out, i, d) {
        const char *op = json_string_value(json_object_get(d, "op"));
        const char *chan = json_string_value(json_object_get(d, "channel"));
        json_t *attrs = json_object_get(d, "attributes"), *changed = json_object_get(d, "changed");
        const char *k;
        json_t *v;
        size_t j;
        FUZZ_ASSERT(chan && *chan, "a delivery without a channel");
        FUZZ_ASSERT(op && (strcmp(op, "create") == 0 || strcmp(op, "update") == 0 ||
                           strcmp(op, "destroy") == 0 || strcmp(op, "remove") == 0),
                    "a delivery with an unknown op");
        FUZZ_ASSERT(json_equal(json_object_get(d, "model"), json_object_get(ev, "model")) &&
                        json_equal(json_object_get(d, "id"), json_object_get(ev, "id")) &&
                        json_equal(json_object_get(d, "version"), json_object_get(ev, "version")),
                    "a delivery of another record");
        FUZZ_ASSERT(strcmp(json_string_value(json_object_get(d, "event_id")), FUZZ_EVENT_ID) == 0,
                    "a delivery without the event id");
        FUZZ_ASSERT(json_is_object(attrs) && json_is_array(changed), "a malformed delivery");
        json_object_foreach(attrs, k, v) {
            json_t *b = json_object_get(before, k), *a = json_object_get(after, k);
            FUZZ_ASSERT((b && json_equal(b, v)) || (a && json_equal(a, v)),
                        "a delivered attribute not in the event's records");
        }
        json_array_foreach(changed, j, v) {
            FUZZ_ASSERT(json_is_string(v) && json_object_get(attrs, json_string_value(v)),
                        "changed names an attribute the channel does not receive");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *sets[2][2] = {{"config/policies.json", "config/models.json"},
                              {"tests/fuzz/data/policies_widget.json",
                               "tests/system/models_rest.json"}};
    json_t *ev = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    for (size_t i = 0; i < 2; i++) {
        const mc_policy_t *p = fuzz_policy(sets[i][0], sets[i][1]);
        json_t *out = NULL;
        char reason[256];
        int rc = delivery_route(p, (const char *)data, size, FUZZ_EVENT_ID, &out, reason,
                                sizeof reason);
        if (rc == MC_OK) {
            FUZZ_ASSERT(ev != NULL, "a value that is not JSON was routed");
            check(ev, out);
        } else {
            FUZZ_ASSERT(out == NULL && strlen(reason) > 0, "refused without a reason");
        }
        json_decref(out);
    }
    json_decref(ev);
    return 0;
}
