/* produce.c - bench/authz's load generator: change events for the Post model of
 * bench/authz/models.json, shaped as docs/events.md says (key Post:<id>, CloudEvents headers
 * with a unique ce_id, value {model,id,op,version,before,after,changed,txid,committed_at}),
 * produced into modelcast.changes as fast as possible or at a fixed rate.
 *
 * Events are built before the clock starts (jansson), so the producer measures Kafka alone.
 *
 *   produce -b 127.0.0.1:9092 [-t topic] -n COUNT [-r RATE_PER_S] [-s SEED] [-q]
 *
 * Prints one JSON line: {"produced":N,"failed":F,"seconds":S,"rate":R,"bytes":B}.
 * Exit 0 when every message was acknowledged.
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/args.h"

static long acked, failed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        failed++;
    else
        acked++;
}

static json_t *record(long id, long version, long seed)
{
    char title[64], secret[64], body[256];
    snprintf(title, sizeof title, "post %ld of run %ld", id, seed);
    snprintf(secret, sizeof secret, "s3cr3t-%ld-%ld", seed, id);
    snprintf(body, sizeof body,
             "Body of post %ld, version %ld. Lorem ipsum dolor sit amet, consectetur adipiscing "
             "elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
             id, version);
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:n, s:s, s:b, s:I, s:[ss], s:s}",
                     "id", (json_int_t)id, "version", (json_int_t)version, "created_at",
                     "2026-11-27T10:00:00.000000+00:00", "updated_at",
                     "2026-11-27T10:00:01.000000+00:00", "title", title, "body", body,
                     "owner_id", (json_int_t)(1 + id % 1000), "team_id",
                     (json_int_t)(1 + id % 100), "org_id", "status", "published", "private", 0,
                     "score", (json_int_t)version, "tags", "bench", "authz", "secret", secret);
}

typedef struct {
    char key[48];
    char ce_id[48];
    char subject[48];
    const char *type;
    char *value;
    size_t len;
} event_t;

/* Event i: a create for every 4th, else an update (version 2.. of a record). */
static void make_event(event_t *e, long i, long seed)
{
    long id = seed * 10000000L + i / 4 + 1;
    int create = i % 4 == 0;
    long version = create ? 1 : 1 + i % 4;
    json_t *after = record(id, version, seed);
    json_t *before = create ? json_null() : record(id, version - 1, seed);
    json_t *changed = create ? json_pack("[ssssssssss]", "title", "body", "owner_id", "team_id",
                                         "org_id", "status", "private", "score", "tags", "secret")
                             : json_pack("[ss]", "score", "body");
    json_t *ev = json_pack("{s:s, s:I, s:s, s:I, s:o, s:o, s:o, s:I, s:s}", "model", "Post", "id",
                           (json_int_t)id, "op", create ? "create" : "update", "version",
                           (json_int_t)version, "before", before, "after", after, "changed",
                           changed, "txid", 1000 + (json_int_t)i, "committed_at",
                           "2026-11-27T10:00:01.000000+00:00");
    e->value = json_dumps(ev, JSON_COMPACT);
    e->len = strlen(e->value);
    json_decref(ev);
    snprintf(e->key, sizeof e->key, "Post:%ld", id);
    snprintf(e->subject, sizeof e->subject, "Post/%ld", id);
    snprintf(e->ce_id, sizeof e->ce_id, "%08lx-%04lx-4%03lx-8%03lx-%012lx",
             (unsigned long)seed & 0xffffffffUL, (unsigned long)(i >> 40) & 0xffff,
             (unsigned long)(i >> 28) & 0xfff, (unsigned long)(i >> 16) & 0xfff,
             (unsigned long)i & 0xffffffffffffUL);
    e->type = create ? "modelcast.record.created" : "modelcast.record.updated";
}

