/* main.c - model-api: reads settings, loads the models, migrates, starts the relay and
 * the REST listener, and waits for SIGTERM/SIGINT. */
#include "api_config.h"
#include "cors.h"
#include "mc_error.h"
#include "mc_http.h"
#include "mc_log.h"
#include "mc_metrics.h"
#include "mc_model.h"
#include "mc_otlp.h"
#include "mc_pg.h"
#include "mc_policy.h"
#include "mc_service.h"
#include "outbox_relay.h"
#include "pg_pool.h"
#include "rest.h"
#include "schema_migrate.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STARTUP_PG_WAIT_MS 30000

static const char summary[] =
    "modelcast model-api: a REST API over the models of MC_MODELS, stored in PostgreSQL,\n"
    "with an outbox relay publishing every committed change to Kafka.";

int main(int argc, char **argv)
{
    api_config_t cfg = {0};
    char err[1024];
    int rc, exit_code = 1, sig;
    mc_schema_t *schema = NULL;
    mc_policy_t *policy = NULL;
    mc_jwt_verifier_t *verifier = NULL;
    mc_metrics_t *metrics = NULL;
    pg_pool_t *pool = NULL;
    outbox_relay_t *relay = NULL;
    rest_t *rest = NULL;
    cors_t *cors = NULL;
    mc_tracer_t tracer = {0};
    mc_otlp_t *otlp = NULL;
    PGconn *conn = NULL;
    mc_http_server_t http = {0};
    sigset_t sigs;
    const struct timespec health_every = {1, 0};

    if ((rc = mc_service_init(api_config_options, &cfg, "modelcast-model-api", "model-api",
                              summary, argc, argv, &sigs)) >= 0)
        return rc;
    if (api_config_check(&cfg, err, sizeof err) != MC_OK ||
        cors_new(cfg.cors_origins, &cors, err, sizeof err) != MC_OK) {
        fprintf(stderr, "modelcast-model-api: %s\n", err);
        mc_config_cleanup(api_config_options, &cfg);
        return 2;
    }

    if (mc_schema_load(cfg.models_path, &schema, err, sizeof err) != MC_OK ||
        mc_policy_load(cfg.policies_path, schema, &policy, err, sizeof err) != MC_OK ||
        mc_auth_verifier(&cfg.auth, &verifier, err, sizeof err) != MC_OK) {
        MC_ERROR("%s", err);
        goto out;
    }
    if (!verifier)
        MC_WARN("no MC_JWT_KEY nor MC_JWT_JWKS_URL: every caller is anonymous and any token "
                "is refused");
    if (!(conn = mc_pg_connect(cfg.pg_conninfo, STARTUP_PG_WAIT_MS, err, sizeof err))) {
        MC_ERROR("%s", err);
        goto out;
    }
    if (schema_migrate(conn, schema, err, sizeof err) != MC_OK) {
        MC_ERROR("migrating %s: %s", cfg.models_path, err);
        goto out;
    }
    PQfinish(conn);
    conn = NULL;

    metrics = mc_metrics_new();
    pool = pg_pool_new(cfg.pg_conninfo, (size_t)cfg.pg_pool);
    if (!metrics || !pool || mc_auth_metrics(verifier, metrics) != MC_OK) {
        MC_ERROR("out of memory");
        goto out;
    }
    if (mc_otlp_tracer(&cfg.trace, "model-api", metrics, &tracer, &otlp, err, sizeof err) !=
        MC_OK) {
        MC_ERROR("%s", err);
        exit_code = 2;
        goto out;
    }
    outbox_relay_opts_t ropts = {cfg.pg_conninfo,     cfg.changes_topic,  cfg.ce_source,
                                 cfg.relay_batch,     cfg.relay_idle_max_ms,
                                 cfg.event_max_bytes, cfg.relay_stall_s, &tracer};
    if (!(relay = outbox_relay_new(&ropts, metrics, err, sizeof err))) {
        MC_ERROR("relay: %s", err);
        goto out;
    }
    if (!(rest = rest_new(&cfg, schema, policy, verifier, pool, relay, cors, metrics))) {
        MC_ERROR("out of memory");
        goto out;
    }
    rest_set_tracer(rest, &tracer);
    mc_http_opts_t hopts = {cfg.http_bind, cfg.http_port, (unsigned)cfg.http_threads,
                            (size_t)cfg.max_body, 4096};
    if (mc_http_init(&http, &hopts, err, sizeof err) != MC_OK) {
        MC_ERROR("%s", err);
        goto out;
    }
    if (rest_register(rest, &http.inst) != MC_OK || outbox_relay_start(relay) != MC_OK ||
        mc_http_start(&http, err, sizeof err) != MC_OK) {
        MC_ERROR("starting: %s", err);
        goto out;
    }
    MC_INFO("listening on http://%s:%ld (%zu models from %s; CORS origins: %s)", cfg.http_bind,
            cfg.http_port, schema->nmodels, cfg.models_path,
            cfg.cors_origins && *cfg.cors_origins ? cfg.cors_origins : "none");

    /* Until SIGTERM/SIGINT; a relay that stopped for good ends the process (exit 1), so
     * that whatever supervises it starts a new one. */
    for (;;) {
        outbox_relay_status_t st;
        if ((sig = sigtimedwait(&sigs, NULL, &health_every)) > 0) {
            MC_INFO("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            exit_code = 0;
            break;
        }
        outbox_relay_status(relay, &st);
        if (strcmp(st.role, "failed") == 0) {
            MC_ERROR("%s: exiting", st.why);
            break;
        }
    }
out:
    mc_http_stop(&http);
    outbox_relay_free(relay);
    rest_free(rest);
    cors_free(cors);
    pg_pool_free(pool);
    PQfinish(conn);
    mc_otlp_free(otlp); /* after everything that traces: sends what is left, bounded */
    mc_metrics_free(metrics);
    mc_jwt_verifier_free(verifier);
    mc_policy_free(policy);
    mc_schema_free(schema);
    mc_config_cleanup(api_config_options, &cfg);
    return exit_code;
}
