/* jwt.c - bearer token verification against pinned keys (cjose checks the signature). */
#include "jwk_set.h"
#include "mc_error.h"
#include "mc_jwt.h"

#include <cjose/jws.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mc_jwt_verifier {
    jwk_set_t *keys;        /* one configured key (kid ignored), or NULL with jwks */
    mc_jwks_t *jwks;        /* or the key set source (owned) */
    const char *alg_name;   /* static: the pinned algorithm's name */
    unsigned jwks_algs;     /* jwks: the allowed algorithms */
    char *iss, *aud;
    long leeway;
    int require_exp;        /* a token without exp is refused ("no_exp") */
};

/* Whether needle occurs in key[0..len) (memmem is a GNU extension). */
static int jwt__has(const char *key, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(key + i, needle, n) == 0)
            return 1;
    return 0;
}

void mc_jwt_verifier_require_exp(mc_jwt_verifier_t *v, int require)
{
    if (v)
        v->require_exp = require != 0;
}

void mc_jwt_verifier_free(mc_jwt_verifier_t *v)
{
    if (!v)
        return;
    jwk_set_release(v->keys);
    mc_jwks_free(v->jwks);
    free(v->iss);
    free(v->aud);
    free(v);
}

/* The common part of both constructors. */
static mc_jwt_verifier_t *jwt__alloc(const char *iss, const char *aud, long leeway_s,
                                     char *err, size_t errlen)
{
    mc_jwt_verifier_t *v;
    if (leeway_s < 0 || leeway_s > 86400) {
        snprintf(err, errlen, "JWT leeway %ld s is out of range [0, 86400]", leeway_s);
        return NULL;
    }
    if (!(v = calloc(1, sizeof *v)))
        goto nomem;
    v->leeway = leeway_s;
    if (iss && *iss && !(v->iss = strdup(iss)))
        goto nomem;
    if (aud && *aud && !(v->aud = strdup(aud)))
        goto nomem;
    return v;
nomem:
    mc_jwt_verifier_free(v);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

mc_jwt_verifier_t *mc_jwt_verifier_new(const char *alg, const char *key, size_t keylen,
                                       const char *iss, const char *aud, long leeway_s,
                                       char *err, size_t errlen)
{
    unsigned bit = jwk_alg_bit(alg);
    const jwk_alg_t *a = NULL;
    cjose_jwk_t *jwk = NULL;
    cjose_err cerr;
    mc_jwt_verifier_t *v;

    for (size_t i = 0; i < jwk_nalgs; i++)
        if (bit == 1u << i)
            a = &jwk_algs[i];
    if (!a) {
        snprintf(err, errlen, "JWT algorithm '%s' is not supported (HS256, HS384, HS512, "
                 "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512)",
                 alg ? alg : "(null)");
        return NULL;
    }
    if (!key || keylen == 0 || keylen > 65536) {
        snprintf(err, errlen, "JWT key for %s is empty or too long", alg);
        return NULL;
    }
    if (a->family != JWK_FAM_OCT) {
        /* A PEM public key: refuse private keys (they do not belong on verifiers) and
         * anything that is not PEM at all. */
        int family = 0, crv = 0;
        char why[128];
        if (!jwt__has(key, keylen, "-----BEGIN ")) {
            snprintf(err, errlen, "JWT key for %s must be a PEM public key", alg);
            return NULL;
        }
        if (jwt__has(key, keylen, "PRIVATE KEY")) {
            snprintf(err, errlen, "JWT key for %s is a private key: give the public key", alg);
            return NULL;
        }
        if (!(jwk = jwk_from_pem(key, keylen, &family, &crv, why, sizeof why))) {
            snprintf(err, errlen, "JWT key for %s: %s", alg, why);
            return NULL;
        }
        if (!jwk_algs_for_key(bit, family, crv)) {
            cjose_jwk_release(jwk);
            snprintf(err, errlen, "JWT key for %s is a%s key", alg,
                     family == JWK_FAM_RSA ? "n RSA" : "n EC key of another curve, or an EC");
            return NULL;
        }
    } else if (!(jwk = cjose_jwk_create_oct_spec((const uint8_t *)key, keylen, &cerr))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!(v = jwt__alloc(iss, aud, leeway_s, err, errlen))) {
        cjose_jwk_release(jwk);
        return NULL;
    }
    v->alg_name = a->name;
    if (!(v->keys = jwk_set_single(jwk, bit))) {
        mc_jwt_verifier_free(v);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return v;
}

mc_jwt_verifier_t *mc_jwt_verifier_new_jwks(mc_jwks_t *jwks, const char *iss, const char *aud,
                                            long leeway_s, char *err, size_t errlen)
{
    mc_jwt_verifier_t *v;
    if (!jwks) {
        snprintf(err, errlen, "no key set");
        return NULL;
    }
    if (!(v = jwt__alloc(iss, aud, leeway_s, err, errlen))) {
        mc_jwks_free(jwks);
        return NULL;
    }
    v->jwks = jwks;
    v->jwks_algs = jwks__allowed(jwks);
    v->alg_name = "JWKS";
    return v;
}

const char *mc_jwt_verifier_alg(const mc_jwt_verifier_t *v)
{
    return v ? v->alg_name : NULL;
}

mc_jwks_t *mc_jwt_verifier_jwks(const mc_jwt_verifier_t *v)
{
    return v ? v->jwks : NULL;
}

static int jwt__b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict base64url (no padding) of in[0..len) into out (at least len bytes); returns the
 * decoded length or -1. */
static long jwt__b64url_decode(const char *in, size_t len, unsigned char *out)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = jwt__b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical trailing bits */
        return -1;
    return (long)o;
}

/* Decodes one base64url part as a JSON object, or NULL. */
static json_t *jwt__part_json(const char *in, size_t len)
{
    unsigned char buf[MC_JWT_MAX_LEN];
    long n = jwt__b64url_decode(in, len, buf);
    json_t *j;
    if (n <= 0)
        return NULL;
    j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The reason the registered claims of body refuse the token at time now, or NULL. */
static const char *jwt__check_claims(const mc_jwt_verifier_t *v, const json_t *body, long now)
{
    json_t *j = json_object_get(body, "exp");
    if (j && !json_is_number(j))
        return "malformed";
    if (!j && v->require_exp)
        return "no_exp";
    if (j && (double)now - (double)v->leeway >= json_number_value(j))
        return "expired";
    j = json_object_get(body, "nbf");
    if (j && !json_is_number(j))
        return "malformed";
    if (j && (double)now + (double)v->leeway < json_number_value(j))
        return "not_yet_valid";
    if (v->iss) {
        const char *iss = json_string_value(json_object_get(body, "iss"));
        if (!iss || strcmp(iss, v->iss) != 0)
            return "bad_issuer";
    }
    if (v->aud) {
        int hit = 0;
        j = json_object_get(body, "aud");
        if (json_is_string(j)) {
            hit = strcmp(json_string_value(j), v->aud) == 0;
        } else if (json_is_array(j)) {
            size_t i;
            json_t *e;
            json_array_foreach(j, i, e) hit |= json_is_string(e) &&
                                              strcmp(json_string_value(e), v->aud) == 0;
        }
        if (!hit)
            return "bad_audience";
    }
    return NULL;
}

/* Items of j: array elements (at any depth) and the words of strings holding spaces. */
/* NOLINTNEXTLINE(misc-no-recursion): depth bounded by jansson's parser (2,048 levels) */
static size_t jwt__items(const json_t *j, int in_array)
{
    size_t n = 0, i;
    const char *k;
    json_t *e;
    if (json_is_array(j)) {
        json_array_foreach(j, i, e) n += 1 + jwt__items(e, 1);
    } else if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, e) n += jwt__items(e, 0);
    } else if (json_is_string(j) && !in_array) {
        const char *s = json_string_value(j);
        size_t words = 0;
        for (size_t p = 0; s[p]; p++)
            words += s[p] != ' ' && (p == 0 || s[p - 1] == ' ');
        n = words > 1 ? words : 0;
    }
    return n;
}

