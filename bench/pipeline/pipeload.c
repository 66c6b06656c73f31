/*
 * pipeload.c - load client of bench/pipeline: the whole path REST write -> WebSocket push.
 * Opens N WebSocket subscribers to one channel of the pusher (raw epoll, the minimal RFC 6455
 * client of bench/common/wsclient.c, over P processes; answers server pings), then creates
 * records with POST /v1/<model> at a steady rate over W keep-alive HTTP/1.1 connections. Each
 * record's word is "pl-<run>-<i>" and its definition "ts:<send time, us since the epoch>";
 * every subscriber that receives the change records receive time - send time.
 *
 * Usage: pipeload --api host:port --ws host:port [--n 1000] [--procs 2] [--rate 500]
 *          [--duration 20] [--writers 16] [--model Dictionary] [--channel Application]
 *          [--drain 30] [--connect-timeout 60] [--samples FILE] [--sql CONNINFO]
 * --sql: the writers are plain SQL sessions (libpq, INSERT INTO dictionary ... RETURNING id,
 * one autocommit statement each) instead of REST calls: the path of other SQL writers,
 * which the outbox trigger's NOTIFY wakes the relay for.
 * Prints one JSON object; --samples writes one line per write:
 *   i send_us response_us status id first_recv_us last_recv_us receivers
 * Everything is bounded: connects (--connect-timeout), the paced writes (--duration, and
 * requests still unanswered 10 s after the last one are given up), the drain (--drain).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "args.h"
#include "clock.h"
#include "latency.h"
#include "wsclient.h"

#define HIST_US 100            /* latency bucket width: 0.1 ms */
#define HIST_BUCKETS 300000    /* up to 30 s; the last one is "more" */
#define MAX_PROCS 16
#define MAX_WRITERS 256

typedef struct {
    wsc_counts_t ws;
    atomic_long unmatched, pings;
} shared_t;

typedef struct {           /* one per write, in shared memory */
    int64_t send_us, resp_us;
    int status;
    int64_t id;
    atomic_llong first_recv_us, last_recv_us;
    atomic_int receivers;
} sample_t;

static struct {
    const char *api, *ws, *model, *channel, *samples, *sql;
    int n, procs, rate, duration, writers, drain, connect_timeout;
} opt = {NULL, NULL, "Dictionary", "Application", NULL, NULL, 1000, 2, 500, 20, 16, 30, 60};

static shared_t *sh;
static lat_hist_t *lat; /* push latencies: its count is the changes received */
static sample_t *samples;
static long nwrites;
static int run_id;

static void record(const char *p, size_t n)
{
    int64_t now = bench_now_us();
    const char *ts = memmem(p, n, "\"ts:", 4), *w;
    char key[32];
    int klen = snprintf(key, sizeof key, "\"pl-%d-", run_id);
    long idx;

    if (!ts || !(w = memmem(p, n, key, (size_t)klen))) {
        atomic_fetch_add(&sh->unmatched, 1);
        return;
    }
    idx = strtol(w + klen, NULL, 10);
    lat_hist_add(lat, now - strtoll(ts + 4, NULL, 10));
    if (idx >= 0 && idx < nwrites) {
        sample_t *s = &samples[idx];
        long long f = atomic_load(&s->first_recv_us), l = atomic_load(&s->last_recv_us);
        while ((f == 0 || now < f) && !atomic_compare_exchange_weak(&s->first_recv_us, &f, now))
            ;
        while (now > l && !atomic_compare_exchange_weak(&s->last_recv_us, &l, now))
            ;
        atomic_fetch_add(&s->receivers, 1);
    }
}

/* wsclient callback: the upgrade is done, subscribe to the channel. */
static int sub_open(const wsc_client_t *cl, wsc_conn_t *c)
{
    char msg[256];
    (void)cl;
    snprintf(msg, sizeof msg, "{\"type\":\"subscribe\",\"channel\":\"%s\"}", opt.channel);
    return wsc_send(c->fd, WSC_TEXT, msg, strlen(msg));
}

