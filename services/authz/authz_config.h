/*
 * authz_config.h - the settings of authz (environment variables, see --help).
 */
#ifndef AUTHZ_CONFIG_H
#define AUTHZ_CONFIG_H

#include "mc_auth.h"
#include "mc_config.h"
#include "mc_trace.h"

#include <stddef.h>

typedef struct {
    char *http_bind;
    long http_port;
    char *log_level;
    char *changes_topic;
    char *deliveries_topic;
    char *dlq_topic;
    char *group_id;
    char *instance_id;
    char *transactional_id;
    char *models_path;
    char *policies_path;
    mc_auth_settings_t auth;
    long batch;
    long batch_window_ms;
    long dedupe_window;
    mc_trace_settings_t trace;
} authz_config_t;

extern const mc_cfg_option_t authz_config_options[];

/*
 * The identity of this instance in Kafka, its transactional.id and its group.instance.id:
 * MC_TRANSACTIONAL_ID when set, else "modelcast-authz-<MC_INSTANCE_ID>", else
 * "modelcast-authz-<hostname>-<MC_HTTP_PORT>" (hostname: the given one). Written to out.
 */
void authz_config_transactional_id(const authz_config_t *cfg, const char *hostname, char *out,
                                   size_t outlen);

#endif