size_t mc_jwt_claim_items(const json_t *claims)
{
    return jwt__items(claims, 0);
}

#define REJECT(why)            \
    do {                       \
        if (reason)            \
            *reason = (why);   \
        rc = MC_ERR_INVAL;     \
        goto done;             \
    } while (0)

int mc_jwt_verify(const mc_jwt_verifier_t *v, const char *token, long now, json_t **claims,
                  const char **reason)
{
    json_t *head = NULL, *body = NULL, *kidj;
    jwk_set_t *set = NULL;
    const jwk_key_t *key;
    cjose_jws_t *jws = NULL;
    cjose_err cerr;
    const char *dot1, *dot2, *alg, *kid, *why;
    unsigned bit;
    size_t len;
    int rc = MC_OK;

    if (claims)
        *claims = NULL;
    if (reason)
        *reason = NULL;
    if (!v || !token || !*token)
        REJECT("missing");
    /* cppcheck-suppress ctunullpointer ; a NULL token is rejected just above */
    len = strnlen(token, MC_JWT_MAX_LEN + 1);
    if (len > MC_JWT_MAX_LEN)
        REJECT("too_large");
    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.'))
        REJECT("malformed");

    /* The header decides nothing: alg is only checked against the key's, kid only names. */
    head = jwt__part_json(token, (size_t)(dot1 - token));
    if (!head || !(alg = json_string_value(json_object_get(head, "alg"))))
        REJECT("malformed");
    kidj = json_object_get(head, "kid");
    kid = json_string_value(kidj);
    if (kidj && !kid)
        REJECT("malformed");
    if (strcmp(alg, "none") == 0 || strcmp(alg, "None") == 0 || strcmp(alg, "NONE") == 0)
        REJECT("alg_none");
    bit = jwk_alg_bit(alg);
    if (!(bit & (v->keys ? v->keys->keys[0].algs : v->jwks_algs)))
        REJECT("wrong_alg");
    if (dot2[1] == '\0')
        REJECT("bad_signature");
    for (const char *c = dot2 + 1; *c; c++)
        if (jwt__b64val((unsigned char)*c) < 0)
            REJECT("malformed");
    body = jwt__part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!body)
        REJECT("malformed");

    if (v->keys) {
        set = jwk_set_retain(v->keys);
        key = &set->keys[0];
    } else if (jwks__acquire(v->jwks, kid, &set, &key, &why) != 0) {
        REJECT(why);
    }
    if (!(bit & key->algs))
        REJECT("wrong_alg");
    if (!(jws = cjose_jws_import(token, len, &cerr))) {
        if (cerr.code == CJOSE_ERR_NO_MEMORY) {
            rc = MC_ERR_NOMEM;
            goto done;
        }
        REJECT("malformed");
    }
    if (!cjose_jws_verify(jws, key->jwk, &cerr)) {
        if (cerr.code == CJOSE_ERR_NO_MEMORY) {
            rc = MC_ERR_NOMEM;
            goto done;
        }
        REJECT("bad_signature");
    }

    if ((why = jwt__check_claims(v, body, now)))
        REJECT(why);
    if (mc_jwt_claim_items(body) > MC_JWT_MAX_CLAIM_ITEMS)
        REJECT("too_many_items");
    if (claims) {
        *claims = body;
        body = NULL;
    }
done:
    if (jws)
        cjose_jws_release(jws);
    jwk_set_release(set);
    json_decref(head);
    json_decref(body);
    return rc;
}
