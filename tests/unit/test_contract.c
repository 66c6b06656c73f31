/* test_contract.c - mc_contract.h says what the documents of the contract say
 * (docs/events.schema.json, docs/asyncapi.yaml), so code and docs cannot drift apart. */
#include "mc_contract.h"
#include "mc_test.h"

#include <jansson.h>

#ifndef MC_SOURCE_DIR
#error "MC_SOURCE_DIR must name the source tree"
#endif


/* Compact JSON text of v, for comparison. */
static char *dump(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT) : NULL;
}

static void test_event_schema(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/events.schema.json", MC_SOURCE_DIR);
    json_t *schema = json_load_file(path, 0, NULL);
    MC_CHECK(schema != NULL);
    char *required = dump(json_object_get(schema, "required"));
    MC_CHECK_STR(required, "[\"" MC_FIELD_MODEL "\",\"" MC_FIELD_ID "\",\"" MC_FIELD_OP
                           "\",\"" MC_FIELD_VERSION "\",\"" MC_FIELD_BEFORE "\",\"" MC_FIELD_AFTER
                           "\",\"" MC_FIELD_CHANGED "\",\"" MC_FIELD_TXID
                           "\",\"" MC_FIELD_COMMITTED_AT "\"]");
    char *ops = dump(json_object_get(
        json_object_get(json_object_get(schema, "properties"), MC_FIELD_OP), "enum"));
    MC_CHECK_STR(ops, "[\"" MC_OP_CREATE "\",\"" MC_OP_UPDATE "\",\"" MC_OP_DESTROY "\"]");
    free(required);
    free(ops);
    json_decref(schema);
}

static void test_asyncapi(void)
{
    char *doc = mc_test_slurp("docs/asyncapi.yaml");
    MC_CHECK(doc != NULL);
    if (!doc)
        return;
    /* change event headers */
    MC_CHECK_CONTAINS(doc, "required: [" MC_HEADER_CE_SPECVERSION ", " MC_HEADER_CE_ID ", "
                           MC_HEADER_CE_SOURCE ", " MC_HEADER_CE_TYPE ", " MC_HEADER_CE_SUBJECT
                           ", " MC_HEADER_CE_TIME ", " MC_HEADER_CONTENT_TYPE "]");
    MC_CHECK_CONTAINS(doc, "const: '" MC_CE_SPECVERSION "'");
    MC_CHECK_CONTAINS(doc, "const: " MC_CONTENT_TYPE_JSON "\n");
    MC_CHECK_CONTAINS(doc, "enum: [" MC_CE_TYPE_CREATED ", " MC_CE_TYPE_UPDATED ", "
                           MC_CE_TYPE_DESTROYED "]");
    MC_CHECK_CONTAINS(doc, MC_HEADER_ERROR ":\n");
    /* the trace context (CloudEvents distributed-tracing extension), changes and deliveries */
    MC_CHECK_CONTAINS(doc, "        " MC_HEADER_CE_TRACEPARENT ":\n          type: string\n");
    MC_CHECK_CONTAINS(doc, "        " MC_HEADER_CE_TRACESTATE ":\n          type: string\n");
    MC_CHECK_CONTAINS(doc, "        " MC_HEADER_CE_TRACEPARENT ":\n          $ref: "
                           "'#/components/schemas/traceHeaders/properties/"
                           MC_HEADER_CE_TRACEPARENT "'");
    MC_CHECK_CONTAINS(doc, "      headers:\n        $ref: '#/components/schemas/traceHeaders'");
    /* deliveries */
    MC_CHECK_CONTAINS(doc, "required: [" MC_FIELD_CHANNEL ", " MC_FIELD_MODEL ", " MC_FIELD_ID
                           ", " MC_FIELD_OP ", " MC_FIELD_VERSION ", " MC_FIELD_ATTRIBUTES ", "
                           MC_FIELD_CHANGED ", " MC_FIELD_EVENT_ID "]");
    MC_CHECK_CONTAINS(doc, "enum: [" MC_OP_CREATE ", " MC_OP_UPDATE ", " MC_OP_DESTROY ", "
                           MC_OP_REMOVE "]");
    free(doc);
}

int main(void)
{
    MC_TEST_RUN(test_event_schema);
    MC_TEST_RUN(test_asyncapi);
    MC_TEST_DONE();
}
