/* outbox_relay.c - the outbox → Kafka relay thread. */
#include "outbox_relay.h"
#include "mc_contract.h"
#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_log.h"
#include "mc_pg.h"
#include "outbox_batch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Session advisory lock held by the active relay ("mcrelay"). */
#define RELAY_LOCK_SQL "SELECT pg_try_advisory_lock(7837283417394668917)"
#define RELAY_STANDBY_MS 1000
#define RELAY_BACKOFF_MIN_MS 100
#define RELAY_BACKOFF_MAX_MS 5000
#define RELAY_LAG_EVERY_MS 1000
/* Kafka is asked for metadata when nothing was heard from it for this long. */
#define RELAY_KAFKA_CHECK_MS 1000
#define RELAY_PING_TIMEOUT_MS 500
/* Key, CloudEvents headers and record-batch framing around an event's value: with the
 * default MC_EVENT_MAX_BYTES of 1,000,000 the producer needs 1,048,588, the broker's
 * default message.max.bytes. */
#define RELAY_MESSAGE_OVERHEAD 48588
#define RELAY_MESSAGE_MAX_DEFAULT "1048588"
/* The events one round keeps in memory: a backlog of large events (a bulk SQL update of
 * big records) is read a few at a time, not MC_RELAY_BATCH of them at once. */
#define RELAY_ROUND_BYTES (16L * 1024 * 1024)

/* The rows one round read: one PGresult of one row each (libpq's single-row mode). */
typedef struct {
    PGresult **res;
    int n;
} relay_rows_t;

/* Column col of row i of the round (the columns of relay__read's SELECT). */
#define RELAY_VAL(rows, i, col) PQgetvalue((rows)->res[i], 0, (col))
#define RELAY_LEN(rows, i, col) PQgetlength((rows)->res[i], 0, (col))

enum { ROLE_STARTING, ROLE_ACTIVE, ROLE_STANDBY, ROLE_FAILED };
static const char *const relay__role_names[] = {"starting", "active", "standby", "failed"};

/* What ended a wait. */
enum { WOKE_TIMEOUT = 0, WOKE_KICK = 1, WOKE_NOTIFY = 2 };

struct outbox_relay {
    char *conninfo, *topic, *ce_source;
    long batch, idle_max_ms, event_max_bytes;
    double stall_s;                /* its longest own waits: a delivery timeout (10 s), a backoff
                                      (5 s); beyond that it is blocked (PostgreSQL...) */

    rd_kafka_t *producer;          /* relay thread only, after start */
    PGconn *conn;                  /* relay thread only */
    int leader, listening;
    long next_lock_ms;             /* a standby tries the lock again from then on */
    long next_lag_ms;
    long long isolate;             /* outbox id to send alone next round (outbox_batch.h) */
    long limit;                    /* rows the next round asks for (relay__read) */

    pthread_t thread;
    int started;
    _Atomic int running;
    int wake_fd;                   /* eventfd: kicks and the stop request */

    _Atomic int role;
    _Atomic int kafka_ok;
    _Atomic long kafka_heard_ms;   /* last delivery or metadata answer */
    _Atomic long beat_ms;          /* last sign of progress of the relay thread */
    _Atomic long depth, dead;
    _Atomic double age_s;
    int pending;                   /* deliveries not yet reported (relay thread only) */

    const mc_tracer_t *tracer;     /* NULL: no spans */
    mc_span_t *spans;              /* with an exporter: the round's "relay publish" spans,
                                      one per row (relay thread only) */
    const ob_row_t *round_rows;    /* the round's rows, while its reports come in */
    int64_t read_ns;               /* when the round began reading the outbox */

    mc_metric_t *published, *failed, *set_aside, *is_leader;
};

static long relay__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void relay__beat(outbox_relay_t *relay)
{
    atomic_store(&relay->beat_ms, relay__now_ms());
}

static double relay__depth(void *arg)
{
    return (double)atomic_load(&((outbox_relay_t *)arg)->depth);
}

static double relay__age(void *arg)
{
    return atomic_load(&((outbox_relay_t *)arg)->age_s);
}

static double relay__dead(void *arg)
{
    return (double)atomic_load(&((outbox_relay_t *)arg)->dead);
}

static double relay__kafka_up(void *arg)
{
    return (double)atomic_load(&((outbox_relay_t *)arg)->kafka_ok);
}

static void relay__kafka_heard(outbox_relay_t *relay)
{
    atomic_store(&relay->kafka_ok, 1);
    atomic_store(&relay->kafka_heard_ms, relay__now_ms());
}

