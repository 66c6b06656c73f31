/*
 * mc_log.h - structured logging: one JSON object per line on stderr.
 * The level is checked before the arguments are evaluated (Redis serverLog).
 */
#ifndef MC_LOG_H
#define MC_LOG_H

#include <stdarg.h>
#include <stdio.h>

typedef enum { MC_LOG_DEBUG = 0, MC_LOG_INFO, MC_LOG_WARN, MC_LOG_ERROR } mc_log_level_t;

/*
 * Sets the service name written in every line and the minimum level.
 * Call once at start, before any thread logs. service is copied.
 */
void mc_log_init(const char *service, mc_log_level_t level);

/* Redirects output (tests); NULL restores stderr. The stream is not owned. */
void mc_log_set_stream(FILE *out);

/* Current minimum level. */
mc_log_level_t mc_log_level(void);

/* Parses "debug", "info", "warn", "error" into *level. Returns MC_OK or MC_ERR_CONFIG. */
int mc_log_level_parse(const char *name, mc_log_level_t *level);

/* Writes one line; prefer the MC_LOG macro. fmt is printf-style; the message is JSON-escaped. */
void mc_log_write(mc_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * What a line is about, written as fields of its own before "msg" (any may be NULL or empty:
 * left out): the change event (ce_id) and the trace (32 hex digits) it belongs to.
 */
typedef struct {
    const char *event_id;
    const char *trace_id;
} mc_log_ctx_t;

/* Writes one line with ctx's fields; prefer the MC_LOG_CTX macro. */
void mc_log_write_ctx(mc_log_level_t level, const mc_log_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define MC_LOG(level, ...)                                \
    do {                                                  \
        if ((level) >= mc_log_level())                    \
            mc_log_write((level), __VA_ARGS__);           \
    } while (0)

#define MC_LOG_CTX(level, ctx, ...)                       \
    do {                                                  \
        if ((level) >= mc_log_level())                    \
            mc_log_write_ctx((level), (ctx), __VA_ARGS__); \
    } while (0)

#define MC_DEBUG(...) MC_LOG(MC_LOG_DEBUG, __VA_ARGS__)
#define MC_INFO(...) MC_LOG(MC_LOG_INFO, __VA_ARGS__)
#define MC_WARN(...) MC_LOG(MC_LOG_WARN, __VA_ARGS__)
#define MC_ERROR(...) MC_LOG(MC_LOG_ERROR, __VA_ARGS__)

#endif
