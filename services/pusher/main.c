/* main.c - modelcast-pusher: reads settings, wires the feed, resume and the workers together,
 * and waits for SIGTERM/SIGINT. */
#include "authz_client.h"
#include "feed.h"
#include "mc_error.h"
#include "mc_log.h"
#include "mc_metrics.h"
#include "mc_otlp.h"
#include "mc_service.h"
#include "pusher_config.h"
#include "resume.h"
#include "workers.h"

#include <signal.h>
#include <stdio.h>

static const char summary[] =
    "modelcast pusher: WebSocket fan-out of modelcast deliveries (/ws), with /healthz,\n"
    "/readyz and /metrics on the same port.";

/*
 * /readyz of the workers, and when resume may hand out positions: the feed (created after
 * them, hence the slot) is positioned on every partition.
 */
static int main__feed_ready(void *feed_slot)
{
    feed_t *const *feed = feed_slot;
    return *feed && feed_ready(*feed);
}

int main(int argc, char **argv)
{
    pusher_config_t cfg = {0};
    char err[1024];
    int rc, exit_code = 1, sig;
    mc_metrics_t *metrics = NULL;
    authz_client_t *authz = NULL;
    rd_kafka_conf_t *kconf = NULL;
    resume_t *resume = NULL;
    workers_t *workers = NULL;
    feed_t *feed = NULL;
    ws_origins_t *origins = NULL;
    mc_tracer_t tracer = {0};
    mc_otlp_t *otlp = NULL;
    sigset_t sigs;

    if ((rc = mc_service_init(pusher_config_options, &cfg, "modelcast-pusher", "pusher", summary,
                              argc, argv, &sigs)) >= 0)
        return rc;
    if (pusher_config_check(&cfg, err, sizeof err) != MC_OK) {
        fprintf(stderr, "modelcast-pusher: %s\n", err);
        mc_config_cleanup(pusher_config_options, &cfg);
        return 2;
    }

    if (!(metrics = mc_metrics_new()) ||
        !(authz = authz_client_new(cfg.authz_url, cfg.authz_timeout_ms, metrics))) {
        MC_ERROR("out of memory");
        goto out;
    }
    if (mc_otlp_tracer(&cfg.trace, "pusher", metrics, &tracer, &otlp, err, sizeof err) != MC_OK) {
        MC_ERROR("configuration: %s", err);
        exit_code = 2;
        goto out;
    }
    if (!(kconf = feed_kafka_conf_new(err, sizeof err))) {
        MC_ERROR("configuration: %s", err);
        exit_code = 2;
        goto out;
    }
    if (!(origins = ws_origins_new(cfg.ws_origins, err, sizeof err))) {
        MC_ERROR("configuration: %s", err);
        exit_code = 2;
        goto out;
    }
    resume_opts_t ropts = {
        .topic = cfg.deliveries_topic,
        .threads = (int)cfg.resume_threads,
        .replay_threads = (int)cfg.replay_threads,
        .replay_timeout_ms = (int)cfg.replay_timeout_ms,
        .max_pending = (size_t)cfg.max_pending_total,
        .replay_window = (size_t)cfg.send_queue_max / 4,
        .emit = ws_server_post_job,
        .authorize = authz_client_authorize,
        .authorize_arg = authz,
        .ready = main__feed_ready,
        .ready_arg = &feed,
        .metrics = metrics,
    };
    if (!(resume = resume_new(&ropts, rd_kafka_conf_dup(kconf), err, sizeof err))) {
        MC_ERROR("kafka: %s", err);
        goto out;
    }
    ws_server_opts_t wopts = {
        .bind = cfg.http_bind,
        .port = cfg.http_port,
        .max_connections = (size_t)cfg.max_connections,
        .max_subscriptions = (size_t)cfg.max_subscriptions,
        .max_pending = (size_t)cfg.max_pending,
        .origins = origins,
        .max_frame = (size_t)cfg.max_frame,
        .send_queue_max = (size_t)cfg.send_queue_max,
        .metrics = metrics,
        .ready = main__feed_ready,
        .ready_arg = &feed,
        .resume = resume,
        .ping_interval_s = (unsigned)cfg.ping_interval_s,
        .ping_timeout_s = (unsigned)cfg.ping_timeout_s,
    };
    if (!(workers = workers_new(&wopts, cfg.workers, err, sizeof err))) {
        MC_ERROR("%s", err);
        goto out;
    }
    feed = feed_new(cfg.deliveries_topic, kconf, workers_sink, workers, metrics, err, sizeof err);
    kconf = NULL; /* feed_new took it */
    if (!feed) {
        MC_ERROR("kafka: %s", err);
        goto out;
    }
    feed_set_tracer(feed, &tracer);
    if (workers_start(workers) != MC_OK || feed_start(feed) != MC_OK) {
        MC_ERROR("cannot start the worker and feed threads");
        goto out;
    }
    MC_INFO("listening on %s:%ld (/ws, /healthz, /readyz, /metrics) with %zu workers, topic %s",
            cfg.http_bind, cfg.http_port, workers_count(workers), cfg.deliveries_topic);

    if (sigwait(&sigs, &sig) == 0)
        MC_INFO("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    exit_code = 0;
out:
    workers_stop(workers); /* inboxes closed: the feed's frames and resume's answers dropped */
    feed_stop(feed);
    workers_detach_resume(workers); /* connections closing from here on cancel their jobs */
    authz_client_stop(authz); /* no resume thread waits for a hanging authz */
    resume_free(resume);   /* before the workers it answers are freed */
    feed_free(feed);
    workers_free(workers);
    if (kconf)
        rd_kafka_conf_destroy(kconf);
    authz_client_free(authz);
    ws_origins_free(origins);
    mc_otlp_free(otlp); /* after the feed and the workers: sends what is left, bounded */
    mc_metrics_free(metrics);
    mc_config_cleanup(pusher_config_options, &cfg);
    if (exit_code == 0)
        MC_INFO("stopped");
    return exit_code;
}
