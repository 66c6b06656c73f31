/* floors.c - the floor of each hop a change takes, measured on its own, one at a time:
 *
 *   pg_commit        INSERT … (autocommit) into a logged table, fsync on: one PostgreSQL commit
 *   produce_acks_all one message, idempotent producer, acks=all, linger.ms 0: produce → report
 *   txn_commit       begin, produce one message, commit (a transactional producer)
 *   rc_visible       from the commit call until a read_committed consumer has the message
 *   ws_write         one server→client WebSocket frame (120 bytes) over loopback TCP:
 *                    send() → the receiving thread's recv() returns it
 *   authz_hop        (--authz) a change event produced to the changes topic → its delivery
 *                    seen by a read_committed consumer of the deliveries topic (a running authz)
 *   dead_txn_hold    (--dead-txn K) a child process opens a transaction, writes, and dies:
 *                    how long a read_committed reader of that partition then waits for the
 *                    next message (until the broker aborts the orphan transaction)
 *
 * Each hop runs N times after a warm-up, one iteration at a time (no concurrency), and prints
 * one line: p50, p90, p99, max, mean in ms. All times are CLOCK_MONOTONIC in this process.
 *
 *   floors --pg CONNINFO --kafka HOST:PORT [--topic T] [--n N] [--hops LIST]
 *          [--changes T --deliveries T] [--dead-txn K] [--txn-timeout-ms MS] [--json FILE]
 *
 * --hops is a comma list of the names above (default: all but authz_hop and dead_txn_hold;
 * --authz and --dead-txn K add those). Exit 0 when every measured hop completed.
 */
#define _GNU_SOURCE /* memmem */
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "args.h"

#define WARMUP 20
#define DEADLINE_S 30.0 /* for one iteration */

static const char *pg_conninfo, *bootstrap, *topic = "floors", *changes_topic,
                  *deliveries_topic, *json_path;
static long iterations = 200, dead_txn = 0, txn_timeout_ms = 5000;
static FILE *json_out;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "floors: %s: %s\n", what, why);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Prints the summary line of one hop from n samples in seconds (sorted here). */
static void report(const char *hop, double *s, long n, const char *note)
{
    if (n == 0) {
        printf("| %-16s | %8s | %8s | %8s | %8s | %8s | %5d | %s |\n", hop, "-", "-", "-", "-",
               "-", 0, note);
        return;
    }
    double sum = 0;
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    for (long i = 0; i < n; i++)
        sum += s[i];
#define PCT(q) (s[(long)((q) * (double)(n - 1) + 0.5)] * 1000.0)
    printf("| %-16s | %8.3f | %8.3f | %8.3f | %8.3f | %8.3f | %5ld | %s |\n", hop, PCT(0.5),
           PCT(0.9), PCT(0.99), s[n - 1] * 1000.0, sum / (double)n * 1000.0, n, note);
    if (json_out)
        fprintf(json_out,
                "{\"hop\":\"%s\",\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
                "\"mean_ms\":%.3f,\"n\":%ld}\n",
                hop, PCT(0.5), PCT(0.9), PCT(0.99), s[n - 1] * 1000.0, sum / (double)n * 1000.0,
                n);
#undef PCT
    fflush(stdout);
}

/* ------------------------------------------------------------------------- PostgreSQL */

