/*
 * wsload.c - WebSocket fan-out load client for bench/pusher: opens N connections (raw epoll,
 * the minimal RFC 6455 client of bench/common/wsclient.c) over several processes and loopback
 * source addresses, subscribes each to one channel, then publishes changes carrying a send
 * timestamp and measures delivery latency and throughput. Targets: modelcast-pusher (publishes
 * to Kafka with librdkafka) or Centrifugo v6 (JSON protocol; publishes through its HTTP API).
 *
 * Usage: wsload --mode pusher|centrifugo --targets host:port[,host:port...] --n N
 *          [--procs P] [--channel C] [--payload BYTES] [--latency-msgs K] [--burst-msgs B]
 *          [--kafka host:port] [--topic T] [--token JWT] [--api-key KEY]
 *          [--pids pid,pid...] [--timeout S]
 * Prints one JSON object with the results.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "latency.h"
#include "wsclient.h"

#define HIST_US 1000       /* latency bucket width: 1 ms */
#define HIST_BUCKETS 20000 /* up to 20 s; the last one is "more" */
#define MAX_PROCS 16
#define PER_SOURCE 25000   /* connections per loopback source address */

typedef struct {
    wsc_counts_t ws;
    atomic_long received;
} shared_t;

static struct {
    const char *mode, *channel, *kafka, *topic, *token, *api_key;
    char targets[8][64];
    struct sockaddr_in target_addr[8];
    int ntargets, n, procs, payload, latency_msgs, burst_msgs, timeout_s, pids[8], npids;
    int centrifugo;
} opt = {"pusher", "BenchChannel", "127.0.0.1:19092", "modelcast.deliveries", "", "", {{0}},
         {{0}}, 0, 1000, 1, 200, 20, 100, 120, {0}, 0, 0};

static shared_t *sh;
static lat_hist_t *lat;

static void record_latency(const char *p, size_t n)
{
    const char *ts = memmem(p, n, "\"ts\":", 5);
    if (ts)
        lat_hist_add(lat, bench_now_us() - strtoll(ts + 5, NULL, 10));
}

/* Handles one complete server message. */
static void on_message(const wsc_client_t *cl, wsc_conn_t *c, const char *p, size_t n)
{
    if (!opt.centrifugo) {
        if (n > 20 && memmem(p, n < 40 ? n : 40, "\"type\":\"change\"", 15)) {
            atomic_fetch_add(&sh->received, 1);
            record_latency(p, n);
        } else if (c->state == WSC_OPEN && memmem(p, n, "\"subscribed\"", 12))
            wsc_set_subscribed(cl, c);
        return;
    }
    /* Centrifugo: several replies may share a frame, one JSON object per line. */
    if (n == 2 && p[0] == '{' && p[1] == '}') { /* server ping: answer pong */
        wsc_send(c->fd, WSC_TEXT, "{}", 2);
        return;
    }
    if (memmem(p, n, "\"push\"", 6) && memmem(p, n, "\"pub\"", 5)) {
        atomic_fetch_add(&sh->received, 1);
        record_latency(p, n);
    } else if (c->state == WSC_OPEN && memmem(p, n, "\"id\":2", 6) &&
               memmem(p, n, "\"subscribe\"", 11))
        wsc_set_subscribed(cl, c);
}

/* wsclient callback: the upgrade is done, connect (Centrifugo) and subscribe. */
static int on_open(const wsc_client_t *cl, wsc_conn_t *c)
{
    char msg[512];
    (void)cl;
    if (opt.centrifugo)
        snprintf(msg, sizeof msg,
                 "{\"id\":1,\"connect\":{\"token\":\"%s\"}}\n{\"id\":2,\"subscribe\":"
                 "{\"channel\":\"%s\"}}",
                 opt.token, opt.channel);
    else
        snprintf(msg, sizeof msg, "{\"type\":\"subscribe\",\"channel\":\"%s\"}", opt.channel);
    return wsc_send(c->fd, WSC_TEXT, msg, strlen(msg));
}

/* wsclient callback: each line of a data frame is a message (Centrifugo batches replies with
 * newlines); WebSocket pings are not answered. */
static int on_frame(const wsc_client_t *cl, wsc_conn_t *c, int op, const char *p, size_t n)
{
    const char *e = p + n;
    if (op != WSC_TEXT && op != WSC_BINARY)
        return 0;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *stop = nl ? nl : e;
        on_message(cl, c, p, (size_t)(stop - p));
        p = stop + 1;
    }
    return 0;
}

