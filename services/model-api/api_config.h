/*
 * api_config.h - the settings of model-api (environment variables, see --help).
 */
#ifndef API_CONFIG_H
#define API_CONFIG_H

#include "mc_auth.h"
#include "mc_config.h"
#include "mc_trace.h"

typedef struct {
    char *http_bind;
    long http_port;
    long http_threads;
    long max_body;
    long event_max_bytes;
    char *log_level;
    char *pg_conninfo;
    long pg_pool;
    char *models_path;
    char *policies_path;
    mc_auth_settings_t auth;
    char *changes_topic;
    char *ce_source;
    long relay_batch;
    long relay_idle_max_ms;
    long relay_stall_s;
    long list_limit_max;
    char *cors_origins;
    mc_trace_settings_t trace;
} api_config_t;

extern const mc_cfg_option_t api_config_options[];

/*
 * Checks what the table's bounds cannot: settings that must agree with each other
 * (MC_MAX_BODY against MC_EVENT_MAX_BYTES). Returns MC_OK, or MC_ERR_CONFIG with err
 * naming the setting and its value.
 */
int api_config_check(const api_config_t *cfg, char *err, size_t errlen);

#endif
