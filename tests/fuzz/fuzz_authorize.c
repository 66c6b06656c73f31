/*
 * fuzz_authorize.c - the decisions the policies take on what a caller controls
 * (common/src/policy_eval.c, policy_read.c): its token's claims, the channel it asks for
 * (POST /v1/authorize, a WebSocket subscribe), the records it writes. Input: claims JSON
 * (empty or not an object: anonymous) \0 channel \0 model \0 op \0 before JSON \0 after
 * JSON, against config/policies.json, tests/fuzz/data/policies_widget.json and
 * policies_limits.json. Rules are monotone: whatever an anonymous caller may do, a caller
 * with claims may do too. Listed channels are connectable, read filters pass the SQL
 * oracle whatever the claims hold, refusals name a documented reason.
 */
#include "fuzz_common.h"
#include "mc_error.h"

#include <stdlib.h>
#include <string.h>

static int one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0)
            return 1;
    return 0;
}

static void check_policy(const mc_policy_t *p, const mc_schema_t *s, const json_t *claims,
                         const char *channel, const char *model, const char *op,
                         const json_t *before, const json_t *after)
{
    static const char *const connect_reasons[] = {"unknown_channel", "unauthenticated",
                                                  "denied", NULL};
    static const char *const write_reasons[] = {"unknown_model", "no_rule", "unauthenticated",
                                                "denied", NULL};
    const char *reason = NULL;
    size_t i;
    json_t *ch;

    int ok = mc_policy_can_connect(p, claims, channel, &reason);
    FUZZ_ASSERT(ok == 1 || (ok == 0 && one_of(reason, connect_reasons)),
                "mc_policy_can_connect: no decision or an unknown reason");
    if (!claims) {
        json_t *some = json_pack("{s:s}", "sub", "0");
        FUZZ_ASSERT(!ok || mc_policy_can_connect(p, some, channel, NULL) == 1,
                    "claims took a connect right away");
        json_decref(some);
    } else if (mc_policy_can_connect(p, NULL, channel, NULL)) {
        FUZZ_ASSERT(ok, "claims took a connect right away");
    }

    json_t *chans = mc_policy_channels(p, claims);
    FUZZ_ASSERT(json_is_array(chans), "mc_policy_channels gave no array");
    json_array_foreach(chans, i, ch) {
        FUZZ_ASSERT(mc_policy_can_connect(p, claims, json_string_value(ch), NULL) == 1,
                    "a listed channel refuses the caller");
    }
    json_decref(chans);

    reason = NULL;
    ok = mc_policy_can_write(p, model, op, claims, before, after, &reason);
    FUZZ_ASSERT(ok == 1 || (ok == 0 && one_of(reason, write_reasons)),
                "mc_policy_can_write: no decision or an unknown reason");
    if (claims && mc_policy_can_write(p, model, op, NULL, before, after, NULL))
        FUZZ_ASSERT(ok, "claims took a write right away");

    json_decref(mc_policy_visible(p, model, claims, after));
    json_decref(mc_policy_visible_attributes(p, model, claims));
    for (size_t mi = 0; mi < s->nmodels; mi++) {
        mc_sql_t sql;
        mc_sql_init(&sql);
        if (mc_policy_read_filter(p, s->models[mi].name, claims, NULL, 0, &sql) == MC_OK)
            fuzz_check_sql(&sql, "read filter");
        mc_sql_cleanup(&sql);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *sets[3][2] = {{"config/policies.json", "config/models.json"},
                              {"tests/fuzz/data/policies_widget.json",
                               "tests/system/models_rest.json"},
                              {"tests/fuzz/data/policies_limits.json",
                               "tests/fuzz/data/models_limits.json"}};
    fuzz_part_t parts[6];
    fuzz_split(data, size, parts, 6);

    json_t *claims = json_loadb(parts[0].data, parts[0].len, 0, NULL);
    if (!json_is_object(claims)) {
        json_decref(claims);
        claims = NULL;
    }
    char *channel = fuzz_cstr(parts[1]), *model = fuzz_cstr(parts[2]), *op = fuzz_cstr(parts[3]);
    /* Records are objects (the services never pass anything else), of any content. */
    json_t *before = json_loadb(parts[4].data, parts[4].len, 0, NULL);
    json_t *after = json_loadb(parts[5].data, parts[5].len, 0, NULL);
    if (!json_is_object(before)) {
        json_decref(before);
        before = NULL;
    }
    if (!json_is_object(after)) {
        json_decref(after);
        after = NULL;
    }
    for (size_t i = 0; i < 3; i++)
        check_policy(fuzz_policy(sets[i][0], sets[i][1]), fuzz_schema(sets[i][1]), claims,
                     channel, model, op, before, after);
    json_decref(before);
    json_decref(after);
    free(channel);
    free(model);
    free(op);
    json_decref(claims);
    return 0;
}
