/* kafka.c - librdkafka configuration and small helpers shared by the services. */
#include "mc_kafka.h"
#include "mc_error.h"
#include "mc_log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define ENV_PREFIX "MC_KAFKA_"
#define ENV_CONSUMER "CONSUMER_" /* MC_KAFKA_CONSUMER_<NAME>: consumers only */
#define ENV_PRODUCER "PRODUCER_" /* MC_KAFKA_PRODUCER_<NAME>: producers only */

void mc_kafka_env_to_prop(const char *env_suffix, char *out, size_t outlen)
{
    size_t i = 0;
    for (; env_suffix[i] && i + 1 < outlen; i++) {
        char c = env_suffix[i];
        out[i] = (char)(c == '_' ? '.' : tolower((unsigned char)c));
    }
    out[i] = '\0';
}

void mc_kafka_log_error(rd_kafka_t *rk, int err, const char *reason)
{
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        MC_ERROR("kafka %s: fatal error %s: %s", rd_kafka_name(rk), rd_kafka_err2name(orig),
                 fatal);
        return;
    }
    /* Transport errors are retried by librdkafka; they are not fatal. */
    MC_WARN("kafka %s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name((rd_kafka_resp_err_t)err),
            reason);
}

static void kafka__error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    mc_kafka_log_error(rk, err, reason);
}

static void kafka__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    mc_log_level_t lvl = level <= 3 ? MC_LOG_ERROR : level <= 5 ? MC_LOG_WARN
                                                  : level == 6 ? MC_LOG_INFO
                                                               : MC_LOG_DEBUG;
    MC_LOG(lvl, "kafka %s %s: %s", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

static int kafka__set_list(rd_kafka_conf_t *conf, const char *const *kv, char *err,
                           size_t errlen)
{
    for (; kv && kv[0]; kv += 2) {
        char why[256];
        if (!kv[1] || rd_kafka_conf_set(conf, kv[0], kv[1], why, sizeof why) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "kafka property %s: %s", kv[0], kv[1] ? why : "no value");
            return MC_ERR_CONFIG;
        }
    }
    return MC_OK;
}

/*
 * The scope librdkafka gives property prop: '*' (every client), 'C' (consumers), 'P'
 * (producers), or 0 when it has no such property (the caller then lets rd_kafka_conf_set
 * refuse it). Read from rd_kafka_conf_properties_show(), the table of the library in use.
 */
static char kafka__scope(const char *prop)
{
    char *text = NULL, *line, *save = NULL;
    size_t size = 0, plen = strlen(prop);
    char scope = 0;
    FILE *fp = open_memstream(&text, &size);
    if (!fp)
        return 0;
    rd_kafka_conf_properties_show(fp);
    fclose(fp);
    /* Rows look like "linger.ms                                |  P  | 0 .. 900000 | ...". */
    for (line = strtok_r(text, "\n", &save); line && !scope; line = strtok_r(NULL, "\n", &save)) {
        const char *bar = strchr(line, '|');
        if (!bar || strncmp(line, prop, plen) != 0 || (line[plen] != ' ' && line + plen != bar))
            continue;
        for (const char *c = bar + 1; *c && *c != '|'; c++)
            if (*c == '*' || *c == 'C' || *c == 'P') {
                scope = *c;
                break;
            }
    }
    free(text);
    return scope;
}

/*
 * Applies the MC_KAFKA_<NAME> variables of envp to conf. role is NULL for the untyped form
 * (every variable except the role-prefixed ones), or "CONSUMER_" / "PRODUCER_": then a
 * plain variable applies only where the property's scope admits want ('C' or 'P'), and a
 * variable with the role prefix applies to this role alone (a property of the other role
 * is refused by name).
 */
