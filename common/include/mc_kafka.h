/*
 * mc_kafka.h - librdkafka helpers: configuration from defaults, MC_KAFKA_* environment
 * pass-through (MC_KAFKA_BOOTSTRAP_SERVERS → bootstrap.servers; MC_KAFKA_CONSUMER_* and
 * MC_KAFKA_PRODUCER_* for one kind of client) and forced settings; error and log callbacks
 * routed to mc_log; consumer creation; header access.
 */
#ifndef MC_KAFKA_H
#define MC_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/*
 * Builds a configuration: defaults (a NULL-terminated key, value, key, value... list; the
 * environment may override them), then every MC_KAFKA_<NAME> variable of envp (NULL: the
 * process environment) as <name> lowercased with '_' → '.', then forced (same form; the
 * environment cannot override these). bootstrap.servers defaults to 127.0.0.1:9092.
 * Also installs error_cb and log_cb writing to mc_log. Returns the conf (caller owns it),
 * or NULL with err naming the property that was refused. Variables named
 * MC_KAFKA_CONSUMER_<NAME> or MC_KAFKA_PRODUCER_<NAME> are skipped (see mc_kafka_conf_new_for).
 */
rd_kafka_conf_t *mc_kafka_conf_new(const char *const *defaults, const char *const *forced,
                                   char *const *envp, char *err, size_t errlen);

/*
 * Like mc_kafka_conf_new, for a client of type (RD_KAFKA_CONSUMER or RD_KAFKA_PRODUCER):
 * an MC_KAFKA_<NAME> variable applies only when librdkafka's scope of <name> includes this
 * type (so a consumer-only property set for a service with both kinds of client does not
 * make its producer log CONFWARN), then MC_KAFKA_CONSUMER_<NAME> (consumers) or
 * MC_KAFKA_PRODUCER_<NAME> (producers) apply on top, refused with err when <name> belongs
 * to the other type. Layers: defaults, MC_KAFKA_*, MC_KAFKA_<TYPE>_*, forced.
 */
rd_kafka_conf_t *mc_kafka_conf_new_for(rd_kafka_type_t type, const char *const *defaults,
                                       const char *const *forced, char *const *envp,
                                       char *err, size_t errlen);

/*
 * Creates a client of type from conf. Takes ownership of conf in every case.
 * Returns NULL with err filled on failure.
 */
rd_kafka_t *mc_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err, size_t errlen);

/*
 * Logs a librdkafka error as the error_cb installed by mc_kafka_conf_new does: a fatal error
 * (RD_KAFKA_RESP_ERR__FATAL) with its underlying cause as an error, anything else (retried by
 * librdkafka) as a warning. For services that install an error_cb of their own.
 */
void mc_kafka_log_error(rd_kafka_t *rk, int err, const char *reason);

/*
 * Subscribes consumer rk to the n topics (consumer group mode) and redirects the main
 * queue to the consumer queue. Returns MC_OK or MC_ERR_KAFKA with err filled.
 */
int mc_kafka_subscribe(rd_kafka_t *rk, const char *const *topics, size_t n, char *err,
                       size_t errlen);

/*
 * Asks the cluster for metadata within timeout_ms: the broker is reachable.
 * Returns MC_OK or MC_ERR_KAFKA.
 */
int mc_kafka_ping(rd_kafka_t *rk, int timeout_ms);

/*
 * Copies header name of msg into buf as a NUL-terminated string (truncating to buflen).
 * Returns MC_OK, or MC_ERR_NOT_FOUND when the message has no such header.
 */
int mc_kafka_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t buflen);

/* Converts one environment variable name (after "MC_KAFKA_") into a property name in out. */
void mc_kafka_env_to_prop(const char *env_suffix, char *out, size_t outlen);

#endif
