/* pusher_config.c - the pusher's settings table; --help is printed from it. */
#include "pusher_config.h"

#include <stdio.h>

#include "mc_error.h"
#include "origin.h"

#define OPT(env, type, def, field, min, max, help) \
    {env, type, def, offsetof(pusher_config_t, field), min, max, help}

const mc_cfg_option_t pusher_config_options[] = {
    OPT("MC_HTTP_BIND", MC_CFG_STRING, "127.0.0.1", http_bind, 0, 0,
        "IPv4 address to listen on (0.0.0.0 for all)"),
    OPT("MC_HTTP_PORT", MC_CFG_INT, "8703", http_port, 1, 65535,
        "port for WebSocket (/ws) and HTTP (/healthz, /readyz, /metrics)"),
    OPT("MC_WS_ORIGINS", MC_CFG_STRING, "", ws_origins, 0, 0,
        "browser origins allowed on /ws besides the same origin as the request's Host: "
        "comma-separated exact origins (https://app.example), or * for any; a connection "
        "without Origin (not a browser) is always allowed, others are closed with 4003"),
    OPT("MC_LOG_LEVEL", MC_CFG_STRING, "info", log_level, 0, 0, "debug, info, warn or error"),
    OPT("MC_DELIVERIES_TOPIC", MC_CFG_STRING, "modelcast.deliveries", deliveries_topic, 0, 0,
        "Kafka topic of deliveries; every partition is read from its live end"),
    OPT("MC_MAX_CONNECTIONS", MC_CFG_INT, "10000", max_connections, 1, 10000000,
        "WebSocket connections accepted at once by this instance (all workers)"),
    OPT("MC_WORKERS", MC_CFG_INT, "0", workers, 0, 256,
        "service threads, each with its own libwebsockets context on the shared port "
        "(SO_REUSEPORT); 0: one per core"),
    OPT("MC_RESUME_THREADS", MC_CFG_INT, "4", resume_threads, 1, 64,
        "threads authorizing subscriptions and finding their positions, off the event loops "
        "(each waits on one authz call at a time; connections take turns)"),
    OPT("MC_REPLAY_THREADS", MC_CFG_INT, "2", replay_threads, 1, 64,
        "threads replaying from a client's since, each with one Kafka consumer that reads a "
        "partition once for every replay of it waiting"),
    OPT("MC_REPLAY_TIMEOUT_MS", MC_CFG_INT, "30000", replay_timeout_ms, 100, 3600000,
        "bound of one replay from a client's since (then error unavailable, or close 4008 "
        "when the client did not read it), and of a subscription's wait for the feed at start"),
    OPT("MC_MAX_SUBSCRIPTIONS", MC_CFG_INT, "64", max_subscriptions, 1, 100000,
        "channels one connection may subscribe to"),
    OPT("MC_MAX_PENDING_SUBSCRIPTIONS", MC_CFG_INT, "16", max_pending, 1, 100000,
        "subscriptions of one connection waiting for their answer at once (more: error busy)"),
    OPT("MC_MAX_PENDING_TOTAL", MC_CFG_INT, "10000", max_pending_total, 1, 10000000,
        "subscriptions of all connections of this instance waiting for their answer at once "
        "(more: error busy)"),
    OPT("MC_MAX_FRAME", MC_CFG_INT, "65536", max_frame, 64, 16 * 1024 * 1024,
        "largest inbound WebSocket message in bytes (larger: close 1009)"),
    OPT("MC_SEND_QUEUE_MAX", MC_CFG_INT, "1048576", send_queue_max, 1024, 1024L * 1024 * 1024,
        "bytes queued for one connection before it is dropped as a slow consumer (close 4008)"),
    OPT("MC_AUTHZ_URL", MC_CFG_STRING, "http://127.0.0.1:8702", authz_url, 0, 0,
        "base URL of authz: every subscription is checked with POST /v1/authorize"),
    OPT("MC_AUTHZ_TIMEOUT_MS", MC_CFG_INT, "2000", authz_timeout_ms, 100, 60000,
        "how long a subscription waits for authz before it is refused as unavailable"),
    OPT("MC_PING_INTERVAL_S", MC_CFG_INT, "25", ping_interval_s, 1, 3600,
        "seconds a WebSocket connection is idle (no pong) before the server pings it"),
    OPT("MC_PING_TIMEOUT_S", MC_CFG_INT, "60", ping_timeout_s, 2, 7200,
        "seconds without a pong before a peer is considered dead and closed; must exceed "
        "MC_PING_INTERVAL_S"),
    MC_TRACE_OPTIONS(pusher_config_t, trace),
    MC_CFG_END,
};

int pusher_config_check(const pusher_config_t *conf, char *err, size_t errlen)
{
    ws_origins_t *origins = ws_origins_new(conf->ws_origins, err, errlen);
    if (!origins)
        return MC_ERR_CONFIG;
    ws_origins_free(origins);
    if (conf->ping_timeout_s <= conf->ping_interval_s) {
        snprintf(err, errlen,
                 "MC_PING_TIMEOUT_S: %ld must be greater than MC_PING_INTERVAL_S (%ld)",
                 conf->ping_timeout_s, conf->ping_interval_s);
        return MC_ERR_CONFIG;
    }
    if (!conf->deliveries_topic || !conf->deliveries_topic[0]) {
        snprintf(err, errlen, "MC_DELIVERIES_TOPIC: must not be empty");
        return MC_ERR_CONFIG;
    }
    return MC_OK;
}
