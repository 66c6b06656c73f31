/*
 * mc_jwks.h - token keys published by an identity provider as a JSON Web Key Set (RFC 7517):
 * fetched from MC_JWT_JWKS_URL (libcurl) or read from MC_JWT_JWKS_FILE, each key pinned to
 * the configured algorithms, kept fresh by a refresher thread that follows the document's
 * cache headers within bounds. An unknown kid asks for at most one refetch per minimum
 * interval; a failed refresh keeps the last good set; no set at all refuses every token.
 */
#ifndef MC_JWKS_H
#define MC_JWKS_H

#include <jansson.h>
#include <stddef.h>

#include "mc_metrics.h"

#define MC_JWKS_MAX_BYTES (256 * 1024) /* a larger document is refused */
#define MC_JWKS_MAX_KEYS 64            /* a document with more keys is refused */

typedef struct {
    const char *url;      /* https URL of the key set (http: loopback hosts, or allow_http) */
    const char *file;     /* or a file holding it (exactly one of url and file) */
    const char *algs;     /* allowed algorithms, "RS256,ES256" (RS/PS/ES 256/384/512) */
    long refresh_min_s;   /* floor of the refresh interval, and of unknown-kid refetches */
    long refresh_max_s;   /* ceiling of the refresh interval */
    long timeout_ms;      /* one fetch, and a request waiting for an unknown-kid refetch */
    int allow_http;       /* plain http to any host */
    const char *ca_file;  /* CA bundle for https (NULL: the system's) */
} mc_jwks_opts_t;

typedef struct mc_jwks mc_jwks_t;

/*
 * Validates o (err names the setting: MC_JWT_JWKS_URL, MC_JWT_JWKS_ALGS...), loads the set
 * once (a failure is logged and reported by mc_jwks_status, not fatal: tokens are refused
 * until a refresh succeeds) and starts the refresher thread. NULL with err on a bad setting.
 * Free with mc_jwks_free() (stops the thread). Thread-safe.
 */
mc_jwks_t *mc_jwks_new(const mc_jwks_opts_t *o, char *err, size_t errlen);

void mc_jwks_free(mc_jwks_t *k);

/*
 * Whether a key set is loaded (1) or not (0). When detail is not NULL, sets it to a new
 * object: {"status": "ok"|"stale"|"no_keys", "keys", "source", "refreshes", "failures",
 * "consecutive_failures", "last_success" (epoch s or null), "last_error", "next_refresh_s"}.
 * "stale": the last refresh failed and the previous set is kept.
 */
int mc_jwks_status(mc_jwks_t *k, json_t **detail);

/*
 * Registers the source's series in m: modelcast_jwks_keys, modelcast_jwks_refreshes_total,
 * modelcast_jwks_refresh_failures_total, modelcast_jwks_last_success_timestamp_seconds
 * (read at render time: k must outlive every render of m). MC_OK or MC_ERR_NOMEM.
 */
int mc_jwks_metrics(mc_jwks_t *k, mc_metrics_t *m);

/*
 * Seconds a response may be cached from its Cache-Control (max-age wins; no-store, no-cache
 * and must-revalidate count as 0) or else Expires minus Date (or minus now when Date is
 * absent). Any argument may be NULL. -1 when the headers say nothing usable.
 */
long mc_jwks_cache_ttl(const char *cache_control, const char *expires, const char *date,
                       long now);

#endif
