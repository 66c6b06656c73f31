/* config.c - table-driven settings from the environment (defaults, parse, validate). */
#include "mc_config.h"
#include "mc_error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int config__parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return MC_OK;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return MC_OK;
        }
    }
    return MC_ERR_CONFIG;
}

static int config__set(const mc_cfg_option_t *o, void *conf, const char *text, const char *origin,
                       char *err, size_t errlen)
{
    char *field = (char *)conf + o->offset;

    switch (o->type) {
    case MC_CFG_STRING: {
        char **slot = (char **)(void *)field;
        char *copy = NULL;
        if (text && !(copy = strdup(text)))
            return MC_ERR_NOMEM;
        free(*slot);
        *slot = copy;
        return MC_OK;
    }
    case MC_CFG_INT: {
        char *end = NULL;
        long v;
        errno = 0;
        v = text ? strtol(text, &end, 10) : 0;
        if (!text || errno || end == text || *end != '\0') {
            snprintf(err, errlen, "%s: '%s' (%s) is not an integer", o->env, text ? text : "",
                     origin);
            return MC_ERR_CONFIG;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: %ld (%s) is out of range [%ld, %ld]", o->env, v, origin,
                     o->min, o->max);
            return MC_ERR_CONFIG;
        }
        *(long *)(void *)field = v;
        return MC_OK;
    }
    case MC_CFG_BOOL:
        if (!text || config__parse_bool(text, (int *)(void *)field) != MC_OK) {
            snprintf(err, errlen, "%s: '%s' (%s) is not a boolean (true/false)", o->env,
                     text ? text : "", origin);
            return MC_ERR_CONFIG;
        }
        return MC_OK;
    }
    return MC_ERR_INVAL;
}

void mc_config_print_help(FILE *out, const mc_cfg_option_t *opts, const char *prog,
                          const char *summary)
{
    fprintf(out, "Usage: %s [--help] [--version]\n\n%s\n\n", prog, summary);
    fprintf(out, "Settings (environment variables):\n");
    for (const mc_cfg_option_t *o = opts; o->env; o++) {
        fprintf(out, "  %-28s %s\n", o->env, o->help);
        if (o->def)
            fprintf(out, "  %-28s (default: %s)\n", "", o->def);
    }
    fprintf(out, "\nKafka client properties pass through as MC_KAFKA_<PROPERTY>, e.g.\n"
                 "MC_KAFKA_BOOTSTRAP_SERVERS=host:9092 sets bootstrap.servers.\n");
}

int mc_config_load(const mc_cfg_option_t *opts, void *conf, const char *prog,
                   const char *summary, int argc, char **argv, char *err, size_t errlen)
{
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            mc_config_print_help(stdout, opts, prog, summary);
            return MC_ERR_HELP;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", prog, MC_VERSION);
            return MC_ERR_HELP;
        }
        snprintf(err, errlen, "unknown argument '%s' (settings come from the environment; "
                 "see --help)", argv[i]);
        return MC_ERR_CONFIG;
    }

    for (const mc_cfg_option_t *o = opts; o->env; o++) {
        const char *env = getenv(o->env);
        if (env && !env[0] && o->type == MC_CFG_STRING && !o->def)
            env = NULL; /* empty optional string: unset */
        const char *text = env ? env : o->def;
        if (!text && o->type != MC_CFG_STRING) {
            snprintf(err, errlen, "%s: no value and no default", o->env);
            return MC_ERR_CONFIG;
        }
        if (!text)
            continue;
        rc = config__set(o, conf, text, env ? "from the environment" : "default", err, errlen);
        if (rc != MC_OK) {
            if (rc == MC_ERR_NOMEM)
                snprintf(err, errlen, "out of memory");
            return rc;
        }
    }
    return MC_OK;
}

void mc_config_cleanup(const mc_cfg_option_t *opts, void *conf)
{
    for (const mc_cfg_option_t *o = opts; o->env; o++) {
        if (o->type == MC_CFG_STRING) {
            char **slot = (char **)(void *)((char *)conf + o->offset);
            free(*slot);
            *slot = NULL;
        }
    }
}
