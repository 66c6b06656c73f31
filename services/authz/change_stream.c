/* change_stream.c - consume-transform-produce in Kafka transactions. */
#include "change_stream.h"
#include "dedupe.h"
#include "delivery.h"
#include "mc_contract.h"
#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CS_POLL_MS 100
#define CS_TXN_TIMEOUT_MS 30000
#define CS_RETRY_MS 500
#define CS_FINISH_TRIES 5          /* retriable commit/abort attempts before giving up */
#define CS_REBUILD_TIMEOUT_MS 10000 /* reading a partition's recent ce_ids back */
#define CS_FENCE_TIMEOUT_MS 10000   /* describing the group, fencing a vanished member */
#define CS_RENEW_EVERY_MS 30000     /* a fenced client is replaced at most this often */
#define CS_MEMBERSHIP_WAIT_MS 30000 /* a fenced instance waits for its rejoin this long */
#define CS_REJOIN_GRACE_MS 60000    /* a consumer fence this soon after the broker was away
                                       is the consumer's own rejoin */

/*
 * Group and transaction timing (defaults; MC_KAFKA_CONSUMER_* / MC_KAFKA_PRODUCER_* may
 * override them). A member that dies keeps its partitions until its session times out:
 * 6 s is the broker's default group.min.session.timeout.ms. With static membership an
 * instance restarted under the same id takes its partitions back at once, without a
 * rebalance. A transaction left open by a dead instance is aborted when the instance
 * restarts (init_transactions) or when a peer that takes its partitions fences its id
 * (cs__fence_vanished); the broker's own abort, transaction.timeout.ms after the
 * transaction began, is only the backstop. That timeout must outlast a broker restart:
 * the coordinator aborts a transaction that was open when the broker went down as soon as
 * it is back if the transaction is older than the timeout, and bumps the producer's epoch
 * to do so, which fences the live producer (a restart takes 13-26 s here under load; with
 * 5 s, 5 of 6 broker restarts made authz exit). 60 s is librdkafka's default; it also
 * becomes message.timeout.ms, so a delivery waits for a restarting broker instead of
 * failing the transaction after 5 s.
 */
#define CS_SESSION_TIMEOUT_MS "6000"
#define CS_HEARTBEAT_MS "1000"
#define CS_TRANSACTION_TIMEOUT_MS "60000"

struct change_stream {
    char *changes_topic, *deliveries_topic, *dlq_topic;
    const mc_policy_t *policy;
    long batch, batch_window_ms;
    void (*on_stop)(void *arg);
    void *on_stop_arg;
    int transform_failed;   /* a delivery of the open batch could not be produced */
    int revoked;            /* the group took partitions away during the open batch */
    char *buf;              /* serialization buffer of the stream thread */
    size_t bufsize;
    dedupe_t *dedupe;       /* stream thread only (and the rebalance callback, same thread) */
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_t *reader;     /* assign-mode consumer that rebuilds dedupe windows (and
                               the handle for admin requests) */
    char *group_id, *self_id;
    json_t *members;        /* the group's static members at the last assignment
                               (group.instance.id → member id) */
    long producer_renewed;  /* when a fenced producer was last replaced (ms) */
    long consumer_renewed;  /* when a fenced consumer was last replaced (ms) */
    long broker_away;       /* when the consumer last reported the broker unreachable */
    pthread_t thread;
    int started;
    _Atomic int running;
    _Atomic int txn_ready;  /* transactions initialised */
    _Atomic int assigned;   /* the group has given this member its partitions once */
    _Atomic int partitions; /* assigned now */
    _Atomic int alive;
    mc_metric_t *in, *out, *removes, *dlq, *aborted, *lag, *dups, *rebuilt;
    const mc_tracer_t *tracer; /* NULL: no spans */
    mc_span_t *spans;       /* with an exporter: the open batch's spans, one per change */
    int64_t *read_ns;       /* with an exporter: when each change of the batch was read */
};

static long cs__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void cs__dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    /* A failed delivery makes the transaction abortable; the commit reports it. */
    if (msg->err)
        MC_WARN("authz: delivery to %s failed: %s", rd_kafka_topic_name(msg->rkt),
                rd_kafka_err2str(msg->err));
}

/*
 * Refills the dedupe window of each assigned partition whose window does not end at its
 * committed offset c (a fresh start, or another member committed it since): reads the
 * events [c - window, c) back from the changes topic. Then an event republished by the
 * relay is recognised across an authz restart or a rebalance as well.
 */
