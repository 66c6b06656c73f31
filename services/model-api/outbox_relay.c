/* outbox_relay.c - the outbox → Kafka relay thread. */
#include "outbox_relay.h"
#include "mc_contract.h"
#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_log.h"
#include "mc_pg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Session advisory lock held by the active relay ("mcrelay"). */
#define RELAY_LOCK_SQL "SELECT pg_try_advisory_lock(7837283417394668917)"
#define RELAY_STANDBY_MS 1000
#define RELAY_BACKOFF_MIN_MS 100
#define RELAY_BACKOFF_MAX_MS 5000
#define RELAY_LAG_EVERY_MS 1000

/* Delivery state of one message of the batch in flight. */
typedef struct {
    int done;
    rd_kafka_resp_err_t err;
} relay_slot_t;

struct outbox_relay {
    char *conninfo, *topic, *ce_source;
    long batch, idle_max_ms;

    pthread_mutex_t producer_lock; /* guards producer against swap during ping */
    rd_kafka_t *producer;
    PGconn *conn;                  /* owned by the relay thread */
    int leader;

    pthread_t thread;
    int started;
    _Atomic int running;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int kicked;

    _Atomic long depth;
    _Atomic double age_s;
    int pending;                   /* deliveries not yet reported (relay thread only) */

    mc_metric_t *published, *failed, *is_leader;
};

static double relay__depth(void *arg)
{
    return (double)atomic_load(&((outbox_relay_t *)arg)->depth);
}

static double relay__age(void *arg)
{
    return atomic_load(&((outbox_relay_t *)arg)->age_s);
}

static long relay__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void relay__dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    outbox_relay_t *relay = opaque;
    relay_slot_t *slot = msg->_private;
    if (slot) {
        slot->done = 1;
        slot->err = msg->err;
    }
    relay->pending--;
}

static rd_kafka_t *relay__producer(outbox_relay_t *relay, char *err, size_t errlen)
{
    static const char *const defaults[] = {
        "compression.type", "lz4", /* not gzip/snappy: see docs/operations.md */
        "linger.ms", "1",
        "message.timeout.ms", "10000",
        "partitioner", "murmur2_random", /* same key → partition mapping as Java clients */
        "client.id", "modelcast-model-api",
        NULL,
    };
    static const char *const forced[] = {"enable.idempotence", "true", "acks", "all", NULL};
    rd_kafka_conf_t *conf = mc_kafka_conf_new(defaults, forced, NULL, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, relay__dr);
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
    relay->idle_max_ms = opts->idle_max_ms;
    pthread_mutex_init(&relay->lock, NULL);
    pthread_mutex_init(&relay->producer_lock, NULL);
    pthread_cond_init(&relay->wake, NULL);
    if (!relay->conninfo || !relay->topic || !relay->ce_source) {
        snprintf(err, errlen, "out of memory");
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
    relay->is_leader = mc_metrics_gauge(metrics, "modelcast_relay_active",
                                        "1 when this instance holds the relay lock.", NULL);
    mc_metrics_gauge_fn(metrics, "modelcast_outbox_depth", "Rows waiting in the outbox.", NULL,
                        relay__depth, relay);
    mc_metrics_gauge_fn(metrics, "modelcast_outbox_lag_seconds",
                        "Age of the oldest row waiting in the outbox.", NULL, relay__age, relay);
    return relay;
}

/* Waits up to ms or until kicked / stopped. */
static void relay__wait(outbox_relay_t *relay, long ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&relay->lock);
    while (!relay->kicked && atomic_load(&relay->running)) {
        if (pthread_cond_timedwait(&relay->wake, &relay->lock, &deadline) != 0)
            break;
    }
    relay->kicked = 0;
    pthread_mutex_unlock(&relay->lock);
}

void outbox_relay_kick(outbox_relay_t *relay)
{
    if (!relay)
        return;
    pthread_mutex_lock(&relay->lock);
    relay->kicked = 1;
    pthread_cond_signal(&relay->wake);
    pthread_mutex_unlock(&relay->lock);
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
        relay->leader = 0;
        mc_metric_set(relay->is_leader, 0);
        relay->conn = mc_pg_connect(relay->conninfo, 0, err, sizeof err);
        if (!relay->conn) {
            MC_WARN("relay: %s", err);
            return 0;
        }
        if (mc_pg_exec(relay->conn, "SET TIME ZONE 'UTC'", err, sizeof err) != MC_OK)
            MC_WARN("relay: %s", err);
    }
    if (relay->leader)
        return 1;
    PGresult *res = PQexec(relay->conn, RELAY_LOCK_SQL);
    if (mc_pg_check(relay->conn, res, PGRES_TUPLES_OK, err, sizeof err) == MC_OK &&
        strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        relay->leader = 1;
        mc_metric_set(relay->is_leader, 1);
        MC_INFO("relay: active (holds the outbox lock)");
    }
    PQclear(res);
    return relay->leader;
}