/* One load process: connections first .. first+count-1, spread over the targets and over
 * loopback source addresses (PER_SOURCE each), served until the run's deadline. */
static void child(int first, int count)
{
    int ep = epoll_create1(0);
    wsc_conn_t *cs = calloc((size_t)count, sizeof *cs);
    struct epoll_event evs[512];
    double deadline = bench_mono_s() + opt.timeout_s + 60;
    wsc_client_t cl = {.host = "127.0.0.1",
                       .path = opt.centrifugo ? "/connection/websocket" : "/ws",
                       .rx_first = 65536 + 16384, .rx_free = 65536, .rx_give_back = 1,
                       .counts = &sh->ws, .on_open = on_open, .on_frame = on_frame};

    if (ep < 0 || !cs) {
        atomic_fetch_add(&sh->ws.failed, count);
        _exit(1);
    }
    for (int i = 0; i < count; i++) {
        int g = first + i;
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000002 + (uint32_t)(g / PER_SOURCE));
        wsc_open(&cl, &cs[i], ep, &opt.target_addr[g % opt.ntargets], &src);
        /* Pace the connects a little so the servers' backlogs are not overrun. */
        if (i % 200 == 199) {
            int n = epoll_wait(ep, evs, 512, 0);
            (void)n; /* events stay level-triggered: handled by wsc_run */
        }
    }
    wsc_run(&cl, ep, deadline);
    _exit(0);
}

/* ------------------------------------------------------------------ publishing */

static rd_kafka_t *rk;

static void make_payload(char *out, size_t outlen, int id)
{
    char pad[65536];
    int base;
    base = snprintf(out, outlen,
                    "{\"channel\":\"%s\",\"model\":\"Bench\",\"id\":%d,\"op\":\"update\","
                    "\"version\":1,\"attributes\":{\"ts\":%" PRId64 ",\"pad\":\"",
                    opt.channel, id, bench_now_us());
    int padn = opt.payload - base - 48;
    if (padn < 0)
        padn = 0;
    if (padn > (int)sizeof pad - 1)
        padn = sizeof pad - 1;
    memset(pad, 'x', (size_t)padn);
    pad[padn] = '\0';
    snprintf(out + base, outlen - (size_t)base,
             "%s\"},\"changed\":[\"pad\"],\"event_id\":\"bench-%d\"}", pad, id);
}

static int http_post(int target, const char *path, const char *body)
{
    char hdr[512], resp[1024];
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&opt.target_addr[target],
                sizeof opt.target_addr[target]) != 0) {
        close(fd);
        return -1;
    }
    snprintf(hdr, sizeof hdr,
             "POST %s HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             path, opt.targets[target], opt.api_key, strlen(body));
    send(fd, hdr, strlen(hdr), MSG_NOSIGNAL);
    send(fd, body, strlen(body), MSG_NOSIGNAL);
    ssize_t r = recv(fd, resp, sizeof resp - 1, MSG_WAITALL);
    resp[r > 0 ? r : 0] = '\0';
    ok = strstr(resp, " 200 ") && !strstr(resp, "\"error\"");
    close(fd);
    return ok ? 0 : -1;
}

