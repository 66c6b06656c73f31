/* log.c - JSON-lines logger. The level and service name are set once at start. */
#include "mc_log.h"
#include "mc_error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static char log_service[64] = "modelcast";
static _Atomic int log_min_level = MC_LOG_INFO;
static FILE *log_stream;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void mc_log_init(const char *service, mc_log_level_t level)
{
    if (service)
        snprintf(log_service, sizeof log_service, "%s", service);
    atomic_store(&log_min_level, (int)level);
}

void mc_log_set_stream(FILE *out)
{
    pthread_mutex_lock(&log_lock);
    log_stream = out;
    pthread_mutex_unlock(&log_lock);
}

mc_log_level_t mc_log_level(void)
{
    return (mc_log_level_t)atomic_load(&log_min_level);
}

int mc_log_level_parse(const char *name, mc_log_level_t *level)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (name && strcasecmp(name, level_names[i]) == 0) {
            *level = (mc_log_level_t)i;
            return MC_OK;
        }
    }
    return MC_ERR_CONFIG;
}

/* Appends src to dst[*len] JSON-escaped, truncating at cap. */
static void log__escape(char *dst, size_t *len, size_t cap, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        char esc[7];
        size_t n;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else if (*p == '\n') {
            memcpy(esc, "\\n", 2);
            n = 2;
        } else if (*p < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xf];
            n = 6;
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        if (*len + n >= cap)
            break;
        memcpy(dst + *len, esc, n);
        *len += n;
    }
    dst[*len] = '\0';
}

static void log__vwrite(mc_log_level_t level, const mc_log_ctx_t *ctx, const char *fmt,
                        va_list ap) __attribute__((format(printf, 3, 0)));

static void log__vwrite(mc_log_level_t level, const mc_log_ctx_t *ctx, const char *fmt,
                        va_list ap)
{
    char msg[2048];
    char line[4096 + 512];
    size_t len = 0;
    struct timeval tv;
    struct tm tm;

    vsnprintf(msg, sizeof msg, fmt, ap);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    len = strftime(line, sizeof line, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t)snprintf(line + len, sizeof line - len, ".%03ldZ\",\"level\":\"%s\",\"service\":\"",
                            (long)tv.tv_usec / 1000,
                            level_names[level < 0 || level > MC_LOG_ERROR ? MC_LOG_ERROR : level]);
    log__escape(line, &len, sizeof line - 64, log_service);
    if (ctx && ctx->event_id && *ctx->event_id) {
        len += (size_t)snprintf(line + len, sizeof line - len, "\",\"event_id\":\"");
        log__escape(line, &len, sizeof line - 64, ctx->event_id);
    }
    if (ctx && ctx->trace_id && *ctx->trace_id) {
        len += (size_t)snprintf(line + len, sizeof line - len, "\",\"trace_id\":\"");
        log__escape(line, &len, sizeof line - 64, ctx->trace_id);
    }
    len += (size_t)snprintf(line + len, sizeof line - len, "\",\"msg\":\"");
    log__escape(line, &len, sizeof line - 4, msg);
    memcpy(line + len, "\"}\n", 4);
    len += 3;

    pthread_mutex_lock(&log_lock);
    FILE *out = log_stream ? log_stream : stderr;
    fwrite(line, 1, len, out);
    fflush(out);
    pthread_mutex_unlock(&log_lock);
}

void mc_log_write(mc_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log__vwrite(level, NULL, fmt, ap);
    va_end(ap);
}

void mc_log_write_ctx(mc_log_level_t level, const mc_log_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log__vwrite(level, ctx, fmt, ap);
    va_end(ap);
}
