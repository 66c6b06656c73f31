/* test_delivery.c - change event → deliveries, and the reasons events are dead-lettered. */
#include "delivery.h"
#include "mc_error.h"
#include "mc_test.h"

static void test_routes_to_channel(void)
{
    const char *ev = "{\"model\":\"Dictionary\",\"id\":7,\"op\":\"update\",\"version\":2,"
                     "\"before\":{\"id\":7,\"word\":\"a\"},\"after\":{\"id\":7,\"word\":\"b\"},"
                     "\"changed\":[\"word\"],\"txid\":1,\"committed_at\":\"x\"}";
    json_t *out = NULL;
    char reason[256] = "";
    MC_CHECK_INT(delivery_route(ev, strlen(ev), "e-1", "Application", &out, reason, sizeof reason),
                 MC_OK);
    MC_CHECK_INT(json_array_size(out), 1);
    char *text = json_dumps(json_array_get(out, 0), JSON_COMPACT);
    MC_CHECK_STR(text, "{\"channel\":\"Application\",\"model\":\"Dictionary\",\"id\":7,"
                       "\"op\":\"update\",\"version\":2,\"attributes\":{\"id\":7,\"word\":\"b\"},"
                       "\"changed\":[\"word\"],\"event_id\":\"e-1\"}");
    free(text);
    json_decref(out);

    const char *destroy = "{\"model\":\"M\",\"id\":1,\"op\":\"destroy\",\"version\":3,"
                          "\"before\":{\"id\":1},\"after\":null}";
    MC_CHECK_INT(delivery_route(destroy, strlen(destroy), "e-2", "Application", &out, reason,
                                sizeof reason),
                 MC_OK);
    MC_CHECK_STR(json_string_value(json_object_get(json_array_get(out, 0), "op")), "destroy");
    MC_CHECK_INT(json_array_size(json_object_get(json_array_get(out, 0), "changed")), 0);
    json_decref(out);
}

static void expect_refused(const char *ev, const char *event_id, const char *needle)
{
    json_t *out = NULL;
    char reason[256] = "";
    MC_CHECK_INT(delivery_route(ev, ev ? strlen(ev) : 0, event_id, "Application", &out, reason,
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
    expect_refused("{\"model\":\"M\",\"id\":\"1\"}", "e", "id");
    expect_refused("{\"model\":\"M\",\"id\":1,\"version\":1,\"op\":\"explode\"}", "e", "op");
    expect_refused("{\"model\":\"M\",\"id\":1,\"version\":1,\"op\":\"create\",\"after\":3}", "e",
                   "after");
    expect_refused("{\"model\":\"M\",\"id\":1,\"op\":\"create\",\"after\":{}}", "e", "version");
}

int main(void)
{
    MC_TEST_RUN(test_routes_to_channel);
    MC_TEST_RUN(test_refusals);
    MC_TEST_DONE();
}
