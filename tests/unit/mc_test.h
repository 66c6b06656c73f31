/*
 * mc_test.h - a minimal assertion kit for the C unit tests (one executable per module,
 * run by ctest). Failed assertions print both values, as libuv's test/task.h does.
 */
#ifndef MC_TEST_H
#define MC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mc_test_failures;
static int mc_test_checks;

#define MC_CHECK(cond)                                                                  \
    do {                                                                                \
        mc_test_checks++;                                                               \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            mc_test_failures++;                                                         \
        }                                                                               \
    } while (0)

#define MC_CHECK_INT(a, b)                                                              \
    do {                                                                                \
        long long a_ = (long long)(a), b_ = (long long)(b);                             \
        mc_test_checks++;                                                               \
        if (a_ != b_) {                                                                 \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
                    #a, #b, a_, b_);                                                    \
            mc_test_failures++;                                                         \
        }                                                                               \
    } while (0)

#define MC_CHECK_STR(a, b)                                                              \
    do {                                                                                \
        const char *a_ = (a), *b_ = (b);                                                \
        mc_test_checks++;                                                               \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                        \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__,     \
                    __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");          \
            mc_test_failures++;                                                         \
        }                                                                               \
    } while (0)

#define MC_CHECK_CONTAINS(hay, needle)                                                  \
    do {                                                                                \
        const char *h_ = (hay), *n_ = (needle);                                         \
        mc_test_checks++;                                                               \
        if (!h_ || !strstr(h_, n_)) {                                                   \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,        \
                    __LINE__, h_ ? h_ : "(null)", n_);                                  \
            mc_test_failures++;                                                         \
        }                                                                               \
    } while (0)

#define MC_TEST_RUN(fn)                                                                 \
    do {                                                                                \
        int before_ = mc_test_failures;                                                 \
        fn();                                                                           \
        printf("%s %s\n", mc_test_failures == before_ ? "ok  " : "FAIL", #fn);          \
    } while (0)

/* Ends main(): a test binary that checked nothing fails too. */
#define MC_TEST_DONE()                                                                  \
    do {                                                                                \
        printf("%d checks, %d failed\n", mc_test_checks, mc_test_failures);             \
        return (mc_test_failures || mc_test_checks == 0) ? 1 : 0;                       \
    } while (0)

#ifdef MC_SOURCE_DIR
/* The whole text of a file under the source tree (caller frees), or NULL with a message. */
static inline char *mc_test_slurp(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MC_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) == (size_t)n) {
        s[n] = '\0';
    } else {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}
#endif

#endif
