/*
 * mc_config.h - service settings from environment variables, with defaults and --help.
 * One table describes every setting of a service; parsing follows defaults → environment
 * → validation, and errors name the setting and the bad value.
 */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef enum { MC_CFG_STRING, MC_CFG_INT, MC_CFG_BOOL } mc_cfg_type_t;

typedef struct {
    const char *env;      /* environment variable, e.g. "MC_HTTP_PORT" */
    mc_cfg_type_t type;
    const char *def;      /* default as text; NULL for none (string stays NULL) */
    size_t offset;        /* offsetof() the field in the service's config struct:
                             char * for STRING, long for INT, int for BOOL */
    long min, max;        /* inclusive bounds for INT */
    const char *help;
} mc_cfg_option_t;

#define MC_CFG_END {NULL, MC_CFG_STRING, NULL, 0, 0, 0, NULL}

/*
 * Fills conf from defaults, then the environment, then validates bounds. An optional string
 * setting (no default) set to the empty string counts as unset, so that deployment files can
 * pass a variable through empty (docker compose's `${VAR-}`, a chart value left "").
 * argv may hold "--help"/"-h" (prints help to stdout, returns MC_ERR_HELP) or
 * "--version" (prints it, returns MC_ERR_HELP); any other argument is an error.
 * Strings in conf are heap copies: release with mc_config_cleanup().
 * Returns MC_OK, MC_ERR_HELP, MC_ERR_CONFIG (err names the setting) or MC_ERR_NOMEM.
 */
int mc_config_load(const mc_cfg_option_t *opts, void *conf, const char *prog,
                   const char *summary, int argc, char **argv, char *err, size_t errlen);

/* Prints the usage text built from the table. */
void mc_config_print_help(FILE *out, const mc_cfg_option_t *opts, const char *prog,
                          const char *summary);

/* Frees the strings mc_config_load() stored in conf and NULLs them. */
void mc_config_cleanup(const mc_cfg_option_t *opts, void *conf);

#endif
