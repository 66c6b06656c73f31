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

/* The token settings every service shares; embed in a service's config struct. */
typedef struct {
    char *alg;          /* MC_JWT_ALG: pinned algorithm */
    char *key;          /* MC_JWT_KEY: HMAC secret or PEM public key (never logged) */
    char *key_file;     /* MC_JWT_KEY_FILE: read the key from this file instead */
    char *issuer;       /* MC_JWT_ISSUER: required iss, or NULL */
    char *audience;     /* MC_JWT_AUDIENCE: required aud, or NULL */
    long leeway;        /* MC_JWT_LEEWAY: seconds of clock skew for exp/nbf */
    int require_exp;    /* MC_JWT_REQUIRE_EXP: refuse tokens without exp */
} mc_auth_settings_t;

/* The settings-table rows for an mc_auth_settings_t at offset base of the service config. */
#define MC_AUTH_OPTIONS(type, field)                                                          \
    {"MC_JWT_ALG", MC_CFG_STRING, "HS256", offsetof(type, field.alg), 0, 0,                   \
     "pinned JWT algorithm: HS256/384/512, RS256/384/512, ES256/384/512"},                   \
    {"MC_JWT_KEY", MC_CFG_STRING, NULL, offsetof(type, field.key), 0, 0,                      \
     "HMAC secret or PEM public key for tokens (never logged); without a key only "          \
     "anonymous callers are served"},                                                        \
    {"MC_JWT_KEY_FILE", MC_CFG_STRING, NULL, offsetof(type, field.key_file), 0, 0,            \
     "file holding the key (instead of MC_JWT_KEY)"},                                        \
    {"MC_JWT_ISSUER", MC_CFG_STRING, NULL, offsetof(type, field.issuer), 0, 0,                \
     "required iss claim (optional)"},                                                       \
    {"MC_JWT_AUDIENCE", MC_CFG_STRING, NULL, offsetof(type, field.audience), 0, 0,            \
     "required aud claim (optional)"},                                                       \
    {"MC_JWT_LEEWAY", MC_CFG_INT, "30", offsetof(type, field.leeway), 0, 3600,                \
     "seconds of clock skew allowed for exp and nbf"},                                       \
    {"MC_JWT_REQUIRE_EXP", MC_CFG_BOOL, "true", offsetof(type, field.require_exp), 0, 0,      \
     "refuse tokens without an exp claim (a token that never expires)"}

/*
 * Builds the verifier from settings. *out is NULL (and MC_OK returned) when no key is
 * configured: every presented token is then refused with reason "no_key". Returns
 * MC_ERR_CONFIG with err naming the setting on a bad algorithm, key or key file.
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

#endif