static void relay__dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    outbox_relay_t *relay = opaque;
    ob_row_t *row = msg->_private;
    if (row) {
        row->err = msg->err;
        row->state = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR ? OB_ACKED
                     : outbox_batch_refused(msg->err)       ? OB_REFUSED
                                                            : OB_FAILED;
    }
    if (row && relay->spans && relay->round_rows) { /* the row's span ends with its report */
        mc_span_t *span = &relay->spans[row - relay->round_rows];
        span->end_ns = mc_trace_now_ns();
        span->error = msg->err != RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR || outbox_batch_refused(msg->err))
        relay__kafka_heard(relay);
    else
        atomic_store(&relay->kafka_ok, 0);
    relay->pending--;
}

/* As mc_kafka's error callback, and Kafka counts as away once every broker is. */
static void relay__error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    outbox_relay_t *relay = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&relay->kafka_ok, 0);
    mc_kafka_log_error(rk, err, reason);
}

static rd_kafka_t *relay__producer(outbox_relay_t *relay, char *err, size_t errlen)
{
    static const char *const defaults[] = {
        "compression.type", "lz4", /* not gzip/snappy: see docs/operations.md */
        /* Send at once: a round's rows are produced in one burst and batch by themselves
         * while a request is in flight; waiting cost 1 ms (linger 1) to 5 ms (librdkafka's
         * default) per event (bench/relay). */
        "linger.ms", "0",
        "message.timeout.ms", "10000",
        "message.max.bytes", RELAY_MESSAGE_MAX_DEFAULT,
        "socket.nagle.disable", "true",
        "partitioner", "murmur2_random", /* same key → partition mapping as Java clients */
        "client.id", "modelcast-model-api",
        NULL,
    };
    static const char *const forced[] = {"enable.idempotence", "true", "acks", "all", NULL};
    char value[32];
    size_t vlen = sizeof value;
    rd_kafka_conf_t *conf =
        mc_kafka_conf_new_for(RD_KAFKA_PRODUCER, defaults, forced, NULL, err, errlen);
    if (!conf)
        return NULL;
    if (rd_kafka_conf_get(conf, "message.max.bytes", value, &vlen) == RD_KAFKA_CONF_OK &&
        strtol(value, NULL, 10) < relay->event_max_bytes + RELAY_MESSAGE_OVERHEAD) {
        snprintf(err, errlen, "MC_EVENT_MAX_BYTES %ld needs the producer's message.max.bytes "
                 "to be at least %ld (it is %s): raise MC_KAFKA_MESSAGE_MAX_BYTES (and the "
                 "topic's max.message.bytes) or lower MC_EVENT_MAX_BYTES",
                 relay->event_max_bytes, relay->event_max_bytes + RELAY_MESSAGE_OVERHEAD, value);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, relay__dr);
    rd_kafka_conf_set_error_cb(conf, relay__error_cb);
    rd_kafka_conf_set_opaque(conf, relay);
    return mc_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
}

outbox_relay_t *outbox_relay_new(const outbox_relay_opts_t *opts, mc_metrics_t *metrics,
                                 char *err, size_t errlen)
{
    outbox_relay_t *relay = calloc(1, sizeof *relay);
    if (!relay) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    relay->conninfo = strdup(opts->conninfo);
    relay->topic = strdup(opts->topic);
    relay->ce_source = strdup(opts->ce_source);
    relay->batch = opts->batch;
    relay->limit = opts->batch;
    relay->idle_max_ms = opts->idle_max_ms;
    relay->event_max_bytes = opts->event_max_bytes;
    relay->stall_s = (double)opts->stall_s;
    relay->tracer = opts->tracer;
    if (relay->tracer && relay->tracer->export &&
        !(relay->spans = calloc((size_t)opts->batch, sizeof *relay->spans))) {
        snprintf(err, errlen, "out of memory");
        outbox_relay_free(relay);
        return NULL;
    }
    relay->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!relay->conninfo || !relay->topic || !relay->ce_source || relay->wake_fd < 0) {
        snprintf(err, errlen, "%s", relay->wake_fd < 0 ? strerror(errno) : "out of memory");
        outbox_relay_free(relay);
        return NULL;
    }
    relay->producer = relay__producer(relay, err, errlen);
    if (!relay->producer) {
        outbox_relay_free(relay);
        return NULL;
    }
    relay->published = mc_metrics_counter(metrics, "modelcast_relay_published_total",
                                          "Change events acknowledged by Kafka.", NULL);
    relay->failed = mc_metrics_counter(metrics, "modelcast_relay_failed_total",
                                       "Change events Kafka did not acknowledge (retried).",
                                       NULL);
    relay->set_aside = mc_metrics_counter(
        metrics, "modelcast_relay_dead_total",
        "Change events Kafka refused for good, moved to modelcast_outbox_dead.", NULL);
    relay->is_leader = mc_metrics_gauge(metrics, "modelcast_relay_active",
                                        "1 when this instance holds the relay lock.", NULL);
    mc_metrics_gauge_fn(metrics, "modelcast_outbox_depth", "Rows waiting in the outbox.", NULL,
                        relay__depth, relay);
    mc_metrics_gauge_fn(metrics, "modelcast_outbox_lag_seconds",
                        "Age of the oldest row waiting in the outbox.", NULL, relay__age, relay);
    mc_metrics_gauge_fn(metrics, "modelcast_outbox_dead",
                        "Rows in modelcast_outbox_dead (events Kafka refused).", NULL,
                        relay__dead, relay);
    mc_metrics_gauge_fn(metrics, "modelcast_relay_kafka_up",
                        "1 when Kafka answered the relay lately.", NULL, relay__kafka_up,
                        relay);
    return relay;
}

