/*
 * fuzz_condition.c - the condition language (common/src/condition.c) against the Widget
 * model of tests/system/models_rest.json (every attribute type). Input: condition JSON,
 * FUZZ_SEP, record JSON. A condition mc_cond_check() accepts is compiled with mc_cond_sql()
 * (the statement must pass the SQL shape oracle: values only as bound parameters) and
 * evaluated with mc_cond_eval() on the record, where "not" must invert the result.
 */
#include "fuzz_common.h"
#include "mc_condition.h"
#include "mc_error.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const mc_model_t *m = mc_schema_find(fuzz_schema("tests/system/models_rest.json"), "Widget");
    fuzz_part_t parts[2];
    char err[512];

    FUZZ_ASSERT(m != NULL, "no Widget model");
    fuzz_split(data, size, parts, 2);
    json_t *cond = json_loadb(parts[0].data, parts[0].len, JSON_REJECT_DUPLICATES, NULL);
    if (!cond)
        return 0;
    if (mc_cond_check(m, cond, "fuzz", err, sizeof err) != MC_OK) {
        json_decref(cond);
        return 0;
    }

    mc_sql_t sql;
    mc_sql_init(&sql);
    mc_cond_sql(m, cond, &sql);
    fuzz_check_sql(&sql, "mc_cond_sql");
    mc_sql_cleanup(&sql);

    json_t *record = json_loadb(parts[1].data, parts[1].len, 0, NULL);
    if (!json_is_object(record)) {
        json_decref(record);
        record = json_object();
    }
    int r = mc_cond_eval(m, cond, record);
    FUZZ_ASSERT(r == 0 || r == 1, "mc_cond_eval is not 0 or 1");
    json_t *negated = json_pack("{s:O}", "not", cond);
    FUZZ_ASSERT(negated != NULL, "out of memory");
    FUZZ_ASSERT(mc_cond_eval(m, negated, record) == !r, "not does not invert the condition");
    json_decref(negated);
    json_decref(record);
    json_decref(cond);
    return 0;
}
