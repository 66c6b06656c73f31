/* pusher_config.c - the pusher's settings table. */
#include "pusher_config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mc_config.h"
#include "mc_error.h"
#include "mc_log.h"

static const mc_cfg_option_t pusher_options[] = {
    {"MC_HTTP_BIND", MC_CFG_STRING, "127.0.0.1", offsetof(pusher_config_t, http_bind), 0, 0,
     "IPv4 address to listen on (0.0.0.0 for all)"},
    {"MC_HTTP_PORT", MC_CFG_INT, "8703", offsetof(pusher_config_t, http_port), 1, 65535,
     "port for WebSocket (/ws) and HTTP (/healthz, /readyz, /metrics)"},
    {"MC_LOG_LEVEL", MC_CFG_STRING, "info", offsetof(pusher_config_t, log_level), 0, 0,
     "debug, info, warn or error"},
    {"MC_DELIVERIES_TOPIC", MC_CFG_STRING, "modelcast.deliveries",
     offsetof(pusher_config_t, deliveries_topic), 0, 0,
     "Kafka topic of deliveries; every partition is read from its live end"},
    {"MC_MAX_CONNECTIONS", MC_CFG_INT, "10000", offsetof(pusher_config_t, max_connections), 1,
     10000000, "WebSocket connections accepted at once by this instance (all workers)"},
    {"MC_WORKERS", MC_CFG_INT, "0", offsetof(pusher_config_t, workers), 0, 256,
     "service threads, each with its own libwebsockets context on the shared port "
     "(SO_REUSEPORT); 0: one per core"},
    {"MC_RESUME_THREADS", MC_CFG_INT, "2", offsetof(pusher_config_t, resume_threads), 1, 64,
     "threads answering subscriptions off the event loops (authorization, positions, "
     "replays)"},
    {"MC_REPLAY_TIMEOUT_MS", MC_CFG_INT, "30000", offsetof(pusher_config_t, replay_timeout_ms),
     100, 3600000, "bound of one replay from a client's since (then error unavailable)"},
    {"MC_MAX_SUBSCRIPTIONS", MC_CFG_INT, "64", offsetof(pusher_config_t, max_subscriptions), 1,
     100000, "channels one connection may subscribe to"},
    {"MC_MAX_FRAME", MC_CFG_INT, "65536", offsetof(pusher_config_t, max_frame), 64,
     16 * 1024 * 1024, "largest inbound WebSocket message in bytes (larger: close 1009)"},
    {"MC_SEND_QUEUE_MAX", MC_CFG_INT, "1048576", offsetof(pusher_config_t, send_queue_max),
     1024, 1024L * 1024 * 1024,
     "bytes queued for one connection before it is dropped as a slow consumer (close 4008)"},
    {"MC_AUTHZ_URL", MC_CFG_STRING, "http://127.0.0.1:8702", offsetof(pusher_config_t, authz_url),
     0, 0, "base URL of authz: every subscription is checked with POST /v1/authorize"},
    {"MC_AUTHZ_TIMEOUT_MS", MC_CFG_INT, "2000", offsetof(pusher_config_t, authz_timeout_ms), 100,
     60000, "how long a subscription waits for authz before it is refused as unavailable"},
    {"MC_PING_INTERVAL_S", MC_CFG_INT, "25", offsetof(pusher_config_t, ping_interval_s), 1,
     3600, "seconds a WebSocket connection is idle (no pong) before the server pings it"},
    {"MC_PING_TIMEOUT_S", MC_CFG_INT, "60", offsetof(pusher_config_t, ping_timeout_s), 2,
     7200, "seconds without a pong before a peer is considered dead and closed; must exceed "
     "MC_PING_INTERVAL_S"},
    MC_CFG_END,
};

int pusher_config_load(pusher_config_t *conf, int argc, char **argv, char *err, size_t errlen)
{
    mc_log_level_t lvl;
    int rc;

    memset(conf, 0, sizeof *conf);
    rc = mc_config_load(pusher_options, conf, "modelcast-pusher",
                        "WebSocket fan-out of modelcast deliveries (/ws), with /healthz, "
                        "/readyz and /metrics on the same port.",
                        argc, argv, err, errlen);
    if (rc != MC_OK)
        return rc;
    if (mc_log_level_parse(conf->log_level, &lvl) != MC_OK) {
        snprintf(err, errlen, "MC_LOG_LEVEL: invalid value \"%s\" (debug, info, warn, error)",
                 conf->log_level);
        return MC_ERR_CONFIG;
    }
    if (conf->ping_timeout_s <= conf->ping_interval_s) {
        snprintf(err, errlen,
                 "MC_PING_TIMEOUT_S: %ld must be greater than MC_PING_INTERVAL_S (%ld)",
                 conf->ping_timeout_s, conf->ping_interval_s);
        return MC_ERR_CONFIG;
    }
    if (!conf->deliveries_topic[0]) {
        snprintf(err, errlen, "MC_DELIVERIES_TOPIC: must not be empty");
        return MC_ERR_CONFIG;
    }
    return MC_OK;
}

void pusher_config_cleanup(pusher_config_t *conf)
{
    mc_config_cleanup(pusher_options, conf);
}
