/* test_policy.c - the policy engine: load errors naming their JSON path, connect rules,
 * channel enumeration, delivery routing (filters, intersection, remove), write rules with
 * default deny, the read predicate's SQL and parameters, visible records and attributes,
 * when every readable record shows the same attributes. */
#include "mc_error.h"
#include "mc_policy.h"
#include "mc_test.h"

static const char *models_json =
    "{\"models\":{"
    "\"Dictionary\":{\"attributes\":{\"word\":{\"type\":\"string\",\"required\":true},"
    "\"definition\":{\"type\":\"text\"},\"pronunciation\":{\"type\":\"string\"}}},"
    "\"Todo\":{\"attributes\":{\"title\":{\"type\":\"string\",\"required\":true},"
    "\"done\":{\"type\":\"boolean\"},\"private\":{\"type\":\"boolean\"},"
    "\"owner_id\":{\"type\":\"bigint\",\"required\":true},\"team_id\":{\"type\":\"bigint\"},"
    "\"notes\":{\"type\":\"text\"},\"org\":{\"type\":\"string\"}}},"
    "\"Secret\":{\"server_only\":true,\"attributes\":{\"v\":{\"type\":\"string\"}}},"
    "\"Unpolicied\":{\"attributes\":{\"v\":{\"type\":\"string\"}}}"
    "}}";

/* The policies under test: the shipped example plus an Org channel with a dotted claim. */
static const char *policies_json =
    "{\"channels\":{"
    "\"Application\":{\"connect\":\"always\"},"
    "\"Members\":{\"connect\":\"authenticated\"},"
    "\"Admins\":{\"connect\":{\"claim\":\"role\",\"eq\":\"admin\"}},"
    "\"Editors\":{\"connect\":{\"any\":[{\"claim\":\"roles\",\"contains\":\"editor\"},"
    "  {\"claim\":\"scope\",\"contains\":\"todo:edit\"}]}},"
    "\"Staff\":{\"connect\":{\"all\":[\"authenticated\",{\"claim\":\"org.id\",\"eq\":5},"
    "  {\"claim\":\"email_verified\",\"eq\":true}]}},"
    "\"User\":{\"instance\":true,\"connect\":{\"claim\":\"sub\",\"eq_instance\":true}},"
    "\"Team\":{\"instance\":true,\"connect\":{\"any\":[{\"claim\":\"teams\","
    "  \"contains_instance\":true},{\"claim\":\"role\",\"eq\":\"admin\"}]}},"
    "\"Org\":{\"instance\":true,\"connect\":{\"claim\":\"org.slug\",\"eq_instance\":true}}"
    "},\"models\":{"
    "\"Dictionary\":{\"broadcast\":[{\"send\":\"all\",\"to\":[\"Application\"]}],"
    "  \"write\":{\"create\":\"always\",\"update\":\"always\","
    "   \"destroy\":{\"claim\":\"role\",\"eq\":\"admin\"}}},"
    "\"Todo\":{\"broadcast\":["
    "  {\"send\":\"all\",\"to\":[{\"channel\":\"User\",\"instance\":\"owner_id\"}]},"
    "  {\"send_only\":[\"title\",\"done\",\"owner_id\",\"team_id\"],"
    "   \"to\":[{\"channel\":\"Team\",\"instance\":\"team_id\"}],"
    "   \"when\":{\"private\":{\"ne\":true}}},"
    "  {\"send_all_but\":[\"notes\",\"private\"],\"to\":[{\"channel\":\"Org\",\"instance\":\"org\"}]},"
    "  {\"send_only\":[\"title\",\"notes\"],\"to\":[{\"channel\":\"Org\",\"instance\":\"org\"}],"
    "   \"when\":{\"done\":{\"eq\":true}}}],"
    "  \"write\":{"
    "   \"create\":{\"all\":[\"authenticated\",{\"attribute\":\"owner_id\",\"eq_claim\":\"sub\"}]},"
    "   \"update\":{\"attribute\":\"owner_id\",\"eq_claim\":\"sub\"},"
    "   \"destroy\":{\"any\":[{\"attribute\":\"owner_id\",\"eq_claim\":\"sub\"},"
    "     {\"all\":[{\"claim\":\"role\",\"eq\":\"admin\"},{\"before\":{\"done\":{\"eq\":true}}}]}]}}}"
    "}}";

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fprintf(stderr, "bad test JSON (%s): %s\n", e.text, text);
    return v;
}

static mc_schema_t *schema;

static mc_policy_t *load(const char *text, char *err, size_t errlen, int *rc)
{
    json_t *root = J(text);
    mc_policy_t *p = NULL;
    *rc = mc_policy_parse(root, "policies.json", schema, &p, err, errlen);
    json_decref(root);
    return p;
}

static mc_policy_t *policy(void)
{
    char err[512] = "";
    int rc;
    mc_policy_t *p = load(policies_json, err, sizeof err, &rc);
    if (rc != MC_OK)
        fprintf(stderr, "policy load failed: %s\n", err);
    return p;
}

static void expect_load_error(const char *text, const char *needle)
{
    char err[512] = "";
    int rc;
    mc_policy_t *p = load(text, err, sizeof err, &rc);
    MC_CHECK_INT(rc, MC_ERR_CONFIG);
    MC_CHECK(p == NULL);
    MC_CHECK_CONTAINS(err, needle);
}

#define CH "{\"channels\":{\"Application\":{\"connect\":\"always\"}," \
           "\"User\":{\"instance\":true,\"connect\":{\"claim\":\"sub\",\"eq_instance\":true}}}"
#define TODO(body) CH ",\"models\":{\"Todo\":" body "}}"