/* wsclient callback: a change is recorded, the subscription confirmed, a ping answered. */
static int sub_frame(const wsc_client_t *cl, wsc_conn_t *c, int op, const char *p, size_t n)
{
    if (op == WSC_PING) { /* server ping: answer pong with its payload */
        atomic_fetch_add(&sh->pings, 1);
        return wsc_send(c->fd, WSC_PONG, p, n);
    }
    if (op != WSC_TEXT)
        return 0;
    if (n > 20 && memmem(p, n < 40 ? n : 40, "\"type\":\"change\"", 15))
        record(p, n);
    else if (c->state == WSC_OPEN && memmem(p, n, "\"subscribed\"", 12))
        wsc_set_subscribed(cl, c);
    return 0;
}

/* One subscriber process: count connections to opt.ws, served until `until`. */
static void subscriber(int count, double until)
{
    int ep = epoll_create1(0);
    wsc_conn_t *cs = calloc((size_t)count, sizeof *cs);
    wsc_client_t cl = {.host = opt.ws, .path = "/ws", .rx_first = 32768, .rx_free = 16384,
                       .counts = &sh->ws, .on_open = sub_open, .on_frame = sub_frame};
    struct sockaddr_in dst;

    if (ep < 0 || !cs || wsc_parse_addr(opt.ws, &dst) != 0) {
        atomic_fetch_add(&sh->ws.failed, count);
        _exit(1);
    }
    for (int i = 0; i < count; i++)
        wsc_open(&cl, &cs[i], ep, &dst, NULL);
    wsc_run(&cl, ep, until);
    _exit(0);
}

/* ------------------------------------------------------------------ paced REST writes */

typedef struct {
    int fd;
    long idx;              /* write in flight, or -1 */
    char buf[16384];
    size_t len;
    PGconn *pg;            /* --sql: the session */
} writer_t;

/* --sql: opens the writer's session, non-blocking, its socket in the epoll set. */
static int writer_connect_sql(writer_t *w, int ep)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
    w->pg = PQconnectdb(opt.sql);
    if (PQstatus(w->pg) != CONNECTION_OK) {
        fprintf(stderr, "pipeload: %s", PQerrorMessage(w->pg));
        PQfinish(w->pg);
        w->pg = NULL;
        w->fd = -1;
        return -1;
    }
    PQsetnonblocking(w->pg, 1);
    w->fd = PQsocket(w->pg);
    w->idx = -1;
    epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev);
    return 0;
}

/* --sql: one INSERT, autocommit; the answer is read by writer_read_sql. */
static int writer_send_sql(writer_t *w, long i)
{
    char word[64], def[64];
    int64_t t = bench_now_us();
    snprintf(word, sizeof word, "pl-%d-%ld", run_id, i);
    snprintf(def, sizeof def, "ts:%" PRId64, t);
    const char *params[2] = {word, def};
    samples[i].send_us = t;
    w->idx = i;
    if (!PQsendQueryParams(w->pg,
                           "INSERT INTO dictionary (word, definition, pronunciation) "
                           "VALUES ($1, $2, 'p') RETURNING id",
                           2, NULL, params, NULL, NULL, 0))
        return -1;
    while (PQflush(w->pg) == 1)
        ;
    return 0;
}

/* --sql: 1 when the INSERT's answer is complete, 0 when more is needed, -1 on error. */
static int writer_read_sql(writer_t *w)
{
    PGresult *res;
    int ok = 0;
    if (!PQconsumeInput(w->pg))
        return -1;
    if (PQisBusy(w->pg))
        return 0;
    while ((res = PQgetResult(w->pg))) {
        if (w->idx >= 0 && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            samples[w->idx].id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            ok = 1;
        }
        PQclear(res);
    }
    if (w->idx < 0)
        return 0;
    samples[w->idx].resp_us = bench_now_us();
    samples[w->idx].status = ok ? 201 : 500;
    w->idx = -1;
    return 1;
}

static int writer_connect(writer_t *w, int ep, const struct sockaddr_in *sa)
{
    int one = 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
    if (opt.sql)
        return writer_connect_sql(w, ep);
    w->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (w->fd < 0)
        return -1;
    setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(w->fd, (const struct sockaddr *)sa, sizeof *sa) != 0) {
        close(w->fd);
        w->fd = -1;
        return -1;
    }
    w->idx = -1;
    w->len = 0;
    epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev);
    return 0;
}