/* Frees the notifications libpq has read; returns whether there were any. */
static int relay__drain_notifies(outbox_relay_t *relay)
{
    PGnotify *n;
    int any = 0;
    while (relay->conn && (n = PQnotifies(relay->conn))) {
        PQfreemem(n);
        any = 1;
    }
    return any;
}

/*
 * Waits up to ms for a kick, a stop request or (active relay) a notification from the
 * outbox trigger. Returns what woke it (WOKE_*, or'ed).
 */
static int relay__wait(outbox_relay_t *relay, long ms)
{
    struct pollfd fds[2] = {{.fd = relay->wake_fd, .events = POLLIN}, {.fd = -1}};
    int nfds = 1, woke = WOKE_TIMEOUT;
    /* Waiting is progress: the thread is due back by then (a long MC_RELAY_IDLE_MAX_MS). */
    atomic_store(&relay->beat_ms, relay__now_ms() + ms);
    if (relay->listening && relay->conn && PQsocket(relay->conn) >= 0) {
        fds[1].fd = PQsocket(relay->conn);
        fds[1].events = POLLIN;
        nfds = 2;
    }
    if (poll(fds, (nfds_t)nfds, (int)ms) <= 0)
        return WOKE_TIMEOUT;
    if (fds[0].revents) {
        uint64_t count;
        if (read(relay->wake_fd, &count, sizeof count) == (ssize_t)sizeof count)
            woke |= WOKE_KICK;
    }
    if (nfds == 2 && fds[1].revents) {
        /* A broken connection shows at the next statement and is then reopened. */
        PQconsumeInput(relay->conn);
        if (relay__drain_notifies(relay))
            woke |= WOKE_NOTIFY;
    }
    return woke;
}

void outbox_relay_kick(outbox_relay_t *relay)
{
    uint64_t one = 1;
    if (relay && write(relay->wake_fd, &one, sizeof one) < 0) {
        /* the counter is saturated: the relay is awake anyway */
    }
}

static void relay__set_role(outbox_relay_t *relay, int role)
{
    atomic_store(&relay->role, role);
    mc_metric_set(relay->is_leader, role == ROLE_ACTIVE);
}

/* (Re)connects and tries to become the active relay. Returns 1 when active. */
static int relay__lead(outbox_relay_t *relay)
{
    char err[512];
    if (relay->conn && PQstatus(relay->conn) != CONNECTION_OK) {
        PQfinish(relay->conn);
        relay->conn = NULL;
    }
    if (!relay->conn) {
        relay->leader = relay->listening = 0;
        relay__set_role(relay, ROLE_STANDBY);
        relay->conn = mc_pg_connect(relay->conninfo, 0, err, sizeof err);
        if (!relay->conn) {
            MC_WARN("relay: %s", err);
            return 0;
        }
        /* This session only writes the outbox tables; it wakes the active relay itself. */
        if (mc_pg_exec(relay->conn, "SET TIME ZONE 'UTC'; SET modelcast.notify = 'off'", err,
                       sizeof err) != MC_OK)
            MC_WARN("relay: %s", err);
        relay->next_lock_ms = 0;
    }
    if (relay->leader)
        return 1;
    if (relay__now_ms() < relay->next_lock_ms)
        return 0;
    relay->next_lock_ms = relay__now_ms() + RELAY_STANDBY_MS;
    PGresult *res = PQexec(relay->conn, RELAY_LOCK_SQL);
    if (mc_pg_check(relay->conn, res, PGRES_TUPLES_OK, err, sizeof err) == MC_OK &&
        strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        relay->leader = 1;
        MC_INFO("relay: active (holds the outbox lock)");
    }
    PQclear(res);
    if (relay->leader &&
        mc_pg_exec(relay->conn, "LISTEN " OUTBOX_RELAY_CHANNEL, err, sizeof err) == MC_OK)
        relay->listening = 1;
    else if (relay->leader)
        MC_WARN("relay: LISTEN %s: %s (polling only)", OUTBOX_RELAY_CHANNEL, err);
    relay__set_role(relay, relay->leader ? ROLE_ACTIVE : ROLE_STANDBY);
    return relay->leader;
}