static void test_load_errors(void)
{
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[\"Application\"]},"
                           "{\"send_only\":[\"titel\"],\"to\":[\"Application\"]}]}"),
                      "policies.json: models.Todo.broadcast[1].send_only[0]: 'titel' is not an "
                      "attribute of Todo");
    expect_load_error(CH ",\"models\":{\"Todo2\":{}}}",
                      "policies.json: models.Todo2: 'Todo2' is not a model declared in models.json");
    expect_load_error(CH ",\"models\":{\"Secret\":{}}}", "models.Secret: Secret is server_only");
    expect_load_error(TODO("{\"broadcast\":[{\"send_all_but\":[\"id\"],\"to\":[\"Application\"]}]}"),
                      "models.Todo.broadcast[0].send_all_but[0]: 'id' is a system column");
    expect_load_error(TODO("{\"broadcast\":[{\"send_all_but\":[\"nope\"],\"to\":[\"Application\"]}]}"),
                      "models.Todo.broadcast[0].send_all_but[0]: 'nope' is not an attribute");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[\"Nobody\"]}]}"),
                      "models.Todo.broadcast[0].to[0]: 'Nobody' is not a channel");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[\"User\"]}]}"),
                      "models.Todo.broadcast[0].to[0]: User is an instance channel");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[{\"channel\":\"Application\","
                           "\"instance\":\"owner_id\"}]}]}"),
                      "models.Todo.broadcast[0].to[0].instance: Application is a class channel");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[{\"channel\":\"User\","
                           "\"instance\":\"owner\"}]}]}"),
                      "models.Todo.broadcast[0].to[0].instance: 'owner' is not an attribute of Todo");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[{\"channel\":\"User\","
                           "\"instance\":\"done\"}]}]}"),
                      "to[0].instance: 'done' is a boolean");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[\"Application\"],"
                           "\"when\":{\"privat\":{\"eq\":true}}}]}"),
                      "policies.json: models.Todo.broadcast[0].when.privat: 'privat' is not an "
                      "attribute of Todo");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"send_only\":[\"title\"],"
                           "\"to\":[\"Application\"]}]}"),
                      "models.Todo.broadcast[0]: give exactly one of");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"some\",\"to\":[\"Application\"]}]}"),
                      "models.Todo.broadcast[0].send: expected \"all\"");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[]}]}"),
                      "models.Todo.broadcast[0].to: expected a non-empty array");
    expect_load_error(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[\"Application\"],"
                           "\"too\":1}]}"),
                      "models.Todo.broadcast[0].too: unknown key");
    expect_load_error(TODO("{\"write\":{\"create\":{\"attribute\":\"owner_id\","
                           "\"eq_claim\":\"a..b\"}}}"),
                      "models.Todo.write.create.eq_claim: expected a claim path");
    expect_load_error(TODO("{\"write\":{\"create\":{\"claim\":\"\",\"eq\":1}}}"),
                      "models.Todo.write.create.claim: expected a claim path");
    expect_load_error(TODO("{\"write\":{\"create\":{\"claim\":\".sub\",\"eq\":1}}}"),
                      "models.Todo.write.create.claim: expected a claim path");
    expect_load_error(TODO("{\"write\":{\"create\":{\"before\":{\"done\":{\"eq\":true}}}}}"),
                      "models.Todo.write.create: a create has no before record");
    expect_load_error(TODO("{\"write\":{\"destroy\":{\"attribute\":\"owner_id\","
                           "\"eq_claim\":\"sub\",\"of\":\"after\"}}}"),
                      "models.Todo.write.destroy: a destroy has no after record");
    expect_load_error(TODO("{\"write\":{\"update\":{\"all\":[\"authenticated\","
                           "{\"record\":{\"done\":{\"eq\":\"yes\"}}}]}}}"),
                      "models.Todo.write.update.all[1].record.done.eq: must be true or false");
    expect_load_error(TODO("{\"write\":{\"update\":{\"all\":[\"authenticated\","
                           "{\"claim\":\"sub\",\"eq_instance\":true}]}}}"),
                      "models.Todo.write.update.all[1].eq_instance: only in the connect rule of "
                      "an instance channel");
    expect_load_error(TODO("{\"write\":{\"update\":\"everyone\"}}"),
                      "models.Todo.write.update: unknown rule 'everyone'");
    expect_load_error(TODO("{\"write\":{\"upsert\":\"always\"}}"),
                      "models.Todo.write.upsert: unknown operation");
    expect_load_error(TODO("{\"write\":{\"update\":{\"any\":[]}}}"),
                      "models.Todo.write.update.any: expected a non-empty array");
    expect_load_error(TODO("{\"write\":{\"update\":{\"claim\":\"sub\",\"eq\":\"1\","
                           "\"contains\":\"1\"}}}"),
                      "models.Todo.write.update: a claim test takes exactly one");
    expect_load_error("{\"channels\":{\"Application\":{\"connect\":{\"claim\":\"sub\","
                      "\"eq_instance\":true}}}}",
                      "channels.Application.connect.eq_instance: only in the connect rule of an "
                      "instance channel");
    expect_load_error("{\"channels\":{\"Application\":{\"connect\":{\"record\":{}}}}}",
                      "channels.Application.connect.record: record tests only apply to write");
    expect_load_error("{\"channels\":{\"app\":{\"connect\":\"always\"}}}",
                      "channels.app: channel names must match");
    expect_load_error("{\"channels\":{\"App\":{}}}", "channels.App.connect: missing");
    expect_load_error("{\"channels\":{\"App\":{\"connect\":\"always\",\"instance\":1}}}",
                      "channels.App.instance: expected true or false");
    expect_load_error("{\"channels\":{}}", "policies.json: channels: expected an object");
    expect_load_error("{\"channels\":{\"App\":{\"connect\":\"always\"}},\"model\":{}}",
                      "policies.json: model: unknown key");
    expect_load_error("[]", "policies.json: expected an object");

    char err[512] = "";
    mc_policy_t *p = NULL;
    MC_CHECK_INT(mc_policy_load("/nonexistent/policies.json", schema, &p, err, sizeof err),
                 MC_ERR_IO);
    MC_CHECK_CONTAINS(err, "/nonexistent/policies.json");
}

static void test_shipped_config(void)
{
    char err[512] = "";
    mc_schema_t *s = NULL;
    mc_policy_t *p = NULL;
    MC_CHECK_INT(mc_schema_load(MC_SOURCE_DIR "/config/models.json", &s, err, sizeof err),
                 MC_OK);
    MC_CHECK_INT(mc_policy_load(MC_SOURCE_DIR "/config/policies.json", s, &p, err, sizeof err),
                 MC_OK);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
    /* The walking skeleton keeps working anonymously for Dictionary. */
    json_t *rec = J("{\"id\":1,\"word\":\"w\"}");
    MC_CHECK_INT(mc_policy_can_write(p, "Dictionary", "create", NULL, NULL, rec, NULL), 1);
    MC_CHECK_INT(mc_policy_can_connect(p, NULL, "Application", NULL), 1);
    json_decref(rec);
    mc_policy_free(p);
    mc_schema_free(s);
}

static void expect_connect(const mc_policy_t *p, const char *claims, const char *channel,
                           const char *reason_want)
{
    json_t *c = claims ? J(claims) : NULL;
    const char *reason = "x";
    int ok = mc_policy_can_connect(p, c, channel, &reason);
    if (!reason_want) {
        MC_CHECK_INT(ok, 1);
        if (!ok)
            fprintf(stderr, "  %s with %s: %s\n", channel, claims ? claims : "anonymous", reason);
    } else {
        MC_CHECK_INT(ok, 0);
        MC_CHECK_STR(reason, reason_want);
    }
    json_decref(c);
}

