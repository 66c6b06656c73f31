/* jwk_set.c - algorithm sets, key sets from JWKS documents, PEM keys as cjose keys. */
#include "jwk_set.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const jwk_alg_t jwk_algs[] = {
    {"HS256", JWK_FAM_OCT, 0},
    {"HS384", JWK_FAM_OCT, 0},
    {"HS512", JWK_FAM_OCT, 0},
    {"RS256", JWK_FAM_RSA, 0},
    {"RS384", JWK_FAM_RSA, 0},
    {"RS512", JWK_FAM_RSA, 0},
    {"PS256", JWK_FAM_RSA, 0},
    {"PS384", JWK_FAM_RSA, 0},
    {"PS512", JWK_FAM_RSA, 0},
    {"ES256", JWK_FAM_EC, CJOSE_JWK_EC_P_256},
    {"ES384", JWK_FAM_EC, CJOSE_JWK_EC_P_384},
    {"ES512", JWK_FAM_EC, CJOSE_JWK_EC_P_521},
};
const size_t jwk_nalgs = sizeof jwk_algs / sizeof jwk_algs[0];

#define KID_MAX 256

unsigned jwk_alg_bit(const char *name)
{
    for (size_t i = 0; name && i < jwk_nalgs; i++)
        if (strcmp(name, jwk_algs[i].name) == 0)
            return 1u << i;
    return 0;
}

unsigned jwk_algs_for_key(unsigned set, int family, int crv)
{
    unsigned out = 0;
    for (size_t i = 0; i < jwk_nalgs; i++)
        if ((set & (1u << i)) && jwk_algs[i].family == family &&
            (family != JWK_FAM_EC || jwk_algs[i].crv == crv))
            out |= 1u << i;
    return out;
}

void jwk_algs_text(unsigned set, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen)
        out[0] = '\0';
    for (size_t i = 0; i < jwk_nalgs; i++) {
        if (!(set & (1u << i)))
            continue;
        int n = snprintf(out + o, outlen - o, "%s%s", o ? "," : "", jwk_algs[i].name);
        if (n < 0 || (size_t)n >= outlen - o)
            return;
        o += (size_t)n;
    }
}

/* ------------------------------------------------------------------ key sets */

static jwk_set_t *set__alloc(size_t n)
{
    jwk_set_t *s = calloc(1, sizeof *s + n * sizeof s->keys[0]);
    if (s)
        atomic_init(&s->refs, 1);
    return s;
}

jwk_set_t *jwk_set_retain(jwk_set_t *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void jwk_set_release(jwk_set_t *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->keys[i].kid);
        cjose_jwk_release(s->keys[i].jwk);
    }
    free(s);
}

jwk_set_t *jwk_set_single(cjose_jwk_t *jwk, unsigned algs)
{
    jwk_set_t *s = set__alloc(1);
    if (!s) {
        cjose_jwk_release(jwk);
        return NULL;
    }
    s->keys[0].jwk = jwk;
    s->keys[0].algs = algs;
    s->n = 1;
    return s;
}

const jwk_key_t *jwk_set_find(const jwk_set_t *s, const char *kid)
{
    if (!s)
        return NULL;
    if (!kid)
        return s->n == 1 ? &s->keys[0] : NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->keys[i].kid && strcmp(s->keys[i].kid, kid) == 0)
            return &s->keys[i];
    return NULL;
}

