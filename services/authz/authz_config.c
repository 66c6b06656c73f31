/* authz_config.c - authz's settings table; --help is printed from it. */
#include "authz_config.h"

#include <stddef.h>
#include <stdio.h>

#define OPT(env, type, def, field, min, max, help) \
    {env, type, def, offsetof(authz_config_t, field), min, max, help}

const mc_cfg_option_t authz_config_options[] = {
    OPT("MC_HTTP_BIND", MC_CFG_STRING, "127.0.0.1", http_bind, 0, 0,
        "IPv4 address of the HTTP API (/healthz, /readyz, /metrics)"),
    OPT("MC_HTTP_PORT", MC_CFG_INT, "8702", http_port, 1, 65535, "HTTP port"),
    OPT("MC_LOG_LEVEL", MC_CFG_STRING, "info", log_level, 0, 0, "debug, info, warn or error"),
    OPT("MC_CHANGES_TOPIC", MC_CFG_STRING, "modelcast.changes", changes_topic, 0, 0,
        "topic of change events to read"),
    OPT("MC_DELIVERIES_TOPIC", MC_CFG_STRING, "modelcast.deliveries", deliveries_topic, 0, 0,
        "topic deliveries are written to (key = channel)"),
    OPT("MC_DLQ_TOPIC", MC_CFG_STRING, "modelcast.changes.dlq", dlq_topic, 0, 0,
        "topic for change events that cannot be evaluated"),
    OPT("MC_GROUP_ID", MC_CFG_STRING, "modelcast-authz", group_id, 0, 0,
        "consumer group shared by all authz instances"),
    OPT("MC_INSTANCE_ID", MC_CFG_STRING, NULL, instance_id, 0, 0,
        "stable name of this instance, unique among the instances of the group (default: "
        "<hostname>-<MC_HTTP_PORT>; a StatefulSet pod name is a good one)"),
    OPT("MC_TRANSACTIONAL_ID", MC_CFG_STRING, NULL, transactional_id, 0, 0,
        "Kafka transactional.id and group.instance.id of this instance, unique and stable "
        "(default: modelcast-authz-<MC_INSTANCE_ID>). A second instance with the same id "
        "fences the first, which then exits"),
    OPT("MC_MODELS", MC_CFG_STRING, "config/models.json", models_path, 0, 0, "the models file"),
    OPT("MC_POLICIES", MC_CFG_STRING, "config/policies.json", policies_path, 0, 0,
        "the policies file: channels, broadcast, write rules"),
    MC_AUTH_OPTIONS(authz_config_t, auth),
    OPT("MC_BATCH", MC_CFG_INT, "5000", batch, 1, 100000,
        "change events per transaction at most (a transaction commit costs a broker round "
        "trip: small batches cap the rate, see docs/performance.md)"),
    OPT("MC_BATCH_WINDOW_MS", MC_CFG_INT, "0", batch_window_ms, 0, 1000,
        "after the first change of a batch, how long to gather more before the transaction "
        "(0: a batch is what has been fetched, so an idle stream commits at once)"),
    OPT("MC_DEDUPE_WINDOW", MC_CFG_INT, "2000", dedupe_window, 0, 1000000,
        "change events per partition whose ce_id is remembered: a repeat within them is "
        "dropped (the relay republishes at most MC_RELAY_BATCH events; 0 turns it off)"),
    MC_TRACE_OPTIONS(authz_config_t, trace),
    MC_CFG_END,
};

void authz_config_transactional_id(const authz_config_t *cfg, const char *hostname, char *out,
                                   size_t outlen)
{
    if (cfg->transactional_id && cfg->transactional_id[0])
        snprintf(out, outlen, "%s", cfg->transactional_id);
    else if (cfg->instance_id && cfg->instance_id[0])
        snprintf(out, outlen, "modelcast-authz-%s", cfg->instance_id);
    else
        snprintf(out, outlen, "modelcast-authz-%s-%ld", hostname, cfg->http_port);
}