static void test_connect(void)
{
    mc_policy_t *p = policy();
    expect_connect(p, NULL, "Application", NULL);
    expect_connect(p, "{}", "Application", NULL);
    expect_connect(p, NULL, "Members", "unauthenticated");
    expect_connect(p, "{}", "Members", NULL);
    expect_connect(p, "{\"role\":\"admin\"}", "Admins", NULL);
    expect_connect(p, "{\"role\":\"user\"}", "Admins", "denied");
    expect_connect(p, "{\"role\":[\"admin\"]}", "Admins", "denied");
    expect_connect(p, NULL, "Admins", "unauthenticated");
    /* contains: array claims, and space-separated strings (OAuth scope). */
    expect_connect(p, "{\"roles\":[\"reader\",\"editor\"]}", "Editors", NULL);
    expect_connect(p, "{\"roles\":[\"reader\"]}", "Editors", "denied");
    expect_connect(p, "{\"scope\":\"openid todo:edit\"}", "Editors", NULL);
    expect_connect(p, "{\"scope\":\"openid todo:editor\"}", "Editors", "denied");
    /* all, dotted claim paths, non-string values. */
    expect_connect(p, "{\"org\":{\"id\":5},\"email_verified\":true}", "Staff", NULL);
    expect_connect(p, "{\"org\":{\"id\":\"5\"},\"email_verified\":true}", "Staff", "denied");
    expect_connect(p, "{\"org\":{\"id\":5},\"email_verified\":false}", "Staff", "denied");
    expect_connect(p, "{\"org\":5,\"email_verified\":true}", "Staff", "denied");
    /* Instance channels. */
    expect_connect(p, "{\"sub\":\"42\"}", "User-42", NULL);
    expect_connect(p, "{\"sub\":42}", "User-42", NULL);
    expect_connect(p, "{\"sub\":\"42\"}", "User-43", "denied");
    expect_connect(p, NULL, "User-42", "unauthenticated");
    expect_connect(p, "{\"teams\":[1,\"2\"]}", "Team-1", NULL);
    expect_connect(p, "{\"teams\":[1,\"2\"]}", "Team-2", NULL);
    expect_connect(p, "{\"teams\":[1,\"2\"]}", "Team-3", "denied");
    expect_connect(p, "{\"role\":\"admin\"}", "Team-3", NULL);
    expect_connect(p, "{\"org\":{\"slug\":\"acme\"}}", "Org-acme", NULL);
    /* Names that do not exist. */
    expect_connect(p, "{\"sub\":\"42\"}", "User", "unknown_channel");
    expect_connect(p, "{\"sub\":\"42\"}", "User-", "unknown_channel");
    expect_connect(p, NULL, "Application-1", "unknown_channel");
    expect_connect(p, NULL, "Nope", "unknown_channel");
    expect_connect(p, NULL, "", "unknown_channel");
    expect_connect(p, NULL, "Users-1", "unknown_channel");
    MC_CHECK_INT(mc_policy_can_connect(p, NULL, NULL, NULL), 0);

    json_t *c = J("{\"sub\":\"7\",\"teams\":[1,2,2],\"org\":{\"slug\":\"acme\",\"id\":5},"
                  "\"email_verified\":true}");
    json_t *ch = mc_policy_channels(p, c);
    char *s = json_dumps(ch, JSON_COMPACT);
    MC_CHECK_STR(s, "[\"Application\",\"Members\",\"Staff\",\"User-7\",\"Team-1\",\"Team-2\","
                    "\"Org-acme\"]");
    free(s);
    json_decref(ch);
    json_decref(c);
    ch = mc_policy_channels(p, NULL);
    s = json_dumps(ch, JSON_COMPACT);
    MC_CHECK_STR(s, "[\"Application\"]");
    free(s);
    json_decref(ch);
    mc_policy_free(p);
}

/* Renders v (an array or object, taken over) as compact JSON text; NULL stays NULL. */
static char *dump_new(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return s;
}

/* Instance channels admitted wholesale (admins on Team) are named by class: no list of
 * instances can hold them, and GET /v1/channels says so next to the enumerated ones. */
static void test_any_instance(void)
{
    mc_policy_t *p = policy();
    json_t *admin = J("{\"sub\":\"1\",\"role\":\"admin\",\"teams\":[4]}");
    json_t *alice = J("{\"sub\":\"7\",\"teams\":[3]}");
    char *s;

    s = dump_new(mc_policy_any_instance(p, admin, NULL));
    MC_CHECK_STR(s, "[\"Team\"]");
    free(s);
    /* Per model: only classes the model's rules send to. */
    s = dump_new(mc_policy_any_instance(p, admin, "Todo"));
    MC_CHECK_STR(s, "[\"Team\"]");
    free(s);
    s = dump_new(mc_policy_any_instance(p, admin, "Dictionary"));
    MC_CHECK_STR(s, "[]");
    free(s);
    s = dump_new(mc_policy_any_instance(p, admin, "Nope"));
    MC_CHECK_STR(s, "[]");
    free(s);
    s = dump_new(mc_policy_any_instance(p, alice, NULL));
    MC_CHECK_STR(s, "[]");
    free(s);
    s = dump_new(mc_policy_any_instance(p, NULL, "Todo"));
    MC_CHECK_STR(s, "[]");
    free(s);
    s = dump_new(mc_policy_any_instance(NULL, admin, NULL));
    MC_CHECK_STR(s, "[]");
    free(s);

    /* The answer of GET /v1/channels: the enumerated channels (the admin's own team still
     * listed: the client subscribes to it) and the classes admitted wholesale. */
    s = dump_new(mc_policy_channels_answer(p, admin));
    MC_CHECK_STR(s, "{\"channels\":[\"Application\",\"Members\",\"Admins\",\"User-1\","
                    "\"Team-4\"],\"any_instance\":[\"Team\"]}");
    free(s);
    s = dump_new(mc_policy_channels_answer(p, alice));
    MC_CHECK_STR(s, "{\"channels\":[\"Application\",\"Members\",\"User-7\",\"Team-3\"],"
                    "\"any_instance\":[]}");
    free(s);
    s = dump_new(mc_policy_channels_answer(p, NULL));
    MC_CHECK_STR(s, "{\"channels\":[\"Application\"],\"any_instance\":[]}");
    free(s);
    json_decref(admin);
    json_decref(alice);
    mc_policy_free(p);
}

