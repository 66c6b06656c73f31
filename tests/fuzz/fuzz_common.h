/*
 * fuzz_common.h - what the libFuzzer harnesses of tests/fuzz share: splitting one input
 * into parts, the fixtures they load once from the source tree (models and policies
 * files), and the checks (oracles) a harness applies to what the code under test built.
 * A failed check aborts, which libFuzzer reports as a crash like any sanitizer finding.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "mc_model.h"
#include "mc_policy.h"
#include "mc_sql.h"

/* The libFuzzer entry point each harness defines (replay_main.c calls it too). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Separates the parts of a structured input (claims, query string...). */
#define FUZZ_SEP '\0'

typedef struct {
    const char *data;
    size_t len;
} fuzz_part_t;

/*
 * Splits data into at most max parts at FUZZ_SEP bytes (the last part keeps the rest,
 * separators included). Missing parts are empty. Returns the number of parts found.
 */
size_t fuzz_split(const uint8_t *data, size_t size, fuzz_part_t *parts, size_t max);

/* A NUL-terminated heap copy of p (cut at its first NUL byte); aborts on no memory. */
char *fuzz_cstr(fuzz_part_t p);

/*
 * The schema in models file rel (relative to the source tree, e.g. "config/models.json"),
 * loaded on first use and kept for the process; aborts when it does not load.
 */
const mc_schema_t *fuzz_schema(const char *rel);

/* The JSON document in file rel (relative to the source tree), loaded once; aborts when it
 * does not load. */
const json_t *fuzz_json(const char *rel);

/* The policies file rel compiled against the schema of models file models_rel; as above. */
const mc_policy_t *fuzz_policy(const char *rel, const char *models_rel);

/*
 * The statement-shape checks every built SQL statement must pass unless it is marked
 * failed (then it is never run): no value in the text (no single quote, no ';', no
 * comment), parentheses balanced outside quoted identifiers, placeholders $1..$n naming
 * exactly the n bound parameters. what names the statement in the abort message.
 */
void fuzz_check_sql(const mc_sql_t *sql, const char *what);

/* Aborts with msg (and the file:line) when cond is false. */
#define FUZZ_ASSERT(cond, msg) ((cond) ? (void)0 : fuzz_fail((msg), __FILE__, __LINE__))
_Noreturn void fuzz_fail(const char *msg, const char *file, int line);

#endif
