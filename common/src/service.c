/* service.c - settings, logging and signals at the start of every service. */
#include "mc_service.h"
#include "mc_error.h"
#include "mc_log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

int mc_service_init(const mc_cfg_option_t *opts, void *conf, const char *prog,
                    const char *service, const char *summary, int argc, char **argv,
                    sigset_t *sigs)
{
    char err[1024];
    const char *level_text = NULL;
    mc_log_level_t level;

    int rc = mc_config_load(opts, conf, prog, summary, argc, argv, err, sizeof err);
    if (rc == MC_ERR_HELP) {
        mc_config_cleanup(opts, conf);
        return 0;
    }
    for (const mc_cfg_option_t *o = opts; rc == MC_OK && o->env; o++)
        if (strcmp(o->env, "MC_LOG_LEVEL") == 0)
            level_text = *(char **)(void *)((char *)conf + o->offset);
    if (rc == MC_OK && mc_log_level_parse(level_text, &level) != MC_OK) {
        snprintf(err, sizeof err, "MC_LOG_LEVEL: '%s' is not debug, info, warn or error",
                 level_text ? level_text : "");
        rc = MC_ERR_CONFIG;
    }
    if (rc != MC_OK) {
        fprintf(stderr, "%s: %s\n", prog, err);
        mc_config_cleanup(opts, conf);
        return 2;
    }
    mc_log_init(service, level);
    sigemptyset(sigs);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    return -1;
}
