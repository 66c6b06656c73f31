/* test_pusher_resume.c - the partition of a channel, as authz's murmur2 producer picks it. */
#include "mc_test.h"
#include "resume.h"

#include <stdint.h>

static void test_murmur2_matches_kafka(void)
{
    /*
     * Vectors of Kafka's UtilsTest.testMurmur2 (org.apache.kafka.common.utils.Utils). Among
     * INT32_MAX partitions the partition is the positive hash itself (murmur2 & 0x7fffffff).
     */
    static const struct {
        const char *key;
        int32_t hash;
    } v[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        MC_CHECK_INT(resume_partition_of(v[i].key, INT32_MAX),
                     (int32_t)((uint32_t)v[i].hash & 0x7fffffff));
}

static void test_partition_matches_the_former_murmur2(void)
{
    /*
     * Answers of the pusher's own murmur2 (before it used librdkafka's), computed with that
     * code for 1, 3, 4, 12 and 50 partitions: a channel stays in the partition authz writes.
     */
    static const int32_t counts[] = {1, 3, 4, 12, 50};
    static const struct {
        const char *key;
        int32_t partition[5];
    } v[] = {
        {"Application", {0, 1, 3, 7, 43}},
        {"User-42", {0, 1, 0, 4, 38}},
        {"Project:7", {0, 0, 2, 6, 8}},
        {"Model:1", {0, 0, 1, 9, 37}},
        {"broadcast", {0, 2, 2, 2, 28}},
        {"Order-1000000", {0, 2, 2, 2, 32}},
        {"a", {0, 1, 0, 4, 24}},
        {"ab", {0, 2, 2, 2, 34}},
        {"abc", {0, 0, 3, 3, 7}},
        {"abcd", {0, 2, 0, 8, 0}},
        {"\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9-\xd0\xba\xd0\xb0\xd0\xbd\xd0\xb0", /* UTF-8 */
         {0, 2, 3, 11, 29}},
        {"x", {0, 1, 2, 10, 46}},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        for (size_t j = 0; j < sizeof counts / sizeof *counts; j++)
            MC_CHECK_INT(resume_partition_of(v[i].key, counts[j]), v[i].partition[j]);
}

static void test_partition_of(void)
{
    /* Seen on a real broker: authz (partitioner murmur2_random) put Application in 3 of 4. */
    MC_CHECK_INT(resume_partition_of("Application", 4), 3);
    MC_CHECK_INT(resume_partition_of("x", 0), -1);
    MC_CHECK_INT(resume_partition_of("x", -1), -1);
    for (int n = 1; n < 50; n++) {
        int32_t p = resume_partition_of("User-42", n);
        MC_CHECK(p >= 0 && p < n);
    }
}

int main(void)
{
    MC_TEST_RUN(test_murmur2_matches_kafka);
    MC_TEST_RUN(test_partition_matches_the_former_murmur2);
    MC_TEST_RUN(test_partition_of);
    MC_TEST_DONE();
}
