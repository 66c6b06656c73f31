/* test_log.c - log lines are single JSON objects with escaped messages, filtered by level. */
#include "mc_error.h"
#include "mc_log.h"
#include "mc_test.h"

#include <jansson.h>

static char *capture(mc_log_level_t level, const char *msg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    mc_log_set_stream(mem);
    MC_LOG(level, "%s", msg);
    mc_log_set_stream(NULL);
    fclose(mem);
    return buf;
}

static void test_line_is_json(void)
{
    mc_log_init("unit", MC_LOG_DEBUG);
    char *line = capture(MC_LOG_WARN, "quote \" backslash \\ newline \n tab \t done");
    json_error_t jerr;
    json_t *obj = json_loads(line, 0, &jerr);
    MC_CHECK(obj != NULL);
    MC_CHECK_STR(json_string_value(json_object_get(obj, "level")), "warn");
    MC_CHECK_STR(json_string_value(json_object_get(obj, "service")), "unit");
    MC_CHECK_STR(json_string_value(json_object_get(obj, "msg")),
                 "quote \" backslash \\ newline \n tab \t done");
    MC_CHECK(json_is_string(json_object_get(obj, "ts")));
    MC_CHECK_INT(line[strlen(line) - 1], '\n');
    MC_CHECK(strchr(line, '\n') == line + strlen(line) - 1);
    json_decref(obj);
    free(line);
}

static void test_context_fields(void)
{
    mc_log_init("unit", MC_LOG_DEBUG);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    mc_log_set_stream(mem);
    mc_log_ctx_t ctx = {"0b9c1f3e-7d1a-4c55-9a51-8f7a2a4e8d10",
                        "4bf92f3577b34da6a3ce929d0e0e4736"};
    MC_LOG_CTX(MC_LOG_INFO, &ctx, "routed to %d channels", 2);
    mc_log_ctx_t none = {NULL, ""};
    MC_LOG_CTX(MC_LOG_INFO, &none, "no context");
    mc_log_set_stream(NULL);
    fclose(mem);
    char *second = strchr(buf, '\n');
    MC_CHECK(second != NULL);
    json_t *one = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *two = second ? json_loads(second + 1, 0, NULL) : NULL;
    MC_CHECK(one != NULL && two != NULL);
    MC_CHECK_STR(json_string_value(json_object_get(one, "event_id")), ctx.event_id);
    MC_CHECK_STR(json_string_value(json_object_get(one, "trace_id")), ctx.trace_id);
    MC_CHECK_STR(json_string_value(json_object_get(one, "msg")), "routed to 2 channels");
    MC_CHECK(json_object_get(two, "event_id") == NULL);
    MC_CHECK(json_object_get(two, "trace_id") == NULL);
    MC_CHECK_STR(json_string_value(json_object_get(two, "msg")), "no context");
    json_decref(one);
    json_decref(two);
    free(buf);
}

static int evaluated;
static const char *side_effect(void)
{
    evaluated++;
    return "x";
}

static void test_level_filters_before_evaluating(void)
{
    mc_log_init("unit", MC_LOG_ERROR);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    mc_log_set_stream(mem);
    evaluated = 0;
    MC_INFO("%s", side_effect());
    mc_log_set_stream(NULL);
    fclose(mem);
    MC_CHECK_INT(len, 0);
    MC_CHECK_INT(evaluated, 0);
    free(buf);
}

static void test_level_parse(void)
{
    mc_log_level_t l = MC_LOG_DEBUG;
    MC_CHECK_INT(mc_log_level_parse("WARN", &l), MC_OK);
    MC_CHECK_INT(l, MC_LOG_WARN);
    MC_CHECK_INT(mc_log_level_parse("loud", &l), MC_ERR_CONFIG);
    MC_CHECK_INT(mc_log_level_parse(NULL, &l), MC_ERR_CONFIG);
}

int main(void)
{
    MC_TEST_RUN(test_line_is_json);
    MC_TEST_RUN(test_context_fields);
    MC_TEST_RUN(test_level_filters_before_evaluating);
    MC_TEST_RUN(test_level_parse);
    MC_TEST_DONE();
}
