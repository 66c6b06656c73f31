/*
 * cors.h - which web origins may call the API from a browser (MC_CORS_ORIGINS): the
 * setting parsed and checked at start, and the answer for one request's Origin.
 */
#ifndef CORS_H
#define CORS_H

#include <stddef.h>

typedef struct cors cors_t;

/*
 * Parses spec: empty or NULL (no origin: the default), "*" (any origin, never with
 * credentials), or comma-separated exact origins "scheme://host[:port]" (compared as
 * browsers send them: lower-case scheme and host, no path, no default port spelled out).
 * Returns MC_OK with *out set (free with cors_free), or MC_ERR_CONFIG with err naming the
 * origin that is not valid and why, or MC_ERR_NOMEM.
 */
int cors_new(const char *spec, cors_t **out, char *err, size_t errlen);

void cors_free(cors_t *cors);

/* Whether any origin is allowed at all. */
int cors_enabled(const cors_t *cors);

/* Whether every origin is allowed ("*"). */
int cors_any(const cors_t *cors);

/*
 * The Access-Control-Allow-Origin value for a request with this Origin header: "*" or the
 * origin itself when it is allowed, NULL when it is not (or origin is NULL).
 */
const char *cors_allow(const cors_t *cors, const char *origin);

#endif
