/* fuzz_common.c - input splitting, fixtures loaded once, and the SQL shape oracle. */
#include "fuzz_common.h"
#include "mc_error.h"
#include "mc_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MC_SOURCE_DIR
#error "MC_SOURCE_DIR must name the source tree (the fixtures are read from it)"
#endif

void fuzz_fail(const char *msg, const char *file, int line)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, msg);
    abort();
}

size_t fuzz_split(const uint8_t *data, size_t size, fuzz_part_t *parts, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i < max; i++)
        parts[i] = (fuzz_part_t){"", 0};
    if (max == 0)
        return 0;
    for (size_t i = 0; i < size && n + 1 < max; i++) {
        if (data[i] == FUZZ_SEP) {
            parts[n++] = (fuzz_part_t){(const char *)data + start, i - start};
            start = i + 1;
        }
    }
    parts[n++] = (fuzz_part_t){size ? (const char *)data + start : "", size - start};
    return n;
}

char *fuzz_cstr(fuzz_part_t p)
{
    size_t n = strnlen(p.data, p.len);
    char *s = malloc(n + 1);
    FUZZ_ASSERT(s != NULL, "out of memory");
    memcpy(s, p.data, n);
    s[n] = '\0';
    return s;
}

/* The fixtures: a few files, each loaded once (by the harness's single thread). */
#define FUZZ_MAX_FIXTURES 8
static struct {
    const char *rel, *models_rel;
    mc_schema_t *schema;
    mc_policy_t *policy;
} fuzz_fixtures[FUZZ_MAX_FIXTURES];

static struct {
    const char *rel;
    json_t *doc;
} fuzz_docs[FUZZ_MAX_FIXTURES];

static void fuzz_path(char *buf, size_t len, const char *rel)
{
    snprintf(buf, len, "%s/%s", MC_SOURCE_DIR, rel);
}

const json_t *fuzz_json(const char *rel)
{
    char path[1024], err[512];
    size_t i;
    for (i = 0; i < FUZZ_MAX_FIXTURES && fuzz_docs[i].rel; i++)
        if (strcmp(fuzz_docs[i].rel, rel) == 0)
            return fuzz_docs[i].doc;
    FUZZ_ASSERT(i < FUZZ_MAX_FIXTURES, "too many fixtures");
    fuzz_path(path, sizeof path, rel);
    if (mc_json_load_file(path, &fuzz_docs[i].doc, err, sizeof err) != MC_OK) {
        fprintf(stderr, "fixture %s: %s\n", path, err);
        abort();
    }
    fuzz_docs[i].rel = rel;
    return fuzz_docs[i].doc;
}

const mc_schema_t *fuzz_schema(const char *rel)
{
    char path[1024], err[512];
    size_t i;
    for (i = 0; i < FUZZ_MAX_FIXTURES && fuzz_fixtures[i].rel; i++)
        if (!fuzz_fixtures[i].models_rel && strcmp(fuzz_fixtures[i].rel, rel) == 0)
            return fuzz_fixtures[i].schema;
    FUZZ_ASSERT(i < FUZZ_MAX_FIXTURES, "too many fixtures");
    fuzz_path(path, sizeof path, rel);
    if (mc_schema_load(path, &fuzz_fixtures[i].schema, err, sizeof err) != MC_OK) {
        fprintf(stderr, "fixture %s: %s\n", path, err);
        abort();
    }
    fuzz_fixtures[i].rel = rel;
    return fuzz_fixtures[i].schema;
}

const mc_policy_t *fuzz_policy(const char *rel, const char *models_rel)
{
    char path[1024], err[512];
    const mc_schema_t *schema = fuzz_schema(models_rel);
    size_t i;
    for (i = 0; i < FUZZ_MAX_FIXTURES && fuzz_fixtures[i].rel; i++)
        if (fuzz_fixtures[i].models_rel && strcmp(fuzz_fixtures[i].rel, rel) == 0 &&
            strcmp(fuzz_fixtures[i].models_rel, models_rel) == 0)
            return fuzz_fixtures[i].policy;
    FUZZ_ASSERT(i < FUZZ_MAX_FIXTURES, "too many fixtures");
    fuzz_path(path, sizeof path, rel);
    if (mc_policy_load(path, schema, &fuzz_fixtures[i].policy, err, sizeof err) != MC_OK) {
        fprintf(stderr, "fixture %s: %s\n", path, err);
        abort();
    }
    fuzz_fixtures[i].rel = rel;
    fuzz_fixtures[i].models_rel = models_rel;
    return fuzz_fixtures[i].policy;
}

void fuzz_check_sql(const mc_sql_t *sql, const char *what)
{
    const char *s = mc_sql_text(sql);
    long depth = 0, max_param = 0;
    int quoted = 0;
    char msg[256];

    if (mc_sql_failed(sql))
        return;
    for (; *s; s++) {
        if (quoted) {
            if (*s == '"' && s[1] == '"')
                s++;
            else if (*s == '"')
                quoted = 0;
            continue;
        }
        switch (*s) {
        case '"':
            quoted = 1;
            break;
        case '\'':
        case ';':
            snprintf(msg, sizeof msg, "%s: '%c' in the SQL text: %.120s", what, *s,
                     mc_sql_text(sql));
            FUZZ_ASSERT(0, msg);
            break;
        case '-':
        case '/':
            snprintf(msg, sizeof msg, "%s: a comment in the SQL text", what);
            FUZZ_ASSERT(s[1] != *s && !(*s == '/' && s[1] == '*'), msg);
            break;
        case '(':
            depth++;
            break;
        case ')':
            snprintf(msg, sizeof msg, "%s: unbalanced ')' in the SQL text", what);
            FUZZ_ASSERT(--depth >= 0, msg);
            break;
        case '$': {
            char *end;
            long n = strtol(s + 1, &end, 10);
            snprintf(msg, sizeof msg, "%s: placeholder $%ld of %d parameters", what, n,
                     sql->nparams);
            FUZZ_ASSERT(end != s + 1 && n >= 1 && n <= sql->nparams, msg);
            if (n > max_param)
                max_param = n;
            break;
        }
        default:
            break;
        }
    }
    snprintf(msg, sizeof msg, "%s: unbalanced '(' or '\"' in the SQL text", what);
    FUZZ_ASSERT(depth == 0 && !quoted, msg);
    snprintf(msg, sizeof msg, "%s: %d parameters bound, the text names %ld", what,
             sql->nparams, max_param);
    FUZZ_ASSERT(max_param == sql->nparams, msg);
}
