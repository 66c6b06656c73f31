/* jwt.c - bearer token verification with a pinned algorithm (libjwt for the signature). */
#include "mc_jwt.h"
#include "mc_error.h"

#include <errno.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mc_jwt_verifier {
    jwt_alg_t alg;
    const char *alg_name;   /* static, from the table below */
    unsigned char *key;
    size_t keylen;
    char *iss, *aud;
    long leeway;
    int require_exp;        /* a token without exp is refused ("no_exp") */
};

static const struct {
    const char *name;
    jwt_alg_t alg;
    int pem;
} jwt__algs[] = {
    {"HS256", JWT_ALG_HS256, 0}, {"HS384", JWT_ALG_HS384, 0}, {"HS512", JWT_ALG_HS512, 0},
    {"RS256", JWT_ALG_RS256, 1}, {"RS384", JWT_ALG_RS384, 1}, {"RS512", JWT_ALG_RS512, 1},
    {"ES256", JWT_ALG_ES256, 1}, {"ES384", JWT_ALG_ES384, 1}, {"ES512", JWT_ALG_ES512, 1},
};
#define JWT_NALGS (sizeof jwt__algs / sizeof jwt__algs[0])

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
    if (v->key) {
        memset(v->key, 0, v->keylen);
        free(v->key);
    }
    free(v->iss);
    free(v->aud);
    free(v);
}

mc_jwt_verifier_t *mc_jwt_verifier_new(const char *alg, const char *key, size_t keylen,
                                       const char *iss, const char *aud, long leeway_s,
                                       char *err, size_t errlen)
{
    size_t i;
    mc_jwt_verifier_t *v;

    for (i = 0; alg && i < JWT_NALGS; i++)
        if (strcmp(alg, jwt__algs[i].name) == 0)
            break;
    if (!alg || i == JWT_NALGS) {
        snprintf(err, errlen, "JWT algorithm '%s' is not supported (HS256, HS384, HS512, "
                 "RS256, RS384, RS512, ES256, ES384, ES512)", alg ? alg : "(null)");
        return NULL;
    }
    if (!key || keylen == 0 || keylen > 65536) {
        snprintf(err, errlen, "JWT key for %s is empty or too long", alg);
        return NULL;
    }
    if (jwt__algs[i].pem) {
        /* A PEM public key: refuse private keys (they do not belong on verifiers) and
         * anything that is not PEM at all. */
        if (!jwt__has(key, keylen, "-----BEGIN ")) {
            snprintf(err, errlen, "JWT key for %s must be a PEM public key", alg);
            return NULL;
        }
        if (jwt__has(key, keylen, "PRIVATE KEY")) {
            snprintf(err, errlen, "JWT key for %s is a private key: give the public key", alg);
            return NULL;
        }
    }
    if (leeway_s < 0 || leeway_s > 86400) {
        snprintf(err, errlen, "JWT leeway %ld s is out of range [0, 86400]", leeway_s);
        return NULL;
    }
    if (!(v = calloc(1, sizeof *v)))
        goto nomem;
    v->alg = jwt__algs[i].alg;
    v->alg_name = jwt__algs[i].name;
    v->leeway = leeway_s;
    /* +1: PEM keys are handed to OpenSSL as text; keep them NUL-terminated. */
    if (!(v->key = calloc(1, keylen + 1)))
        goto nomem;
    memcpy(v->key, key, keylen);
    v->keylen = keylen;
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

const char *mc_jwt_verifier_alg(const mc_jwt_verifier_t *v)
{
    return v ? v->alg_name : NULL;
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
    json_t *head = NULL, *body = NULL;
    jwt_t *jwt = NULL;
    const char *dot1, *dot2, *alg;
    size_t len;
    int rc = MC_OK;

    if (claims)
        *claims = NULL;
    if (reason)
        *reason = NULL;
    if (!v || !token || !*token)
        REJECT("missing");
    len = strnlen(token, MC_JWT_MAX_LEN + 1);
    if (len > MC_JWT_MAX_LEN)
        REJECT("too_large");
    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.'))
        REJECT("malformed");

    /* The header decides nothing: it is only checked against the pinned algorithm. */
    head = jwt__part_json(token, (size_t)(dot1 - token));
    if (!head || !(alg = json_string_value(json_object_get(head, "alg"))))
        REJECT("malformed");
    if (strcmp(alg, "none") == 0 || strcmp(alg, "None") == 0 || strcmp(alg, "NONE") == 0)
        REJECT("alg_none");
    if (strcmp(alg, v->alg_name) != 0)
        REJECT("wrong_alg");
    if (dot2[1] == '\0')
        REJECT("bad_signature");
    for (const char *c = dot2 + 1; *c; c++)
        if (jwt__b64val((unsigned char)*c) < 0)
            REJECT("malformed");
    body = jwt__part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!body)
        REJECT("malformed");

    /* libjwt verifies with the algorithm of the header, which now equals the pinned one. */
    errno = 0;
    int jrc = jwt_decode(&jwt, token, v->key, (int)v->keylen);
    if (jrc == ENOMEM) {
        rc = MC_ERR_NOMEM;
        goto done;
    }
    if (jrc != 0 || !jwt || jwt_get_alg(jwt) != v->alg)
        REJECT("bad_signature");

    const char *why = jwt__check_claims(v, body, now);
    if (why)
        REJECT(why);
    if (claims) {
        *claims = body;
        body = NULL;
    }
done:
    if (jwt)
        jwt_free(jwt);
    json_decref(head);
    json_decref(body);
    return rc;
}
