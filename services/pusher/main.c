/* main.c - modelcast-pusher: reads settings, wires the feed to the workers, waits. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "feed.h"
#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_log.h"
#include "mc_metrics.h"
#include "pusher_config.h"
#include "authz_client.h"
#include "resume.h"
#include <curl/curl.h>
#include "ws_server.h"

/* The modules of one process; the callbacks between them go through here. */
typedef struct {
    ws_server_t **ws;
    size_t nws;
    feed_t *feed;
    resume_t *resume;
    authz_client_t *authz;
    atomic_long open_connections;
    atomic_int stopping;
} pusher_t;

static int main__feed_ready(void *arg)
{
    pusher_t *p = arg;
    return p->feed && feed_ready(p->feed);
}

/*
 * Feed sink: every worker gets the delivery. lws_write writes the WebSocket header into a
 * frame's headroom, so each worker gets its own copy (one memcpy per worker per delivery,
 * rather than one per connection at write time). Waits while a worker is full.
 */
static int main__sink(void *arg, pusher_frame_t *frame, const char *position)
{
    pusher_t *p = arg;
    (void)position;
    for (size_t i = 0; i < p->nws; i++) {
        pusher_frame_t *f = i + 1 == p->nws ? frame : pusher_frame_copy(frame);
        if (!f) {
            MC_ERROR("out of memory copying a delivery for worker %zu", i);
            continue;
        }
        while (ws_server_post(p->ws[i], f) != MC_OK) {
            if (atomic_load(&p->stopping)) {
                pusher_frame_unref(f);
                if (i + 1 < p->nws)
                    pusher_frame_unref(frame);
                return MC_OK;
            }
        }
    }
    return MC_OK;
}

/*
 * Raises the soft open-file limit to the hard one (each connection is a descriptor) and
 * warns when max_connections cannot fit.
 */