static void relay__measure_lag(outbox_relay_t *relay)
{
    PGresult *res = PQexec(relay->conn,
                           "SELECT count(*), coalesce(extract(epoch FROM now() - "
                           "min(committed_at)), 0) FROM modelcast_outbox");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        atomic_store(&relay->depth, atol(PQgetvalue(res, 0, 0)));
        atomic_store(&relay->age_s, atof(PQgetvalue(res, 0, 1)));
    }
    PQclear(res);
}

static const char *relay__ce_type(const char *op)
{
    if (strcmp(op, MC_OP_CREATE) == 0)
        return MC_CE_TYPE_CREATED;
    if (strcmp(op, MC_OP_UPDATE) == 0)
        return MC_CE_TYPE_UPDATED;
    return MC_CE_TYPE_DESTROYED;
}

/* Replaces a producer that hit a fatal (idempotence) error. */
static void relay__check_fatal(outbox_relay_t *relay)
{
    char why[512], err[512];
    if (rd_kafka_fatal_error(relay->producer, why, sizeof why) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    MC_ERROR("relay: producer fatal error (%s); creating a new producer", why);
    rd_kafka_t *fresh = relay__producer(relay, err, sizeof err);
    if (!fresh) {
        MC_ERROR("relay: cannot create producer: %s", err);
        return;
    }
    pthread_mutex_lock(&relay->producer_lock);
    rd_kafka_t *old = relay->producer;
    relay->producer = fresh;
    pthread_mutex_unlock(&relay->producer_lock);
    rd_kafka_destroy(old);
}

/*
 * One round: read up to batch rows in id order, publish them, wait for every delivery
 * report, delete the acknowledged prefix. Returns rows published, or -1 on error.
 */
static int relay__round(outbox_relay_t *relay)
{
    static const char select_sql[] =
        "SELECT id, event_id::text, model, record_id, op, to_json(committed_at) #>> '{}', "
        "json_build_object('" MC_FIELD_MODEL "', model, '" MC_FIELD_ID "', record_id, "
        "'" MC_FIELD_OP "', op, '" MC_FIELD_VERSION "', version, '" MC_FIELD_BEFORE "', before, "
        "'" MC_FIELD_AFTER "', after, '" MC_FIELD_CHANGED "', changed, '" MC_FIELD_TXID "', txid, "
        "'" MC_FIELD_COMMITTED_AT "', committed_at)::text "
        "FROM modelcast_outbox ORDER BY id LIMIT $1";
    char limit[32], err[512];
    snprintf(limit, sizeof limit, "%ld", relay->batch);
    const char *params[1] = {limit};
    PGresult *res = PQexecParams(relay->conn, select_sql, 1, NULL, params, NULL, NULL, 0);
    if (mc_pg_check(relay->conn, res, PGRES_TUPLES_OK, err, sizeof err) != MC_OK) {
        MC_WARN("relay: reading the outbox: %s", err);
        PQclear(res);
        return -1;
    }
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return 0;
    }
    relay_slot_t *slots = calloc((size_t)n, sizeof *slots);
    if (!slots) {
        PQclear(res);
        return -1;
    }
    int produced = 0;
    for (int i = 0; i < n; i++) {
        const char *event_id = PQgetvalue(res, i, 1), *model = PQgetvalue(res, i, 2);
        const char *rid = PQgetvalue(res, i, 3), *op = PQgetvalue(res, i, 4);
        const char *time = PQgetvalue(res, i, 5), *value = PQgetvalue(res, i, 6);
        const char *type = relay__ce_type(op);
        char key[192], subject[192];
        snprintf(key, sizeof key, "%s:%s", model, rid);
        snprintf(subject, sizeof subject, "%s/%s", model, rid);
        rd_kafka_resp_err_t rc;
        for (;;) {
            rc = rd_kafka_producev(
                relay->producer, RD_KAFKA_V_TOPIC(relay->topic),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_OPAQUE(&slots[i]),
                RD_KAFKA_V_HEADER(MC_HEADER_CE_SPECVERSION, MC_CE_SPECVERSION,
                                  (ssize_t)strlen(MC_CE_SPECVERSION)),
                RD_KAFKA_V_HEADER(MC_HEADER_CE_ID, event_id, (ssize_t)strlen(event_id)),
                RD_KAFKA_V_HEADER(MC_HEADER_CE_SOURCE, relay->ce_source,
                                  (ssize_t)strlen(relay->ce_source)),
                RD_KAFKA_V_HEADER(MC_HEADER_CE_TYPE, type, (ssize_t)strlen(type)),
                RD_KAFKA_V_HEADER(MC_HEADER_CE_SUBJECT, subject, (ssize_t)strlen(subject)),
                RD_KAFKA_V_HEADER(MC_HEADER_CE_TIME, time, (ssize_t)strlen(time)),
                RD_KAFKA_V_HEADER(MC_HEADER_CONTENT_TYPE, MC_CONTENT_TYPE_JSON,
                                  (ssize_t)strlen(MC_CONTENT_TYPE_JSON)),
                RD_KAFKA_V_END);
            if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(relay->producer, 100);
        }
        if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
            slots[i].done = 1;
            slots[i].err = rc;
            MC_WARN("relay: produce: %s", rd_kafka_err2str(rc));
            break; /* later rows wait for the next round, keeping id order */
        }
        relay->pending++;
        produced++;
    }
    /* Every produced message gets exactly one delivery report. */
    while (relay->pending > 0) {
        rd_kafka_poll(relay->producer, 50);
        if (!atomic_load(&relay->running))
            rd_kafka_purge(relay->producer, RD_KAFKA_PURGE_F_QUEUE);
    }
    /* Delete the acknowledged prefix: a failed row and everything after it is retried. */
    int ok = 0;
    while (ok < produced && slots[ok].done && slots[ok].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        ok++;
    if (ok < n) {
        rd_kafka_resp_err_t why = ok < produced ? slots[ok].err : RD_KAFKA_RESP_ERR__FAIL;
        MC_WARN("relay: Kafka did not acknowledge %d of %d change events (%s); retrying",
                n - ok, n, rd_kafka_err2str(why));
        mc_metric_add(relay->failed, n - ok);
    }
    int rc = ok;
    if (ok > 0) {
        size_t cap = (size_t)ok * 21 + 3, len = 1;
        char *ids = malloc(cap);
        if (!ids) {
            rc = -1;
        } else {
            ids[0] = '{';
            for (int i = 0; i < ok; i++)
                len += (size_t)snprintf(ids + len, cap - len, "%s%s", i ? "," : "",
                                        PQgetvalue(res, i, 0));
            snprintf(ids + len, cap - len, "}");
            const char *dparams[1] = {ids};
            PGresult *dres = PQexecParams(relay->conn,
                                          "DELETE FROM modelcast_outbox WHERE id = ANY($1::bigint[])",
                                          1, NULL, dparams, NULL, NULL, 0);
            if (mc_pg_check(relay->conn, dres, PGRES_COMMAND_OK, err, sizeof err) != MC_OK) {
                /* Published but not deleted: they will be published again (same ce_id). */
                MC_WARN("relay: deleting published rows: %s", err);
                rc = -1;
            }
            PQclear(dres);
            free(ids);
        }
        mc_metric_add(relay->published, ok);
    }
    if (ok < n)
        rc = -1;
    relay__check_fatal(relay);
    free(slots);
    PQclear(res);
    return rc;
}

