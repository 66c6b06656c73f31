/*
 * mc_jwt.h - verification of bearer tokens (JWS compact form) against keys pinned by
 * configuration: one key with one algorithm (MC_JWT_KEY), or the keys of a JWKS (mc_jwks.h),
 * each pinned to its algorithms. The token's own "alg" never chooses: it is only checked
 * against the key's. Signatures are checked by cjose.
 *
 * Rejection reasons (stable strings, safe to log and to return to clients):
 *   "missing"        no token (NULL or empty)
 *   "too_large"      longer than MC_JWT_MAX_LEN bytes
 *   "malformed"      not three base64url parts, header or payload not a JSON object,
 *                    header without a string "alg" (or with a non-string "kid"),
 *                    exp/nbf of the wrong JSON type
 *   "alg_none"       header alg is "none" (unsigned token)
 *   "wrong_alg"      header alg is not an algorithm pinned to the key (e.g. HS256 against
 *                    an RS256 key: algorithm confusion)
 *   "no_keys"        a JWKS is configured but no key set could be loaded (fail closed)
 *   "unknown_kid"    the JWKS holds no key with the token's kid (after the refetch it may
 *                    cause, see mc_jwks.h)
 *   "no_kid"         the token has no kid and the JWKS holds more than one key
 *   "bad_signature"  signature does not verify with the key
 *   "expired"        now - leeway >= exp
 *   "not_yet_valid"  now + leeway < nbf
 *   "bad_issuer"     an issuer is configured and iss differs (or is missing)
 *   "bad_audience"   an audience is configured and aud (string or array) does not name it
 *   "no_exp"         the verifier requires exp (mc_jwt_verifier_require_exp) and it is absent
 *   "too_many_items" the payload names more than MC_JWT_MAX_CLAIM_ITEMS list items
 * exp and nbf are optional unless required; when present they must be numbers.
 */
#ifndef MC_JWT_H
#define MC_JWT_H

#include <jansson.h>
#include <stddef.h>

#include "mc_jwks.h"

#define MC_JWT_MAX_LEN 8192

/*
 * The most list items a token's payload may name: the elements of its arrays (at any depth)
 * plus the words of its strings that hold spaces (space-separated lists such as "scope").
 * Policies read claims as lists (teams, roles): every path that reads them (REST filters,
 * the WebSocket channel check) then sees the whole list; a larger token is refused.
 */
#define MC_JWT_MAX_CLAIM_ITEMS 1000

typedef struct mc_jwt_verifier mc_jwt_verifier_t;

/*
 * Creates a verifier with one key. alg: HS256, HS384, HS512 (key = shared secret, keylen
 * bytes), RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 (key = PEM public
 * key or certificate of the matching type). iss and aud (may be NULL: not checked) are
 * copied. leeway_s (>= 0) is the clock skew allowed for exp and nbf. Returns NULL with err
 * filled on a bad argument or no memory. Free with mc_jwt_verifier_free(). A verifier is
 * safe to share between threads.
 */
mc_jwt_verifier_t *mc_jwt_verifier_new(const char *alg, const char *key, size_t keylen,
                                       const char *iss, const char *aud, long leeway_s,
                                       char *err, size_t errlen);

/*
 * Creates a verifier whose keys come from jwks (takes ownership of it, also on failure),
 * picked by the token's kid. iss, aud and leeway_s as above.
 */
mc_jwt_verifier_t *mc_jwt_verifier_new_jwks(mc_jwks_t *jwks, const char *iss, const char *aud,
                                            long leeway_s, char *err, size_t errlen);

void mc_jwt_verifier_free(mc_jwt_verifier_t *v);

/* Makes exp mandatory (require != 0): a token that never expires is refused ("no_exp"). */
void mc_jwt_verifier_require_exp(mc_jwt_verifier_t *v, int require);

/* The pinned algorithm's name ("RS256") of a one-key verifier; "JWKS" for a key set. */
const char *mc_jwt_verifier_alg(const mc_jwt_verifier_t *v);

/* The verifier's key set source, NULL for a one-key verifier (or v NULL). */
mc_jwks_t *mc_jwt_verifier_jwks(const mc_jwt_verifier_t *v);

/*
 * Verifies token at time now (seconds since the epoch). On success returns MC_OK and, when
 * claims is not NULL, sets *claims to the payload object (a new reference the caller
 * owns). On rejection returns MC_ERR_INVAL with *reason one of the strings above (static);
 * MC_ERR_NOMEM when memory ran out. claims and reason may be NULL. With a JWKS, a token
 * with an unknown kid may wait for one refetch (bounded, see mc_jwks.h).
 */
int mc_jwt_verify(const mc_jwt_verifier_t *v, const char *token, long now, json_t **claims,
                  const char **reason);

/* The number of list items claims names, as MC_JWT_MAX_CLAIM_ITEMS counts them. */
size_t mc_jwt_claim_items(const json_t *claims);

#endif