/* A standby passes a kick on to the active relay, wherever it runs. */
static void relay__pass_kick(outbox_relay_t *relay)
{
    char err[256];
    if (relay->conn && !relay->leader &&
        mc_pg_exec(relay->conn, "NOTIFY " OUTBOX_RELAY_CHANNEL, err, sizeof err) != MC_OK)
        MC_WARN("relay: NOTIFY %s: %s", OUTBOX_RELAY_CHANNEL, err);
}

/* Every RELAY_LAG_EVERY_MS: the outbox depth and age, the dead-letter rows, and Kafka's
 * state when nothing was heard from it lately. */
static void relay__housekeeping(outbox_relay_t *relay)
{
    long now = relay__now_ms();
    if (now < relay->next_lag_ms)
        return;
    relay->next_lag_ms = now + RELAY_LAG_EVERY_MS;
    if (relay->conn) {
        PGresult *res = PQexec(relay->conn,
                               "SELECT (SELECT count(*) FROM modelcast_outbox), "
                               "coalesce((SELECT extract(epoch FROM now() - min(committed_at)) "
                               "FROM modelcast_outbox), 0), "
                               "(SELECT count(*) FROM modelcast_outbox_dead)");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            atomic_store(&relay->depth, strtol(PQgetvalue(res, 0, 0), NULL, 10));
            atomic_store(&relay->age_s, strtod(PQgetvalue(res, 0, 1), NULL));
            atomic_store(&relay->dead, strtol(PQgetvalue(res, 0, 2), NULL, 10));
        }
        PQclear(res);
    }
    if (now - atomic_load(&relay->kafka_heard_ms) >= RELAY_KAFKA_CHECK_MS) {
        if (mc_kafka_ping(relay->producer, RELAY_PING_TIMEOUT_MS) == MC_OK)
            relay__kafka_heard(relay);
        else
            atomic_store(&relay->kafka_ok, 0);
    }
}

static const char *relay__ce_type(const char *op)
{
    if (strcmp(op, MC_OP_CREATE) == 0)
        return MC_CE_TYPE_CREATED;
    if (strcmp(op, MC_OP_UPDATE) == 0)
        return MC_CE_TYPE_UPDATED;
    return MC_CE_TYPE_DESTROYED;
}

/* Replaces a producer that hit a fatal (idempotence) error. Returns 0 when none can be
 * made: the relay has then stopped for good. */
