/* test_dedupe.c - the ce_id windows of authz: staging, commit/rollback, eviction by count
 * (repeats included), partitions kept apart, reset. */
#include "dedupe.h"
#include "mc_error.h"
#include "mc_test.h"

static void test_stage_commit_rollback(void)
{
    dedupe_t *d = dedupe_new(10);
    MC_CHECK(d != NULL);
    if (!d)
        return;
    MC_CHECK_INT(dedupe_seen(d, 0, "a"), 0);
    MC_CHECK_INT(dedupe_end(d, 0), -1);
    MC_CHECK_INT(dedupe_stage(d, 0, 5, "a"), MC_OK);
    MC_CHECK_INT(dedupe_seen(d, 0, "a"), 1); /* a repeat within the open batch */
    MC_CHECK_INT(dedupe_seen(d, 1, "a"), 0); /* another partition */
    dedupe_rollback(d);
    MC_CHECK_INT(dedupe_seen(d, 0, "a"), 0); /* an aborted batch is redone: not a repeat */
    MC_CHECK_INT(dedupe_count(d, 0), 0);
    MC_CHECK_INT(dedupe_stage(d, 0, 5, "a"), MC_OK);
    MC_CHECK_INT(dedupe_stage(d, 0, 6, "b"), MC_OK);
    MC_CHECK_INT(dedupe_stage(d, 1, 2, "c"), MC_OK);
    MC_CHECK_INT(dedupe_commit(d), MC_OK);
    MC_CHECK_INT(dedupe_seen(d, 0, "a"), 1);
    MC_CHECK_INT(dedupe_seen(d, 0, "b"), 1);
    MC_CHECK_INT(dedupe_seen(d, 1, "c"), 1);
    MC_CHECK_INT(dedupe_seen(d, 0, "c"), 0);
    MC_CHECK_INT(dedupe_end(d, 0), 7);
    MC_CHECK_INT(dedupe_end(d, 1), 3);
    MC_CHECK_INT(dedupe_count(d, 0), 2);
    dedupe_free(d);
}

static void test_window_evicts_oldest_counting_repeats(void)
{
    dedupe_t *d = dedupe_new(3);
    if (!d)
        return;
    const char *ids[] = {"a", "b", "a", "c"};
    for (int i = 0; i < 4; i++)
        MC_CHECK_INT(dedupe_push(d, 0, i, ids[i]), MC_OK);
    /* ring: b a c (the first a dropped out, its repeat is remembered) */
    MC_CHECK_INT(dedupe_count(d, 0), 3);
    MC_CHECK_INT(dedupe_seen(d, 0, "a"), 1);
    MC_CHECK_INT(dedupe_seen(d, 0, "b"), 1);
    MC_CHECK_INT(dedupe_push(d, 0, 4, "d"), MC_OK); /* a c d */
    MC_CHECK_INT(dedupe_seen(d, 0, "b"), 0);
    MC_CHECK_INT(dedupe_seen(d, 0, "a"), 1);
    MC_CHECK_INT(dedupe_stage(d, 0, 5, "e"), MC_OK);
    MC_CHECK_INT(dedupe_commit(d), MC_OK); /* c d e */
    MC_CHECK_INT(dedupe_seen(d, 0, "a"), 0);
    MC_CHECK_INT(dedupe_seen(d, 0, "e"), 1);
    MC_CHECK_INT(dedupe_end(d, 0), 6);
    dedupe_reset(d, 0, 42);
    MC_CHECK_INT(dedupe_seen(d, 0, "e"), 0);
    MC_CHECK_INT(dedupe_count(d, 0), 0);
    MC_CHECK_INT(dedupe_end(d, 0), 42);
    MC_CHECK_INT(dedupe_stage(d, 0, 42, "x"), MC_OK);
    dedupe_reset(d, 0, -1); /* a partition revoked with a batch open */
    MC_CHECK_INT(dedupe_seen(d, 0, "x"), 0);
    MC_CHECK_INT(dedupe_commit(d), MC_OK);
    MC_CHECK_INT(dedupe_seen(d, 0, "x"), 0);
    MC_CHECK_INT(dedupe_end(d, 0), -1);
    dedupe_free(d);
}

static void test_many_partitions_and_ids(void)
{
    dedupe_t *d = dedupe_new(1000);
    if (!d)
        return;
    char id[32];
    for (int p = 0; p < 20; p++)
        for (int i = 0; i < 1500; i++) {
            snprintf(id, sizeof id, "%d-%d", p, i);
            MC_CHECK_INT(dedupe_stage(d, p, i, id), MC_OK);
        }
    MC_CHECK_INT(dedupe_commit(d), MC_OK);
    int seen_old = 0, seen_new = 0;
    for (int p = 0; p < 20; p++)
        for (int i = 0; i < 1500; i++) {
            snprintf(id, sizeof id, "%d-%d", p, i);
            if (dedupe_seen(d, p, id))
                *(i < 500 ? &seen_old : &seen_new) += 1;
        }
    MC_CHECK_INT(seen_old, 0);
    MC_CHECK_INT(seen_new, 20 * 1000);
    dedupe_free(d);
}

static void test_window_zero_remembers_nothing(void)
{
    dedupe_t *d = dedupe_new(0);
    if (!d)
        return;
    MC_CHECK_INT(dedupe_stage(d, 0, 1, "a"), MC_OK);
    MC_CHECK_INT(dedupe_seen(d, 0, "a"), 0);
    MC_CHECK_INT(dedupe_commit(d), MC_OK);
    MC_CHECK_INT(dedupe_push(d, 0, 2, "a"), MC_OK);
    MC_CHECK_INT(dedupe_seen(d, 0, "a"), 0);
    dedupe_free(d);
}

int main(void)
{
    MC_TEST_RUN(test_stage_commit_rollback);
    MC_TEST_RUN(test_window_evicts_oldest_counting_repeats);
    MC_TEST_RUN(test_many_partitions_and_ids);
    MC_TEST_RUN(test_window_zero_remembers_nothing);
    MC_TEST_DONE();
}
