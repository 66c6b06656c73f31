/*
 * authz_config.h - the settings of authz (environment variables, see --help).
 */
#ifndef AUTHZ_CONFIG_H
#define AUTHZ_CONFIG_H

#include "mc_auth.h"
#include "mc_config.h"

typedef struct {
    char *http_bind;
    long http_port;
    char *log_level;
    char *changes_topic;
    char *deliveries_topic;
    char *dlq_topic;
    char *group_id;
    char *transactional_id;
    char *models_path;
    char *policies_path;
    mc_auth_settings_t auth;
    long batch;
    long batch_window_ms;
} authz_config_t;

extern const mc_cfg_option_t authz_config_options[];

#endif
