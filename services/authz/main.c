/* main.c - authz: reads settings, starts the change stream and the HTTP endpoints, and
 * waits for SIGTERM/SIGINT (exit 0) or for the stream to stop for good (exit 1, so that
 * an orchestrator restarts it). */
#include "authorize_api.h"
#include "authz_config.h"
#include "change_stream.h"
#include "mc_error.h"
#include "mc_http.h"
#include "mc_log.h"
#include "mc_metrics.h"
#include "mc_model.h"
#include "mc_otlp.h"
#include "mc_policy.h"
#include "mc_service.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char summary[] =
    "modelcast authz: turns change events into per-channel deliveries, exactly once\n"
    "(Kafka transactions from MC_CHANGES_TOPIC to MC_DELIVERIES_TOPIC).\n"
    "MC_KAFKA_<PROPERTY> goes to the clients the property is for (consumer, producer or\n"
    "both); MC_KAFKA_CONSUMER_<PROPERTY> and MC_KAFKA_PRODUCER_<PROPERTY> to one kind only.";

/* What /readyz looks at. */
typedef struct {
    change_stream_t *cs;
    const mc_jwt_verifier_t *verifier;
} readyz_ctx_t;

/* Ready: transactions initialised, partitions assigned (possibly none) by the group, and a key
 * set loaded when tokens come from a JWKS. */
static int readyz(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    const readyz_ctx_t *r = ud;
    int stream_ok = change_stream_ready(r->cs);
    json_t *body = json_pack("{s:s, s:i}", "stream",
                             stream_ok                    ? "ok"
                             : change_stream_alive(r->cs) ? "starting"
                                                          : "failed",
                             "partitions", change_stream_partitions(r->cs));
    int ok = mc_auth_ready(r->verifier, body) && stream_ok; /* + "jwks" with a key set */
    json_object_set_new(body, "status", json_string(ok ? "ready" : "not_ready"));
    mc_http_json(resp, ok ? 200 : 503, body);
    return U_CALLBACK_COMPLETE;
}

/* Alive while the stream runs: 503 once it stopped for good (the process exits then too). */
static int healthz(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    int ok = change_stream_alive(ud);
    mc_http_json(resp, ok ? 200 : 503,
                 json_pack("{s:s, s:s}", "status", ok ? "ok" : "failed", "stream",
                           ok ? "ok" : "failed"));
    return U_CALLBACK_COMPLETE;
}

/* The stream thread stopped for good: wake main's sigwait. */
static void stream_stopped(void *arg)
{
    (void)arg;
    kill(getpid(), SIGUSR1);
}

int main(int argc, char **argv)
{
    authz_config_t cfg = {0};
    char err[1024], txid[300], host[128] = "localhost";
    int rc, exit_code = 1, sig = 0;
    mc_metrics_t *metrics = NULL;
    change_stream_t *cs = NULL;
    mc_schema_t *schema = NULL;
    mc_policy_t *policy = NULL;
    mc_jwt_verifier_t *verifier = NULL;
    authorize_api_t *api = NULL;
    mc_tracer_t tracer = {0};
    mc_otlp_t *otlp = NULL;
    mc_http_server_t http = {0};
    sigset_t sigs;

    if ((rc = mc_service_init(authz_config_options, &cfg, "modelcast-authz", "authz", summary,
                              argc, argv, &sigs)) >= 0)
        return rc;
    /* SIGUSR1 (stream_stopped) is taken by sigwait too: block it before any thread starts. */
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    gethostname(host, sizeof host - 1);
    authz_config_transactional_id(&cfg, host, txid, sizeof txid);
    if (mc_schema_load(cfg.models_path, &schema, err, sizeof err) != MC_OK ||
        mc_policy_load(cfg.policies_path, schema, &policy, err, sizeof err) != MC_OK ||
        mc_auth_verifier(&cfg.auth, &verifier, err, sizeof err) != MC_OK) {
        MC_ERROR("%s", err);
        goto out;
    }
    if (!verifier)
        MC_WARN("no MC_JWT_KEY nor MC_JWT_JWKS_URL: every caller is anonymous and any token "
                "is refused");
    if (!(metrics = mc_metrics_new()) || mc_auth_metrics(verifier, metrics) != MC_OK) {
        MC_ERROR("out of memory");
        goto out;
    }
    if (mc_otlp_tracer(&cfg.trace, "authz", metrics, &tracer, &otlp, err, sizeof err) != MC_OK) {
        MC_ERROR("%s", err);
        exit_code = 2;
        goto out;
    }
    change_stream_opts_t copts = {.changes_topic = cfg.changes_topic,
                                  .deliveries_topic = cfg.deliveries_topic,
                                  .dlq_topic = cfg.dlq_topic,
                                  .group_id = cfg.group_id,
                                  .transactional_id = txid,
                                  .policy = policy,
                                  .batch = cfg.batch,
                                  .batch_window_ms = cfg.batch_window_ms,
                                  .dedupe_window = cfg.dedupe_window,
                                  .on_stop = stream_stopped,
                                  .tracer = &tracer};
    if (!(cs = change_stream_new(&copts, metrics, err, sizeof err))) {
        MC_ERROR("%s", err);
        goto out;
    }
    mc_http_opts_t hopts = {cfg.http_bind, cfg.http_port, 2, AUTHORIZE_MAX_BODY, 1024};
    if (mc_http_init(&http, &hopts, err, sizeof err) != MC_OK) {
        MC_ERROR("%s", err);
        goto out;
    }
    if (!(api = authorize_api_new(policy, verifier, metrics)) ||
        authorize_api_register(api, &http.inst) != MC_OK) {
        MC_ERROR("out of memory");
        goto out;
    }
    ulfius_add_endpoint_by_val(&http.inst, "GET", "/healthz", NULL, 0, healthz, cs);
    readyz_ctx_t rctx = {cs, verifier};
    ulfius_add_endpoint_by_val(&http.inst, "GET", "/readyz", NULL, 0, readyz, &rctx);
    ulfius_add_endpoint_by_val(&http.inst, "GET", "/metrics", NULL, 0, mc_http_metrics, metrics);
    ulfius_set_default_endpoint(&http.inst, mc_http_not_found, NULL);
    if (change_stream_start(cs) != MC_OK || mc_http_start(&http, err, sizeof err) != MC_OK) {
        MC_ERROR("starting: %s", err);
        goto out;
    }
    MC_INFO("listening on http://%s:%ld (transactional.id and group.instance.id %s)",
            cfg.http_bind, cfg.http_port, txid);
    while (sigwait(&sigs, &sig) == 0 && sig == SIGUSR1 && change_stream_alive(cs))
        ; /* not from the stream */
    if (sig == SIGUSR1) {
        MC_ERROR("the change stream stopped for good; exiting with status 1");
        goto out;
    }
    MC_INFO("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    exit_code = 0;
out:
    mc_http_stop(&http);
    change_stream_free(cs);
    authorize_api_free(api);
    mc_otlp_free(otlp); /* after the stream: sends what is left, bounded */
    mc_metrics_free(metrics);
    mc_jwt_verifier_free(verifier);
    mc_policy_free(policy);
    mc_schema_free(schema);
    mc_config_cleanup(authz_config_options, &cfg);
    return exit_code;
}
