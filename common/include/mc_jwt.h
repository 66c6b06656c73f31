/*
 * mc_jwt.h - verification of bearer tokens (JWS compact form) with an algorithm and key
 * pinned by configuration: the token's own "alg" is never trusted. Built on libjwt.
 *
 * Rejection reasons (stable strings, safe to log and to return to clients):
 *   "missing"        no token (NULL or empty)
 *   "too_large"      longer than MC_JWT_MAX_LEN bytes
 *   "malformed"      not three base64url parts, header or payload not a JSON object,
 *                    header without a string "alg", exp/nbf/iss/aud of the wrong JSON type
 *   "alg_none"       header alg is "none" (unsigned token)
 *   "wrong_alg"      header alg is not the pinned algorithm (e.g. HS256 against RS256)
 *   "bad_signature"  signature does not verify with the pinned algorithm and key
 *   "expired"        now - leeway >= exp
 *   "not_yet_valid"  now + leeway < nbf
 *   "bad_issuer"     an issuer is configured and iss differs (or is missing)
 *   "bad_audience"   an audience is configured and aud (string or array) does not name it
 *   "no_exp"         the verifier requires exp (mc_jwt_verifier_require_exp) and it is absent
 * exp and nbf are optional unless required; when present they must be numbers.
 */
#ifndef MC_JWT_H
#define MC_JWT_H

#include <jansson.h>
#include <stddef.h>

#define MC_JWT_MAX_LEN 8192

typedef struct mc_jwt_verifier mc_jwt_verifier_t;

/*
 * Creates a verifier. alg: HS256, HS384, HS512 (key = shared secret, keylen bytes),
 * RS256, RS384, RS512, ES256, ES384, ES512 (key = PEM public key or certificate).
 * iss and aud (may be NULL: not checked) are copied. leeway_s (>= 0) is the clock skew
 * allowed for exp and nbf. Returns NULL with err filled on a bad argument or no memory.
 * Free with mc_jwt_verifier_free(). A verifier is immutable: share it between threads.
 */
mc_jwt_verifier_t *mc_jwt_verifier_new(const char *alg, const char *key, size_t keylen,
                                       const char *iss, const char *aud, long leeway_s,
                                       char *err, size_t errlen);

void mc_jwt_verifier_free(mc_jwt_verifier_t *v);

/* Makes exp mandatory (require != 0): a token that never expires is refused ("no_exp"). */
void mc_jwt_verifier_require_exp(mc_jwt_verifier_t *v, int require);

/* The pinned algorithm's name ("RS256"). */
const char *mc_jwt_verifier_alg(const mc_jwt_verifier_t *v);

/*
 * Verifies token at time now (seconds since the epoch). On success returns MC_OK and, when
 * claims is not NULL, sets *claims to the payload object (a new reference the caller
 * owns). On rejection returns MC_ERR_INVAL with *reason one of the strings above (static);
 * MC_ERR_NOMEM when memory ran out. claims and reason may be NULL.
 */
int mc_jwt_verify(const mc_jwt_verifier_t *v, const char *token, long now, json_t **claims,
                  const char **reason);

#endif
