/* test_delivery.c - change event → policy-routed deliveries, and the reasons events are
 * dead-lettered. */
#include "delivery.h"
#include "mc_error.h"
#include "mc_test.h"

static mc_schema_t *schema;
static mc_policy_t *policy;

static void setup(void)
{
    char err[512] = "";
    json_t *m = json_loads(
        "{\"models\":{\"Todo\":{\"attributes\":{\"title\":{\"type\":\"string\"},"
        "\"notes\":{\"type\":\"text\"},\"owner_id\":{\"type\":\"bigint\"},"
        "\"team_id\":{\"type\":\"bigint\"}}},"
        "\"Word\":{\"attributes\":{\"w\":{\"type\":\"string\"}}}}}",
        0, NULL);
    json_t *p = json_loads(
        "{\"channels\":{\"Application\":{\"connect\":\"always\"},"
        "\"User\":{\"instance\":true,\"connect\":{\"claim\":\"sub\",\"eq_instance\":true}},"
        "\"Team\":{\"instance\":true,\"connect\":{\"claim\":\"teams\",\"contains_instance\":true}}},"
        "\"models\":{\"Todo\":{\"broadcast\":["
        "{\"send\":\"all\",\"to\":[{\"channel\":\"User\",\"instance\":\"owner_id\"}]},"
        "{\"send_only\":[\"title\"],\"to\":[{\"channel\":\"Team\",\"instance\":\"team_id\"}]}]},"
        "\"Word\":{\"broadcast\":[{\"send\":\"all\",\"to\":[\"Application\"]}]}}}",
        0, NULL);
    if (mc_schema_parse(m, "models.json", &schema, err, sizeof err) != MC_OK ||
        mc_policy_parse(p, "policies.json", schema, &policy, err, sizeof err) != MC_OK)
        fprintf(stderr, "setup: %s\n", err);
    json_decref(m);
    json_decref(p);
}

static json_t *find(json_t *deliveries, const char *channel)
{
    size_t i;
    json_t *d;
    json_array_foreach(deliveries, i, d) {
        if (strcmp(json_string_value(json_object_get(d, "channel")), channel) == 0)
            return d;
    }
    return NULL;
}

static void test_routes_with_policies(void)
{
    const char *ev = "{\"model\":\"Todo\",\"id\":7,\"op\":\"update\",\"version\":2,"
                     "\"before\":{\"id\":7,\"version\":1,\"title\":\"a\",\"notes\":\"n\","
                     "\"owner_id\":1,\"team_id\":3},"
                     "\"after\":{\"id\":7,\"version\":2,\"title\":\"b\",\"notes\":\"secret\","
                     "\"owner_id\":2,\"team_id\":3},"
                     "\"changed\":[\"title\",\"notes\",\"owner_id\"],\"txid\":1,"
                     "\"committed_at\":\"x\"}";
    json_t *out = NULL;
    char reason[256] = "";
    MC_CHECK_INT(delivery_route(policy, ev, strlen(ev), "e-1", &out, reason, sizeof reason),
                 MC_OK);
    MC_CHECK_INT(json_array_size(out), 3);

    json_t *old_owner = find(out, "User-1"), *new_owner = find(out, "User-2"),
           *team = find(out, "Team-3");
    MC_CHECK(old_owner && new_owner && team);
    if (!old_owner || !new_owner || !team)
        goto done;
    /* the old owner can no longer see it: remove, with nothing but the id */
    MC_CHECK_STR(json_string_value(json_object_get(old_owner, "op")), "remove");
    MC_CHECK_INT(json_array_size(json_object_get(old_owner, "changed")), 0);
    MC_CHECK(json_object_get(json_object_get(old_owner, "attributes"), "title") == NULL);
    /* the new owner sees everything, as a record new to its channel */
    MC_CHECK_STR(json_string_value(json_object_get(new_owner, "op")), "create");
    MC_CHECK_STR(json_string_value(json_object_get(team, "op")), "update");
    MC_CHECK_STR(json_string_value(json_object_get(json_object_get(new_owner, "attributes"),
                                                   "notes")),
                 "secret");
    MC_CHECK_STR(json_string_value(json_object_get(new_owner, "event_id")), "e-1");
    MC_CHECK_INT(json_integer_value(json_object_get(new_owner, "version")), 2);
    /* teammates: send_only title; notes is neither sent nor named in changed */
    json_t *tattrs = json_object_get(team, "attributes");
    MC_CHECK(json_object_get(tattrs, "notes") == NULL);
    MC_CHECK(json_object_get(tattrs, "owner_id") == NULL);
    MC_CHECK_STR(json_string_value(json_object_get(tattrs, "title")), "b");
    char *changed = json_dumps(json_object_get(team, "changed"), JSON_COMPACT);
    MC_CHECK_STR(changed, "[\"title\"]");
    free(changed);
done:
    json_decref(out);
}