static void main__raise_nofile(long max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            MC_WARN("cannot raise the open-file limit from %lu: %s", (unsigned long)old,
                    strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)max_connections + 256 > rl.rlim_cur)
        MC_WARN("MC_MAX_CONNECTIONS=%ld does not fit the open-file limit %lu (minus ~256 "
                "for Kafka and the rest): run more instances or raise ulimit -Hn",
                max_connections, (unsigned long)rl.rlim_cur);
    else
        MC_INFO("open-file limit %lu", (unsigned long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    static const char *const kafka_defaults[] = {
        "client.id", "modelcast-pusher", "group.id", "modelcast-pusher", NULL};
    /* Every instance reads every partition from the live end and never commits. */
    static const char *const kafka_forced[] = {
        "enable.auto.commit", "false", "enable.auto.offset.store", "false",
        "isolation.level", "read_committed", "enable.partition.eof", "false", NULL};
    pusher_config_t conf;
    mc_log_level_t level = MC_LOG_INFO;
    mc_metrics_t *metrics = NULL;
    rd_kafka_conf_t *kconf;
    pusher_t app;
    sigset_t sigs;
    char err[512] = "";
    int sig = 0, rc, status = 1;
    long nworkers;

    memset(&app, 0, sizeof app);
    atomic_init(&app.open_connections, 0);
    atomic_init(&app.stopping, 0);
    rc = pusher_config_load(&conf, argc, argv, err, sizeof err);
    if (rc == MC_ERR_HELP) {
        pusher_config_cleanup(&conf);
        return 0;
    }
    if (conf.log_level)
        mc_log_level_parse(conf.log_level, &level);
    mc_log_init("pusher", level);
    if (rc != MC_OK) {
        MC_ERROR("configuration: %s", err);
        pusher_config_cleanup(&conf);
        return 2;
    }
    nworkers = conf.workers > 0 ? conf.workers : sysconf(_SC_NPROCESSORS_ONLN);
    if (nworkers < 1)
        nworkers = 1;
    main__raise_nofile(conf.max_connections);

    /* Signals go to sigwait() below only: block them before any thread starts. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: it is not thread-safe */
    if (!(metrics = mc_metrics_new()) || !(app.ws = calloc((size_t)nworkers, sizeof *app.ws)) ||
        !(app.authz = authz_client_new(conf.authz_url, conf.authz_timeout_ms, metrics))) {
        MC_ERROR("out of memory");
        goto out;
    }
    kconf = mc_kafka_conf_new(kafka_defaults, kafka_forced, NULL, err, sizeof err);
    if (!kconf) {
        MC_ERROR("configuration: %s", err);
        status = 2;
        goto out;
    }
    {
        resume_opts_t ro = {
            .topic = conf.deliveries_topic,
            .threads = (int)conf.resume_threads,
            .replay_timeout_ms = (int)conf.replay_timeout_ms,
            .emit = ws_server_post_job,
            .authorize = authz_client_authorize,
            .authorize_arg = app.authz,
            .metrics = metrics,
        };
        app.resume = resume_new(&ro, rd_kafka_conf_dup(kconf), err, sizeof err);
    }
    if (!app.resume) {
        rd_kafka_conf_destroy(kconf);
        MC_ERROR("kafka: %s", err);
        goto out;
    }
    for (long i = 0; i < nworkers; i++) {
        ws_server_opts_t wo = {
            .bind = conf.http_bind,
            .port = conf.http_port,
            .max_connections = (size_t)conf.max_connections,
            .max_subscriptions = (size_t)conf.max_subscriptions,
            .max_frame = (size_t)conf.max_frame,
            .send_queue_max = (size_t)conf.send_queue_max,
            .metrics = metrics,
            .ready = main__feed_ready,
            .ready_arg = &app,
            .resume = app.resume,
            .open_connections = &app.open_connections,
            .worker_id = (int)i,
            .ping_interval_s = (unsigned)conf.ping_interval_s,
            .ping_timeout_s = (unsigned)conf.ping_timeout_s,
        };
        if (!(app.ws[i] = ws_server_new(&wo, err, sizeof err))) {
            rd_kafka_conf_destroy(kconf);
            MC_ERROR("worker %ld: %s", i, err);
            goto out;
        }
        app.nws++;
    }
    app.feed = feed_new(conf.deliveries_topic, kconf, main__sink, &app, metrics, err, sizeof err);
    kconf = NULL; /* feed_new took it */
    if (!app.feed) {
        MC_ERROR("kafka: %s", err);
        goto out;
    }
    for (size_t i = 0; i < app.nws; i++)
        if (ws_server_start(app.ws[i]) != MC_OK) {
            MC_ERROR("cannot start worker threads");
            goto out;
        }
    if (feed_start(app.feed) != MC_OK) {
        MC_ERROR("cannot start the feed thread");
        goto out;
    }
    MC_INFO("listening on %s:%ld (/ws, /healthz, /readyz, /metrics) with %zu workers, topic %s",
            conf.http_bind, conf.http_port, app.nws, conf.deliveries_topic);

    sigwait(&sigs, &sig);
    MC_INFO("signal %d: shutting down", sig);
    status = 0;
out:
    atomic_store(&app.stopping, 1);
    feed_stop(app.feed); /* no more posts into the workers from here on */
    for (size_t i = 0; i < app.nws; i++)
        ws_server_stop(app.ws[i]); /* closes the inboxes: resume's answers are refused */
    resume_free(app.resume);       /* before the workers it answers are freed */
    app.resume = NULL;
    feed_free(app.feed);
    for (size_t i = 0; i < app.nws; i++)
        ws_server_free(app.ws[i]);
    free(app.ws);
    authz_client_free(app.authz);
    curl_global_cleanup();
    mc_metrics_free(metrics);
    pusher_config_cleanup(&conf);
    if (status == 0)
        MC_INFO("stopped");
    return status;
}