/* Routes and renders the deliveries as compact JSON text for comparison. */
static char *route(const mc_policy_t *p, const char *model, const char *op, const char *before,
                   const char *after)
{
    json_t *b = before ? J(before) : NULL, *a = after ? J(after) : NULL, *d = NULL;
    int rc = mc_policy_route(p, model, op, b, a, &d);
    char *s = rc == MC_OK ? json_dumps(d, JSON_COMPACT) : NULL;
    if (rc != MC_OK)
        fprintf(stderr, "  route failed: %s\n", mc_errname(rc));
    json_decref(b);
    json_decref(a);
    json_decref(d);
    return s;
}

#define REC(owner, team, priv, done, org)                                                  \
    "{\"id\":9,\"version\":2,\"created_at\":\"2026-01-01T00:00:00+00:00\","               \
    "\"updated_at\":\"2026-01-02T00:00:00+00:00\",\"title\":\"t\",\"done\":" done ","     \
    "\"private\":" priv ",\"owner_id\":" owner ",\"team_id\":" team ",\"notes\":\"n\","   \
    "\"org\":" org "}"
#define SYS "\"id\":9,\"version\":2,\"created_at\":\"2026-01-01T00:00:00+00:00\","          \
            "\"updated_at\":\"2026-01-02T00:00:00+00:00\""

static void test_route(void)
{
    mc_policy_t *p = policy();
    char *s;

    s = route(p, "Dictionary", "create", NULL, "{\"id\":1,\"version\":1,\"word\":\"w\"}");
    MC_CHECK_STR(s, "[{\"channel\":\"Application\",\"op\":\"create\",\"attributes\":"
                    "{\"id\":1,\"version\":1,\"word\":\"w\"}}]");
    free(s);

    /* send all to the owner; send_only to the team (never notes); nothing for org null. */
    s = route(p, "Todo", "create", NULL, REC("7", "3", "false", "false", "null"));
    MC_CHECK_STR(s, "[{\"channel\":\"User-7\",\"op\":\"create\",\"attributes\":{" SYS
                    ",\"title\":\"t\",\"done\":false,\"private\":false,\"owner_id\":7,"
                    "\"team_id\":3,\"notes\":\"n\",\"org\":null}},"
                    "{\"channel\":\"Team-3\",\"op\":\"create\",\"attributes\":{" SYS
                    ",\"title\":\"t\",\"done\":false,\"owner_id\":7,\"team_id\":3}}]");
    free(s);

    /* when false: private todos are not sent to the team; null team: no team channel. */
    s = route(p, "Todo", "create", NULL, REC("7", "3", "true", "false", "null"));
    MC_CHECK(s && !strstr(s, "Team-"));
    MC_CHECK_CONTAINS(s, "User-7");
    free(s);
    s = route(p, "Todo", "create", NULL, REC("7", "null", "false", "false", "null"));
    MC_CHECK(s && !strstr(s, "Team-"));
    free(s);

    /* send_all_but, and intersection: two rules to Org-acme while done (send_all_but
     * notes/private ∩ send_only title/notes = title + system columns). */
    s = route(p, "Todo", "create", NULL, REC("7", "null", "false", "false", "\"acme\""));
    MC_CHECK_CONTAINS(s, "{\"channel\":\"Org-acme\",\"op\":\"create\",\"attributes\":{" SYS
                         ",\"title\":\"t\",\"done\":false,\"owner_id\":7,\"team_id\":null,"
                         "\"org\":\"acme\"}}");
    free(s);
    s = route(p, "Todo", "create", NULL, REC("7", "null", "false", "true", "\"acme\""));
    MC_CHECK_CONTAINS(s, "{\"channel\":\"Org-acme\",\"op\":\"create\",\"attributes\":{" SYS
                         ",\"title\":\"t\"}}");
    free(s);

    /* Owner changes: the new owner gets a create, the old one a remove with just the id. */
    s = route(p, "Todo", "update", REC("7", "3", "false", "false", "null"),
              REC("8", "3", "false", "false", "null"));
    MC_CHECK_CONTAINS(s, "{\"channel\":\"User-8\",\"op\":\"create\"");
    MC_CHECK_CONTAINS(s, "{\"channel\":\"Team-3\",\"op\":\"update\"");
    MC_CHECK_CONTAINS(s, "{\"channel\":\"User-7\",\"op\":\"remove\",\"attributes\":{\"id\":9}}");
    free(s);

    /* when turns false: the team gets a remove, the owner an update. */
    s = route(p, "Todo", "update", REC("7", "3", "false", "false", "null"),
              REC("7", "3", "true", "false", "null"));
    MC_CHECK_STR(s, "[{\"channel\":\"User-7\",\"op\":\"update\",\"attributes\":{" SYS
                    ",\"title\":\"t\",\"done\":false,\"private\":true,\"owner_id\":7,"
                    "\"team_id\":3,\"notes\":\"n\",\"org\":null}},"
                    "{\"channel\":\"Team-3\",\"op\":\"remove\",\"attributes\":{\"id\":9}}]");
    free(s);

    /* Team moves 3 → 4. */
    s = route(p, "Todo", "update", REC("7", "3", "false", "false", "null"),
              REC("7", "4", "false", "false", "null"));
    MC_CHECK_CONTAINS(s, "{\"channel\":\"Team-4\",\"op\":\"create\"");
    MC_CHECK_CONTAINS(s, "{\"channel\":\"Team-3\",\"op\":\"remove\"");
    free(s);

    /* Destroy goes, filtered, to every channel that saw the record. */
    s = route(p, "Todo", "destroy", REC("7", "3", "false", "false", "null"), NULL);
    MC_CHECK_STR(s, "[{\"channel\":\"User-7\",\"op\":\"destroy\",\"attributes\":{" SYS
                    ",\"title\":\"t\",\"done\":false,\"private\":false,\"owner_id\":7,"
                    "\"team_id\":3,\"notes\":\"n\",\"org\":null}},"
                    "{\"channel\":\"Team-3\",\"op\":\"destroy\",\"attributes\":{" SYS
                    ",\"title\":\"t\",\"done\":false,\"owner_id\":7,\"team_id\":3}}]");
    free(s);

    /* A model without policy: nothing; unknown model, bad op, missing record: errors. */
    s = route(p, "Unpolicied", "create", NULL, "{\"id\":1,\"v\":\"x\"}");
    MC_CHECK_STR(s, "[]");
    free(s);
    json_t *d = NULL, *r = J("{\"id\":1}");
    MC_CHECK_INT(mc_policy_route(p, "Nope", "create", NULL, r, &d), MC_ERR_NOT_FOUND);
    MC_CHECK_INT(mc_policy_route(p, "Todo", "upsert", NULL, r, &d), MC_ERR_INVAL);
    MC_CHECK_INT(mc_policy_route(p, "Todo", "update", NULL, r, &d), MC_ERR_INVAL);
    MC_CHECK_INT(mc_policy_route(p, "Todo", "destroy", NULL, NULL, &d), MC_ERR_INVAL);
    MC_CHECK(d == NULL);
    json_decref(r);
    mc_policy_free(p);
}