static void test_destroy_and_no_receivers(void)
{
    const char *destroy = "{\"model\":\"Word\",\"id\":1,\"op\":\"destroy\",\"version\":3,"
                          "\"before\":{\"id\":1,\"w\":\"x\"},\"after\":null,\"changed\":[]}";
    json_t *out = NULL;
    char reason[256] = "";
    MC_CHECK_INT(delivery_route(policy, destroy, strlen(destroy), "e-2", &out, reason,
                                sizeof reason),
                 MC_OK);
    MC_CHECK_INT(json_array_size(out), 1);
    MC_CHECK_STR(json_string_value(json_object_get(json_array_get(out, 0), "op")), "destroy");
    MC_CHECK_STR(json_string_value(json_object_get(json_array_get(out, 0), "channel")),
                 "Application");
    json_decref(out);

    /* a Todo without owner and team reaches no channel: no delivery, not an error */
    const char *orphan = "{\"model\":\"Todo\",\"id\":2,\"op\":\"create\",\"version\":1,"
                         "\"before\":null,\"after\":{\"id\":2,\"owner_id\":null,"
                         "\"team_id\":null},\"changed\":[]}";
    MC_CHECK_INT(delivery_route(policy, orphan, strlen(orphan), "e-3", &out, reason,
                                sizeof reason),
                 MC_OK);
    MC_CHECK_INT(json_array_size(out), 0);
    json_decref(out);
}

static void expect_refused(const char *ev, const char *event_id, const char *needle)
{
    json_t *out = NULL;
    char reason[256] = "";
    MC_CHECK_INT(delivery_route(policy, ev, ev ? strlen(ev) : 0, event_id, &out, reason,
                                sizeof reason),
                 MC_ERR_INVAL);
    MC_CHECK(out == NULL);
    MC_CHECK_CONTAINS(reason, needle);
}

static void test_refusals(void)
{
    expect_refused("{}", NULL, "ce_id");
    expect_refused(NULL, "e", "empty");
    expect_refused("garbage{", "e", "not JSON");
    expect_refused("[1]", "e", "not a JSON object");
    expect_refused("{\"id\":1}", "e", "model");
    expect_refused("{\"model\":\"Todo\",\"id\":\"1\"}", "e", "id");
    expect_refused("{\"model\":\"Todo\",\"id\":1,\"version\":1,\"op\":\"explode\"}", "e", "op");
    expect_refused("{\"model\":\"Todo\",\"id\":1,\"version\":1,\"op\":\"create\",\"after\":3}",
                   "e", "after");
    expect_refused("{\"model\":\"Todo\",\"id\":1,\"op\":\"create\",\"after\":{}}", "e",
                   "version");
    expect_refused("{\"model\":\"Ghost\",\"id\":1,\"version\":1,\"op\":\"create\","
                   "\"after\":{\"id\":1}}",
                   "e", "not in the models file");
    expect_refused("{\"model\":\"Todo\",\"id\":1,\"version\":2,\"op\":\"update\","
                   "\"after\":{\"id\":1}}",
                   "e", "before");
}

int main(void)
{
    setup();
    MC_TEST_RUN(test_routes_with_policies);
    MC_TEST_RUN(test_destroy_and_no_receivers);
    MC_TEST_RUN(test_refusals);
    mc_policy_free(policy);
    mc_schema_free(schema);
    MC_TEST_DONE();
}