static int relay__check_fatal(outbox_relay_t *relay)
{
    char why[512], err[512];
    if (rd_kafka_fatal_error(relay->producer, why, sizeof why) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 1;
    MC_ERROR("relay: producer fatal error (%s); creating a new producer", why);
    rd_kafka_t *fresh = relay__producer(relay, err, sizeof err);
    if (!fresh) {
        MC_ERROR("relay: cannot create a producer: %s; the relay stops", err);
        return 0;
    }
    rd_kafka_destroy(relay->producer);
    relay->producer = fresh;
    return 1;
}

/* Adds header name = value (NUL-terminated) to hdrs. */
static void relay__header(rd_kafka_headers_t *hdrs, const char *name, const char *value)
{
    rd_kafka_header_add(hdrs, name, -1, value, (ssize_t)strlen(value));
}

/*
 * The trace context of row i (its traceparent column, or a new trace) into tp, its checked
 * tracestate into ts ("" when none), and, when the tracer records, the row's "relay publish"
 * span begun from the round's read.
 */
static void relay__trace(outbox_relay_t *relay, const relay_rows_t *rows, int i, char *tp,
                         char *ts, size_t tslen)
{
    mc_trace_ctx_t parent;
    /* cppcheck-suppress uninitvar ; mc_span_begin (trace.c) sets every field read after it */
    mc_span_t local, *span = relay->spans ? &relay->spans[i] : &local;
    int have = mc_trace_parse(RELAY_VAL(rows, i, 8), &parent) == MC_OK;

    mc_span_begin(relay->tracer, span, "relay publish", MC_SPAN_PRODUCER, have ? &parent : NULL);
    if (span->recording) {
        span->start_ns = relay->read_ns;
        span->end_ns = 0;
        mc_span_attr_str(span, "modelcast.event_id", RELAY_VAL(rows, i, 1));
        mc_span_attr_str(span, "modelcast.model", RELAY_VAL(rows, i, 2));
        mc_span_attr_str(span, "modelcast.record_id", RELAY_VAL(rows, i, 3));
        mc_span_attr_int(span, "modelcast.version", strtoll(RELAY_VAL(rows, i, 7), NULL, 10));
        mc_span_attr_str(span, "messaging.destination.name", relay->topic);
    }
    mc_trace_format(&span->ctx, tp);
    tp[MC_TRACEPARENT_LEN] = '\0';
    /* a tracestate only with the traceparent it came with */
    if (!have || RELAY_LEN(rows, i, 9) == 0 ||
        mc_tracestate_check(RELAY_VAL(rows, i, 9), ts, tslen) != MC_OK)
        ts[0] = '\0';
    if (mc_log_level() <= MC_LOG_DEBUG) {
        char tid[33];
        mc_trace_id_hex(&span->ctx, tid);
        mc_log_ctx_t lc = {RELAY_VAL(rows, i, 1), tid};
        MC_LOG_CTX(MC_LOG_DEBUG, &lc, "relay: publishing %s:%s version %s (outbox id %s)%s",
                   RELAY_VAL(rows, i, 2), RELAY_VAL(rows, i, 3), RELAY_VAL(rows, i, 7),
                   RELAY_VAL(rows, i, 0), have ? "" : ", a new trace (the row had none)");
    }
}

/* Produces row i of the round with row as its opaque. */
static rd_kafka_resp_err_t relay__produce(outbox_relay_t *relay, const relay_rows_t *rows, int i,
                                          ob_row_t *row)
{
    const char *event_id = RELAY_VAL(rows, i, 1), *model = RELAY_VAL(rows, i, 2);
    const char *rid = RELAY_VAL(rows, i, 3), *op = RELAY_VAL(rows, i, 4);
    const char *time = RELAY_VAL(rows, i, 5), *value = RELAY_VAL(rows, i, 6);
    char key[192], subject[192], tp[MC_TRACEPARENT_LEN + 1], ts[MC_TRACESTATE_MAX + 1];
    rd_kafka_resp_err_t rc;

    snprintf(key, sizeof key, "%s:%s", model, rid);
    snprintf(subject, sizeof subject, "%s/%s", model, rid);
    relay__trace(relay, rows, i, tp, ts, sizeof ts);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(9);
    relay__header(hdrs, MC_HEADER_CE_SPECVERSION, MC_CE_SPECVERSION);
    relay__header(hdrs, MC_HEADER_CE_ID, event_id);
    relay__header(hdrs, MC_HEADER_CE_SOURCE, relay->ce_source);
    relay__header(hdrs, MC_HEADER_CE_TYPE, relay__ce_type(op));
    relay__header(hdrs, MC_HEADER_CE_SUBJECT, subject);
    relay__header(hdrs, MC_HEADER_CE_TIME, time);
    relay__header(hdrs, MC_HEADER_CONTENT_TYPE, MC_CONTENT_TYPE_JSON);
    relay__header(hdrs, MC_HEADER_CE_TRACEPARENT, tp);
    if (ts[0])
        relay__header(hdrs, MC_HEADER_CE_TRACESTATE, ts);
    for (;;) {
        rc = rd_kafka_producev(
            relay->producer, RD_KAFKA_V_TOPIC(relay->topic),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)value, (size_t)RELAY_LEN(rows, i, 6)),
            RD_KAFKA_V_OPAQUE(row), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(relay->producer, 100);
    }
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_headers_destroy(hdrs); /* taken by librdkafka only on success */
    return rc;
}

/*
 * Moves row i of the round, an event Kafka refused for good, to modelcast_outbox_dead with the
 * reason, in one statement, and says so in the log. Returns MC_OK or MC_ERR_PG.
 */