static void expect_write(const mc_policy_t *p, const char *model, const char *op,
                         const char *claims, const char *before, const char *after,
                         const char *reason_want)
{
    json_t *c = claims ? J(claims) : NULL, *b = before ? J(before) : NULL;
    json_t *a = after ? J(after) : NULL;
    const char *reason = "x";
    int ok = mc_policy_can_write(p, model, op, c, b, a, &reason);
    if (!reason_want) {
        MC_CHECK_INT(ok, 1);
        if (!ok)
            fprintf(stderr, "  %s %s refused: %s\n", model, op, reason);
    } else {
        MC_CHECK_INT(ok, 0);
        MC_CHECK_STR(reason, reason_want);
    }
    json_decref(c);
    json_decref(b);
    json_decref(a);
}

/* Identity-provider subjects ("auth0|abc123") name their own instance channel everywhere a
 * channel name is made or checked (mc_channel.h); an id no channel name can hold (a space)
 * is neither listed, nor connectable, nor routed to. */
static void test_idp_subjects(void)
{
    mc_policy_t *p = policy();
    json_t *c = J("{\"sub\":\"auth0|abc123\",\"teams\":[\"eu|ops\",\"a b\",3],"
                  "\"org\":{\"slug\":\"jane+x@example.com\"}}");
    char *s;

    expect_connect(p, "{\"sub\":\"auth0|abc123\"}", "User-auth0|abc123", NULL);
    expect_connect(p, "{\"sub\":\"google-oauth2|1234\"}", "User-google-oauth2|1234", NULL);
    expect_connect(p, "{\"sub\":\"auth0|abc123\"}", "User-auth0|abc124", "denied");
    expect_connect(p, "{\"org\":{\"slug\":\"https://idp/x\"}}", "Org-https://idp/x", NULL);
    expect_connect(p, "{\"sub\":\"jane doe\"}", "User-jane doe", "unknown_channel");
    expect_connect(p, "{\"sub\":\"j\\\"x\"}", "User-j\"x", "unknown_channel");
    s = dump_new(mc_policy_channels(p, c));
    MC_CHECK_STR(s, "[\"Application\",\"Members\",\"User-auth0|abc123\",\"Team-eu|ops\","
                    "\"Team-3\",\"Org-jane+x@example.com\"]");
    free(s);
    json_decref(c);

    s = route(p, "Todo", "create", NULL, REC("7", "null", "false", "false", "\"acme|eu\""));
    MC_CHECK_CONTAINS(s, "{\"channel\":\"Org-acme|eu\",\"op\":\"create\"");
    free(s);
    s = route(p, "Todo", "create", NULL, REC("7", "null", "false", "false", "\"acme eu\""));
    MC_CHECK(s && !strstr(s, "Org-"));
    MC_CHECK_CONTAINS(s, "User-7");
    free(s);

    /* reads = broadcasts: what no channel carries, no one reads through it either */
    json_t *bar = J("{\"org\":{\"slug\":\"acme|eu\"}}");
    json_t *space = J("{\"org\":{\"slug\":\"acme eu\"}}");
    json_t *rb = J(REC("7", "null", "false", "false", "\"acme|eu\"")),
           *rs = J(REC("7", "null", "false", "false", "\"acme eu\""));
    json_t *v = mc_policy_visible(p, "Todo", bar, rb);
    MC_CHECK(json_is_object(v));
    json_decref(v);
    v = mc_policy_visible(p, "Todo", space, rs);
    MC_CHECK(v == NULL);
    json_decref(v);
    s = dump_new(mc_policy_channels(p, space));
    MC_CHECK_STR(s, "[\"Application\",\"Members\"]");
    free(s);
    json_decref(bar);
    json_decref(space);
    json_decref(rb);
    json_decref(rs);
    mc_policy_free(p);
}