static void cs__rebuild(change_stream_t *cs, const rd_kafka_topic_partition_list_t *assigned)
{
    long window = dedupe_window(cs->dedupe);
    rd_kafka_topic_partition_list_t *parts, *reads;
    int64_t *ends;
    int pending = 0;
    long t0 = cs__now_ms(), read = 0;

    if (window == 0 || assigned->cnt == 0)
        return;
    parts = rd_kafka_topic_partition_list_copy(assigned);
    reads = rd_kafka_topic_partition_list_new(assigned->cnt);
    ends = calloc((size_t)assigned->cnt, sizeof *ends);
    if (!ends)
        goto out;
    rd_kafka_resp_err_t rc = rd_kafka_committed(cs->consumer, parts, CS_REBUILD_TIMEOUT_MS);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t c = rc == RD_KAFKA_RESP_ERR_NO_ERROR && !p->err && p->offset >= 0 ? p->offset : -1;
        int64_t lo, hi;
        MC_DEBUG("authz: partition %d committed at %lld (%s), window ends at %lld",
                 p->partition, (long long)c, rd_kafka_err2str(rc ? rc : p->err),
                 (long long)dedupe_end(cs->dedupe, p->partition));
        if (c >= 0 && dedupe_end(cs->dedupe, p->partition) == c)
            continue; /* this member committed it last: the window is current */
        dedupe_reset(cs->dedupe, p->partition, c);
        if (c <= 0)
            continue;
        rd_kafka_resp_err_t wrc = rd_kafka_query_watermark_offsets(
            cs->reader, p->topic, p->partition, &lo, &hi, CS_REBUILD_TIMEOUT_MS);
        if (wrc) {
            MC_WARN("authz: partition %d: watermarks: %s; its window starts empty", p->partition,
                    rd_kafka_err2str(wrc));
            continue;
        }
        int64_t from = c - window > lo ? c - window : lo;
        if (from >= c)
            continue;
        rd_kafka_topic_partition_list_add(reads, p->topic, p->partition)->offset = from;
        ends[reads->cnt - 1] = c;
        pending++;
    }
    if (pending == 0)
        goto out;
    if ((rc = rd_kafka_assign(cs->reader, reads)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        MC_WARN("authz: reading recent ce_ids back: %s", rd_kafka_err2str(rc));
        goto out;
    }
    while (pending > 0 && cs__now_ms() - t0 < CS_REBUILD_TIMEOUT_MS) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cs->reader, 100);
        if (!m)
            continue;
        for (int i = 0; i < reads->cnt; i++) {
            rd_kafka_topic_partition_t *r = &reads->elems[i];
            if (r->partition != m->partition || r->offset == RD_KAFKA_OFFSET_END)
                continue;
            char id[128];
            if (!m->err && m->offset < ends[i] &&
                mc_kafka_header(m, MC_HEADER_CE_ID, id, sizeof id) == MC_OK) {
                dedupe_push(cs->dedupe, m->partition, m->offset, id);
                read++;
            }
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || (!m->err && m->offset + 1 >= ends[i])) {
                r->offset = RD_KAFKA_OFFSET_END; /* done */
                pending--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(cs->reader, NULL);
    /* dedupe_reset set each window's end to the committed offset; it stays there. */
    if (pending > 0)
        MC_WARN("authz: %d partition(s) not read back within %d ms: repeats of their older "
                "events are not recognised", pending, CS_REBUILD_TIMEOUT_MS);
    mc_metric_add(cs->rebuilt, (double)read);
    MC_INFO("authz: read back %ld recent ce_ids of %d partition(s) in %ld ms", read, reads->cnt,
            cs__now_ms() - t0);
out:
    free(ends);
    rd_kafka_topic_partition_list_destroy(reads);
    rd_kafka_topic_partition_list_destroy(parts);
}

/*
 * The group's static members now: a JSON object mapping each group.instance.id to the
 * member id that holds it; NULL when the broker cannot say within CS_FENCE_TIMEOUT_MS.
 */
static json_t *cs__members(change_stream_t *cs)
{
    const char *groups[] = {cs->group_id};
    rd_kafka_queue_t *q = rd_kafka_queue_new(cs->reader);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(cs->reader, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    json_t *out = NULL;
    char why[256];
    rd_kafka_AdminOptions_set_request_timeout(o, CS_FENCE_TIMEOUT_MS, why, sizeof why);
    rd_kafka_DescribeConsumerGroups(cs->reader, groups, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, CS_FENCE_TIMEOUT_MS + 1000);
    const rd_kafka_DescribeConsumerGroups_result_t *res =
        ev ? rd_kafka_event_DescribeConsumerGroups_result(ev) : NULL;
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **g =
        res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n) : NULL;
    if (!ev || rd_kafka_event_error(ev) || n != 1 || rd_kafka_ConsumerGroupDescription_error(g[0])) {
        MC_WARN("authz: describing group %s: %s", cs->group_id,
                !ev ? "timed out"
                    : rd_kafka_event_error(ev)
                          ? rd_kafka_event_error_string(ev)
                          : n == 1 ? rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(g[0]))
                                   : "no answer");
    } else if ((out = json_object())) {
        for (size_t i = 0; i < rd_kafka_ConsumerGroupDescription_member_count(g[0]); i++) {
            const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(g[0], i);
            const char *id = rd_kafka_MemberDescription_group_instance_id(m);
            const char *member = rd_kafka_MemberDescription_consumer_id(m);
            if (id && *id)
                json_object_set_new_nocheck(out, id, json_string(member ? member : ""));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return out;
}

/*
 * Aborts the open transaction of every member that was in the group at the last
 * assignment and is gone now (its session expired: killed, or stopped): a new producer
 * under its transactional id (= its group.instance.id) fences it, and the broker aborts
 * what it left open. Without this, read_committed readers of every partition it wrote
 * would wait until the broker times the transaction out (transaction.timeout.ms, then up
 * to transaction.abort.timed.out.transaction.cleanup.interval.ms more, 10 s by default).
 * A member that was only slow finds itself fenced and rejoins (cs__renew_producer).
 */
static void cs__fence_vanished(change_stream_t *cs)
{
    json_t *now = cs__members(cs);
    const char *id;
    json_t *v;
    if (!now)
        return;
    json_object_foreach(cs->members, id, v) {
        if (strcmp(id, cs->self_id) == 0 || json_object_get(now, id))
            continue;
        char err[512];
        long t0 = cs__now_ms();
        const char *forced[] = {"transactional.id", id, "client.id", "modelcast-authz-fence",
                                NULL};
        rd_kafka_conf_t *conf =
            mc_kafka_conf_new_for(RD_KAFKA_PRODUCER, NULL, forced, NULL, err, sizeof err);
        rd_kafka_t *p = conf ? mc_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err) : NULL;
        rd_kafka_error_t *e = p ? rd_kafka_init_transactions(p, CS_FENCE_TIMEOUT_MS) : NULL;
        if (!p)
            MC_WARN("authz: fencing %s: %s", id, err);
        else if (e)
            MC_WARN("authz: fencing %s: %s", id, rd_kafka_error_string(e));
        else
            MC_INFO("authz: member %s left the group: fenced its transactional id, which "
                    "aborted any transaction it left open (%ld ms)", id, cs__now_ms() - t0);
        if (e)
            rd_kafka_error_destroy(e);
        if (p)
            rd_kafka_destroy(p);
    }
    json_decref(cs->members);
    cs->members = now;
}

