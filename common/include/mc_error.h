/*
 * mc_error.h - error codes shared by every modelcast module.
 * Functions return MC_OK or an MC_ERR_* code; mc_strerror() names each one.
 */
#ifndef MC_ERROR_H
#define MC_ERROR_H

typedef enum {
    MC_OK = 0,
    MC_ERR_NOMEM,       /* allocation failed */
    MC_ERR_INVAL,       /* invalid argument or input */
    MC_ERR_CONFIG,      /* bad configuration value or file */
    MC_ERR_HELP,        /* --help was asked for and printed: exit 0 */
    MC_ERR_IO,          /* file or socket error */
    MC_ERR_PG,          /* PostgreSQL error */
    MC_ERR_KAFKA,       /* Kafka error */
    MC_ERR_JSON,        /* malformed JSON */
    MC_ERR_NOT_FOUND,   /* no such item */
    MC_ERR_TOO_LARGE,   /* input over its size limit */
    MC_ERR_TIMEOUT,     /* deadline passed */
    MC_ERR_BUSY,        /* resource held elsewhere (e.g. the relay lock) */
    MC_ERR__COUNT       /* number of codes; not an error */
} mc_err_t;

/* Returns a static, human-readable description of err ("unknown error" if out of range). */
const char *mc_strerror(int err);

/* Returns the stable symbolic name of err ("MC_ERR_NOMEM"), for logs and tests. */
const char *mc_errname(int err);

#endif