static void test_write(void)
{
    mc_policy_t *p = policy();
    const char *w = "{\"id\":1,\"word\":\"w\"}";
    const char *mine = "{\"id\":9,\"owner_id\":7,\"done\":false}";
    const char *mine_done = "{\"id\":9,\"owner_id\":7,\"done\":true}";
    const char *theirs = "{\"id\":9,\"owner_id\":8,\"done\":false}";

    expect_write(p, "Dictionary", "create", NULL, NULL, w, NULL);
    expect_write(p, "Dictionary", "update", NULL, w, w, NULL);
    expect_write(p, "Dictionary", "destroy", NULL, w, NULL, "unauthenticated");
    expect_write(p, "Dictionary", "destroy", "{\"role\":\"user\"}", w, NULL, "denied");
    expect_write(p, "Dictionary", "destroy", "{\"role\":\"admin\"}", w, NULL, NULL);

    expect_write(p, "Todo", "create", "{\"sub\":\"7\"}", NULL, mine, NULL);
    expect_write(p, "Todo", "create", "{\"sub\":7}", NULL, mine, NULL);
    expect_write(p, "Todo", "create", "{\"sub\":\"8\"}", NULL, mine, "denied");
    expect_write(p, "Todo", "create", NULL, NULL, mine, "unauthenticated");
    /* Update: before and after must both belong to the caller. */
    expect_write(p, "Todo", "update", "{\"sub\":\"7\"}", mine, mine_done, NULL);
    expect_write(p, "Todo", "update", "{\"sub\":\"7\"}", mine, theirs, "denied");
    expect_write(p, "Todo", "update", "{\"sub\":\"8\"}", mine, theirs, "denied");
    expect_write(p, "Todo", "update", "{\"sub\":\"8\"}", theirs, mine, "denied");
    /* Destroy: the owner, or an admin when the todo is done (a before condition). */
    expect_write(p, "Todo", "destroy", "{\"sub\":\"7\"}", mine, NULL, NULL);
    expect_write(p, "Todo", "destroy", "{\"sub\":\"1\",\"role\":\"admin\"}", mine, NULL,
                 "denied");
    expect_write(p, "Todo", "destroy", "{\"sub\":\"1\",\"role\":\"admin\"}", mine_done, NULL,
                 NULL);
    /* Default deny and bad input. */
    expect_write(p, "Unpolicied", "create", "{\"role\":\"admin\"}", NULL, "{\"v\":\"x\"}",
                 "no_rule");
    expect_write(p, "Nope", "create", NULL, NULL, "{}", "unknown_model");
    expect_write(p, "Todo", "update", "{\"sub\":\"7\"}", NULL, mine, "denied");
    expect_write(p, "Todo", "merge", "{\"sub\":\"7\"}", mine, mine, "denied");
    mc_policy_free(p);

    /* record / before / after conditions, in_claim, and an op without a rule. */
    char err[512] = "";
    int rc;
    p = load(TODO("{\"write\":{"
                  "\"create\":{\"all\":[{\"record\":{\"done\":{\"eq\":false}}},"
                  "  {\"attribute\":\"team_id\",\"in_claim\":\"teams\"}]},"
                  "\"update\":{\"all\":[{\"before\":{\"done\":{\"eq\":false}}},"
                  "  {\"attribute\":\"owner_id\",\"eq_claim\":\"sub\",\"of\":\"before\"},"
                  "  {\"record\":{\"title\":{\"ne\":\"\"}}}]}}}"),
             err, sizeof err, &rc);
    MC_CHECK_INT(rc, MC_OK);
    if (rc != MC_OK)
        fprintf(stderr, "  %s\n", err);
    expect_write(p, "Todo", "create", "{\"teams\":[3]}", NULL,
                 "{\"done\":false,\"team_id\":3,\"owner_id\":1}", NULL);
    expect_write(p, "Todo", "create", "{\"teams\":[4]}", NULL,
                 "{\"done\":false,\"team_id\":3,\"owner_id\":1}", "denied");
    expect_write(p, "Todo", "create", "{\"teams\":[3]}", NULL,
                 "{\"done\":true,\"team_id\":3,\"owner_id\":1}", "denied");
    /* Update: the caller owned it before (may hand it over), not done before, title kept
     * non-empty before and after. */
    expect_write(p, "Todo", "update", "{\"sub\":\"7\"}",
                 "{\"done\":false,\"owner_id\":7,\"title\":\"a\"}",
                 "{\"done\":true,\"owner_id\":8,\"title\":\"a\"}", NULL);
    expect_write(p, "Todo", "update", "{\"sub\":\"7\"}",
                 "{\"done\":true,\"owner_id\":7,\"title\":\"a\"}",
                 "{\"done\":true,\"owner_id\":7,\"title\":\"a\"}", "denied");
    expect_write(p, "Todo", "update", "{\"sub\":\"7\"}",
                 "{\"done\":false,\"owner_id\":7,\"title\":\"a\"}",
                 "{\"done\":false,\"owner_id\":7,\"title\":\"\"}", "denied");
    expect_write(p, "Todo", "destroy", "{\"sub\":\"7\"}", "{\"owner_id\":7}", NULL, "no_rule");
    mc_policy_free(p);
}

static char *filter_needing(const mc_policy_t *p, const char *model, const char *claims,
                            const char *const *needed, size_t nneeded, char *params, size_t plen)
{
    mc_sql_t sql;
    json_t *c = claims ? J(claims) : NULL;
    mc_sql_init(&sql);
    int rc = mc_policy_read_filter(p, model, c, needed, nneeded, &sql);
    char *out = rc == MC_OK ? strdup(mc_sql_text(&sql)) : NULL;
    size_t o = 0;
    params[0] = '\0';
    for (int i = 0; i < sql.nparams && o < plen; i++)
        o += (size_t)snprintf(params + o, plen - o, "%s%s", i ? "," : "",
                              sql.params[i] ? sql.params[i] : "NULL");
    MC_CHECK(!mc_sql_failed(&sql));
    mc_sql_cleanup(&sql);
    json_decref(c);
    return out;
}

static char *filter(const mc_policy_t *p, const char *model, const char *claims, char *params,
                    size_t plen)
{
    return filter_needing(p, model, claims, NULL, 0, params, plen);
}

static void test_read_filter(void)
{
    mc_policy_t *p = policy();
    char params[256];
    char *s;

    s = filter(p, "Dictionary", NULL, params, sizeof params);
    MC_CHECK_STR(s, "((TRUE))");
    MC_CHECK_STR(params, "");
    free(s);

    s = filter(p, "Todo", NULL, params, sizeof params);
    MC_CHECK_STR(s, "(FALSE)");
    free(s);

    s = filter(p, "Todo", "{\"sub\":\"7\",\"teams\":[1,2]}", params, sizeof params);
    MC_CHECK_STR(s, "(((\"owner_id\" IN ($1::bigint))) OR (((\"private\" IS DISTINCT FROM "
                    "$2::boolean)) AND (\"team_id\" IN ($3::bigint, $4::bigint))))");
    MC_CHECK_STR(params, "7,true,1,2");
    free(s);

    /* A subject that is not a number cannot own a bigint owner_id: no parameter for it. */
    s = filter(p, "Todo", "{\"sub\":\"auth0|7\",\"teams\":[\"x\",\"07\",3]}", params,
               sizeof params);
    MC_CHECK_STR(s, "((((\"private\" IS DISTINCT FROM $1::boolean)) AND (\"team_id\" IN "
                    "($2::bigint))))");
    MC_CHECK_STR(params, "true,3");
    free(s);

    /* An admin reaches every Team instance; org channels take string ids. */
    s = filter(p, "Todo", "{\"role\":\"admin\",\"org\":{\"slug\":\"acme\"}}", params,
               sizeof params);
    MC_CHECK_STR(s, "((((\"private\" IS DISTINCT FROM $1::boolean)) AND (\"team_id\" IS NOT "
                    "NULL)) OR ((\"org\" IN ($2::text))) OR (((\"done\" = $3::boolean)) AND "
                    "(\"org\" IN ($4::text))))");
    MC_CHECK_STR(params, "true,acme,true,acme");
    free(s);

    /* Filtering on notes, which only the owner's rule sends: teammates' rows drop out. */
    const char *notes[] = {"notes"};
    s = filter_needing(p, "Todo", "{\"sub\":\"7\",\"teams\":[1,2]}", notes, 1, params,
                       sizeof params);
    MC_CHECK_STR(s, "(((\"owner_id\" IN ($1::bigint))))");
    MC_CHECK_STR(params, "7");
    free(s);
    /* Two rules send to Org: the channel gets their intersection, which lacks notes, so
     * the org rule cannot admit a row to a query on notes (it would tell notes' value). */
    s = filter_needing(p, "Todo", "{\"sub\":\"9\",\"org\":{\"slug\":\"acme\"}}", notes, 1,
                       params, sizeof params);
    MC_CHECK_STR(s, "(((\"owner_id\" IN ($1::bigint))))");
    MC_CHECK_STR(params, "9");
    free(s);
    const char *ghost[] = {"ghost"};
    s = filter_needing(p, "Todo", "{\"sub\":\"7\"}", ghost, 1, params, sizeof params);
    MC_CHECK_STR(s, "(FALSE)");
    free(s);

    s = filter(p, "Unpolicied", "{\"role\":\"admin\"}", params, sizeof params);
    MC_CHECK_STR(s, "(FALSE)");
    free(s);
    mc_sql_t sql;
    mc_sql_init(&sql);
    MC_CHECK_INT(mc_policy_read_filter(p, "Nope", NULL, NULL, 0, &sql), MC_ERR_NOT_FOUND);
    mc_sql_cleanup(&sql);
    mc_policy_free(p);
}