static int kafka__apply_env(rd_kafka_conf_t *conf, char *const *envp, const char *role,
                            char want, int role_pass, char *err, size_t errlen)
{
    static const char *const roles[] = {"CONSUMER_", "PRODUCER_"};
    char why[256];
    for (char *const *e = envp ? envp : environ; e && *e; e++) {
        const char *eq = strchr(*e, '='), *name = *e + strlen(ENV_PREFIX);
        char var[256], prop[256];
        size_t nlen;
        int prefixed = 0;
        if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 || !eq)
            continue;
        for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++)
            if (strncmp(name, roles[r], strlen(roles[r])) == 0)
                prefixed = 1 + (int)r;
        if (role_pass) {
            /* Only this role's variables, without the role prefix. */
            if (!role || !prefixed || strncmp(name, role, strlen(role)) != 0)
                continue;
            name += strlen(role);
        } else if (prefixed) {
            continue;
        }
        nlen = (size_t)(eq - name);
        if (nlen == 0 || nlen >= sizeof var)
            continue;
        memcpy(var, name, nlen);
        var[nlen] = '\0';
        mc_kafka_env_to_prop(var, prop, sizeof prop);
        int envlen = (int)(eq - *e);
        if (role) {
            char scope = kafka__scope(prop);
            if (scope && scope != '*' && scope != want) {
                if (!role_pass)
                    continue; /* a property of the other kind of client: not for this one */
                snprintf(err, errlen, "%.*s: %s is a %s property", envlen, *e, prop,
                         scope == 'C' ? "consumer" : "producer");
                return MC_ERR_CONFIG;
            }
        }
        if (rd_kafka_conf_set(conf, prop, eq + 1, why, sizeof why) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "%.*s (kafka property %s): %s", envlen, *e, prop, why);
            return MC_ERR_CONFIG;
        }
    }
    return MC_OK;
}

static rd_kafka_conf_t *kafka__conf_new(const char *role, char want,
                                        const char *const *defaults,
                                        const char *const *forced, char *const *envp,
                                        char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];

    if (rd_kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:9092", why, sizeof why) !=
            RD_KAFKA_CONF_OK ||
        kafka__set_list(conf, defaults, err, errlen) != MC_OK ||
        kafka__apply_env(conf, envp, role, want, 0, err, errlen) != MC_OK ||
        kafka__apply_env(conf, envp, role, want, 1, err, errlen) != MC_OK ||
        kafka__set_list(conf, forced, err, errlen) != MC_OK)
        goto fail;
    rd_kafka_conf_set_error_cb(conf, kafka__error_cb);
    rd_kafka_conf_set_log_cb(conf, kafka__log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_conf_t *mc_kafka_conf_new(const char *const *defaults, const char *const *forced,
                                   char *const *envp, char *err, size_t errlen)
{
    return kafka__conf_new(NULL, 0, defaults, forced, envp, err, errlen);
}

rd_kafka_conf_t *mc_kafka_conf_new_for(rd_kafka_type_t type, const char *const *defaults,
                                       const char *const *forced, char *const *envp,
                                       char *err, size_t errlen)
{
    int consumer = type == RD_KAFKA_CONSUMER;
    return kafka__conf_new(consumer ? ENV_CONSUMER : ENV_PRODUCER, consumer ? 'C' : 'P',
                           defaults, forced, envp, err, errlen);
}

rd_kafka_t *mc_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf); /* rd_kafka_new only takes it on success */
    return rk;
}

int mc_kafka_subscribe(rd_kafka_t *rk, const char *const *topics, size_t n, char *err,
                       size_t errlen)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    rd_kafka_resp_err_t rc;

    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_poll_set_consumer(rk);
    rc = rd_kafka_subscribe(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (rc) {
        snprintf(err, errlen, "subscribe failed: %s", rd_kafka_err2str(rc));
        return MC_ERR_KAFKA;
    }
    return MC_OK;
}

int mc_kafka_ping(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (md)
        rd_kafka_metadata_destroy(md);
    return rc == RD_KAFKA_RESP_ERR_NO_ERROR ? MC_OK : MC_ERR_KAFKA;
}

int mc_kafka_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t buflen)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val;
    size_t len;

    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, name, &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return MC_ERR_NOT_FOUND;
    if (buflen == 0)
        return MC_OK;
    if (len >= buflen)
        len = buflen - 1;
    if (val)
        memcpy(buf, val, len);
    buf[val ? len : 0] = '\0';
    return MC_OK;
}
