/*
 * mc_auth.h - who is calling: builds the token verifier from the shared MC_JWT_* settings
 * and turns an HTTP request's "Authorization: Bearer" header into verified claims, or the
 * anonymous caller (no header), or a 401.
 */
#ifndef MC_AUTH_H
#define MC_AUTH_H

#include <jansson.h>
#include <stddef.h>
#include <ulfius.h>

#include "mc_config.h"
#include "mc_jwt.h"
#include "mc_metrics.h"

/* The token settings every service shares; embed in a service's config struct. */
typedef struct {
    char *alg;          /* MC_JWT_ALG: pinned algorithm of MC_JWT_KEY */
    char *key;          /* MC_JWT_KEY: HMAC secret or PEM public key (never logged) */
    char *key_file;     /* MC_JWT_KEY_FILE: read the key from this file instead */
    char *jwks_url;     /* MC_JWT_JWKS_URL: or the identity provider's key set */
    char *jwks_file;    /* MC_JWT_JWKS_FILE: or a key set in a file */
    char *jwks_algs;    /* MC_JWT_JWKS_ALGS: algorithms allowed for the set's keys */
    long jwks_refresh_min;   /* MC_JWT_JWKS_REFRESH_MIN: s */
    long jwks_refresh_max;   /* MC_JWT_JWKS_REFRESH_MAX: s */
    long jwks_timeout_ms;    /* MC_JWT_JWKS_TIMEOUT_MS */
    int jwks_allow_http;     /* MC_JWT_JWKS_ALLOW_HTTP */
    char *jwks_ca_file;      /* MC_JWT_JWKS_CA_FILE */
    char *issuer;       /* MC_JWT_ISSUER: required iss, or NULL */
    char *audience;     /* MC_JWT_AUDIENCE: required aud, or NULL */
    long leeway;        /* MC_JWT_LEEWAY: seconds of clock skew for exp/nbf */
    int require_exp;    /* MC_JWT_REQUIRE_EXP: refuse tokens without exp */
} mc_auth_settings_t;

/* The settings-table rows for an mc_auth_settings_t at offset base of the service config. */
/* NOLINTBEGIN(bugprone-macro-parentheses): offsetof's field.alg cannot be parenthesised */
#define MC_AUTH_OPTIONS(type, field)                                                          \
    {"MC_JWT_ALG", MC_CFG_STRING, "HS256", offsetof(type, field.alg), 0, 0,                   \
     "pinned algorithm of MC_JWT_KEY: HS256/384/512, RS256/384/512, PS256/384/512, "          \
     "ES256/384/512"},                                                                       \
    {"MC_JWT_KEY", MC_CFG_STRING, NULL, offsetof(type, field.key), 0, 0,                      \
     "HMAC secret or PEM public key for tokens (never logged); without a key or a key set "  \
     "only anonymous callers are served"},                                                   \
    {"MC_JWT_KEY_FILE", MC_CFG_STRING, NULL, offsetof(type, field.key_file), 0, 0,            \
     "file holding the key (instead of MC_JWT_KEY)"},                                        \
    {"MC_JWT_JWKS_URL", MC_CFG_STRING, NULL, offsetof(type, field.jwks_url), 0, 0,            \
     "the identity provider's JWKS (https; http only to loopback or with "                   \
     "MC_JWT_JWKS_ALLOW_HTTP): keys picked by kid, instead of MC_JWT_KEY"},                  \
    {"MC_JWT_JWKS_FILE", MC_CFG_STRING, NULL, offsetof(type, field.jwks_file), 0, 0,          \
     "a JWKS document in a file, re-read like the URL (instead of MC_JWT_JWKS_URL)"},        \
    {"MC_JWT_JWKS_ALGS", MC_CFG_STRING, "RS256,ES256", offsetof(type, field.jwks_algs), 0, 0, \
     "algorithms allowed for the key set's keys (RS/PS/ES 256/384/512; a key's own alg "     \
     "must be one of them)"},                                                                \
    {"MC_JWT_JWKS_REFRESH_MIN", MC_CFG_INT, "60", offsetof(type, field.jwks_refresh_min), 1,  \
     86400, "seconds: least time between two fetches of the key set (cache headers asking "  \
     "less are raised to it), and between two fetches caused by unknown kids"},              \
    {"MC_JWT_JWKS_REFRESH_MAX", MC_CFG_INT, "3600", offsetof(type, field.jwks_refresh_max),   \
     1, 604800, "seconds: most time a fetched key set is kept before it is fetched again"},  \
    {"MC_JWT_JWKS_TIMEOUT_MS", MC_CFG_INT, "5000", offsetof(type, field.jwks_timeout_ms),     \
     100, 60000, "bound of one key set fetch (and of a request waiting for it)"},           \
    {"MC_JWT_JWKS_ALLOW_HTTP", MC_CFG_BOOL, "false", offsetof(type, field.jwks_allow_http),   \
     0, 0, "allow a plain http MC_JWT_JWKS_URL to a host that is not loopback"},              \
    {"MC_JWT_JWKS_CA_FILE", MC_CFG_STRING, NULL, offsetof(type, field.jwks_ca_file), 0, 0,    \
     "CA bundle for the JWKS URL's certificate (default: the system's)"},                    \
    {"MC_JWT_ISSUER", MC_CFG_STRING, NULL, offsetof(type, field.issuer), 0, 0,                \
     "required iss claim (optional)"},                                                       \
    {"MC_JWT_AUDIENCE", MC_CFG_STRING, NULL, offsetof(type, field.audience), 0, 0,            \
     "required aud claim (optional)"},                                                       \
    {"MC_JWT_LEEWAY", MC_CFG_INT, "30", offsetof(type, field.leeway), 0, 3600,                \
     "seconds of clock skew allowed for exp and nbf"},                                       \
    {"MC_JWT_REQUIRE_EXP", MC_CFG_BOOL, "true", offsetof(type, field.require_exp), 0, 0,      \
     "refuse tokens without an exp claim (a token that never expires)"}