static int relay__set_aside(outbox_relay_t *relay, const relay_rows_t *rows, int i,
                            const ob_row_t *row)
{
    static const char sql[] =
        "WITH d AS (DELETE FROM modelcast_outbox WHERE id = $1::bigint RETURNING *) "
        "INSERT INTO modelcast_outbox_dead (id, event_id, model, record_id, op, version, "
        "before, after, changed, txid, committed_at, error, event_bytes, traceparent, "
        "tracestate) "
        "SELECT id, event_id, model, record_id, op, version, before, after, changed, txid, "
        "committed_at, $2, $3::bigint, traceparent, tracestate FROM d";
    char err[512], bytes[32], reason[256];
    snprintf(bytes, sizeof bytes, "%d", RELAY_LEN(rows, i, 6));
    snprintf(reason, sizeof reason, "%s: %s (%s)", rd_kafka_err2name(row->err),
             rd_kafka_err2str(row->err),
             row->at_produce ? "refused by the producer" : "refused by the broker");
    const char *params[3] = {RELAY_VAL(rows, i, 0), reason, bytes};
    PGresult *r = PQexecParams(relay->conn, sql, 3, NULL, params, NULL, NULL, 0);
    int rc = mc_pg_check(relay->conn, r, PGRES_COMMAND_OK, err, sizeof err);
    PQclear(r);
    if (rc != MC_OK) {
        MC_WARN("relay: setting aside outbox id %s: %s", RELAY_VAL(rows, i, 0), err);
        return rc;
    }
    MC_ERROR("relay: change event %s:%s version %s (outbox id %s, %s bytes) set aside in "
             "modelcast_outbox_dead: %s; the stream goes on",
             RELAY_VAL(rows, i, 2), RELAY_VAL(rows, i, 3), RELAY_VAL(rows, i, 7),
             RELAY_VAL(rows, i, 0), bytes, reason);
    mc_metric_add(relay->set_aside, 1);
    atomic_fetch_add(&relay->dead, 1);
    return MC_OK;
}

/* Deletes the acknowledged rows among the first n of rows. Returns MC_OK or MC_ERR_*. */
static int relay__delete_acked(outbox_relay_t *relay, const ob_row_t *rows, size_t n)
{
    size_t cap = n * 21 + 3, len = 1, count = 0;
    char *ids = malloc(cap), err[512];
    int rc = MC_OK;
    if (!ids)
        return MC_ERR_NOMEM;
    ids[0] = '{';
    for (size_t i = 0; i < n; i++)
        if (rows[i].state == OB_ACKED)
            len += (size_t)snprintf(ids + len, cap - len, "%s%lld", count++ ? "," : "",
                                    rows[i].id);
    snprintf(ids + len, cap - len, "}");
    if (count > 0) {
        const char *params[1] = {ids};
        PGresult *res = PQexecParams(relay->conn,
                                     "DELETE FROM modelcast_outbox WHERE id = ANY($1::bigint[])",
                                     1, NULL, params, NULL, NULL, 0);
        rc = mc_pg_check(relay->conn, res, PGRES_COMMAND_OK, err, sizeof err);
        if (rc != MC_OK) /* published but not deleted: published again (same ce_id) */
            MC_WARN("relay: deleting published rows: %s", err);
        PQclear(res);
        mc_metric_add(relay->published, (double)count);
    }
    free(ids);
    return rc;
}

static void relay__rows_free(relay_rows_t *rows)
{
    for (int i = 0; i < rows->n; i++)
        PQclear(rows->res[i]);
    free(rows->res);
    rows->res = NULL;
    rows->n = 0;
}

/*
 * Reads the next outbox rows in id order, as many as fit in RELAY_ROUND_BYTES (at least
 * one), row by row (single-row mode). Rows past the budget are read and dropped, to be read
 * again next round, and the next round asks for only as many rows as fitted; the number
 * grows back (doubling up to MC_RELAY_BATCH) once rows are small again. Returns MC_OK with
 * rows filled (maybe none), or MC_ERR_*.
 */
static int relay__read(outbox_relay_t *relay, relay_rows_t *rows)
{
    static const char select_sql[] =
        "SELECT id, event_id::text, model, record_id, op, to_json(committed_at) #>> '{}', "
        "json_build_object('" MC_FIELD_MODEL "', model, '" MC_FIELD_ID "', record_id, "
        "'" MC_FIELD_OP "', op, '" MC_FIELD_VERSION "', version, '" MC_FIELD_BEFORE "', before, "
        "'" MC_FIELD_AFTER "', after, '" MC_FIELD_CHANGED "', changed, '" MC_FIELD_TXID "', txid, "
        "'" MC_FIELD_COMMITTED_AT "', committed_at)::text, version, traceparent, tracestate "
        "FROM modelcast_outbox ORDER BY id LIMIT $1";
    char limit[32], err[512];
    long bytes = 0;
    int rc = MC_OK, full = 0;
    PGresult *r;

    memset(rows, 0, sizeof *rows);
    if (relay->spans)
        relay->read_ns = mc_trace_now_ns();
    snprintf(limit, sizeof limit, "%ld", relay->limit);
    const char *params[1] = {limit};
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof *p of an array of pointers */
    if (!(rows->res = calloc((size_t)relay->limit, sizeof *rows->res)))
        return MC_ERR_NOMEM;
    if (!PQsendQueryParams(relay->conn, select_sql, 1, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(relay->conn)) {
        MC_WARN("relay: reading the outbox: %s", PQerrorMessage(relay->conn));
        while ((r = PQgetResult(relay->conn)))
            PQclear(r);
        relay__rows_free(rows);
        return MC_ERR_PG;
    }
    /* Every result is read, so that the connection is free afterwards. */
    while ((r = PQgetResult(relay->conn))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && rc == MC_OK && !full && rows->n < relay->limit &&
            (rows->n == 0 || bytes + PQgetlength(r, 0, 6) <= RELAY_ROUND_BYTES)) {
            bytes += PQgetlength(r, 0, 6);
            rows->res[rows->n++] = r;
            continue;
        }
        if (st == PGRES_SINGLE_TUPLE)
            full = 1; /* over the budget: this row and the rest wait for the next round */
        else if (st != PGRES_TUPLES_OK &&
                 mc_pg_check(relay->conn, r, PGRES_TUPLES_OK, err, sizeof err) != MC_OK) {
            MC_WARN("relay: reading the outbox: %s", err);
            rc = MC_ERR_PG;
        }
        PQclear(r);
    }
    if (rc != MC_OK)
        relay__rows_free(rows);
    else if (full)
        relay->limit = rows->n;
    else if (rows->n == relay->limit && relay->limit < relay->batch)
        relay->limit = relay->limit * 2 < relay->batch ? relay->limit * 2 : relay->batch;
    return rc;
}

