/* api_config.c - model-api's settings table; --help is printed from it. */
#include "api_config.h"

#include "mc_error.h"

#include <stddef.h>
#include <stdio.h>

/* Room for an event's envelope next to twice the record (the MC_MAX_BODY rule). */
#define API_EVENT_ENVELOPE 4096

#define OPT(env, type, def, field, min, max, help) \
    {env, type, def, offsetof(api_config_t, field), min, max, help}

const mc_cfg_option_t api_config_options[] = {
    OPT("MC_HTTP_BIND", MC_CFG_STRING, "127.0.0.1", http_bind, 0, 0,
        "IPv4 address the REST API listens on"),
    OPT("MC_HTTP_PORT", MC_CFG_INT, "8701", http_port, 1, 65535, "REST API port"),
    OPT("MC_HTTP_THREADS", MC_CFG_INT, "16", http_threads, 1, 256,
        "HTTP worker threads; each holds a request through its database round trip"),
    OPT("MC_MAX_BODY", MC_CFG_INT, "262144", max_body, 1024, 32L * 1024 * 1024,
        "largest accepted request body, bytes (413 beyond); at most (MC_EVENT_MAX_BYTES - "
        "4096) / 2, as an update's change event carries the record twice"),
    OPT("MC_EVENT_MAX_BYTES", MC_CFG_INT, "1000000", event_max_bytes, 65536,
        64L * 1024 * 1024,
        "largest change event a write may produce, bytes (422 change_too_large beyond); "
        "keep it under the topic's max.message.bytes (broker default 1048588) less 48 KiB "
        "for key, headers and batch framing"),
    OPT("MC_LOG_LEVEL", MC_CFG_STRING, "info", log_level, 0, 0, "debug, info, warn or error"),
    OPT("MC_PG_CONNINFO", MC_CFG_STRING,
        "host=127.0.0.1 port=55432 dbname=modelcast user=modelcast", pg_conninfo, 0, 0,
        "libpq connection string (never logged)"),
    OPT("MC_PG_POOL", MC_CFG_INT, "16", pg_pool, 1, 512,
        "PostgreSQL connections for requests (more than MC_HTTP_THREADS are never used)"),
    OPT("MC_MODELS", MC_CFG_STRING, "config/models.json", models_path, 0, 0,
        "the models file"),
    OPT("MC_POLICIES", MC_CFG_STRING, "config/policies.json", policies_path, 0, 0,
        "the policies file: who reads and writes what"),
    MC_AUTH_OPTIONS(api_config_t, auth),
    OPT("MC_CHANGES_TOPIC", MC_CFG_STRING, "modelcast.changes", changes_topic, 0, 0,
        "Kafka topic the outbox relay publishes change events to"),
    OPT("MC_CE_SOURCE", MC_CFG_STRING, "/modelcast/model-api", ce_source, 0, 0,
        "CloudEvents source attribute of the change events"),
    OPT("MC_RELAY_BATCH", MC_CFG_INT, "500", relay_batch, 1, 100000,
        "outbox rows published per relay round"),
    OPT("MC_RELAY_IDLE_MAX_MS", MC_CFG_INT, "50", relay_idle_max_ms, 1, 60000,
        "longest pause between outbox polls when idle, a safety net: writes through this "
        "API wake the relay at once, other SQL sessions by the outbox trigger's NOTIFY (unless "
        "they set modelcast.notify = off: then this bounds their delay)"),
    OPT("MC_RELAY_STALL_S", MC_CFG_INT, "300", relay_stall_s, 1, 86400,
        "seconds the outbox relay may show no progress (blocked on PostgreSQL...) before "
        "/healthz fails, so that an orchestrator restarts the instance"),
    OPT("MC_LIST_LIMIT_MAX", MC_CFG_INT, "500", list_limit_max, 1, 100000,
        "largest page size of list requests"),
    OPT("MC_CORS_ORIGINS", MC_CFG_STRING, "", cors_origins, 0, 0,
        "web origins whose pages may call the API (CORS): comma-separated exact origins "
        "such as https://app.example.com, or * for any (never with credentials); none by "
        "default"),
    MC_TRACE_OPTIONS(api_config_t, trace),
    MC_CFG_END,
};

int api_config_check(const api_config_t *cfg, char *err, size_t errlen)
{
    /* A record written whole in one request appears twice in an update's event. */
    long body_max = (cfg->event_max_bytes - API_EVENT_ENVELOPE) / 2;
    if (cfg->max_body > body_max) {
        snprintf(err, errlen, "MC_MAX_BODY: %ld is more than (MC_EVENT_MAX_BYTES %ld - %d) / 2 "
                 "= %ld: an update's change event carries the record twice",
                 cfg->max_body, cfg->event_max_bytes, API_EVENT_ENVELOPE, body_max);
        return MC_ERR_CONFIG;
    }
    return MC_OK;
}
