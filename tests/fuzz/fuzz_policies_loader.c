/*
 * fuzz_policies_loader.c - the policies compiler (mc_policy_parse, common/src/policy_*.c).
 * Input: a policies.json document, compiled against config/models.json and against
 * tests/system/models_rest.json (every attribute type). A policy that compiles is then
 * queried as the services do, for a few callers: the channels it lists must be ones it
 * may connect to; each model's read predicate must be well-formed SQL; routing sample
 * changes must only deliver attributes of the record, to valid channel names.
 */
#include "fuzz_common.h"
#include "mc_error.h"

#include <stdio.h>
#include <string.h>

static const char *const callers[] = {
    NULL,
    "{\"sub\": \"7\", \"teams\": [3, 4]}",
    "{\"sub\": 8, \"role\": \"admin\", \"teams\": \"3 5\"}",
    "{\"sub\": \"x\", \"org\": {\"id\": 1}, \"scope\": \"read widgets\", \"tags\": [\"red\"]}",
};

static const char *const ops[] = {"create", "update", "destroy"};

/* A sample record of m: variant 0 and 1 differ in every attribute, 2 is all null. */
static json_t *sample_record(const mc_model_t *m, int variant)
{
    json_t *r = json_pack("{s:i, s:i, s:s, s:s}", "id", 7, "version", 1 + variant,
                          "created_at", "2026-01-01T00:00:00Z", "updated_at",
                          "2026-01-02T00:00:00Z");
    for (size_t i = 0; r && i < m->nattrs; i++) {
        const mc_attr_t *a = &m->attrs[i];
        json_t *v;
        if (variant == 2) {
            v = json_null();
        } else {
            switch (a->type) {
            case MC_ATTR_INTEGER:
            case MC_ATTR_BIGINT:
            case MC_ATTR_REFERENCE:
                v = json_integer(variant ? 3 : 7);
                break;
            case MC_ATTR_FLOAT:
                v = json_real(variant ? 0.5 : 12.0);
                break;
            case MC_ATTR_BOOLEAN:
                v = json_boolean(variant);
                break;
            case MC_ATTR_TIMESTAMP:
                v = json_string(variant ? "2026-06-01T12:00:00Z" : "2025-01-01T00:00:00+02:00");
                break;
            case MC_ATTR_JSON:
                v = json_pack("{s:i}", "k", variant);
                break;
            default:
                v = json_string(variant ? "red" : "7");
                break;
            }
        }
        json_object_set_new(r, a->name, v);
    }
    FUZZ_ASSERT(r != NULL, "out of memory");
    return r;
}

/* Every delivery names a channel and a known op and carries only attributes of rec. */
static void check_deliveries(const json_t *deliveries, const json_t *before, const json_t *after)
{
    size_t i;
    json_t *d;
    FUZZ_ASSERT(json_is_array(deliveries), "deliveries are not an array");
    json_array_foreach(deliveries, i, d) {
        const char *chan = json_string_value(json_object_get(d, "channel"));
        const char *op = json_string_value(json_object_get(d, "op"));
        json_t *attrs = json_object_get(d, "attributes");
        const char *k;
        json_t *v;
        FUZZ_ASSERT(chan && *chan && strlen(chan) <= 200, "a delivery without a valid channel");
        FUZZ_ASSERT(op && (strcmp(op, "create") == 0 || strcmp(op, "update") == 0 ||
                           strcmp(op, "destroy") == 0 || strcmp(op, "remove") == 0),
                    "a delivery with an unknown op");
        FUZZ_ASSERT(json_is_object(attrs), "a delivery without attributes");
        json_object_foreach(attrs, k, v) {
            json_t *b = json_object_get(before, k), *a = json_object_get(after, k);
            FUZZ_ASSERT((b && json_equal(b, v)) || (a && json_equal(a, v)),
                        "a delivered attribute not in the record");
        }
    }
}

/*
 * Reads = broadcasts: what the caller may read of rec (mc_policy_visible) is exactly the
 * union of what a create of rec delivers to the channels it may connect to (nothing: NULL),
 * and within the attributes it may ever see (mc_policy_visible_attributes).
 */
