/*
 * pusher_config.h - the pusher's settings: one table (environment variables, defaults,
 * bounds, help text) loaded through mc_config; Kafka properties pass through MC_KAFKA_*.
 */
#ifndef PUSHER_CONFIG_H
#define PUSHER_CONFIG_H

#include <stddef.h>

typedef struct {
    char *http_bind;
    long http_port;
    char *log_level;
    char *deliveries_topic;
    long max_connections;
    long max_subscriptions;
    long max_frame;
    long send_queue_max;
    long workers;           /* 0: one per core */
    long resume_threads;
    long replay_timeout_ms;
    char *authz_url;
    long authz_timeout_ms;
    long ping_interval_s;   /* idle seconds before the server sends a WebSocket ping */
    long ping_timeout_s;    /* seconds without a pong (or other proof) before hanging up */
} pusher_config_t;

/*
 * Fills conf from defaults and the environment (argv: --help, --version).
 * Returns MC_OK, MC_ERR_HELP (help printed: exit 0) or MC_ERR_CONFIG/MC_ERR_NOMEM with err
 * naming the setting. Release with pusher_config_cleanup().
 */
int pusher_config_load(pusher_config_t *conf, int argc, char **argv, char *err, size_t errlen);

/* Frees the strings of conf. */
void pusher_config_cleanup(pusher_config_t *conf);

#endif
