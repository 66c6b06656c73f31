/*
 * jwk_set.h - internal to mc_jwt: the keys tokens are verified with (one configured key, or
 * the keys of a JWKS document), each key pinned to the algorithms it may verify. Built on
 * cjose (JWK import and JWS verification); private to common/src (jwt.c, jwks.c, jwk_set.c).
 */
#ifndef MC_JWK_SET_H
#define MC_JWK_SET_H

#include <cjose/jwk.h>
#include <stdatomic.h>
#include <stddef.h>

#include "mc_jwks.h"

/* Key families an algorithm needs (cjose checks the same at verification). */
enum { JWK_FAM_OCT = 1, JWK_FAM_RSA, JWK_FAM_EC };

/* The signature algorithms modelcast knows: a set of them is a bit mask (1u << index). */
typedef struct {
    const char *name;  /* "RS256" */
    int family;        /* JWK_FAM_* */
    int crv;           /* EC: the cjose curve the algorithm requires; else 0 */
} jwk_alg_t;

extern const jwk_alg_t jwk_algs[];
extern const size_t jwk_nalgs;

/* Bit of the algorithm named name, 0 when unknown (including "none"). */
unsigned jwk_alg_bit(const char *name);

/* The algorithms of set that a key of family (and curve crv for EC) can verify. */
unsigned jwk_algs_for_key(unsigned set, int family, int crv);

/* The names of set, comma-separated, into out. */
void jwk_algs_text(unsigned set, char *out, size_t outlen);

/* One verification key: kid (NULL when the key has none), the algorithms pinned to it. */
typedef struct {
    char *kid;
    unsigned algs;
    cjose_jwk_t *jwk;
} jwk_key_t;

/* An immutable set of keys, shared by reference count (a refresh swaps in a new set while
 * verifications still hold the old one). */
typedef struct {
    atomic_int refs;
    size_t n;
    jwk_key_t keys[];
} jwk_set_t;

/*
 * Parses a JWKS document ({"keys":[...]}, at most MC_JWKS_MAX_KEYS keys) into a set holding
 * the keys usable for signatures with an algorithm of allowed: kty RSA (at least 2048 bits)
 * or EC (P-256/384/521), "use" absent or "sig", no private members; a key's own "alg", when
 * present, must be in allowed and fit its type, and becomes its only algorithm; without one
 * the key takes every allowed algorithm its type fits. Other keys are skipped and named in
 * skipped ("kid 'x': alg HS256 not allowed; ..."), never an error. Returns the set (refs 1)
 * or NULL with err on a document that is not a key set. An empty set is returned as such.
 */
jwk_set_t *jwk_set_parse(const char *doc, size_t len, unsigned allowed, char *err,
                         size_t errlen, char *skipped, size_t skippedlen);

/* A set of one key without kid (takes ownership of jwk). NULL on no memory. */
jwk_set_t *jwk_set_single(cjose_jwk_t *jwk, unsigned algs);

jwk_set_t *jwk_set_retain(jwk_set_t *s);
void jwk_set_release(jwk_set_t *s);

/* The key whose kid is kid; kid NULL: the set's only key when it holds exactly one. */
const jwk_key_t *jwk_set_find(const jwk_set_t *s, const char *kid);

/*
 * The public key of a PEM public key or certificate as a cjose key; *family and *crv say
 * its type. NULL with err when the text is not one (private keys are refused).
 */
cjose_jwk_t *jwk_from_pem(const char *pem, size_t len, int *family, int *crv, char *err,
                          size_t errlen);

/*
 * For the verifier: the key named kid in the source's current set (kid NULL: its only
 * key). When kid is unknown (or no set is loaded yet), waits for the refresh in flight, or
 * asks the refresher thread for one if none was asked in the last MC_JWT_JWKS_REFRESH_MIN
 * seconds, at most the fetch timeout; else refuses at once. On success returns 0 with *set
 * (release it) and *key inside it; else -1 with *reason "no_keys", "no_kid" or "unknown_kid".
 */
int jwks__acquire(mc_jwks_t *k, const char *kid, jwk_set_t **set, const jwk_key_t **key,
                  const char **reason);

/* The algorithms the source allows (MC_JWT_JWKS_ALGS). */
unsigned jwks__allowed(const mc_jwks_t *k);

#endif