/* NOLINTEND(bugprone-macro-parentheses) */

/*
 * Builds the verifier from settings: one key (MC_JWT_KEY or MC_JWT_KEY_FILE with
 * MC_JWT_ALG) or a key set (MC_JWT_JWKS_URL or MC_JWT_JWKS_FILE), whose first load happens
 * here (bounded by MC_JWT_JWKS_TIMEOUT_MS; a failure is logged, not fatal) and whose
 * refresher thread starts here. *out is NULL (and MC_OK returned) when neither is
 * configured: every presented token is then refused with reason "no_key". Returns
 * MC_ERR_CONFIG with err naming the setting on a bad algorithm, key, key file or key set
 * setting.
 */
int mc_auth_verifier(const mc_auth_settings_t *s, mc_jwt_verifier_t **out, char *err,
                     size_t errlen);

/*
 * Verifies token (NULL or empty: the anonymous caller, *claims = NULL, MC_OK). Returns
 * MC_OK with *claims (caller owns) or MC_ERR_INVAL with *reason (see mc_jwt.h, plus
 * "no_key"). v may be NULL.
 */
int mc_auth_token(const mc_jwt_verifier_t *v, const char *token, json_t **claims,
                  const char **reason);

/*
 * The caller of req: no Authorization header → anonymous (*claims = NULL, MC_OK); a valid
 * "Bearer <token>" → its claims; anything else → a 401 JSON error is set on resp
 * (code "invalid_token", details.reason) and MC_ERR_INVAL returned.
 */
int mc_auth_request(const mc_jwt_verifier_t *v, const struct _u_request *req,
                    struct _u_response *resp, json_t **claims);

/*
 * For a service's /readyz: with a key set, adds "jwks" (mc_jwks_status detail) to body and
 * returns 0 while no key set is loaded (every token would be refused), else 1. Without a
 * key set adds nothing and returns 1. v may be NULL.
 */
int mc_auth_ready(const mc_jwt_verifier_t *v, json_t *body);

/* Registers the key set's metrics (mc_jwks_metrics) in m; nothing without a key set.
 * v must outlive every render of m. MC_OK or MC_ERR_NOMEM. */
int mc_auth_metrics(const mc_jwt_verifier_t *v, mc_metrics_t *m);

#endif