static void *relay__main(void *arg)
{
    outbox_relay_t *relay = arg;
    long idle_ms = 1, backoff_ms = 0, last_lag = 0;

    while (atomic_load(&relay->running)) {
        if (!relay__lead(relay)) {
            if (relay->conn && relay__now_ms() - last_lag >= RELAY_LAG_EVERY_MS) {
                relay__measure_lag(relay);
                last_lag = relay__now_ms();
            }
            relay__wait(relay, RELAY_STANDBY_MS);
            continue;
        }
        int n = relay__round(relay);
        if (relay__now_ms() - last_lag >= RELAY_LAG_EVERY_MS) {
            relay__measure_lag(relay);
            last_lag = relay__now_ms();
        }
        if (n > 0) {
            idle_ms = 1;
            backoff_ms = 0;
            continue;
        }
        if (n == 0) {
            backoff_ms = 0;
            relay__wait(relay, idle_ms);
            idle_ms = idle_ms * 2 > relay->idle_max_ms ? relay->idle_max_ms : idle_ms * 2;
            continue;
        }
        backoff_ms = backoff_ms ? backoff_ms * 2 : RELAY_BACKOFF_MIN_MS;
        if (backoff_ms > RELAY_BACKOFF_MAX_MS)
            backoff_ms = RELAY_BACKOFF_MAX_MS;
        /* Only a stop request may cut the backoff short; kicks do not. */
        long until = relay__now_ms() + backoff_ms;
        while (atomic_load(&relay->running) && relay__now_ms() < until)
            relay__wait(relay, until - relay__now_ms());
    }
    return NULL;
}

int outbox_relay_start(outbox_relay_t *relay)
{
    atomic_store(&relay->running, 1);
    if (pthread_create(&relay->thread, NULL, relay__main, relay) != 0) {
        atomic_store(&relay->running, 0);
        return MC_ERR_IO;
    }
    relay->started = 1;
    return MC_OK;
}

int outbox_relay_kafka_ok(outbox_relay_t *relay, int timeout_ms)
{
    pthread_mutex_lock(&relay->producer_lock);
    int ok = mc_kafka_ping(relay->producer, timeout_ms) == MC_OK;
    pthread_mutex_unlock(&relay->producer_lock);
    return ok;
}

void outbox_relay_lag(outbox_relay_t *relay, long *depth, double *age_s)
{
    *depth = atomic_load(&relay->depth);
    *age_s = atomic_load(&relay->age_s);
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
    pthread_cond_destroy(&relay->wake);
    pthread_mutex_destroy(&relay->lock);
    pthread_mutex_destroy(&relay->producer_lock);
    free(relay->conninfo);
    free(relay->topic);
    free(relay->ce_source);
    free(relay);
}