static char *visible(const mc_policy_t *p, const char *claims, const char *record)
{
    json_t *c = claims ? J(claims) : NULL, *r = J(record);
    json_t *v = mc_policy_visible(p, "Todo", c, r);
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(c);
    json_decref(r);
    json_decref(v);
    return s;
}

static void test_visible(void)
{
    mc_policy_t *p = policy();
    char *s;
    s = visible(p, "{\"sub\":\"7\"}", REC("7", "3", "false", "false", "null"));
    MC_CHECK_CONTAINS(s, "\"notes\":\"n\"");
    free(s);
    s = visible(p, "{\"sub\":\"8\",\"teams\":[3]}", REC("7", "3", "false", "false", "null"));
    MC_CHECK_STR(s, "{" SYS ",\"title\":\"t\",\"done\":false,\"owner_id\":7,\"team_id\":3}");
    free(s);
    s = visible(p, "{\"sub\":\"8\",\"teams\":[3]}", REC("7", "3", "true", "false", "null"));
    MC_CHECK(s == NULL);
    free(s);
    s = visible(p, NULL, REC("7", "3", "false", "false", "null"));
    MC_CHECK(s == NULL);
    free(s);
    /* Union over channels: owner and teammate at once sees everything. */
    s = visible(p, "{\"sub\":\"7\",\"teams\":[3]}", REC("7", "3", "false", "false", "null"));
    MC_CHECK_CONTAINS(s, "\"notes\":\"n\"");
    free(s);
    /* Intersection on one channel (Org-acme while done). */
    s = visible(p, "{\"org\":{\"slug\":\"acme\"}}", REC("7", "null", "false", "true", "\"acme\""));
    MC_CHECK_STR(s, "{" SYS ",\"title\":\"t\"}");
    free(s);

    /* A teammate only (no subject: no User channel) sees the team's attribute set. */
    json_t *c = J("{\"teams\":[3]}");
    json_t *a = mc_policy_visible_attributes(p, "Todo", c);
    s = json_dumps(a, JSON_COMPACT);
    MC_CHECK_STR(s, "[\"id\",\"version\",\"created_at\",\"updated_at\",\"title\",\"done\","
                    "\"owner_id\",\"team_id\"]");
    free(s);
    json_decref(a);
    json_decref(c);
    c = J("{\"sub\":\"8\"}");
    a = mc_policy_visible_attributes(p, "Todo", c);
    MC_CHECK_INT(json_array_size(a), 11);
    json_decref(a);
    json_decref(c);
    MC_CHECK(mc_policy_visible_attributes(p, "Todo", NULL) == NULL);
    MC_CHECK(mc_policy_visible_attributes(p, "Unpolicied", NULL) == NULL);
    a = mc_policy_visible_attributes(p, "Dictionary", NULL);
    MC_CHECK_INT(json_array_size(a), 7);
    json_decref(a);
    mc_policy_free(p);
}

static char *uniform(const mc_policy_t *p, const char *model, const char *claims)
{
    json_t *c = claims ? J(claims) : NULL;
    json_t *a = mc_policy_uniform_attributes(p, model, c);
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(c);
    json_decref(a);
    return s;
}

#define ALL_TODO "[\"id\",\"version\",\"created_at\",\"updated_at\",\"title\",\"done\"," \
                 "\"private\",\"owner_id\",\"team_id\",\"notes\",\"org\"]"
#define SYS_COLS "\"id\",\"version\",\"created_at\",\"updated_at\""

/* Checks that the answer is "not uniform" (NULL). */
#define CHECK_NOT_UNIFORM(p, model, claims)                                                   \
    do {                                                                                      \
        char *s_ = uniform(p, model, claims);                                                 \
        if (s_)                                                                               \
            fprintf(stderr, "unexpectedly uniform: %s\n", s_);                                \
        MC_CHECK(s_ == NULL);                                                                 \
        free(s_);                                                                             \
    } while (0)

#define CHECK_UNIFORM(p, model, claims, expect)                                               \
    do {                                                                                      \
        char *s_ = uniform(p, model, claims);                                                 \
        MC_CHECK_STR(s_, expect);                                                             \
        free(s_);                                                                             \
    } while (0)

