/*
 * pusher_config.h - the settings of the pusher (environment variables, see --help): one
 * table loaded by mc_service_init, plus the one check across settings the table cannot hold.
 */
#ifndef PUSHER_CONFIG_H
#define PUSHER_CONFIG_H

#include <stddef.h>

#include "mc_config.h"
#include "mc_trace.h"

typedef struct {
    char *http_bind;
    long http_port;
    char *ws_origins;       /* MC_WS_ORIGINS: browser origins allowed besides the same one */
    char *log_level;
    char *deliveries_topic;
    long max_connections;
    long workers;           /* 0: one per core */
    long resume_threads;
    long replay_threads;
    long replay_timeout_ms;
    long max_subscriptions;
    long max_pending;       /* subscriptions waiting for an answer, per connection */
    long max_pending_total; /* ... per instance */
    long max_frame;
    long send_queue_max;
    char *authz_url;
    long authz_timeout_ms;
    long ping_interval_s;   /* idle seconds before the server sends a WebSocket ping */
    long ping_timeout_s;    /* seconds without a pong (or other proof) before hanging up */
    mc_trace_settings_t trace;
} pusher_config_t;

extern const mc_cfg_option_t pusher_config_options[];

/*
 * Checks what the table's bounds cannot: MC_DELIVERIES_TOPIC not empty, MC_PING_TIMEOUT_S
 * above MC_PING_INTERVAL_S, MC_WS_ORIGINS a list of origins. Returns MC_OK, or
 * MC_ERR_CONFIG with err naming the setting and its value.
 */
int pusher_config_check(const pusher_config_t *conf, char *err, size_t errlen);

#endif
