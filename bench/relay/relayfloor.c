/*
 * relayfloor.c - the floors under the relay's hop, measured one operation at a time:
 *   commit   an autocommit INSERT (plain table; a model table with the outbox trigger, with
 *            and without its NOTIFY), send → answer, one session;
 *   poll     the relay's read of an empty outbox (its round's SELECT): time per query and
 *            the CPU it costs the server backend and this client, hence the cost of polling
 *            every 1, 2, 5, 50 ms;
 *   produce  one change-event-sized message with the relay's producer settings (acks=all,
 *            idempotent, lz4, Nagle off) and linger.ms 0, 1 and 5, produce → delivery report,
 *            one message in flight.
 * Usage: relayfloor --pg CONNINFO --kafka HOST:PORT --topic T [--n 2000] [--poll-s 5]
 * Prints one JSON object. Bounded: n operations each, poll-s seconds of polling.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../common/args.h"
#include "../common/clock.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Prints "name": {"p50_ms", "p99_ms", "max_ms", "n"} of the n samples (microseconds). */
static void report(const char *name, double *us, int n, int comma)
{
    qsort(us, (size_t)n, sizeof *us, cmp_d);
    printf("\"%s\":{\"n\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}%s", name, n,
           n ? us[n / 2] / 1000 : 0, n ? us[(n * 99) / 100] / 1000 : 0,
           n ? us[n - 1] / 1000 : 0, comma ? "," : "");
}

static void must(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "relayfloor: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

static void commits(PGconn *c, const char *name, const char *sql, int n, int comma)
{
    double *us = calloc((size_t)n, sizeof *us);
    char word[64];
    for (int i = 0; i < n; i++) {
        snprintf(word, sizeof word, "floor-%d-%d-%s", (int)getpid(), i, name);
        const char *p[1] = {word};
        double t = now_us();
        PGresult *r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
        us[i] = now_us() - t;
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "relayfloor: %s", PQerrorMessage(c));
            exit(1);
        }
        PQclear(r);
    }
    report(name, us, n, comma);
    free(us);
}

/* CPU seconds (user + system) of a process, from /proc. */
static double cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f)) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* NOLINTNEXTLINE(cert-err34-c): /proc numbers are the kernel's, in range for their types */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The relay's round on an empty outbox, back to back for seconds. */
static void polls(PGconn *c, double seconds)
{
    static const char sql[] =
        "SELECT id, event_id::text, model, record_id, op, to_json(committed_at) #>> '{}', "
        "json_build_object('model', model, 'id', record_id, 'op', op, 'version', version, "
        "'before', before, 'after', after, 'changed', changed, 'txid', txid, 'committed_at', "
        "committed_at)::text, version FROM modelcast_outbox ORDER BY id LIMIT $1";
    const char *p[1] = {"500"};
    PGresult *r = PQexec(c, "SELECT pg_backend_pid()");
    int backend = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    int cap = 2000000, n = 0;
    double *us = calloc((size_t)cap, sizeof *us);
    double b0 = cpu_s(backend), s0 = self_cpu_s(), t0 = now_us();
    while (now_us() - t0 < seconds * 1e6 && n < cap) {
        double t = now_us();
        r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
        us[n++] = now_us() - t;
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 0) {
            fprintf(stderr, "relayfloor: the outbox must be empty: %s", PQerrorMessage(c));
            exit(1);
        }
        PQclear(r);
    }
    double wall = (now_us() - t0) / 1e6, server = cpu_s(backend) - b0, client = self_cpu_s() - s0;
    double per = n ? (server + client) / n : 0; /* CPU seconds per poll, both ends */
    printf("\"poll_empty_outbox\":{\"n\":%d,\"per_s\":%.0f,", n, n / wall);
    qsort(us, (size_t)n, sizeof *us, cmp_d);
    printf("\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"server_cpu_us_per_poll\":%.1f,"
           "\"client_cpu_us_per_poll\":%.1f,\"cpu_share_of_one_core_at\":{\"1ms\":%.3f,"
           "\"2ms\":%.3f,\"5ms\":%.3f,\"50ms\":%.4f}},",
           n ? us[n / 2] / 1000 : 0, n ? us[(n * 99) / 100] / 1000 : 0,
           n ? server / n * 1e6 : 0, n ? client / n * 1e6 : 0, per * 1000, per * 500,
           per * 200, per * 20);
    free(us);
}