/*
 * One round: read the next rows (relay__read), publish them, wait for every delivery
 * report, delete the acknowledged rows and set aside the refused ones (outbox_batch.h).
 * Returns the rows finished (or 1 when a refused row is to be sent alone next), 0 when the
 * outbox is empty, -1 when the round failed (back off).
 */
static int relay__round(outbox_relay_t *relay)
{
    relay_rows_t res;
    if (relay__read(relay, &res) != MC_OK)
        return -1;
    int n = res.n;
    if (n == 0) {
        relay__rows_free(&res);
        return 0;
    }
    ob_row_t *rows = calloc((size_t)n, sizeof *rows);
    if (!rows) {
        relay__rows_free(&res);
        return -1;
    }
    for (int i = 0; i < n; i++)
        rows[i].id = strtoll(RELAY_VAL(&res, i, 0), NULL, 10);
    /* A row refused in a shared batch goes alone, to learn whether it is at fault. */
    int alone = relay->isolate && rows[0].id == relay->isolate;
    int nsend = alone ? 1 : n, tried = 0;
    relay->isolate = 0;
    relay->round_rows = rows;
    for (int i = 0; i < nsend; i++, tried++) {
        rd_kafka_resp_err_t rc = relay__produce(relay, &res, i, &rows[i]);
        if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rows[i].state = OB_SENT;
            relay->pending++;
            continue;
        }
        rows[i].err = rc;
        if (outbox_batch_refused(rc)) {
            rows[i].state = OB_REFUSED;
            rows[i].at_produce = 1;
            continue; /* this event alone is at fault: the rows after it go on */
        }
        rows[i].state = OB_FAILED;
        MC_WARN("relay: produce: %s", rd_kafka_err2str(rc));
        tried++;
        break; /* later rows wait for the next round, keeping id order */
    }
    /* Every produced message gets exactly one delivery report. */
    while (relay->pending > 0) {
        rd_kafka_poll(relay->producer, 50);
        relay__beat(relay);
        relay__housekeeping(relay); /* the lag keeps growing while Kafka is away */
        if (!atomic_load(&relay->running))
            rd_kafka_purge(relay->producer, RD_KAFKA_PURGE_F_QUEUE);
    }
    for (int i = 0; relay->spans && i < tried; i++) {
        mc_span_t *span = &relay->spans[i];
        span->error |= rows[i].state != OB_ACKED;
        mc_span_end(relay->tracer, span, span->end_ns); /* 0 (refused at produce): now */
    }
    relay->round_rows = NULL;
    ob_outcome_t out;
    outbox_batch_settle(rows, (size_t)nsend, alone, &out);
    /* The published rows go first: a failure to set one aside must not republish them. */
    int rc = relay__delete_acked(relay, rows, out.done) == MC_OK ? (int)out.done : -1;
    for (size_t i = 0; i < out.done && rc >= 0; i++)
        if (rows[i].state == OB_REFUSED && relay__set_aside(relay, &res, (int)i, &rows[i]))
            rc = -1;
    if (out.isolate) {
        relay->isolate = out.isolate;
        MC_WARN("relay: Kafka refused a batch holding outbox id %lld (%s); sending it alone",
                out.isolate, rd_kafka_err2str(rows[out.done].err));
        if (rc == 0)
            rc = 1;
    } else if (out.retry) {
        rd_kafka_resp_err_t why = rows[out.done].err ? rows[out.done].err : RD_KAFKA_RESP_ERR__FAIL;
        MC_WARN("relay: Kafka did not acknowledge %zu of %d change events (%s); retrying",
                (size_t)nsend - out.done, n, rd_kafka_err2str(why));
        mc_metric_add(relay->failed, (double)((size_t)nsend - out.done));
        rc = -1;
    }
    free(rows);
    relay__rows_free(&res);
    return rc;
}