static int publish(int id)
{
    static char buf[70000], body[72000];
    make_payload(buf, sizeof buf, id);
    if (!opt.centrifugo) {
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(opt.topic),
                                 RD_KAFKA_V_KEY(opt.channel, strlen(opt.channel)),
                                 RD_KAFKA_V_VALUE(buf, strlen(buf)),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
        return 0;
    }
    /* Each Centrifugo instance (no shared broker) gets the publication, as every pusher
     * instance reads every delivery from Kafka. */
    snprintf(body, sizeof body, "{\"channel\":\"%s\",\"data\":%s}", opt.channel, buf);
    for (int i = 0; i < opt.ntargets; i++)
        if (http_post(i, "/api/publish", body) != 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ measuring */

static long rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        /* NOLINTNEXTLINE(cert-err34-c): /proc numbers are the kernel's, in range for their types */
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static double cpu_s(int pid)
{
    char path[64], buf[2048], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    if (!fgets(buf, sizeof buf, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    p = strrchr(buf, ')');
    /* NOLINTNEXTLINE(cert-err34-c): /proc numbers are the kernel's, in range for their types */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long sum_rss(void)
{
    long s = 0;
    for (int i = 0; i < opt.npids; i++)
        s += rss_kb(opt.pids[i]);
    return s;
}

static double sum_cpu(void)
{
    double s = 0;
    for (int i = 0; i < opt.npids; i++)
        s += cpu_s(opt.pids[i]);
    return s;
}

static int wait_received(long want, double limit_s)
{
    double end = bench_mono_s() + limit_s;
    while (atomic_load(&sh->received) < want) {
        if (bench_mono_s() > end)
            return -1;
        bench_sleep_us(2000);
    }
    return 0;
}

static void split_list(const char *s, char out[][64], int *n, int max)
{
    char tmp[1024], *save, *tok;
    snprintf(tmp, sizeof tmp, "%s", s);
    *n = 0;
    for (tok = strtok_r(tmp, ",", &save); tok && *n < max; tok = strtok_r(NULL, ",", &save))
        snprintf(out[(*n)++], 64, "%s", tok);
}

int main(int argc, char **argv)
{
    pid_t kids[MAX_PROCS];
    struct rlimit rl;
    char pidstr[8][64];
    long rss0, rss1, exp;
    double t0, t1, cpu0, cpu1, lat_p50, lat_p99, lat_max, rate;
    int nsub;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--mode")) opt.mode = v;
        else if (!strcmp(k, "--targets")) split_list(v, opt.targets, &opt.ntargets, 8);
        else if (!strcmp(k, "--n")) opt.n = bench_arg_int(k, v);
        else if (!strcmp(k, "--procs")) opt.procs = bench_arg_int(k, v);
        else if (!strcmp(k, "--channel")) opt.channel = v;
        else if (!strcmp(k, "--payload")) opt.payload = bench_arg_int(k, v);
        else if (!strcmp(k, "--latency-msgs")) opt.latency_msgs = bench_arg_int(k, v);
        else if (!strcmp(k, "--burst-msgs")) opt.burst_msgs = bench_arg_int(k, v);
        else if (!strcmp(k, "--kafka")) opt.kafka = v;
        else if (!strcmp(k, "--topic")) opt.topic = v;
        else if (!strcmp(k, "--token")) opt.token = v;
        else if (!strcmp(k, "--api-key")) opt.api_key = v;
        else if (!strcmp(k, "--timeout")) opt.timeout_s = bench_arg_int(k, v);
        else if (!strcmp(k, "--pids")) {
            split_list(v, pidstr, &opt.npids, 8);
            for (int j = 0; j < opt.npids; j++)
                opt.pids[j] = bench_arg_int(k, pidstr[j]);
        } else {
            fprintf(stderr, "unknown option %s (see the header of wsload.c)\n", k);
            return 2;
        }
    }
    opt.centrifugo = !strcmp(opt.mode, "centrifugo");
    if (!opt.ntargets || opt.n < 1 || opt.procs < 1 || opt.procs > MAX_PROCS) {
        fprintf(stderr, "need --targets, --n >= 1, 1 <= --procs <= %d\n", MAX_PROCS);
        return 2;
    }
    for (int i = 0; i < opt.ntargets; i++)
        if (wsc_parse_addr(opt.targets[i], &opt.target_addr[i]) != 0) {
            fprintf(stderr, "--targets: not an IPv4 address:port: %s\n", opt.targets[i]);
            return 2;
        }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((long)(opt.n / opt.procs) + 64 > (long)rl.rlim_cur) {
        fprintf(stderr, "%d connections per process exceed the open-file limit %lu: more --procs\n",
                opt.n / opt.procs, (unsigned long)rl.rlim_cur);
        return 2;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    lat = lat_hist_new(HIST_US, HIST_BUCKETS);
    if (sh == MAP_FAILED || !lat) {
        perror("mmap");
        return 1;
    }
    if (!opt.centrifugo) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", opt.kafka, err, sizeof err);
        rd_kafka_conf_set(c, "partitioner", "murmur2_random", err, sizeof err);
        rd_kafka_conf_set(c, "linger.ms", "0", err, sizeof err);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err))) {
            fprintf(stderr, "kafka: %s\n", err);
            return 1;
        }
    }
    rss0 = sum_rss();
    for (int p = 0; p < opt.procs; p++) {
        int per = opt.n / opt.procs, first = p * per;
        int count = p == opt.procs - 1 ? opt.n - first : per;
        if ((kids[p] = fork()) == 0)
            child(first, count);
        if (kids[p] < 0) { /* kill(-1, ...) below would signal every process we may */
            perror("wsload: fork");
            while (p-- > 0)
                kill(kids[p], SIGKILL);
            return 1;
        }
    }
    /* Phase 1: everyone connected and subscribed (bounded). */
    t0 = bench_mono_s();
    while (atomic_load(&sh->ws.subscribed) + atomic_load(&sh->ws.failed) < opt.n &&
           bench_mono_s() - t0 < opt.timeout_s)
        bench_sleep_us(20000);
    t1 = bench_mono_s();
    nsub = (int)atomic_load(&sh->ws.subscribed);
    /* Let the servers settle (handshake buffers freed), then measure idle memory. */
    bench_sleep_us(1000000);
    rss1 = sum_rss();

    /* Warm the producer up (metadata, broker connection) on another key: not measured. */
    if (rk) {
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(opt.topic), RD_KAFKA_V_KEY("bench-warmup", 12),
                          RD_KAFKA_V_VALUE("{}", 2), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END);
        rd_kafka_flush(rk, 10000);
    }
    /* Phase 2: latency of single changes, one at a time. */
    exp = 0;
    for (int m = 0; m < opt.latency_msgs && nsub > 0; m++) {
        if (publish(m + 1) != 0) {
            fprintf(stderr, "publish failed\n");
            break;
        }
        if (rk)
            rd_kafka_flush(rk, 5000);
        exp += nsub;
        if (wait_received(exp, 30) != 0)
            break;
        bench_sleep_us(100000);
    }
    lat_p50 = lat_hist_pct_ms(lat, 0.50);
    lat_p99 = lat_hist_pct_ms(lat, 0.99);
    lat_max = lat_hist_max_ms(lat);
    long lat_recv = atomic_load(&sh->received);

    /* Phase 3: a burst, as fast as it can be published; delivered messages per second. */
    long before = atomic_load(&sh->received);
    cpu0 = sum_cpu();
    double b0 = bench_mono_s(), b1;
    for (int m = 0; m < opt.burst_msgs && nsub > 0; m++)
        if (publish(100000 + m) != 0)
            break;
    if (rk)
        rd_kafka_flush(rk, 10000);
    int burst_ok = wait_received(before + (long)nsub * opt.burst_msgs, opt.timeout_s) == 0;
    b1 = bench_mono_s();
    cpu1 = sum_cpu();
    long burst_recv = atomic_load(&sh->received) - before;
    rate = burst_recv / (b1 - b0);

    printf("{\"mode\":\"%s\",\"n\":%d,\"procs\":%d,\"subscribed\":%d,\"failed\":%ld,"
           "\"connect_s\":%.2f,\"payload\":%d,"
           "\"rss_before_kb\":%ld,\"rss_idle_kb\":%ld,\"rss_per_conn_bytes\":%.0f,"
           "\"latency_msgs\":%d,\"latency_received\":%ld,\"lat_p50_ms\":%.1f,"
           "\"lat_p99_ms\":%.1f,\"lat_max_ms\":%.1f,"
           "\"burst_msgs\":%d,\"burst_received\":%ld,\"burst_complete\":%s,\"burst_s\":%.2f,"
           "\"delivered_per_s\":%.0f,\"server_cpu_s_burst\":%.2f}\n",
           opt.mode, opt.n, opt.procs, nsub, atomic_load(&sh->ws.failed), t1 - t0, opt.payload,
           rss0, rss1, nsub ? (rss1 - rss0) * 1024.0 / nsub : 0, opt.latency_msgs, lat_recv,
           lat_p50, lat_p99, lat_max, opt.burst_msgs, burst_recv, burst_ok ? "true" : "false",
           b1 - b0, rate, cpu1 - cpu0);
    fflush(stdout);
    for (int p = 0; p < opt.procs; p++)
        kill(kids[p], SIGTERM);
    for (int p = 0; p < opt.procs; p++)
        waitpid(kids[p], NULL, 0);
    if (rk)
        rd_kafka_destroy(rk);
    return 0;
}