static volatile int delivered;
static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivered = m->err ? -1 : 1;
}

static void produces(const char *brokers, const char *topic, const char *linger, int n,
                     int comma)
{
    char err[512], name[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[] = {"bootstrap.servers", brokers, "enable.idempotence", "true", "acks", "all",
                        "compression.type", "lz4", "linger.ms", linger,
                        "socket.nagle.disable", "true", "message.max.bytes", "1048588",
                        "message.timeout.ms", "10000", "partitioner", "murmur2_random", NULL};
    for (int i = 0; kv[i]; i += 2)
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "relayfloor: %s\n", err);
            exit(1);
        }
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "relayfloor: %s\n", err);
        exit(1);
    }
    /* A change event's size: the Dictionary record twice and the envelope. */
    char value[600];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    double *us = calloc((size_t)n, sizeof *us);
    for (int i = -20; i < n; i++) { /* 20 unmeasured: connections, producer id */
        char key[32];
        snprintf(key, sizeof key, "Floor:%d", i);
        delivered = 0;
        double t = now_us();
        if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE(value, strlen(value)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) {
            fprintf(stderr, "relayfloor: produce failed\n");
            exit(1);
        }
        while (!delivered)
            rd_kafka_poll(rk, 1);
        if (delivered < 0) {
            fprintf(stderr, "relayfloor: delivery failed\n");
            exit(1);
        }
        if (i >= 0)
            us[i] = now_us() - t;
    }
    snprintf(name, sizeof name, "produce_acks_all_linger_%s", linger);
    report(name, us, n, comma);
    free(us);
    rd_kafka_destroy(rk);
}

int main(int argc, char **argv)
{
    const char *pg = NULL, *kafka = NULL, *topic = NULL;
    int n = 2000;
    double poll_s = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pg")) pg = argv[i + 1];
        else if (!strcmp(argv[i], "--kafka")) kafka = argv[i + 1];
        else if (!strcmp(argv[i], "--topic")) topic = argv[i + 1];
        else if (!strcmp(argv[i], "--n")) n = bench_arg_int(argv[i], argv[i + 1]);
        else if (!strcmp(argv[i], "--poll-s")) poll_s = bench_arg_double(argv[i], argv[i + 1]);
        else {
            fprintf(stderr, "relayfloor: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!pg || !kafka || !topic || n < 10 || n > 100000 || poll_s <= 0 || poll_s > 60) {
        fprintf(stderr, "usage: relayfloor --pg CONNINFO --kafka HOST:PORT --topic T "
                        "[--n 10..100000] [--poll-s 0..60]\n");
        return 2;
    }
    PGconn *c = PQconnectdb(pg);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "relayfloor: %s", PQerrorMessage(c));
        return 1;
    }
    must(c, "CREATE TABLE IF NOT EXISTS relayfloor_plain (id bigserial PRIMARY KEY, word text)");
    printf("{");
    commits(c, "commit_plain_insert", "INSERT INTO relayfloor_plain (word) VALUES ($1)", n, 1);
    must(c, "SET modelcast.notify = 'off'");
    commits(c, "commit_model_insert_trigger",
            "INSERT INTO dictionary (word, definition) VALUES ($1, 'floor')", n, 1);
    must(c, "SET modelcast.notify = 'on'");
    commits(c, "commit_model_insert_trigger_notify",
            "INSERT INTO dictionary (word, definition) VALUES ($1, 'floor')", n, 1);
    must(c, "DELETE FROM dictionary WHERE word LIKE 'floor-%'");
    must(c, "DROP TABLE relayfloor_plain");
    /* The relay (running) empties the outbox meanwhile; wait until it has. */
    for (int i = 0; i < 600; i++) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM modelcast_outbox");
        int left = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (!left)
            break;
        bench_sleep_us(100000);
    }
    polls(c, poll_s);
    produces(kafka, topic, "0", n, 1);
    produces(kafka, topic, "1", n, 1);
    produces(kafka, topic, "5", n, 0);
    printf("}\n");
    PQfinish(c);
    return 0;
}