/* Waits ms (the backoff after a failed round): only a stop request cuts it short. */
static void relay__backoff(outbox_relay_t *relay, long ms)
{
    long until = relay__now_ms() + ms, left;
    while (atomic_load(&relay->running) && (left = until - relay__now_ms()) > 0) {
        relay__wait(relay, left < RELAY_LAG_EVERY_MS ? left : RELAY_LAG_EVERY_MS);
        relay__beat(relay);
        relay__housekeeping(relay);
    }
}

static void *relay__main(void *arg)
{
    outbox_relay_t *relay = arg;
    long idle_ms = 1, backoff_ms = 0;

    while (atomic_load(&relay->running)) {
        relay__beat(relay);
        if (!relay__lead(relay)) {
            relay__housekeeping(relay);
            if (relay__wait(relay, RELAY_STANDBY_MS) & WOKE_KICK)
                relay__pass_kick(relay);
            continue;
        }
        int n = relay__round(relay);
        if (!relay__check_fatal(relay)) {
            relay__set_role(relay, ROLE_FAILED);
            return NULL;
        }
        relay__housekeeping(relay);
        /* Notifications read while the round ran mean rows it may not have seen. */
        int notified = relay__drain_notifies(relay);
        if (n > 0 || (n == 0 && notified)) {
            idle_ms = 1;
            backoff_ms = 0;
            continue;
        }
        if (n == 0) {
            backoff_ms = 0;
            if (relay__wait(relay, idle_ms) != WOKE_TIMEOUT)
                idle_ms = 1;
            else
                idle_ms = idle_ms * 2 > relay->idle_max_ms ? relay->idle_max_ms : idle_ms * 2;
            continue;
        }
        backoff_ms = backoff_ms ? backoff_ms * 2 : RELAY_BACKOFF_MIN_MS;
        if (backoff_ms > RELAY_BACKOFF_MAX_MS)
            backoff_ms = RELAY_BACKOFF_MAX_MS;
        relay__backoff(relay, backoff_ms);
    }
    return NULL;
}

int outbox_relay_start(outbox_relay_t *relay)
{
    relay__beat(relay);
    atomic_store(&relay->running, 1);
    if (pthread_create(&relay->thread, NULL, relay__main, relay) != 0) {
        atomic_store(&relay->running, 0);
        return MC_ERR_IO;
    }
    relay->started = 1;
    return MC_OK;
}

int outbox_relay_alive(const char *role, double beat_age_s, double stall_s)
{
    return strcmp(role, "failed") != 0 && beat_age_s <= stall_s;
}

void outbox_relay_status(outbox_relay_t *relay, outbox_relay_status_t *st)
{
    int role = atomic_load(&relay->role);
    memset(st, 0, sizeof *st);
    st->role = relay__role_names[role];
    st->kafka_ok = atomic_load(&relay->kafka_ok);
    st->depth = atomic_load(&relay->depth);
    st->age_s = atomic_load(&relay->age_s);
    st->dead = atomic_load(&relay->dead);
    long beat_age_ms = relay__now_ms() - atomic_load(&relay->beat_ms);
    st->beat_age_s = beat_age_ms > 0 ? (double)beat_age_ms / 1000.0 : 0;
    st->alive = outbox_relay_alive(st->role, st->beat_age_s, relay->stall_s);
    if (role == ROLE_FAILED)
        snprintf(st->why, sizeof st->why, "the outbox relay stopped for good (see the log)");
    else if (!st->alive)
        snprintf(st->why, sizeof st->why, "the outbox relay shows no progress for %.0f s",
                 st->beat_age_s);
}

void outbox_relay_free(outbox_relay_t *relay)
{
    if (!relay)
        return;
    if (relay->started) {
        atomic_store(&relay->running, 0);
        outbox_relay_kick(relay);
        pthread_join(relay->thread, NULL);
    }
    if (relay->producer) {
        if (rd_kafka_flush(relay->producer, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            MC_WARN("relay: %d messages still in flight at shutdown (their rows stay in the "
                    "outbox)", rd_kafka_outq_len(relay->producer));
        rd_kafka_destroy(relay->producer);
    }
    PQfinish(relay->conn);
    if (relay->wake_fd >= 0)
        close(relay->wake_fd);
    free(relay->conninfo);
    free(relay->topic);
    free(relay->ce_source);
    free(relay->spans);
    free(relay);
}