/* Appends "kid 'x': why; " to skipped. */
static void set__skip(char *skipped, size_t len, const char *kid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set__skip(char *skipped, size_t len, const char *kid, const char *fmt, ...)
{
    size_t o = strlen(skipped);
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (o < len)
        snprintf(skipped + o, len - o, "%skid '%.64s': %s", o ? "; " : "", kid ? kid : "",
                 why);
}

/* Whether the key_ops member (when present) allows "verify". */
static int set__ops_verify(const json_t *ops)
{
    size_t i;
    json_t *e;
    if (!ops)
        return 1;
    json_array_foreach(ops, i, e) if (json_is_string(e) &&
                                      strcmp(json_string_value(e), "verify") == 0) return 1;
    return 0;
}

/* Whether member name of key j is unpadded base64url (RFC 7518: n, e, x, y), as cjose must
 * get it: its decoder (0.6.2) asserts, killing the process, on a '=' after 4k+1 characters. */
static int set__b64url(const json_t *j, const char *name)
{
    const char *s = json_string_value(json_object_get(j, name));
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n % 4 != 1 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* The algorithms key j may verify (0: skipped, with the reason appended to skipped). */
static unsigned set__key_algs(json_t *j, const char *kid, unsigned allowed, char *skipped,
                              size_t skippedlen)
{
    static const char *private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
    const char *kty = json_string_value(json_object_get(j, "kty"));
    const char *use = json_string_value(json_object_get(j, "use"));
    json_t *alg = json_object_get(j, "alg");
    int family = 0, crv = 0;

    if (json_object_get(j, "use") && (!use || strcmp(use, "sig") != 0)) {
        set__skip(skipped, skippedlen, kid, "use is not \"sig\"");
        return 0;
    }
    if (!set__ops_verify(json_object_get(j, "key_ops"))) {
        set__skip(skipped, skippedlen, kid, "key_ops lacks \"verify\"");
        return 0;
    }
    for (size_t i = 0; i < sizeof private_members / sizeof private_members[0]; i++)
        if (json_object_get(j, private_members[i])) {
            set__skip(skipped, skippedlen, kid, "holds private or secret key material");
            return 0;
        }
    if (kty && strcmp(kty, "RSA") == 0) {
        const char *n = json_string_value(json_object_get(j, "n"));
        family = JWK_FAM_RSA;
        if (!set__b64url(j, "n") || !set__b64url(j, "e")) {
            set__skip(skipped, skippedlen, kid, "n and e must be base64url strings");
            return 0;
        }
        if (!n || strlen(n) * 3 / 4 < 256) {
            set__skip(skipped, skippedlen, kid, "RSA key shorter than 2048 bits");
            return 0;
        }
    } else if (kty && strcmp(kty, "EC") == 0) {
        const char *c = json_string_value(json_object_get(j, "crv"));
        family = JWK_FAM_EC;
        crv = !c                         ? 0
              : strcmp(c, "P-256") == 0 ? CJOSE_JWK_EC_P_256
              : strcmp(c, "P-384") == 0 ? CJOSE_JWK_EC_P_384
              : strcmp(c, "P-521") == 0 ? CJOSE_JWK_EC_P_521
                                         : 0;
        if (!crv) {
            set__skip(skipped, skippedlen, kid, "EC curve not supported");
            return 0;
        }
        if (!set__b64url(j, "x") || !set__b64url(j, "y")) {
            set__skip(skipped, skippedlen, kid, "x and y must be base64url strings");
            return 0;
        }
    } else {
        set__skip(skipped, skippedlen, kid, "kty %.16s not supported (RSA, EC)",
                  kty ? kty : "(none)");
        return 0;
    }
    unsigned fits = jwk_algs_for_key(allowed, family, crv);
    if (alg) {
        unsigned bit = jwk_alg_bit(json_string_value(alg));
        if (!(bit & fits)) {
            set__skip(skipped, skippedlen, kid, "alg %.16s not allowed for this key",
                      json_is_string(alg) ? json_string_value(alg) : "(not a string)");
            return 0;
        }
        return bit;
    }
    if (!fits)
        set__skip(skipped, skippedlen, kid, "no allowed algorithm fits this key");
    return fits;
}

jwk_set_t *jwk_set_parse(const char *doc, size_t len, unsigned allowed, char *err,
                         size_t errlen, char *skipped, size_t skippedlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr), *keys, *j;
    jwk_set_t *s = NULL;
    size_t i;

    if (skippedlen)
        skipped[0] = '\0';
    if (!root) {
        snprintf(err, errlen, "not JSON: %s (line %d)", jerr.text, jerr.line);
        return NULL;
    }
    keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        snprintf(err, errlen, "not a key set: no \"keys\" array");
        goto out;
    }
    if (json_array_size(keys) > MC_JWKS_MAX_KEYS) {
        snprintf(err, errlen, "%zu keys, more than %d", json_array_size(keys), MC_JWKS_MAX_KEYS);
        goto out;
    }
    if (!(s = set__alloc(json_array_size(keys)))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    json_array_foreach(keys, i, j) {
        json_t *kidj = json_object_get(j, "kid");
        const char *kid = json_string_value(kidj);
        unsigned algs;
        cjose_err cerr;
        if (!json_is_object(j) || (kidj && (!kid || !*kid || strlen(kid) > KID_MAX))) {
            set__skip(skipped, skippedlen, kid, "not a key object with a string kid");
            continue;
        }
        if (kid && jwk_set_find(s, kid)) {
            set__skip(skipped, skippedlen, kid, "duplicate kid (the first is kept)");
            continue;
        }
        if (!(algs = set__key_algs(j, kid, allowed, skipped, skippedlen)))
            continue;
        cjose_jwk_t *jwk = cjose_jwk_import_json((cjose_header_t *)j, &cerr);
        if (!jwk) {
            set__skip(skipped, skippedlen, kid, "invalid key (%s)", cerr.message);
            continue;
        }
        jwk_key_t *k = &s->keys[s->n];
        k->jwk = jwk;
        k->algs = algs;
        if (kid && !(k->kid = strdup(kid))) {
            cjose_jwk_release(jwk);
            jwk_set_release(s);
            s = NULL;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        s->n++;
    }
out:
    json_decref(root);
    return s;
}

/* ------------------------------------------------------------------ PEM keys */

/* The big-endian bytes of parameter name of pk, padded to pad bytes (0: minimal). */
static unsigned char *pem__param(EVP_PKEY *pk, const char *name, size_t pad, size_t *len)
{
    BIGNUM *bn = NULL;
    unsigned char *out = NULL;
    if (!EVP_PKEY_get_bn_param(pk, name, &bn))
        return NULL;
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    if (n && (out = malloc(n)) && BN_bn2binpad(bn, out, (int)n) < 0) {
        free(out);
        out = NULL;
    }
    *len = n;
    BN_free(bn);
    return out;
}

cjose_jwk_t *jwk_from_pem(const char *pem, size_t len, int *family, int *crv, char *err,
                          size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pk = NULL;
    cjose_jwk_t *jwk = NULL;
    cjose_err cerr;

    if (bio && !(pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL))) {
        X509 *crt;
        (void)BIO_reset(bio);
        if ((crt = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
            pk = X509_get_pubkey(crt);
            X509_free(crt);
        }
    }
    BIO_free(bio);
    if (!pk) {
        snprintf(err, errlen, "not a PEM public key or certificate");
        return NULL;
    }
    if (EVP_PKEY_is_a(pk, "RSA")) {
        cjose_jwk_rsa_keyspec spec = {0};
        spec.n = pem__param(pk, OSSL_PKEY_PARAM_RSA_N, 0, &spec.nlen);
        spec.e = pem__param(pk, OSSL_PKEY_PARAM_RSA_E, 0, &spec.elen);
        *family = JWK_FAM_RSA;
        *crv = 0;
        if (spec.n && spec.e)
            jwk = cjose_jwk_create_RSA_spec(&spec, &cerr);
        free(spec.n);
        free(spec.e);
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        char group[64] = "";
        size_t glen = 0, coord;
        cjose_jwk_ec_keyspec spec = {0};
        EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &glen);
        *family = JWK_FAM_EC;
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            spec.crv = CJOSE_JWK_EC_P_256, coord = 32;
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            spec.crv = CJOSE_JWK_EC_P_384, coord = 48;
        else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
            spec.crv = CJOSE_JWK_EC_P_521, coord = 66;
        else {
            EVP_PKEY_free(pk);
            snprintf(err, errlen, "EC curve '%s' is not supported (P-256, P-384, P-521)", group);
            return NULL;
        }
        *crv = spec.crv;
        spec.x = pem__param(pk, OSSL_PKEY_PARAM_EC_PUB_X, coord, &spec.xlen);
        spec.y = pem__param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, coord, &spec.ylen);
        if (spec.x && spec.y)
            jwk = cjose_jwk_create_EC_spec(&spec, &cerr);
        free(spec.x);
        free(spec.y);
    } else {
        EVP_PKEY_free(pk);
        snprintf(err, errlen, "the PEM key is neither RSA nor EC");
        return NULL;
    }
    EVP_PKEY_free(pk);
    if (!jwk)
        snprintf(err, errlen, "cannot use the PEM key");
    return jwk;
}
