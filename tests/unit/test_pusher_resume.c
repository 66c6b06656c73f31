/* test_pusher_resume.c - the partition of a channel, as authz's murmur2 producer picks it;
 * connections taking turns for authorization, one token per connection, the pending bound. */
#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_test.h"
#include "resume.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

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

/* A fake authz: records each call; the first one waits until the test lets it go. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls, released, refused;
    char channels[16][32];
    const char *tokens[16];
} az = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, {{0}}, {0}};

static proto_err_t fake_authorize(void *arg, const char *token, const char *channel, char *msg,
                                  size_t msglen)
{
    (void)arg;
    pthread_mutex_lock(&az.lock);
    if (az.calls < 16) {
        snprintf(az.channels[az.calls], sizeof az.channels[0], "%s", channel);
        az.tokens[az.calls] = token;
    }
    az.calls++;
    pthread_cond_broadcast(&az.cond);
    while (!az.released)
        pthread_cond_wait(&az.cond, &az.lock);
    pthread_mutex_unlock(&az.lock);
    snprintf(msg, msglen, "no");
    return PROTO_ERR_FORBIDDEN;
}

static int fake_emit(void *worker, resume_job_t *job, resume_event_t ev, pusher_frame_t *frame,
                     int32_t partition, int64_t offset)
{
    (void)worker, (void)job, (void)partition, (void)offset;
    pthread_mutex_lock(&az.lock);
    if (ev == RESUME_REFUSE)
        az.refused++;
    pthread_cond_broadcast(&az.cond);
    pthread_mutex_unlock(&az.lock);
    pusher_frame_unref(frame);
    return MC_OK;
}

/* Waits (bounded: 10 s) until *counter reaches n. */
static int wait_for(const int *counter, int n)
{
    struct timespec ts;
    int ok;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&az.lock);
    while (*counter < n && pthread_cond_timedwait(&az.cond, &az.lock, &ts) == 0)
        ;
    ok = *counter >= n;
    pthread_mutex_unlock(&az.lock);
    return ok;
}

static resume_job_t *submit(resume_t *r, resume_conn_t *rc, const char *channel, int want)
{
    proto_request_t req;
    resume_job_t *j;
    memset(&req, 0, sizeof req);
    snprintf(req.channel, sizeof req.channel, "%s", channel);
    j = resume_job_new(NULL, NULL, rc, &req);
    MC_CHECK_INT(resume_submit(r, j), want);
    return j;
}

static void test_connections_take_turns_and_share_their_token(void)
{
    static const char *const unreachable[] = {"bootstrap.servers", "127.0.0.1:1", NULL};
    char err[256];
    rd_kafka_conf_t *conf = mc_kafka_conf_new(unreachable, NULL, NULL, err, sizeof err);
    resume_opts_t o = {.topic = "t", .threads = 1, .replay_threads = 1, .max_pending = 6,
                       .emit = fake_emit, .authorize = fake_authorize};
    resume_t *r = resume_new(&o, conf, err, sizeof err);
    resume_conn_t *a = resume_conn_new("token-a"), *b = resume_conn_new(NULL),
                  *c = resume_conn_new("token-c");
    resume_job_t *jobs[8];
    static const char *const order[] = {"A0", "A1", "B0", "C0", "A2", "A3"};

    MC_CHECK(r != NULL);
    jobs[0] = submit(r, a, "A0", MC_OK);
    MC_CHECK(wait_for(&az.calls, 1)); /* A0 is on the thread, waiting for "authz" */
    jobs[1] = submit(r, a, "A1", MC_OK);
    jobs[2] = submit(r, a, "A2", MC_OK);
    jobs[3] = submit(r, a, "A3", MC_OK);
    jobs[4] = submit(r, b, "B0", MC_OK);
    jobs[5] = submit(r, c, "C0", MC_OK);
    MC_CHECK_INT(resume_pending(r), 6);
    jobs[6] = submit(r, c, "C1", MC_ERR_TOO_LARGE); /* over max_pending */
    /* A queued job given up leaves at once and frees its place. */
    resume_cancel(r, jobs[5]);
    MC_CHECK_INT(resume_pending(r), 5);
    jobs[7] = submit(r, c, "C0", MC_OK);
    pthread_mutex_lock(&az.lock);
    az.released = 1;
    pthread_cond_broadcast(&az.cond);
    pthread_mutex_unlock(&az.lock);
    MC_CHECK(wait_for(&az.refused, 6));
    MC_CHECK_INT(az.calls, 6);
    for (int i = 0; i < 6; i++)
        MC_CHECK_STR(az.channels[i], order[i]);
    /* One copy of each connection's token, whatever the number of its subscriptions. */
    MC_CHECK(az.tokens[0] == a->token && az.tokens[1] == a->token && az.tokens[4] == a->token);
    MC_CHECK(az.tokens[2] == NULL);
    MC_CHECK(az.tokens[3] == c->token);
    MC_CHECK_STR(a->token, "token-a");
    for (int i = 0; i < 1000 && resume_pending(r) > 0; i++) { /* bounded: 10 s */
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    MC_CHECK_INT(resume_pending(r), 0);
    resume_free(r);
    for (int i = 0; i < 8; i++)
        resume_job_unref(jobs[i]);
    resume_conn_unref(a);
    resume_conn_unref(b);
    resume_conn_unref(c);
}

int main(void)
{
    MC_TEST_RUN(test_murmur2_matches_kafka);
    MC_TEST_RUN(test_partition_matches_the_former_murmur2);
    MC_TEST_RUN(test_partition_of);
    MC_TEST_RUN(test_connections_take_turns_and_share_their_token);
    MC_TEST_DONE();
}
