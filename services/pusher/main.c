/* main.c - modelcast-pusher: reads settings, wires the feed to the WebSocket server, waits. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "mc_error.h"
#include "mc_kafka.h"
#include "mc_log.h"
#include "mc_metrics.h"
#include "pusher_config.h"
#include "ws_server.h"

/* The modules of one process; the callbacks between them go through here. */
typedef struct {
    ws_server_t *ws;
    feed_t *feed;
} pusher_t;

static int main__feed_ready(void *arg)
{
    pusher_t *p = arg;
    return p->feed && feed_ready(p->feed);
}

static int main__sink(void *arg, pusher_frame_t *frame, const char *position)
{
    pusher_t *p = arg;
    return ws_server_post(p->ws, frame, position);
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
    pusher_t app = {NULL, NULL};
    sigset_t sigs;
    char err[512] = "";
    int sig = 0, rc, status = 1;

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

    /* Signals go to sigwait() below only: block them before any thread starts. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (!(metrics = mc_metrics_new())) {
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
        };
        app.ws = ws_server_new(&wo, err, sizeof err);
    }
    if (!app.ws) {
        rd_kafka_conf_destroy(kconf);
        MC_ERROR("%s", err);
        goto out;
    }
    app.feed = feed_new(conf.deliveries_topic, kconf, main__sink, &app, metrics, err, sizeof err);
    kconf = NULL; /* feed_new took it */
    if (!app.feed) {
        MC_ERROR("kafka: %s", err);
        goto out;
    }
    if (ws_server_start(app.ws) != MC_OK || feed_start(app.feed) != MC_OK) {
        MC_ERROR("cannot start threads");
        goto out;
    }
    MC_INFO("listening on %s:%ld (/ws, /healthz, /readyz, /metrics), topic %s", conf.http_bind,
            conf.http_port, conf.deliveries_topic);

    sigwait(&sigs, &sig);
    MC_INFO("signal %d: shutting down", sig);
    feed_stop(app.feed); /* no more posts into ws from here on */
    ws_server_stop(app.ws);
    status = 0;
out:
    feed_free(app.feed);
    ws_server_free(app.ws);
    mc_metrics_free(metrics);
    pusher_config_cleanup(&conf);
    if (status == 0)
        MC_INFO("stopped");
    return status;
}
