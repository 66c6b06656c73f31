/* test_pusher_resume.c - the murmur2 partitioner the pusher shares with Kafka's producers. */
#include "mc_test.h"
#include "resume.h"

#include <string.h>

static void test_murmur2_matches_kafka(void)
{
    /* Vectors of Kafka's UtilsTest.testMurmur2 (org.apache.kafka.common.utils.Utils). */
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
        MC_CHECK_INT(resume_murmur2(v[i].key, strlen(v[i].key)), v[i].hash);
}

static void test_partition_of(void)
{
    /* Seen on a real broker: authz (partitioner murmur2_random) put Application in 3 of 4. */
    MC_CHECK_INT(resume_partition_of("Application", 4), 3);
    MC_CHECK_INT(resume_partition_of("Application", 1), 0);
    MC_CHECK_INT(resume_partition_of("x", 0), -1);
    for (int n = 1; n < 50; n++) {
        int32_t p = resume_partition_of("User-42", n);
        MC_CHECK(p >= 0 && p < n);
    }
}

int main(void)
{
    MC_TEST_RUN(test_murmur2_matches_kafka);
    MC_TEST_RUN(test_partition_of);
    MC_TEST_DONE();
}