int main(int argc, char **argv)
{
    const char *brokers = "127.0.0.1:9092", *topic = "modelcast.changes";
    long n = 100000, seed = (long)time(NULL) % 100000;
    double rate = 0;
    int quiet = 0, c;
    char errstr[512];

    while ((c = getopt(argc, argv, "b:t:n:r:s:qh")) != -1) {
        switch (c) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'n': n = bench_arg_long("-n", optarg, 0, LONG_MAX); break;
        case 'r': rate = bench_arg_double("-r", optarg); break;
        case 's': seed = bench_arg_long("-s", optarg, 0, 900000000000L); break;
        case 'q': quiet = 1; break;
        default:
            fprintf(stderr, "usage: %s -b BROKERS [-t TOPIC] -n COUNT [-r RATE/s] [-s SEED] [-q]\n",
                    argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (n <= 0 || n > 50000000) {
        fprintf(stderr, "produce: -n must be 1..50000000\n");
        return 2;
    }

    event_t *evs = calloc((size_t)n, sizeof *evs);
    size_t bytes = 0;
    if (!evs) {
        fprintf(stderr, "produce: out of memory\n");
        return 1;
    }
    for (long i = 0; i < n; i++) {
        make_event(&evs[i], i, seed);
        if (!evs[i].value) {
            fprintf(stderr, "produce: json_dumps failed\n");
            return 1;
        }
        bytes += evs[i].len;
    }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[] = {"bootstrap.servers", brokers, "acks", "all", "enable.idempotence",
                           "true", "compression.type", "lz4", "partitioner", "murmur2_random",
                           "linger.ms", rate > 0 ? "2" : "20", "batch.num.messages", "10000",
                           "queue.buffering.max.messages", "2000000",
                           "queue.buffering.max.kbytes", "1048576", "client.id",
                           "bench-authz-produce", NULL};
    for (const char **p = props; *p; p += 2) {
        if (rd_kafka_conf_set(conf, p[0], p[1], errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "produce: %s=%s: %s\n", p[0], p[1], errstr);
            return 2;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "produce: %s\n", errstr);
        return 1;
    }

    char ce_time[] = "2026-11-27T10:00:01.000000+00:00";
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (rate > 0) {
            /* Paced: message i is due at t0 + i/rate; wait for it in small steps. */
            for (int guard = 0; guard < 100000; guard++) {
                double late = now_s() - (t0 + (double)i / rate);
                if (late >= 0)
                    break;
                rd_kafka_poll(rk, 0);
                struct timespec pause = {0, late < -0.001 ? 500000L : 50000L};
                nanosleep(&pause, NULL);
            }
        }
        event_t *e = &evs[i];
        rd_kafka_resp_err_t err;
        for (int tries = 0; tries < 100000; tries++) {
            err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                RD_KAFKA_V_KEY(e->key, strlen(e->key)), RD_KAFKA_V_VALUE(e->value, e->len),
                RD_KAFKA_V_HEADER("ce_specversion", "1.0", 3),
                RD_KAFKA_V_HEADER("ce_id", e->ce_id, (ssize_t)strlen(e->ce_id)),
                RD_KAFKA_V_HEADER("ce_source", "/modelcast/model-api", 20),
                RD_KAFKA_V_HEADER("ce_type", e->type, (ssize_t)strlen(e->type)),
                RD_KAFKA_V_HEADER("ce_subject", e->subject, (ssize_t)strlen(e->subject)),
                RD_KAFKA_V_HEADER("ce_time", ce_time, (ssize_t)strlen(ce_time)),
                RD_KAFKA_V_HEADER("content-type", "application/json", 16), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 10);
        }
        if (err) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
            free(e->value);
            failed++;
        }
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    for (int i = 0; i < 600 && rd_kafka_outq_len(rk) > 0; i++)
        rd_kafka_flush(rk, 100);
    double secs = now_s() - t0;
    int left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    free(evs);
    if (!quiet || failed || left)
        printf("{\"produced\":%ld,\"failed\":%ld,\"unflushed\":%d,\"seconds\":%.3f,\"rate\":%.0f,"
               "\"bytes\":%zu}\n",
               acked, failed, left, secs, (double)acked / secs, bytes);
    return failed || left ? 1 : 0;
}