static void writer_close(writer_t *w, int ep)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, NULL);
    if (w->pg)
        PQfinish(w->pg); /* closes the socket */
    else
        close(w->fd);
    w->pg = NULL;
    w->fd = -1;
}

static int writer_send(writer_t *w, long i)
{
    char body[256], req[768];
    if (opt.sql)
        return writer_send_sql(w, i);
    int64_t t = bench_now_us();
    int bl = snprintf(body, sizeof body,
                      "{\"word\":\"pl-%d-%ld\",\"definition\":\"ts:%" PRId64
                      "\",\"pronunciation\":\"p\"}",
                      run_id, i, t);
    int rl = snprintf(req, sizeof req,
                      "POST /v1/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      opt.model, opt.api, bl, body);
    samples[i].send_us = t;
    w->idx = i;
    return send(w->fd, req, (size_t)rl, MSG_NOSIGNAL) == rl ? 0 : -1;
}

/* Reads a response; returns 1 when one is complete, 0 when more is needed, -1 on error. */
static int writer_read(writer_t *w)
{
    if (opt.sql)
        return writer_read_sql(w);
    ssize_t r = recv(w->fd, w->buf + w->len, sizeof w->buf - 1 - w->len, MSG_DONTWAIT);
    char *hend, *cl, *idp;
    size_t hlen, blen;
    if (r == 0 || (r < 0 && errno != EAGAIN))
        return -1;
    if (r < 0)
        return 0;
    w->len += (size_t)r;
    w->buf[w->len] = '\0';
    if (!(hend = strstr(w->buf, "\r\n\r\n")))
        return w->len >= sizeof w->buf - 1 ? -1 : 0;
    hlen = (size_t)(hend - w->buf) + 4;
    cl = strcasestr(w->buf, "\r\nContent-Length:");
    blen = cl && cl < hend ? strtoul(cl + 17, NULL, 10) : 0;
    if (w->len < hlen + blen)
        return w->len >= sizeof w->buf - 1 ? -1 : 0;
    if (w->idx >= 0) {
        sample_t *s = &samples[w->idx];
        s->resp_us = bench_now_us();
        s->status = w->len > 12 ? (int)strtol(w->buf + 9, NULL, 10) : 0;
        idp = strstr(w->buf + hlen, "\"id\":");
        s->id = idp ? strtoll(idp + 5, NULL, 10) : -1;
    }
    memmove(w->buf, w->buf + hlen + blen, w->len - hlen - blen);
    w->len -= hlen + blen;
    w->idx = -1;
    return 1;
}

typedef struct {
    long sent, ok, failed, late_max_us, deferred;
    double elapsed_s;
} write_stats_t;

static void write_paced(write_stats_t *st)
{
    struct sockaddr_in sa;
    writer_t *ws = calloc((size_t)opt.writers, sizeof *ws);
    int ep = epoll_create1(0);
    double t0, hard;
    long i = 0, inflight = 0, last_deferred = -1;

    memset(st, 0, sizeof *st);
    wsc_parse_addr(opt.api, &sa);
    for (int k = 0; k < opt.writers; k++)
        if (writer_connect(&ws[k], ep, &sa) != 0) {
            fprintf(stderr, "pipeload: cannot connect to %s\n", opt.api);
            exit(1);
        }
    t0 = bench_mono_s();
    hard = t0 + opt.duration + 10;
    while ((i < nwrites || inflight > 0) && bench_mono_s() < hard) {
        struct epoll_event evs[64];
        double now = bench_mono_s();
        int timeout_ms = 100, n, blocked = 0;
        while (i < nwrites && t0 + (double)i / opt.rate <= now) {
            writer_t *w = NULL;
            for (int k = 0; k < opt.writers; k++)
                if (ws[k].fd >= 0 && ws[k].idx < 0) {
                    w = &ws[k];
                    break;
                }
            if (!w) { /* every connection busy: send when one frees (counted once per write) */
                if (last_deferred != i)
                    st->deferred++;
                last_deferred = i;
                blocked = 1;
                break;
            }
            long late = (long)((now - (t0 + (double)i / opt.rate)) * 1e6);
            if (late > st->late_max_us)
                st->late_max_us = late;
            if (writer_send(w, i) != 0) {
                samples[i].status = -1;
                st->failed++;
                writer_close(w, ep);
                writer_connect(w, ep, &sa);
            } else
                inflight++;
            st->sent++;
            i++;
        }
        if (i < nwrites && !blocked) {
            double due = t0 + (double)i / opt.rate - bench_mono_s();
            timeout_ms = due <= 0 ? 0 : (int)(due * 1000); /* round down: never late by >1 ms */
        }
        n = epoll_wait(ep, evs, 64, timeout_ms);
        for (int k = 0; k < n; k++) {
            writer_t *w = evs[k].data.ptr;
            int rc;
            while ((rc = writer_read(w)) == 1) {
                inflight--;
            }
            if (rc < 0) {
                if (w->idx >= 0) {
                    samples[w->idx].status = -1;
                    inflight--;
                }
                writer_close(w, ep);
                writer_connect(w, ep, &sa);
            }
        }
    }
    st->elapsed_s = bench_mono_s() - t0;
    for (long k = 0; k < i; k++) {
        if (samples[k].status >= 200 && samples[k].status < 300)
            st->ok++;
        else if (samples[k].status != -1)
            st->failed++;
    }
    for (int k = 0; k < opt.writers; k++)
        if (ws[k].fd >= 0)
            writer_close(&ws[k], ep);
    close(ep);
    free(ws);
}

/* ------------------------------------------------------------------ results */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    pid_t kids[MAX_PROCS];
    int nkids = 0;
    double until, end;
    write_stats_t ws;
    long want, got;
    int64_t *rest = NULL;
    long nrest = 0;
    struct sockaddr_in addr;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--api")) opt.api = v;
        else if (!strcmp(k, "--ws")) opt.ws = v;
        else if (!strcmp(k, "--n")) opt.n = bench_arg_int(k, v);
        else if (!strcmp(k, "--procs")) opt.procs = bench_arg_int(k, v);
        else if (!strcmp(k, "--rate")) opt.rate = bench_arg_int(k, v);
        else if (!strcmp(k, "--duration")) opt.duration = bench_arg_int(k, v);
        else if (!strcmp(k, "--writers")) opt.writers = bench_arg_int(k, v);
        else if (!strcmp(k, "--model")) opt.model = v;
        else if (!strcmp(k, "--channel")) opt.channel = v;
        else if (!strcmp(k, "--drain")) opt.drain = bench_arg_int(k, v);
        else if (!strcmp(k, "--connect-timeout")) opt.connect_timeout = bench_arg_int(k, v);
        else if (!strcmp(k, "--samples")) opt.samples = v;
        else if (!strcmp(k, "--sql")) opt.sql = v;
        else {
            fprintf(stderr, "pipeload: unknown option %s\n", k);
            return 2;
        }
    }
    if (!opt.api || !opt.ws || opt.n < 1 || opt.procs < 1 || opt.procs > MAX_PROCS ||
        opt.rate < 1 || opt.duration < 1 || opt.writers < 1 || opt.writers > MAX_WRITERS) {
        fprintf(stderr, "pipeload: need --api, --ws, --n >= 1, 1 <= --procs <= %d, --rate >= 1,"
                        " --duration >= 1, 1 <= --writers <= %d\n", MAX_PROCS, MAX_WRITERS);
        return 2;
    }
    if (wsc_parse_addr(opt.api, &addr) != 0 || wsc_parse_addr(opt.ws, &addr) != 0) {
        fprintf(stderr, "pipeload: --api and --ws take an IPv4 address:port\n");
        return 2;
    }
    run_id = (int)getpid();
    nwrites = (long)opt.rate * opt.duration;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    samples = mmap(NULL, sizeof *samples * (size_t)nwrites, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    lat = lat_hist_new(HIST_US, HIST_BUCKETS);
    if (sh == MAP_FAILED || samples == MAP_FAILED || !lat) {
        perror("pipeload: mmap");
        return 1;
    }
    /* Children live at most as long as the whole run may take. */
    until = bench_mono_s() + opt.connect_timeout + opt.duration + 10 + opt.drain + 5;
    for (int p = 0; p < opt.procs; p++) {
        int first = opt.n * p / opt.procs, last = opt.n * (p + 1) / opt.procs;
        if ((kids[p] = fork()) == 0)
            subscriber(last - first, until);
        if (kids[p] < 0) { /* kill(-1, ...) below would signal every process we may */
            perror("pipeload: fork");
            while (nkids-- > 0)
                kill(kids[nkids], SIGKILL);
            return 1;
        }
        nkids++;
    }
    end = bench_mono_s() + opt.connect_timeout;
    while (atomic_load(&sh->ws.subscribed) < opt.n && bench_mono_s() < end &&
           atomic_load(&sh->ws.failed) == 0)
        bench_sleep_us(10000);
    if (atomic_load(&sh->ws.subscribed) < opt.n) {
        fprintf(stderr, "pipeload: only %ld of %d subscribers ready (%ld failed)\n",
                atomic_load(&sh->ws.subscribed), opt.n, atomic_load(&sh->ws.failed));
        for (int p = 0; p < nkids; p++)
            kill(kids[p], SIGKILL);
        return 1;
    }
    fprintf(stderr, "pipeload: %d subscribers ready; writing %ld records at %d/s\n", opt.n,
            nwrites, opt.rate);
    write_paced(&ws);
    want = ws.ok * (long)opt.n;
    end = bench_mono_s() + opt.drain;
    while (atomic_load(&lat->count) < want && bench_mono_s() < end)
        bench_sleep_us(10000);
    bench_sleep_us(200000); /* late duplicates, if any, would show as received > expected */
    got = atomic_load(&lat->count);
    for (int p = 0; p < nkids; p++) {
        kill(kids[p], SIGTERM);
        waitpid(kids[p], NULL, 0);
    }

    rest = calloc((size_t)nwrites, sizeof *rest);
    for (long i = 0; i < nwrites; i++)
        if (samples[i].status >= 200 && samples[i].status < 300)
            rest[nrest++] = samples[i].resp_us - samples[i].send_us;
    qsort(rest, (size_t)nrest, sizeof *rest, cmp_i64);
    if (opt.samples) {
        FILE *f = fopen(opt.samples, "w");
        if (!f) {
            perror(opt.samples);
            return 1;
        }
        fprintf(f, "# run %d\n", run_id);
        for (long i = 0; i < nwrites; i++) {
            sample_t *s = &samples[i];
            fprintf(f, "%ld %" PRId64 " %" PRId64 " %d %" PRId64 " %lld %lld %d\n", i,
                    s->send_us, s->resp_us, s->status, s->id,
                    (long long)atomic_load(&s->first_recv_us),
                    (long long)atomic_load(&s->last_recv_us), atomic_load(&s->receivers));
        }
        fclose(f);
    }
    printf("{\"run\":%d,\"subscribers\":%d,\"rate\":%d,\"duration_s\":%d,\"writes_sent\":%ld,"
           "\"writes_ok\":%ld,\"writes_failed\":%ld,\"write_elapsed_s\":%.2f,"
           "\"achieved_rate\":%.1f,\"deferred_sends\":%ld,\"max_send_late_ms\":%.2f,"
           "\"rest_p50_ms\":%.2f,\"rest_p99_ms\":%.2f,\"rest_max_ms\":%.2f,"
           "\"expected\":%ld,\"received\":%ld,\"unmatched\":%ld,\"ws_failed\":%ld,"
           "\"pings_answered\":%ld,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,"
           "\"max_ms\":%.2f}\n",
           run_id, opt.n, opt.rate, opt.duration, ws.sent, ws.ok, ws.failed, ws.elapsed_s,
           ws.elapsed_s > 0 ? (double)ws.sent / ws.elapsed_s : 0, ws.deferred,
           ws.late_max_us / 1000.0,
           /* NOLINTNEXTLINE(bugprone-integer-division): nrest / 2 and * 99 / 100 are indices */
           nrest ? rest[nrest / 2] / 1000.0 : 0, nrest ? rest[(nrest * 99) / 100] / 1000.0 : 0,
           nrest ? rest[nrest - 1] / 1000.0 : 0, want, got, atomic_load(&sh->unmatched),
           atomic_load(&sh->ws.failed), atomic_load(&sh->pings), lat_hist_pct_ms(lat, 0.50),
           lat_hist_pct_ms(lat, 0.90), lat_hist_pct_ms(lat, 0.99), lat_hist_max_ms(lat));
    free(rest);
    return got >= want && ws.failed == 0 ? 0 : 3;
}