static void hop_pg(void)
{
    PGconn *c = PQconnectdb(pg_conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        die("postgres", PQerrorMessage(c));
    PGresult *r = PQexec(c, "CREATE TABLE IF NOT EXISTS floors_commit (id bigserial PRIMARY KEY, "
                            "v text NOT NULL, at timestamptz NOT NULL DEFAULT now());"
                            "SHOW fsync");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die("postgres", PQerrorMessage(c));
    char note[128];
    snprintf(note, sizeof note, "fsync %s, synchronous_commit on, logged table",
             PQgetvalue(r, 0, 0));
    PQclear(r);
    r = PQprepare(c, "ins", "INSERT INTO floors_commit (v) VALUES ($1)", 1, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        die("postgres prepare", PQerrorMessage(c));
    PQclear(r);
    double *s = calloc((size_t)iterations, sizeof *s);
    const char *v[1] = {"a change of about the size of a small record, written and committed"};
    for (long i = -WARMUP; i < iterations; i++) {
        double t0 = now_s();
        r = PQexecPrepared(c, "ins", 1, v, NULL, NULL, 0);
        double t1 = now_s();
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die("postgres insert", PQerrorMessage(c));
        PQclear(r);
        if (i >= 0)
            s[i] = t1 - t0;
    }
    report("pg_commit", s, iterations, note);
    free(s);
    PQfinish(c);
}

/* ------------------------------------------------------------------------------ Kafka */

static rd_kafka_conf_t *kconf(const char *const *kv)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err))
        die("bootstrap.servers", err);
    for (; kv && kv[0]; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof err))
            die(kv[0], err);
    /* Extra properties for every client: FLOORS_KAFKA="k=v,k=v". */
    const char *extra = getenv("FLOORS_KAFKA");
    if (extra && *extra) {
        char *copy = strdup(extra), *save = NULL;
        for (char *kvp = strtok_r(copy, ",", &save); kvp; kvp = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kvp, '=');
            if (!eq)
                die("FLOORS_KAFKA", kvp);
            *eq = '\0';
            if (rd_kafka_conf_set(conf, kvp, eq + 1, err, sizeof err))
                die(kvp, err);
        }
        free(copy);
    }
    return conf;
}

static rd_kafka_t *knew(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk)
        die("rd_kafka_new", err);
    return rk;
}

static atomic_int delivered;
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        die("delivery", rd_kafka_err2str(m->err));
    atomic_fetch_add(&delivered, 1);
}

static void produce1(rd_kafka_t *p, const char *t, int32_t partition, const char *key,
                     const char *value, size_t len)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(t), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_END);
    if (e)
        die("produce", rd_kafka_err2str(e));
}

static void hop_produce(void)
{
    const char *kv[] = {"enable.idempotence", "true", "acks", "all", "linger.ms", "0", NULL};
    rd_kafka_conf_t *conf = kconf(kv);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *p = knew(RD_KAFKA_PRODUCER, conf);
    double *s = calloc((size_t)iterations, sizeof *s);
    char value[120];
    memset(value, 'x', sizeof value);
    for (long i = -WARMUP; i < iterations; i++) {
        int before = atomic_load(&delivered);
        double t0 = now_s();
        produce1(p, topic, 0, "floors", value, sizeof value);
        while (atomic_load(&delivered) == before) {
            rd_kafka_poll(p, 1);
            if (now_s() - t0 > DEADLINE_S)
                die("produce", "no delivery report");
        }
        if (i >= 0)
            s[i] = now_s() - t0;
    }
    report("produce_acks_all", s, iterations, "idempotent, acks=all, linger.ms 0, 120 B");
    free(s);
    rd_kafka_flush(p, 10000);
    rd_kafka_destroy(p);
}

/* A read_committed consumer of one partition in a thread, noting when message #seq came. */
typedef struct {
    rd_kafka_t *rk;
    pthread_t thread;
    atomic_int stop;
    atomic_long last_seq;   /* the highest sequence number seen */
    double *seen_at;        /* [seq] */
    long nseq;
    const char *marker;     /* only messages whose value contains marker<seq> count */
} watcher_t;

