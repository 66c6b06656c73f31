/*
 * api_config.h - the settings of model-api (environment variables, see --help).
 */
#ifndef API_CONFIG_H
#define API_CONFIG_H

#include "mc_auth.h"
#include "mc_config.h"

typedef struct {
    char *http_bind;
    long http_port;
    long http_threads;
    long max_body;
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
    long list_limit_max;
} api_config_t;

extern const mc_cfg_option_t api_config_options[];

#endif