static void cs__rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    change_stream_t *cs = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* Assigned first: the consumer starts fetching while the vanished members are
         * fenced and the dedupe windows are read back; nothing is processed before both. */
        rd_kafka_resp_err_t rc = rd_kafka_assign(rk, parts);
        if (rc)
            MC_WARN("authz: assign: %s", rd_kafka_err2str(rc));
        cs__fence_vanished(cs);
        cs__rebuild(cs, parts);
        atomic_store(&cs->partitions, parts->cnt);
        atomic_store(&cs->assigned, 1);
        MC_INFO("authz: %d partition(s) of %s assigned", parts->cnt, cs->changes_topic);
        return;
    }
    /* Revoked (or a rebalance error): what the open batch read is no longer ours to commit. */
    cs->revoked = 1;
    rd_kafka_assign(rk, NULL);
    atomic_store(&cs->partitions, 0);
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        MC_INFO("authz: %d partition(s) revoked", parts->cnt);
    else
        MC_WARN("authz: rebalance: %s", rd_kafka_err2str(err));
}

/*
 * The consumer's error callback (served by its polls, in order with its other events): logs
 * as mc_kafka does, and notes when the broker was unreachable, which a consumer fence shortly
 * after is attributed to (cs__recover).
 */
static void cs__consumer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    change_stream_t *cs = opaque;
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        cs->broker_away = cs__now_ms();
    mc_kafka_log_error(rk, err, reason);
}

/* The group member under this instance's group.instance.id (not yet subscribed). NULL with err. */
static rd_kafka_t *cs__consumer_new(change_stream_t *cs, char *err, size_t errlen)
{
    const char *cdefaults[] = {"auto.offset.reset", "earliest", "client.id", "modelcast-authz",
                               "session.timeout.ms", CS_SESSION_TIMEOUT_MS,
                               "heartbeat.interval.ms", CS_HEARTBEAT_MS, NULL};
    /* Static membership under the transactional id: one stable identity per instance. */
    const char *cforced[] = {"group.id", cs->group_id, "group.instance.id", cs->self_id,
                             "enable.auto.commit", "false", "isolation.level", "read_committed",
                             NULL};
    rd_kafka_conf_t *cconf =
        mc_kafka_conf_new_for(RD_KAFKA_CONSUMER, cdefaults, cforced, NULL, err, errlen);
    if (!cconf)
        return NULL;
    rd_kafka_conf_set_rebalance_cb(cconf, cs__rebalance);
    rd_kafka_conf_set_error_cb(cconf, cs__consumer_error);
    rd_kafka_conf_set_opaque(cconf, cs);
    return mc_kafka_new(RD_KAFKA_CONSUMER, cconf, err, errlen);
}

/*
 * The transactional producer under this instance's transactional id. NULL with err.
 *
 * retry.backoff.ms 5 (librdkafka's default is 100): the broker writes a transaction's commit
 * markers after it answers EndTxn, and until they are written it refuses the next
 * transaction's AddPartitionsToTxn with CONCURRENT_TRANSACTIONS, a retriable error. A busy
 * stream begins its next transaction at once, so with the default every transaction waited
 * 100 ms there: 100 changes/s to 1,000 subscribers measured p50 150 ms end to end with 100,
 * 43 ms with 5 (bench/pipeline, docs/performance.md).
 */