static void *watch_main(void *arg)
{
    watcher_t *w = arg;
    size_t mlen = strlen(w->marker);
    while (!atomic_load(&w->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 50);
        if (!m)
            continue;
        double t = now_s();
        if (!m->err && m->len > mlen) {
            const char *v = m->payload, *hit = memmem(v, m->len, w->marker, mlen);
            if (hit) {
                long seq = strtol(hit + mlen, NULL, 10);
                if (seq >= 0 && seq < w->nseq && w->seen_at[seq] == 0) {
                    w->seen_at[seq] = t;
                    if (seq > atomic_load(&w->last_seq))
                        atomic_store(&w->last_seq, seq);
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

/* Starts a watcher of topic t (all partitions from the end when partition < 0). */
static void watcher_start(watcher_t *w, const char *t, int32_t partition, const char *marker,
                          long nseq)
{
    const char *kv[] = {"group.id", "floors-watch", "isolation.level", "read_committed",
                        "enable.auto.commit", "false", "enable.partition.eof", "false", NULL};
    memset(w, 0, sizeof *w);
    w->rk = knew(RD_KAFKA_CONSUMER, kconf(kv));
    w->marker = marker;
    w->nseq = nseq;
    w->seen_at = calloc((size_t)nseq, sizeof *w->seen_at);
    atomic_store(&w->last_seq, -1);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    if (partition >= 0) {
        rd_kafka_topic_partition_list_add(l, t, partition)->offset = RD_KAFKA_OFFSET_END;
    } else {
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(w->rk, t, NULL);
        if (rd_kafka_metadata(w->rk, 0, rkt, &md, 10000) || md->topic_cnt != 1)
            die("metadata", t);
        for (int i = 0; i < md->topics[0].partition_cnt; i++)
            rd_kafka_topic_partition_list_add(l, t, md->topics[0].partitions[i].id)->offset =
                RD_KAFKA_OFFSET_END;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
    }
    if (rd_kafka_assign(w->rk, l))
        die("assign", t);
    rd_kafka_topic_partition_list_destroy(l);
    pthread_create(&w->thread, NULL, watch_main, w);
}

static void watcher_stop(watcher_t *w)
{
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    rd_kafka_consumer_close(w->rk);
    rd_kafka_destroy(w->rk);
    free(w->seen_at);
}

static void wait_seen(watcher_t *w, long seq, const char *what)
{
    double t0 = now_s();
    while (w->seen_at[seq] == 0) {
        if (now_s() - t0 > DEADLINE_S)
            die(what, "not seen by the read_committed consumer");
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

static void hop_txn(void)
{
    char txid[64];
    snprintf(txid, sizeof txid, "floors-%d", (int)getpid());
    const char *kv[] = {"transactional.id", txid, "linger.ms", "0", NULL};
    rd_kafka_conf_t *conf = kconf(kv);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *p = knew(RD_KAFKA_PRODUCER, conf);
    rd_kafka_error_t *e = rd_kafka_init_transactions(p, 30000);
    if (e)
        die("init_transactions", rd_kafka_error_string(e));
    long n = iterations + WARMUP;
    watcher_t w;
    watcher_start(&w, topic, 1, "floors-txn-", n);
    /* Let the watcher fetch from the end before the first message. */
    struct timespec settle = {1, 0};
    nanosleep(&settle, NULL);
    double *commit = calloc((size_t)iterations, sizeof *commit);
    double *visible = calloc((size_t)iterations, sizeof *visible);
    for (long i = 0; i < n; i++) {
        char value[128];
        int len = snprintf(value, sizeof value, "floors-txn-%ld ................................",
                           i);
        double t0 = now_s();
        if ((e = rd_kafka_begin_transaction(p)))
            die("begin", rd_kafka_error_string(e));
        produce1(p, topic, 1, "floors", value, (size_t)len);
        double tc = now_s();
        if ((e = rd_kafka_commit_transaction(p, 30000)))
            die("commit", rd_kafka_error_string(e));
        double t1 = now_s();
        wait_seen(&w, i, "txn message");
        if (i >= WARMUP) {
            commit[i - WARMUP] = t1 - t0;
            visible[i - WARMUP] = w.seen_at[i] - tc;
        }
    }
    report("txn_commit", commit, iterations, "begin + produce 1 + commit, linger.ms 0");
    report("rc_visible", visible, iterations,
           "commit call → read_committed consumer has it (fetch.wait.max.ms default)");
    free(commit);
    free(visible);
    watcher_stop(&w);
    rd_kafka_destroy(p);
}

/* --------------------------------------------------------------------- dead transaction */

static void hop_dead_txn(void)
{
    if (dead_txn < 1)
        die("dead_txn_hold", "needs --dead-txn K >= 1");
    double *s = calloc((size_t)dead_txn, sizeof *s);
    long n = 0;
    for (long k = 0; k < dead_txn; k++) {
        char marker[64];
        snprintf(marker, sizeof marker, "floors-dead-%d-%ld-", (int)getpid(), k);
        pid_t child = fork();
        if (child < 0)
            die("dead_txn", "fork failed");
        if (child == 0) {
            char txid[64], tmo[32], value[96];
            snprintf(txid, sizeof txid, "floors-dead-%d", (int)getpid());
            snprintf(tmo, sizeof tmo, "%ld", txn_timeout_ms);
            const char *kv[] = {"transactional.id", txid, "transaction.timeout.ms", tmo,
                                "linger.ms", "0", NULL};
            rd_kafka_conf_t *conf = kconf(kv);
            rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
            rd_kafka_t *p = knew(RD_KAFKA_PRODUCER, conf);
            int before = atomic_load(&delivered);
            if (rd_kafka_init_transactions(p, 30000) || rd_kafka_begin_transaction(p))
                _exit(2);
            int len = snprintf(value, sizeof value, "%s0 (never committed)", marker);
            produce1(p, topic, 2, "dead", value, (size_t)len);
            while (atomic_load(&delivered) == before)
                rd_kafka_poll(p, 1);
            _exit(0); /* dies with its transaction open, as a SIGKILLed authz does */
        }
        int st;
        waitpid(child, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("dead_txn", "the child could not open its transaction");
        double t0 = now_s();
        /* From the end, which for read_committed is the last stable offset: before the
         * orphan transaction's message. */
        watcher_t w;
        watcher_start(&w, topic, 2, marker, 2);
        const char *kv[] = {"enable.idempotence", "true", "linger.ms", "0", NULL};
        rd_kafka_conf_t *conf = kconf(kv);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_t *p = knew(RD_KAFKA_PRODUCER, conf);
        char value[96];
        int len = snprintf(value, sizeof value, "%s1 (after the dead transaction)", marker);
        produce1(p, topic, 2, "after", value, (size_t)len);
        rd_kafka_flush(p, 10000);
        while (w.seen_at[1] == 0 && now_s() - t0 < 120) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (w.seen_at[1] > 0)
            s[n++] = w.seen_at[1] - t0;
        rd_kafka_destroy(p);
        watcher_stop(&w);
    }
    char note[160];
    snprintf(note, sizeof note,
             "a producer died inside a transaction (transaction.timeout.ms %ld): the next "
             "message waits",
             txn_timeout_ms);
    report("dead_txn_hold", s, n, note);
    free(s);
}

/* ------------------------------------------------------------------------------ authz */

static void hop_authz(void)
{
    const char *kv[] = {"enable.idempotence", "true", "linger.ms", "0", NULL};
    rd_kafka_conf_t *conf = kconf(kv);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *p = knew(RD_KAFKA_PRODUCER, conf);
    long n = iterations + WARMUP;
    char marker[64];
    snprintf(marker, sizeof marker, "floors-%d-", (int)getpid());
    watcher_t w;
    watcher_start(&w, deliveries_topic, -1, marker, n);
    struct timespec settle = {1, 0};
    nanosleep(&settle, NULL);
    double *s = calloc((size_t)iterations, sizeof *s);
    for (long i = 0; i < n; i++) {
        char key[64], value[512], ceid[64];
        long id = 2000000000L + (long)getpid() % 100000 * 1000 + i;
        snprintf(key, sizeof key, "Dictionary:%ld", id);
        snprintf(ceid, sizeof ceid, "%08x-0000-4000-8000-%012lx", (unsigned)getpid(), i);
        int len = snprintf(
            value, sizeof value,
            "{\"model\":\"Dictionary\",\"id\":%ld,\"op\":\"create\",\"version\":1,"
            "\"before\":null,\"after\":{\"id\":%ld,\"word\":\"%s%ld\",\"definition\":null,"
            "\"pronunciation\":null,\"version\":1,\"created_at\":\"2026-12-01T00:00:00Z\","
            "\"updated_at\":\"2026-12-01T00:00:00Z\"},\"changed\":[\"word\"],\"txid\":1,"
            "\"committed_at\":\"2026-12-01T00:00:00Z\"}",
            id, id, marker, i);
        double t0 = now_s();
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(changes_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, (size_t)len),
            RD_KAFKA_V_HEADER("ce_id", ceid, -1), RD_KAFKA_V_HEADER("ce_specversion", "1.0", -1),
            RD_KAFKA_V_HEADER("ce_type", "modelcast.record.created", -1), RD_KAFKA_V_END);
        if (e)
            die("produce change", rd_kafka_err2str(e));
        rd_kafka_poll(p, 0);
        wait_seen(&w, i, "delivery");
        if (i >= WARMUP)
            s[i - WARMUP] = w.seen_at[i] - t0;
        rd_kafka_poll(p, 0);
    }
    report("authz_hop", s, iterations,
           "change produced (acks=all, linger 0) → delivery seen read_committed; one at a time");
    free(s);
    watcher_stop(&w);
    rd_kafka_flush(p, 10000);
    rd_kafka_destroy(p);
}

/* ------------------------------------------------------------------------- WebSocket */

typedef struct {
    int fd;
    long n;
    double *recv_at;
    atomic_int ready;
} ws_rx_t;

/* Reads n frames of fixed size from fd, noting when each was complete; acks each (1 byte). */
static void *ws_rx_main(void *arg)
{
    ws_rx_t *rx = arg;
    unsigned char frame[2 + 120];
    atomic_store(&rx->ready, 1);
    for (long i = 0; i < rx->n; i++) {
        size_t got = 0;
        while (got < sizeof frame) {
            ssize_t r = recv(rx->fd, frame + got, sizeof frame - got, 0);
            if (r <= 0)
                return NULL;
            got += (size_t)r;
        }
        rx->recv_at[i] = now_s();
        char ack = 'k';
        if (send(rx->fd, &ack, 1, 0) != 1)
            return NULL;
    }
    return NULL;
}

static void hop_ws(void)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &alen))
        die("ws socket", "bind/listen");
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client, (struct sockaddr *)&a, sizeof a))
        die("ws socket", "connect");
    int server = accept(ls, NULL, NULL);
    close(ls);
    /* As the pusher's sockets (libwebsockets sets TCP_NODELAY). */
    setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    long n = iterations + WARMUP;
    ws_rx_t rx = {.fd = client, .n = n, .recv_at = calloc((size_t)n, sizeof(double))};
    pthread_t th;
    pthread_create(&th, NULL, ws_rx_main, &rx);
    while (!atomic_load(&rx.ready))
        ;
    double *s = calloc((size_t)iterations, sizeof *s);
    unsigned char frame[2 + 120];
    frame[0] = 0x81; /* FIN, text */
    frame[1] = 120;  /* unmasked (server → client), 120 bytes */
    memset(frame + 2, 'x', 120);
    for (long i = 0; i < n; i++) {
        double t0 = now_s();
        if (send(server, frame, sizeof frame, 0) != (ssize_t)sizeof frame)
            die("ws send", "short write");
        char ack;
        if (recv(server, &ack, 1, 0) != 1)
            die("ws recv", "no ack");
        if (i >= WARMUP)
            s[i - WARMUP] = rx.recv_at[i] - t0;
    }
    pthread_join(th, NULL);
    report("ws_write", s, iterations,
           "send() of a 122-byte frame → recv() in the reading thread, loopback, TCP_NODELAY");
    free(s);
    free(rx.recv_at);
    close(server);
    close(client);
}

/* Creates topic with 3 partitions unless it exists. */
static void ensure_topic(const char *t)
{
    char err[512];
    rd_kafka_t *rk = knew(RD_KAFKA_PRODUCER, kconf(NULL));
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(t, 3, 1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (!nt)
        die("new topic", err);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
    if (!ev || rd_kafka_event_error(ev))
        die("create topic", ev ? rd_kafka_event_error_string(ev) : "timed out");
    if (cnt == 1 && rd_kafka_topic_result_error(tr[0]) &&
        rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        die("create topic", rd_kafka_topic_result_error_string(tr[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

/* ------------------------------------------------------------------------------- main */

static int wants(const char *hops, const char *hop)
{
    size_t len = strlen(hop);
    for (const char *h = hops; (h = strstr(h, hop)); h += len)
        if ((h == hops || h[-1] == ',') && (h[len] == ',' || h[len] == '\0'))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pg", required_argument, 0, 'p'},       {"kafka", required_argument, 0, 'k'},
        {"topic", required_argument, 0, 't'},    {"n", required_argument, 0, 'n'},
        {"hops", required_argument, 0, 'H'},     {"changes", required_argument, 0, 'c'},
        {"deliveries", required_argument, 0, 'd'}, {"dead-txn", required_argument, 0, 'D'},
        {"txn-timeout-ms", required_argument, 0, 'T'}, {"json", required_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *hops = "pg_commit,produce_acks_all,txn_commit,ws_write";
    char hopbuf[256];
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'p': pg_conninfo = optarg; break;
        case 'k': bootstrap = optarg; break;
        case 't': topic = optarg; break;
        case 'n': iterations = bench_arg_long("--n", optarg, 1, 100000000); break;
        case 'H': hops = optarg; break;
        case 'c': changes_topic = optarg; break;
        case 'd': deliveries_topic = optarg; break;
        case 'D': dead_txn = bench_arg_long("--dead-txn", optarg, 0, 1000000); break;
        case 'T': txn_timeout_ms = bench_arg_long("--txn-timeout-ms", optarg, 1, INT_MAX); break;
        case 'j': json_path = optarg; break;
        default:
            fprintf(stderr, "usage: floors --pg CONNINFO --kafka HOST:PORT [--topic T] [--n N] "
                            "[--hops LIST] [--changes T --deliveries T] [--dead-txn K] "
                            "[--txn-timeout-ms MS] [--json FILE]\n");
            return o == 'h' ? 0 : 2;
        }
    }
    if (iterations < 10 || iterations > 100000)
        die("--n", "10..100000");
    snprintf(hopbuf, sizeof hopbuf, "%s%s%s", hops, changes_topic ? ",authz_hop" : "",
             dead_txn > 0 ? ",dead_txn_hold" : "");
    hops = hopbuf;
    if ((wants(hops, "pg_commit") && !pg_conninfo) ||
        (!bootstrap && (wants(hops, "produce_acks_all") || wants(hops, "txn_commit") ||
                        wants(hops, "authz_hop") || wants(hops, "dead_txn_hold"))))
        die("arguments", "--pg and --kafka are needed for the hops asked for");
    if (changes_topic && !deliveries_topic)
        die("arguments", "--changes needs --deliveries");
    if (json_path && !(json_out = fopen(json_path, "a")))
        die(json_path, "cannot open");
    signal(SIGPIPE, SIG_IGN);
    if (bootstrap)
        ensure_topic(topic);
    printf("| hop              |  p50 ms  |  p90 ms  |  p99 ms  |  max ms  | mean ms  |     n | what |\n"
           "|------------------|---------:|---------:|---------:|---------:|---------:|------:|------|\n");
    if (wants(hops, "pg_commit"))
        hop_pg();
    if (wants(hops, "produce_acks_all"))
        hop_produce();
    if (wants(hops, "txn_commit") || wants(hops, "rc_visible"))
        hop_txn();
    if (wants(hops, "ws_write"))
        hop_ws();
    if (wants(hops, "authz_hop"))
        hop_authz();
    if (wants(hops, "dead_txn_hold"))
        hop_dead_txn();
    if (json_out)
        fclose(json_out);
    return 0;
}