static void check_reads_are_broadcasts(const mc_policy_t *p, const mc_model_t *m,
                                       const json_t *claims, const json_t *rec)
{
    json_t *deliveries = NULL, *seen = json_object(), *d;
    size_t i;
    FUZZ_ASSERT(mc_policy_route(p, m->name, "create", NULL, rec, &deliveries) == MC_OK,
                "a create of a schema model cannot be routed");
    json_array_foreach(deliveries, i, d) {
        const char *chan = json_string_value(json_object_get(d, "channel"));
        if (mc_policy_can_connect(p, claims, chan, NULL))
            json_object_update(seen, json_object_get(d, "attributes"));
    }
    json_t *vis = mc_policy_visible(p, m->name, claims, rec);
    json_t *cols = mc_policy_visible_attributes(p, m->name, claims);
    if (json_object_size(seen) == 0) {
        FUZZ_ASSERT(vis == NULL, "a record readable although no channel of the caller gets it");
    } else {
        const char *k;
        json_t *v;
        FUZZ_ASSERT(vis != NULL, "a record pushed to the caller but not readable");
        FUZZ_ASSERT(json_object_size(vis) == json_object_size(seen),
                    "the attributes read differ from the attributes pushed");
        json_object_foreach(vis, k, v) {
            json_t *col;
            int listed = 0;
            FUZZ_ASSERT(json_object_get(seen, k) != NULL,
                        "an attribute readable but never pushed to the caller");
            json_array_foreach(cols, i, col) listed |= strcmp(json_string_value(col), k) == 0;
            FUZZ_ASSERT(listed, "a readable attribute missing from the visible attributes");
        }
    }
    json_decref(cols);
    json_decref(vis);
    json_decref(seen);
    json_decref(deliveries);
}

static void exercise(const mc_policy_t *p, const mc_schema_t *s)
{
    for (size_t c = 0; c < sizeof callers / sizeof callers[0]; c++) {
        json_t *claims = callers[c] ? json_loads(callers[c], 0, NULL) : NULL;
        json_t *chans = mc_policy_channels(p, claims);
        size_t i;
        json_t *ch;
        FUZZ_ASSERT(json_is_array(chans), "mc_policy_channels gave no array");
        json_array_foreach(chans, i, ch) {
            const char *reason = NULL;
            FUZZ_ASSERT(json_is_string(ch), "a listed channel is not a string");
            FUZZ_ASSERT(mc_policy_can_connect(p, claims, json_string_value(ch), &reason) == 1,
                        "a listed channel refuses the caller");
        }
        json_decref(chans);
        for (size_t mi = 0; mi < s->nmodels; mi++) {
            const mc_model_t *m = &s->models[mi];
            mc_sql_t sql;
            mc_sql_init(&sql);
            FUZZ_ASSERT(mc_policy_read_filter(p, m->name, claims, NULL, 0, &sql) == MC_OK,
                        "no read filter for a model of the schema");
            fuzz_check_sql(&sql, "read filter");
            mc_sql_cleanup(&sql);
            json_decref(mc_policy_visible_attributes(p, m->name, claims));
            json_t *before = sample_record(m, (int)c % 3), *after = sample_record(m, 1);
            check_reads_are_broadcasts(p, m, claims, before);
            for (size_t o = 0; o < 3; o++) {
                const char *reason = NULL;
                mc_policy_can_write(p, m->name, ops[o], claims, o ? before : NULL,
                                    o < 2 ? after : NULL, &reason);
            }
            json_decref(before);
            json_decref(after);
        }
        json_decref(claims);
    }
    /* Changes between the sample records: 0 → 1 → 2 (all null) → 0. */
    for (size_t mi = 0; mi < s->nmodels; mi++) {
        const mc_model_t *m = &s->models[mi];
        for (int v = 0; v < 3; v++) {
            json_t *before = sample_record(m, v), *after = sample_record(m, (v + 1) % 3);
            for (size_t o = 0; o < 3; o++) {
                json_t *deliveries = NULL;
                int rc = mc_policy_route(p, m->name, ops[o], o ? before : NULL,
                                         o < 2 ? after : NULL, &deliveries);
                FUZZ_ASSERT(rc == MC_OK, "a change of a schema model cannot be routed");
                check_deliveries(deliveries, before, after);
                json_decref(deliveries);
            }
            json_decref(before);
            json_decref(after);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *models[] = {"config/models.json", "tests/system/models_rest.json"};
    char err[512];
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!root)
        return 0;
    for (size_t i = 0; i < 2; i++) {
        const mc_schema_t *s = fuzz_schema(models[i]);
        mc_policy_t *p = NULL;
        int rc = mc_policy_parse(root, "policies.json", s, &p, err, sizeof err);
        if (rc == MC_OK) {
            exercise(p, s);
            mc_policy_free(p);
        } else {
            FUZZ_ASSERT(p == NULL && strlen(err) > 0, "refused without a message");
        }
    }
    json_decref(root);
    return 0;
}