static rd_kafka_t *cs__producer_new(change_stream_t *cs, char *err, size_t errlen)
{
    const char *pdefaults[] = {"compression.type", "lz4", "linger.ms", "1", "client.id",
                               "modelcast-authz", "partitioner", "murmur2_random",
                               "transaction.timeout.ms", CS_TRANSACTION_TIMEOUT_MS,
                               "retry.backoff.ms", "5", NULL};
    const char *pforced[] = {"transactional.id", cs->self_id, "enable.idempotence", "true",
                             NULL};
    rd_kafka_conf_t *pconf =
        mc_kafka_conf_new_for(RD_KAFKA_PRODUCER, pdefaults, pforced, NULL, err, errlen);
    if (!pconf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(pconf, cs__dr);
    return mc_kafka_new(RD_KAFKA_PRODUCER, pconf, err, errlen);
}

change_stream_t *change_stream_new(const change_stream_opts_t *opts, mc_metrics_t *metrics,
                                   char *err, size_t errlen)
{
    change_stream_t *cs = calloc(1, sizeof *cs);
    if (!cs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cs->changes_topic = strdup(opts->changes_topic);
    cs->deliveries_topic = strdup(opts->deliveries_topic);
    cs->dlq_topic = strdup(opts->dlq_topic);
    cs->policy = opts->policy;
    cs->batch = opts->batch;
    cs->batch_window_ms = opts->batch_window_ms;
    cs->on_stop = opts->on_stop;
    cs->on_stop_arg = opts->on_stop_arg;
    cs->dedupe = dedupe_new(opts->dedupe_window);
    cs->group_id = strdup(opts->group_id);
    cs->self_id = strdup(opts->transactional_id);
    cs->members = json_object();
    cs->tracer = opts->tracer;
    if (cs->tracer && cs->tracer->export &&
        (!(cs->spans = calloc((size_t)cs->batch, sizeof *cs->spans)) ||
         !(cs->read_ns = calloc((size_t)cs->batch, sizeof *cs->read_ns)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!cs->changes_topic || !cs->deliveries_topic || !cs->dlq_topic || !cs->dedupe ||
        !cs->group_id || !cs->self_id || !cs->members) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    if (!(cs->consumer = cs__consumer_new(cs, err, errlen)))
        goto fail;

    const char *rdefaults[] = {"client.id", "modelcast-authz-dedupe", NULL};
    /* librdkafka wants a group.id even for assign(); this one never joins or commits. */
    const char *rforced[] = {"group.id", "modelcast-authz-dedupe-reader", "enable.auto.commit",
                             "false", "enable.partition.eof", "true", "isolation.level",
                             "read_committed", NULL};
    rd_kafka_conf_t *rconf =
        mc_kafka_conf_new_for(RD_KAFKA_CONSUMER, rdefaults, rforced, NULL, err, errlen);
    if (!rconf || !(cs->reader = mc_kafka_new(RD_KAFKA_CONSUMER, rconf, err, errlen)))
        goto fail;

    if (!(cs->producer = cs__producer_new(cs, err, errlen)))
        goto fail;

    cs->in = mc_metrics_counter(metrics, "modelcast_authz_changes_in_total",
                                "Change events read.", NULL);
    cs->out = mc_metrics_counter(metrics, "modelcast_authz_deliveries_out_total",
                                 "Deliveries written (committed or not).", NULL);
    cs->removes = mc_metrics_counter(metrics, "modelcast_authz_removes_total",
                                     "remove deliveries (a record left a channel).", NULL);
    cs->dlq = mc_metrics_counter(metrics, "modelcast_authz_dlq_total",
                                 "Change events sent to the dead-letter topic.", NULL);
    cs->aborted = mc_metrics_counter(metrics, "modelcast_authz_transactions_aborted_total",
                                     "Transactions aborted and retried.", NULL);
    cs->lag = mc_metrics_gauge(metrics, "modelcast_authz_lag",
                               "Change events not yet read on the assigned partitions.", NULL);
    cs->dups = mc_metrics_counter(metrics, "modelcast_authz_duplicates_dropped_total",
                                  "Change events dropped as repeats of a recent ce_id.", NULL);
    cs->rebuilt = mc_metrics_counter(metrics, "modelcast_authz_dedupe_read_back_total",
                                     "Recent ce_ids read back on partition assignment.", NULL);
    return cs;
fail:
    change_stream_free(cs);
    return NULL;
}

/* Logs an rd_kafka_error_t, destroys it and says whether it is fatal. */
static int cs__error(const char *what, rd_kafka_error_t *error)
{
    int fatal = rd_kafka_error_is_fatal(error);
    MC_LOG(fatal ? MC_LOG_ERROR : MC_LOG_WARN, "authz: %s: %s", what,
           rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return fatal;
}

/*
 * Commits or aborts the open transaction, calling finish again while the error is
 * retriable (a timeout: the operation goes on in the background and a new call picks up
 * its outcome), as librdkafka's transactional examples do. Returns NULL or the last error.
 */
static rd_kafka_error_t *cs__finish(change_stream_t *cs,
                                    rd_kafka_error_t *(*finish)(rd_kafka_t *, int),
                                    const char *what)
{
    rd_kafka_error_t *error = NULL;
    for (int attempt = 0; attempt < CS_FINISH_TRIES; attempt++) {
        rd_kafka_error_destroy(error);
        error = finish(cs->producer, CS_TXN_TIMEOUT_MS);
        if (!error || !rd_kafka_error_is_retriable(error) || !atomic_load(&cs->running))
            break;
        MC_WARN("authz: %s: %s; retrying", what, rd_kafka_error_string(error));
    }
    return error;
}

/*
 * Adds the batch's input offsets to the open transaction, calling again while the error is
 * retriable (a broker restarting, the coordinator moving), as for cs__finish. Returns NULL or
 * the last error.
 */
static rd_kafka_error_t *cs__send_offsets(change_stream_t *cs,
                                          const rd_kafka_topic_partition_list_t *offsets,
                                          const rd_kafka_consumer_group_metadata_t *cgmd)
{
    rd_kafka_error_t *error = NULL;
    for (int attempt = 0; attempt < CS_FINISH_TRIES; attempt++) {
        rd_kafka_error_destroy(error);
        error = rd_kafka_send_offsets_to_transaction(cs->producer, offsets, cgmd,
                                                     CS_TXN_TIMEOUT_MS);
        if (!error || !rd_kafka_error_is_retriable(error) || !atomic_load(&cs->running))
            break;
        MC_WARN("authz: send offsets to transaction: %s; retrying",
                rd_kafka_error_string(error));
        struct timespec pause = {0, CS_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    return error;
}

/* Rewinds the assigned partitions to their committed offsets (after an abort). */
static void cs__rewind(change_stream_t *cs)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(cs->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    if (rd_kafka_committed(cs->consumer, parts, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *p = &parts->elems[i];
            if (p->offset < 0)
                p->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_error_t *e = rd_kafka_seek_partitions(cs->consumer, parts, 10000);
        if (e) {
            MC_WARN("authz: rewinding after abort: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* The trace context a change's deliveries (or dead letter) carry on. */
typedef struct {
    char traceparent[MC_TRACEPARENT_LEN + 1];
    char tracestate[MC_TRACESTATE_MAX + 1];   /* "" when none */
} cs_trace_t;

/*
 * Produces one message into the open transaction: a delivery with the trace headers of tr,
 * or (reason not NULL) the dead letter of change msg: its headers as they came, and mc_error.
 */
static void cs__produce(change_stream_t *cs, const char *topic, const char *key,
                        const void *value, size_t len, const cs_trace_t *tr,
                        const rd_kafka_message_t *msg, const char *reason)
{
    rd_kafka_resp_err_t rc;
    rd_kafka_headers_t *hdrs = NULL, *orig = NULL;
    if (reason && rd_kafka_message_headers(msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy(orig);
    else if (!reason)
        hdrs = rd_kafka_headers_new(2);
    else
        hdrs = rd_kafka_headers_new(1);
    if (!reason) {
        rd_kafka_header_add(hdrs, MC_HEADER_CE_TRACEPARENT, -1, tr->traceparent, -1);
        if (tr->tracestate[0])
            rd_kafka_header_add(hdrs, MC_HEADER_CE_TRACESTATE, -1, tr->tracestate, -1);
    } else {
        rd_kafka_header_add(hdrs, MC_HEADER_ERROR, -1, reason, -1);
    }
    for (;;) {
        rc = rd_kafka_producev(cs->producer, RD_KAFKA_V_TOPIC(topic),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                               RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_HEADERS(hdrs),
                               RD_KAFKA_V_END);
        if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(cs->producer, 50);
    }
    /* Any other error leaves the transaction abortable; commit will report it. */
    if (rc) {
        rd_kafka_headers_destroy(hdrs); /* taken by librdkafka only on success */
        MC_WARN("authz: produce to %s: %s", topic, rd_kafka_err2str(rc));
    }
}

/*
 * Begins the "authz route + commit" span of change i of the batch (msg): the child of its
 * ce_traceparent, or the root of a new trace when it has none or an invalid one. Fills tr
 * with what its deliveries carry on and tid with the trace-id for the log.
 */
static mc_span_t *cs__trace_begin(change_stream_t *cs, const rd_kafka_message_t *msg, int i,
                                  mc_span_t *local, const char *event_id, cs_trace_t *tr,
                                  char *tid)
{
    mc_trace_ctx_t parent;
    char text[128];
    mc_span_t *span = cs->spans ? &cs->spans[i] : local;
    int have = mc_kafka_header(msg, MC_HEADER_CE_TRACEPARENT, text, sizeof text) == MC_OK &&
               mc_trace_parse(text, &parent) == MC_OK;
    mc_span_begin(cs->tracer, span, "authz route + commit", MC_SPAN_CONSUMER,
                  have ? &parent : NULL);
    if (span->recording) {
        span->start_ns = cs->read_ns[i];
        mc_span_attr_str(span, "modelcast.event_id", event_id);
        mc_span_attr_str(span, "messaging.destination.name", rd_kafka_topic_name(msg->rkt));
        mc_span_attr_int(span, "messaging.kafka.partition", msg->partition);
        mc_span_attr_int(span, "messaging.kafka.offset", msg->offset);
    }
    mc_trace_format(&span->ctx, tr->traceparent);
    tr->traceparent[MC_TRACEPARENT_LEN] = '\0';
    /* a tracestate only with the traceparent it came with; one too long is cut here and
     * then refused by the check */
    char raw[MC_TRACESTATE_MAX + 2];
    if (!have || mc_kafka_header(msg, MC_HEADER_CE_TRACESTATE, raw, sizeof raw) != MC_OK ||
        mc_tracestate_check(raw, tr->tracestate, sizeof tr->tracestate) != MC_OK)
        tr->tracestate[0] = '\0';
    mc_trace_id_hex(&span->ctx, tid);
    return span;
}

/*
 * Writes the deliveries of one change event (change i of the batch, or its dead letter) into
 * the open transaction, unless the event repeats a recent one (same ce_id on its partition).
 */
static void cs__transform(change_stream_t *cs, const rd_kafka_message_t *msg, int i)
{
    char event_id[128], reason[256], tid[33];
    json_t *deliveries = NULL;
    cs_trace_t tr;
    mc_span_t local;
    int have_id = mc_kafka_header(msg, MC_HEADER_CE_ID, event_id, sizeof event_id) == MC_OK &&
                  event_id[0];
    if (!have_id)
        event_id[0] = '\0';
    mc_span_t *span = cs__trace_begin(cs, msg, i, &local, event_id, &tr, tid);
    mc_log_ctx_t lc = {event_id, tid};
    mc_metric_add(cs->in, 1);
    if (have_id) {
        int repeat = dedupe_seen(cs->dedupe, msg->partition, event_id);
        /* Repeats are staged too: the window counts events, the copies included. */
        if (dedupe_stage(cs->dedupe, msg->partition, msg->offset, event_id) != MC_OK) {
            cs->transform_failed = 1;
            return;
        }
        if (repeat) {
            MC_LOG_CTX(MC_LOG_DEBUG, &lc, "authz: change at %s[%d]@%lld repeats ce_id %s: dropped",
                       rd_kafka_topic_name(msg->rkt), msg->partition, (long long)msg->offset,
                       event_id);
            mc_metric_add(cs->dups, 1);
            mc_span_attr_int(span, "modelcast.duplicate", 1);
            return;
        }
    }
    int rc = delivery_route(cs->policy, msg->payload, msg->len, have_id ? event_id : NULL,
                            &deliveries, reason, sizeof reason);
    if (rc != MC_OK) {
        char key[256] = "";
        if (msg->key && msg->key_len < sizeof key) {
            memcpy(key, msg->key, msg->key_len);
            key[msg->key_len] = '\0';
        }
        MC_LOG_CTX(MC_LOG_WARN, &lc, "authz: change at %s[%d]@%lld goes to %s: %s",
                   rd_kafka_topic_name(msg->rkt), msg->partition, (long long)msg->offset,
                   cs->dlq_topic, reason);
        cs__produce(cs, cs->dlq_topic, key[0] ? key : NULL, msg->payload, msg->len, &tr, msg,
                    reason);
        mc_metric_add(cs->dlq, 1);
        span->error = 1;
        return;
    }
    size_t k;
    json_t *d;
    json_array_foreach(deliveries, k, d) {
        /* Serialized into one reused buffer (the producer copies it): no malloc per delivery. */
        size_t len = json_dumpb(d, cs->buf, cs->bufsize, JSON_COMPACT);
        if (len > cs->bufsize) {
            char *bigger = realloc(cs->buf, len);
            if (!bigger) {
                cs->transform_failed = 1;
                break;
            }
            cs->buf = bigger;
            cs->bufsize = len;
            len = json_dumpb(d, cs->buf, cs->bufsize, JSON_COMPACT);
        }
        if (len == 0) {
            cs->transform_failed = 1;
            break;
        }
        const char *channel = json_string_value(json_object_get(d, MC_FIELD_CHANNEL));
        cs__produce(cs, cs->deliveries_topic, channel, cs->buf, len, &tr, NULL, NULL);
        mc_metric_add(cs->out, 1);
        if (strcmp(json_string_value(json_object_get(d, MC_FIELD_OP)), MC_OP_REMOVE) == 0)
            mc_metric_add(cs->removes, 1);
    }
    mc_span_attr_int(span, "modelcast.deliveries", (long long)json_array_size(deliveries));
    MC_LOG_CTX(MC_LOG_DEBUG, &lc, "authz: change at %s[%d]@%lld: %zu deliveries",
               rd_kafka_topic_name(msg->rkt), msg->partition, (long long)msg->offset,
               json_array_size(deliveries));
    json_decref(deliveries);
}

/* The batch's n changes are committed: their spans end now. */
static void cs__trace_commit(change_stream_t *cs, int n)
{
    int64_t now = mc_trace_now_ns();
    for (int i = 0; cs->spans && i < n; i++)
        mc_span_end(cs->tracer, &cs->spans[i], now);
}

static void cs__measure_lag(change_stream_t *cs)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t lag = 0;
    if (rd_kafka_assignment(cs->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    rd_kafka_position(cs->consumer, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(cs->consumer, parts->elems[i].topic,
                                           parts->elems[i].partition, &lo, &hi) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            parts->elems[i].offset >= 0 && hi > parts->elems[i].offset)
            lag += hi - parts->elems[i].offset;
    }
    mc_metric_set(cs->lag, (double)lag);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Logs the consumer's fatal error (a fenced group.instance.id, for one). */
static void cs__consumer_fatal(change_stream_t *cs)
{
    char why[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(cs->consumer, why, sizeof why);
    MC_ERROR("authz: consumer fatal error %s: %s", rd_kafka_err2name(orig), why);
}

/*
 * Reads one batch into msgs: waits up to CS_POLL_MS for a first change, then takes what
 * has already been fetched (with batch_window_ms 0) or what arrives within the window,
 * up to cs->batch. A batch interrupted by a revocation starts over. Returns the number
 * of messages (0: none yet), or -2 on a fatal consumer error.
 */
static int cs__gather(change_stream_t *cs, rd_kafka_message_t **msgs)
{
    int n = 0;
    long window_end = 0;
    cs->revoked = 0;
    while (n < cs->batch && atomic_load(&cs->running)) {
        long wait = n == 0 ? CS_POLL_MS : window_end - cs__now_ms();
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cs->consumer, wait > 0 ? (int)wait : 0);
        if (cs->revoked) {
            /* Partitions were taken away during this poll: their messages are another
             * member's now (the new assignment re-fetches from committed offsets). */
            for (int i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
            n = 0;
            cs->revoked = 0;
        }
        if (!m) {
            if (n > 0 || wait <= 0 || cs__now_ms() >= window_end)
                break;
            continue;
        }
        if (m->err) {
            int fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
            if (fatal)
                cs__consumer_fatal(cs);
            else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                MC_WARN("authz: consume: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (fatal) {
                for (int i = 0; i < n; i++)
                    rd_kafka_message_destroy(msgs[i]);
                return -2;
            }
            continue;
        }
        if (n == 0)
            window_end = cs__now_ms() + cs->batch_window_ms;
        if (cs->read_ns)
            cs->read_ns[n] = mc_trace_now_ns();
        msgs[n++] = m;
    }
    return n;
}

/* One batch in one transaction. Returns 0 on success or nothing to do, -1 to retry, -2 fatal. */
static int cs__batch(change_stream_t *cs)
{
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof *p of an array of pointers */
    rd_kafka_message_t **msgs = calloc((size_t)cs->batch, sizeof *msgs);
    int n = 0, rc = 0;
    rd_kafka_error_t *error;

    if (!msgs)
        return -1;
    n = cs__gather(cs, msgs);
    if (n < 0) {
        free(msgs);
        return -2;
    }
    if (n == 0)
        goto out;

    if ((error = rd_kafka_begin_transaction(cs->producer))) {
        /* A transaction still open here (or a fenced producer) will not heal by itself. */
        int retriable = rd_kafka_error_is_retriable(error);
        rc = cs__error("begin transaction", error) || !retriable ? -2 : -1;
        goto rewind;
    }
    cs->transform_failed = 0;
    for (int i = 0; i < n; i++)
        cs__transform(cs, msgs[i], i);

    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
            offsets, rd_kafka_topic_name(msgs[i]->rkt), msgs[i]->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(offsets, rd_kafka_topic_name(msgs[i]->rkt),
                                                  msgs[i]->partition);
        if (msgs[i]->offset + 1 > p->offset)
            p->offset = msgs[i]->offset + 1;
    }
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(cs->consumer);
    error = cs__send_offsets(cs, offsets, cgmd);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (error && !rd_kafka_error_is_fatal(error) && !rd_kafka_error_txn_requires_abort(error)) {
        /* Still retriable after the retries (the coordinator away, a broker restarting):
         * nothing is committed yet, so the open transaction is aborted and the batch redone. */
        cs__error("send offsets to transaction", error);
        rc = -1;
        goto abort;
    }
    if (!error && cs->transform_failed) {
        /* A delivery could not be produced: commit nothing of this batch, redo it. */
        rc = -1;
        goto abort;
    }
    if (!error)
        error = cs__finish(cs, rd_kafka_commit_transaction, "commit transaction");
    if (!error) {
        cs__trace_commit(cs, n);
        if (dedupe_commit(cs->dedupe) != MC_OK)
            MC_WARN("authz: out of memory remembering ce_ids: a repeat may be delivered again");
        goto out;
    }
    if (!rd_kafka_error_txn_requires_abort(error)) {
        /* Neither committed nor abortable (fatal, or the retries ran out): the producer is
         * in an unknown state; stop, so that health checks see it and a restart fences it. */
        cs__error("commit transaction", error);
        rc = -2;
        goto out;
    }
    cs__error("commit transaction", error);
    rc = -1;
abort:
    /* Nothing of an aborted batch is visible to read_committed readers and its offsets were
     * not committed: rewind and redo it. */
    if ((error = cs__finish(cs, rd_kafka_abort_transaction, "abort transaction"))) {
        cs__error("abort transaction", error);
        rc = -2;
        goto out;
    }
    mc_metric_add(cs->aborted, 1);
rewind:
    cs__rewind(cs);
out:
    dedupe_rollback(cs->dedupe); /* whatever was not committed is redone */
    for (int i = 0; i < n; i++)
        rd_kafka_message_destroy(msgs[i]);
    free(msgs);
    return rc;
}

/* Initialises transactions, retrying while the broker is unreachable. 0, or -2 if fatal. */
static int cs__init_transactions(change_stream_t *cs)
{
    rd_kafka_error_t *error;
    while (atomic_load(&cs->running) &&
           (error = rd_kafka_init_transactions(cs->producer, CS_TXN_TIMEOUT_MS))) {
        if (cs__error("init transactions", error))
            return -2;
        struct timespec pause = {0, CS_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    return 0;
}

/*
 * Whether this instance's group.instance.id is held by this process's consumer: the group
 * shows it under the consumer's own member id. A broker restart or a long pause expires the
 * session, and the consumer rejoins under a new member id: this waits for that (up to
 * CS_MEMBERSHIP_WAIT_MS), serving the consumer meanwhile (rebalance callbacks run; what it
 * fetched is dropped, the caller rewinds to the committed offsets). 0 as soon as the
 * consumer is fenced (another process joined under the id), or when the wait ends first.
 */
static int cs__own_membership(change_stream_t *cs)
{
    char why[256];
    long deadline = cs__now_ms() + CS_MEMBERSHIP_WAIT_MS, next_look = 0;
    while (atomic_load(&cs->running) && cs__now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cs->consumer, CS_POLL_MS);
        if (m)
            rd_kafka_message_destroy(m);
        if (rd_kafka_fatal_error(cs->consumer, why, sizeof why)) {
            MC_ERROR("authz: the consumer of %s was fenced too: %s", cs->self_id, why);
            return 0;
        }
        if (cs__now_ms() < next_look)
            continue;
        next_look = cs__now_ms() + CS_RETRY_MS;
        char *mine = rd_kafka_memberid(cs->consumer);
        int own = 0;
        if (mine && *mine) {
            json_t *now = cs__members(cs);
            const char *holder = json_string_value(json_object_get(now, cs->self_id));
            own = holder && strcmp(holder, mine) == 0;
            if (own)
                MC_INFO("authz: the group shows %s held by this process's consumer (member %s)",
                        cs->self_id, mine);
            json_decref(now);
        }
        if (mine)
            rd_kafka_mem_free(cs->consumer, mine);
        if (own)
            return 1;
    }
    return 0;
}

/*
 * A fenced producer is replaced, and the batch redone from the committed offsets, once this
 * process's consumer is shown to hold the instance's group.instance.id (cs__own_membership):
 * then no other process runs under the id, and the fence came from the broker (a transaction
 * that was open across a broker restart and is older than transaction.timeout.ms is aborted
 * with an epoch bump) or from a peer that took this member for dead (its session had
 * expired: a pause, a restart racing the peer's fence) and aborted its open transaction. The
 * new producer's init_transactions aborts whatever the old one left open. Returns 1 to go on.
 */
static int cs__renew_producer(change_stream_t *cs, const char *why)
{
    char err[512];
    MC_WARN("authz: the producer of %s was fenced (%s): checking that this process still "
            "holds the id in group %s", cs->self_id, why, cs->group_id);
    if (!cs__own_membership(cs)) {
        MC_ERROR("authz: %s is not held by this process's consumer: another process runs "
                 "under this id", cs->self_id);
        return 0;
    }
    rd_kafka_t *fresh = cs__producer_new(cs, err, sizeof err);
    if (!fresh) {
        MC_ERROR("authz: %s", err);
        return 0;
    }
    rd_kafka_destroy(cs->producer);
    cs->producer = fresh;
    if (cs__init_transactions(cs) != 0)
        return 0;
    MC_WARN("authz: a new producer under %s redoes the batch from the committed offsets",
            cs->self_id);
    cs__rewind(cs);
    return 1;
}

/*
 * A consumer fenced out of the group (FENCED_INSTANCE_ID: its member id was replaced under
 * its group.instance.id) while the producer was not is replaced by a new member under the
 * same id, which rejoins and takes the instance's partitions from their committed offsets.
 * After a broker restart the consumer's own rejoin can replace its member id while a request
 * under the old one is still answered; a process started under the same id would have fenced
 * the producer as well (init_transactions), and fences this consumer again after its rejoin.
 * Returns 1 to go on.
 */
static int cs__renew_consumer(change_stream_t *cs, const char *why)
{
    char err[512];
    const char *topics[] = {cs->changes_topic};
    MC_WARN("authz: the consumer of %s was fenced (%s) while its producer was not: joining "
            "again under the id", cs->self_id, why);
    rd_kafka_consumer_close(cs->consumer);
    rd_kafka_destroy(cs->consumer);
    atomic_store(&cs->partitions, 0);
    if (!(cs->consumer = cs__consumer_new(cs, err, sizeof err)) ||
        mc_kafka_subscribe(cs->consumer, topics, 1, err, sizeof err) != MC_OK) {
        MC_ERROR("authz: %s", err);
        return 0;
    }
    return 1;
}

/*
 * After a fatal error of the stream: a fence of this instance's ids (the producer's
 * transactional id or the consumer's group.instance.id, one of them) is survived in-process
 * by replacing the fenced client, each at most once every CS_RENEW_EVERY_MS. Exactly once
 * still holds whatever the cause: every transaction of the old clients is aborted or
 * refused, and the group generation guards every offset commit. A second process under the
 * same ids fences both clients, and fences again what was replaced (the consumers fence each
 * other within a few heartbeats, traffic or not): both fenced, a fence of the same client
 * within CS_RENEW_EVERY_MS of its replacement, or a membership that cannot be shown stops the
 * stream (exit 1). A consumer fence within CS_REJOIN_GRACE_MS of the broker being
 * unreachable (a broker restart expires the session; the consumer's own rejoin can then fence
 * it: a request under the old member id answered after it) is replaced whatever the last
 * replacement, once per outage. Any other fatal error stops the stream. Returns 1 to go on.
 */
static int cs__recover(change_stream_t *cs)
{
    char pwhy[256] = "", cwhy[256] = "";
    rd_kafka_resp_err_t perr = rd_kafka_fatal_error(cs->producer, pwhy, sizeof pwhy);
    rd_kafka_resp_err_t cerr = rd_kafka_fatal_error(cs->consumer, cwhy, sizeof cwhy);
    int pfenced = perr == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                  perr == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
                  perr == RD_KAFKA_RESP_ERR__FENCED;
    int cfenced = cerr == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
    long now = cs__now_ms();
    if ((perr && !pfenced) || (cerr && !cfenced) || (!perr && !cerr))
        return 0;
    if (pfenced && cfenced) {
        MC_ERROR("authz: both the producer and the consumer of %s were fenced: another process "
                 "runs under this id", cs->self_id);
        return 0;
    }
    long *renewed = pfenced ? &cs->producer_renewed : &cs->consumer_renewed;
    int own_rejoin = cfenced && cs->broker_away && now - cs->broker_away < CS_REJOIN_GRACE_MS;
    if (!own_rejoin && *renewed && now - *renewed < CS_RENEW_EVERY_MS) {
        MC_ERROR("authz: the %s of %s was fenced again within %d s (%s): another process runs "
                 "under this id", pfenced ? "producer" : "consumer", cs->self_id,
                 CS_RENEW_EVERY_MS / 1000, pfenced ? pwhy : cwhy);
        return 0;
    }
    *renewed = now;
    if (cfenced)
        cs->broker_away = 0;
    return pfenced ? cs__renew_producer(cs, pwhy) : cs__renew_consumer(cs, cwhy);
}

static void *cs__main(void *arg)
{
    change_stream_t *cs = arg;
    char err[512];
    long last_lag = 0;

    /* Joining the group goes on in the background while transactions are initialised (which
     * aborts what a previous process under this id left open); the assignment is taken at
     * the first poll, after both. init retries until the broker answers: it may be starting. */
    const char *topics[] = {cs->changes_topic};
    if (mc_kafka_subscribe(cs->consumer, topics, 1, err, sizeof err) != MC_OK) {
        MC_ERROR("authz: %s", err);
        goto dead;
    }
    if (cs__init_transactions(cs) != 0)
        goto dead;
    atomic_store(&cs->txn_ready, 1);
    MC_INFO("authz: streaming %s → %s", cs->changes_topic, cs->deliveries_topic);
    while (atomic_load(&cs->running)) {
        int rc = cs__batch(cs);
        if (rc == -2 && !cs__recover(cs))
            goto dead;
        if (rc == -1) {
            struct timespec pause = {0, CS_RETRY_MS * 1000000L};
            nanosleep(&pause, NULL);
        }
        if (cs__now_ms() - last_lag > 1000) {
            cs__measure_lag(cs);
            last_lag = cs__now_ms();
        }
    }
    return NULL;
dead:
    MC_ERROR("authz: the change stream stopped on a fatal error; restart the service");
    atomic_store(&cs->alive, 0);
    if (cs->on_stop)
        cs->on_stop(cs->on_stop_arg);
    return NULL;
}

int change_stream_start(change_stream_t *cs)
{
    atomic_store(&cs->running, 1);
    atomic_store(&cs->alive, 1);
    if (pthread_create(&cs->thread, NULL, cs__main, cs) != 0) {
        atomic_store(&cs->running, 0);
        atomic_store(&cs->alive, 0);
        return MC_ERR_IO;
    }
    cs->started = 1;
    return MC_OK;
}

int change_stream_ready(change_stream_t *cs)
{
    return atomic_load(&cs->alive) && atomic_load(&cs->txn_ready) && atomic_load(&cs->assigned);
}

int change_stream_partitions(change_stream_t *cs)
{
    return atomic_load(&cs->partitions);
}

int change_stream_alive(change_stream_t *cs)
{
    return atomic_load(&cs->alive);
}

void change_stream_free(change_stream_t *cs)
{
    if (!cs)
        return;
    if (cs->started) {
        atomic_store(&cs->running, 0);
        pthread_join(cs->thread, NULL);
    }
    if (cs->consumer) {
        rd_kafka_consumer_close(cs->consumer);
        rd_kafka_destroy(cs->consumer);
    }
    if (cs->producer)
        rd_kafka_destroy(cs->producer);
    if (cs->reader) {
        rd_kafka_consumer_close(cs->reader);
        rd_kafka_destroy(cs->reader);
    }
    dedupe_free(cs->dedupe);
    json_decref(cs->members);
    free(cs->group_id);
    free(cs->self_id);
    free(cs->changes_topic);
    free(cs->deliveries_topic);
    free(cs->dlq_topic);
    free(cs->buf);
    free(cs->spans);
    free(cs->read_ns);
    free(cs);
}
