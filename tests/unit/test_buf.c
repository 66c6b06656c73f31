/* test_buf.c - the growable string: appends, growth across many appends, steal, failure. */
#include "mc_buf.h"
#include "mc_test.h"

static void test_append(void)
{
    mc_buf_t b;
    mc_buf_init(&b);
    MC_CHECK(b.data == NULL);
    mc_buf_append(&b, "ab", 2);
    mc_buf_appendf(&b, "-%d-%s", 42, "x");
    mc_buf_append(&b, "", 0);
    MC_CHECK_STR(b.data, "ab-42-x");
    MC_CHECK_INT(b.len, 7);
    MC_CHECK(b.cap > b.len);
    mc_buf_cleanup(&b);
    MC_CHECK(b.data == NULL);
    MC_CHECK_INT(b.len, 0);
}

static void test_growth(void)
{
    mc_buf_t b;
    char want[16];
    mc_buf_init(&b);
    /* 10,000 appends of 5 bytes and one of 3,000: the buffer grows past its first size
     * many times, and each append lands after the last. */
    for (int i = 0; i < 10000; i++)
        mc_buf_appendf(&b, "%05d", i);
    MC_CHECK_INT(b.len, 50000);
    snprintf(want, sizeof want, "%05d", 9999);
    MC_CHECK_STR(b.data + 49995, want);
    MC_CHECK(memcmp(b.data, "000000000100002", 15) == 0);
    mc_buf_appendf(&b, "%3000s", "|");
    MC_CHECK_INT(b.len, 53000);
    MC_CHECK_INT(b.data[52999], '|');
    MC_CHECK_INT(b.data[53000], '\0');
    mc_buf_cleanup(&b);
}

static void test_reserve(void)
{
    mc_buf_t b;
    mc_buf_init(&b);
    MC_CHECK_INT(mc_buf_reserve(&b, 1000), 0);
    MC_CHECK(b.cap >= 1001);
    memcpy(b.data, "hi", 3);
    b.len = 2;
    mc_buf_appendf(&b, "!");
    MC_CHECK_STR(b.data, "hi!");
    mc_buf_cleanup(&b);
}

static void test_steal(void)
{
    mc_buf_t b;
    mc_buf_init(&b);
    char *s = mc_buf_steal(&b);
    MC_CHECK_STR(s, ""); /* nothing appended: an empty string, not NULL */
    free(s);
    mc_buf_appendf(&b, "%s", "text");
    s = mc_buf_steal(&b);
    MC_CHECK_STR(s, "text");
    MC_CHECK(b.data == NULL && b.len == 0);
    free(s);
}

static void test_failed(void)
{
    mc_buf_t b;
    mc_buf_init(&b);
    mc_buf_appendf(&b, "kept");
    b.failed = 1; /* as after an allocation failure */
    mc_buf_appendf(&b, "lost");
    mc_buf_append(&b, "lost", 4);
    MC_CHECK_INT(mc_buf_reserve(&b, 1), -1);
    MC_CHECK_STR(b.data, "kept");
    MC_CHECK(mc_buf_steal(&b) == NULL);
    MC_CHECK(b.data == NULL && !b.failed);
}

int main(void)
{
    MC_TEST_RUN(test_append);
    MC_TEST_RUN(test_growth);
    MC_TEST_RUN(test_reserve);
    MC_TEST_RUN(test_steal);
    MC_TEST_RUN(test_failed);
    MC_TEST_DONE();
}