static void test_uniform(void)
{
    mc_policy_t *p = policy();
    /* One unconditional rule to a channel everyone joins: every caller, anonymous too. */
    char *s = uniform(p, "Dictionary", NULL);
    json_t *v = mc_policy_visible_attributes(p, "Dictionary", NULL);
    char *vs = json_dumps(v, JSON_COMPACT);
    MC_CHECK_STR(s, vs);
    free(s);
    free(vs);
    json_decref(v);
    CHECK_UNIFORM(p, "Dictionary", "{\"sub\":\"7\",\"role\":\"admin\"}",
                  "[" SYS_COLS ",\"word\",\"definition\",\"pronunciation\"]");
    /* Only the owner's channel can reach a subject without teams or org: all of it. */
    CHECK_UNIFORM(p, "Todo", "{\"sub\":\"7\"}", ALL_TODO);
    /* With teams the team's narrower, conditional rule may show some rows: not uniform.
     * An empty teams claim names no team; a team id nobody uses still might. */
    CHECK_NOT_UNIFORM(p, "Todo", "{\"sub\":\"7\",\"teams\":[1]}");
    CHECK_NOT_UNIFORM(p, "Todo", "{\"sub\":\"7\",\"teams\":\"1\"}");
    CHECK_UNIFORM(p, "Todo", "{\"sub\":\"7\",\"teams\":[]}", ALL_TODO);
    CHECK_UNIFORM(p, "Todo", "{\"sub\":\"7\",\"teams\":[{\"x\":1},null],\"org\":{}}", ALL_TODO);
    /* A conditional rule alone: one set, but the SQL and C conditions must then agree on
     * each row for the row to be shown at all - not claimed. */
    CHECK_NOT_UNIFORM(p, "Todo", "{\"teams\":[3]}");
    /* Admins reach every team (conditional); two rules to Org with different sets. */
    CHECK_NOT_UNIFORM(p, "Todo", "{\"role\":\"admin\"}");
    CHECK_NOT_UNIFORM(p, "Todo", "{\"org\":{\"slug\":\"acme\"}}");
    /* Anonymous sees nothing of Todo; no policy, unknown model. */
    CHECK_NOT_UNIFORM(p, "Todo", NULL);
    CHECK_NOT_UNIFORM(p, "Unpolicied", "{\"role\":\"admin\"}");
    CHECK_NOT_UNIFORM(p, "Nope", NULL);
    mc_policy_free(p);

    char err[512];
    int rc;
    /* Everything to Application, the title of done todos to their owner as well: the
     * unconditional class rule covers the conditional one. */
    p = load(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[\"Application\"]},"
                  "{\"send_only\":[\"title\"],\"to\":[{\"channel\":\"User\",\"instance\":"
                  "\"owner_id\"}],\"when\":{\"done\":{\"eq\":true}}}]}"),
             err, sizeof err, &rc);
    MC_CHECK_INT(rc, MC_OK);
    CHECK_UNIFORM(p, "Todo", NULL, ALL_TODO);
    CHECK_UNIFORM(p, "Todo", "{\"sub\":\"7\"}", ALL_TODO);
    mc_policy_free(p);

    /* The title to everyone, everything to the owner: uniform only for who is no owner. */
    p = load(TODO("{\"broadcast\":[{\"send_only\":[\"title\"],\"to\":[\"Application\"]},"
                  "{\"send\":\"all\",\"to\":[{\"channel\":\"User\",\"instance\":"
                  "\"owner_id\"}]}]}"),
             err, sizeof err, &rc);
    MC_CHECK_INT(rc, MC_OK);
    CHECK_UNIFORM(p, "Todo", NULL, "[" SYS_COLS ",\"title\"]");
    CHECK_NOT_UNIFORM(p, "Todo", "{\"sub\":\"7\"}");
    mc_policy_free(p);

    /* A narrower conditional rule to the same channel: its rows show the intersection. */
    p = load(TODO("{\"broadcast\":[{\"send\":\"all\",\"to\":[\"Application\"]},"
                  "{\"send_only\":[\"title\"],\"to\":[\"Application\"],"
                  "\"when\":{\"done\":{\"eq\":true}}}]}"),
             err, sizeof err, &rc);
    MC_CHECK_INT(rc, MC_OK);
    CHECK_NOT_UNIFORM(p, "Todo", NULL);
    mc_policy_free(p);

    /* Admins (a class channel) get everything, teams a subset, orgs everything by a string
     * instance; admins reach every org. */
    p = load("{\"channels\":{\"Admins\":{\"connect\":{\"claim\":\"role\",\"eq\":\"admin\"}},"
             "\"Team\":{\"instance\":true,\"connect\":{\"claim\":\"teams\","
             "\"contains_instance\":true}},"
             "\"Org\":{\"instance\":true,\"connect\":{\"any\":[{\"claim\":\"org\","
             "\"eq_instance\":true},{\"claim\":\"role\",\"eq\":\"admin\"}]}}},"
             "\"models\":{\"Todo\":{\"broadcast\":["
             "{\"send\":\"all\",\"to\":[\"Admins\"]},"
             "{\"send_only\":[\"title\",\"done\"],\"to\":[{\"channel\":\"Team\","
             "\"instance\":\"team_id\"}]},"
             "{\"send\":\"all\",\"to\":[{\"channel\":\"Org\",\"instance\":\"org\"}]}]}}}",
             err, sizeof err, &rc);
    MC_CHECK_INT(rc, MC_OK);
    if (rc != MC_OK)
        fprintf(stderr, "%s\n", err);
    CHECK_UNIFORM(p, "Todo", "{\"role\":\"admin\"}", ALL_TODO);
    CHECK_UNIFORM(p, "Todo", "{\"role\":\"admin\",\"teams\":[1]}", ALL_TODO);
    CHECK_UNIFORM(p, "Todo", "{\"teams\":[1,2]}", "[" SYS_COLS ",\"title\",\"done\"]");
    CHECK_UNIFORM(p, "Todo", "{\"org\":\"acme\"}", ALL_TODO);
    CHECK_NOT_UNIFORM(p, "Todo", "{\"org\":\"acme\",\"teams\":[1]}");
    CHECK_NOT_UNIFORM(p, "Todo", NULL);
    mc_policy_free(p);

    /* Every org for an admin, were there no Admins channel: a string id could be "",
     * which the read predicate admits (IS NOT NULL) and routing does not - not uniform. */
    p = load("{\"channels\":{\"Org\":{\"instance\":true,\"connect\":{\"any\":[{\"claim\":"
             "\"org\",\"eq_instance\":true},{\"claim\":\"role\",\"eq\":\"admin\"}]}}},"
             "\"models\":{\"Todo\":{\"broadcast\":["
             "{\"send\":\"all\",\"to\":[{\"channel\":\"Org\",\"instance\":\"org\"}]}]}}}",
             err, sizeof err, &rc);
    MC_CHECK_INT(rc, MC_OK);
    CHECK_UNIFORM(p, "Todo", "{\"org\":\"acme\"}", ALL_TODO);
    CHECK_NOT_UNIFORM(p, "Todo", "{\"role\":\"admin\"}");
    mc_policy_free(p);
}

int main(void)
{
    json_t *root = J(models_json);
    char err[256] = "";
    if (mc_schema_parse(root, "models.json", &schema, err, sizeof err) != MC_OK) {
        fprintf(stderr, "schema: %s\n", err);
        return 1;
    }
    json_decref(root);
    MC_TEST_RUN(test_load_errors);
    MC_TEST_RUN(test_shipped_config);
    MC_TEST_RUN(test_connect);
    MC_TEST_RUN(test_any_instance);
    MC_TEST_RUN(test_route);
    MC_TEST_RUN(test_idp_subjects);
    MC_TEST_RUN(test_write);
    MC_TEST_RUN(test_read_filter);
    MC_TEST_RUN(test_visible);
    MC_TEST_RUN(test_uniform);
    mc_schema_free(schema);
    MC_TEST_DONE();
}
