/* test_jwt.c - token verification with pinned keys: HS256, RS256 and ES256 tokens signed
 * here with OpenSSL, hand-crafted alg:none and alg-confusion tokens, every reason code; the
 * same attacks again through a JWKS (file and the unknown-kid refetch), the claim bound. */
#include "mc_error.h"
#include "mc_jwt.h"
#include "mc_test.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1800000000L
#define SECRET "a-test-secret-of-at-least-32-bytes!!"

static char tmpdir[] = "/tmp/mc-test-jwt-XXXXXX";

static char *slurp(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 16384);
    size_t n = buf ? fread(buf, 1, 16383, f) : 0;
    fclose(f);
    if (buf && n == 0) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* Generates key pairs with the openssl CLI: rsa.pem/rsa.pub, rsa2.pem/rsa2.pub, ec.pem/ec.pub. */
static int make_keys(void)
{
    char cmd[1024];
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(cmd, sizeof cmd,
             "(cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem"
             " && openssl pkey -in rsa.pem -pubout -out rsa.pub"
             " && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2.pem"
             " && openssl pkey -in rsa2.pem -pubout -out rsa2.pub"
             " && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem"
             " && openssl pkey -in ec.pem -pubout -out ec.pub) 2>&1",
             tmpdir);
    /* NOLINTNEXTLINE(cert-env33-c): a fixed openssl command line into our own mkdtemp folder */
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[256];
    while (fgets(line, sizeof line, p))
        ;
    return pclose(p) == 0 ? 0 : -1;
}

static void remove_keys(void)
{
    const char *names[] = {"rsa.pem", "rsa.pub", "rsa2.pem", "rsa2.pub", "ec.pem", "ec.pub"};
    char path[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static void b64url(const char *in, size_t len, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = ((unsigned char)in[i] << 16) | ((unsigned char)in[i + 1] << 8) |
                     (unsigned char)in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned char)in[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned v = ((unsigned char)in[i] << 16) | ((unsigned char)in[i + 1] << 8);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
    }
    out[o] = '\0';
}

typedef enum { JWT_ALG_HS256, JWT_ALG_HS384, JWT_ALG_RS256, JWT_ALG_ES256 } alg_t;
static const char *const alg_names[] = {"HS256", "HS384", "RS256", "ES256"};

/* The signature of in with alg and key (secret, or PEM private key), into sig; its length. */
static size_t sign(alg_t alg, const char *key, size_t keylen, const char *in, unsigned char *sig)
{
    if (alg == JWT_ALG_HS256 || alg == JWT_ALG_HS384) {
        unsigned len = 0;
        HMAC(alg == JWT_ALG_HS256 ? EVP_sha256() : EVP_sha384(), key, (int)keylen,
             (const unsigned char *)in, strlen(in), sig, &len);
        return len;
    }
    BIO *bio = BIO_new_mem_buf(key, (int)keylen);
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!pk)
        return 0;
    unsigned char der[1024];
    size_t len = sizeof der;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
             EVP_DigestSign(md, der, &len, (const unsigned char *)in, strlen(in)) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    if (!ok)
        return 0;
    if (alg == JWT_ALG_RS256) {
        memcpy(sig, der, len);
        return len;
    }
    /* ES256: JWS wants r || s, 32 bytes each, not DER. */
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (!es)
        return 0;
    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
    ECDSA_SIG_free(es);
    return 64;
}

/* A token signed with alg and key, payload = grants (a JSON object text), header kid when
 * kid is not NULL. */
static char *make_token_kid(alg_t alg, const char *key, size_t keylen, const char *grants,
                            const char *kid)
{
    char head[256], *out = malloc(MC_JWT_MAX_LEN * 2);
    unsigned char sig[600];
    if (kid)
        snprintf(head, sizeof head, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 alg_names[alg], kid);
    else
        snprintf(head, sizeof head, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg_names[alg]);
    b64url(head, strlen(head), out);
    size_t o = strlen(out);
    out[o++] = '.';
    b64url(grants, strlen(grants), out + o);
    size_t siglen = sign(alg, key, keylen, out, sig);
    if (!siglen) {
        free(out);
        return NULL;
    }
    o = strlen(out);
    out[o++] = '.';
    b64url((const char *)sig, siglen, out + o);
    return out;
}

static char *make_token(alg_t alg, const char *key, size_t keylen, const char *grants)
{
    return make_token_kid(alg, key, keylen, grants, NULL);
}

/* header.payload.sig with the given raw JSON texts and signature part. */
static void craft(char *out, const char *header, const char *payload, const char *sig)
{
    char h[1024], p[1024];
    b64url(header, strlen(header), h);
    b64url(payload, strlen(payload), p);
    sprintf(out, "%s.%s.%s", h, p, sig);
}

static void expect(const mc_jwt_verifier_t *v, const char *token, const char *want)
{
    const char *reason = NULL;
    json_t *claims = NULL;
    int rc = mc_jwt_verify(v, token, NOW, &claims, &reason);
    if (!want) {
        MC_CHECK_INT(rc, MC_OK);
        MC_CHECK(json_is_object(claims));
        if (reason)
            fprintf(stderr, "  unexpected reason %s\n", reason);
    } else {
        MC_CHECK_INT(rc, MC_ERR_INVAL);
        MC_CHECK_STR(reason, want);
        MC_CHECK(claims == NULL);
    }
    json_decref(claims);
}

static void test_hs256(void)
{
    char err[256] = "";
    mc_jwt_verifier_t *v =
        mc_jwt_verifier_new("HS256", SECRET, strlen(SECRET), NULL, NULL, 30, err, sizeof err);
    MC_CHECK(v != NULL);
    MC_CHECK_STR(mc_jwt_verifier_alg(v), "HS256");

    char *t = make_token(JWT_ALG_HS256, SECRET, strlen(SECRET),
                         "{\"sub\":\"42\",\"teams\":[1,2],\"exp\":1800000100}");
    json_t *claims = NULL;
    const char *reason = "x";
    MC_CHECK_INT(mc_jwt_verify(v, t, NOW, &claims, &reason), MC_OK);
    MC_CHECK(reason == NULL);
    MC_CHECK_STR(json_string_value(json_object_get(claims, "sub")), "42");
    MC_CHECK_INT(json_array_size(json_object_get(claims, "teams")), 2);
    json_decref(claims);
    MC_CHECK_INT(mc_jwt_verify(v, t, NOW, NULL, NULL), MC_OK);

    /* Tampered payload: same header and signature, another subject. */
    char forged[2048], p[256];
    const char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    const char *evil = "{\"sub\":\"1\",\"exp\":1800000100}";
    b64url(evil, strlen(evil), p);
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(d1 - t), t, p, d2);
    expect(v, forged, "bad_signature");
    /* Truncated and empty signatures. */
    snprintf(forged, sizeof forged, "%.*s", (int)strlen(t) - 4, t);
    expect(v, forged, "bad_signature");
    snprintf(forged, sizeof forged, "%.*s", (int)(d2 - t) + 1, t);
    expect(v, forged, "bad_signature");
    free(t);

    /* Another secret. */
    t = make_token(JWT_ALG_HS256, "another-secret-another-secret-xx", 32, "{\"sub\":\"42\"}");
    expect(v, t, "bad_signature");
    free(t);

    /* HS384 token against an HS256 verifier: refused before any signature work. */
    t = make_token(JWT_ALG_HS384, SECRET, strlen(SECRET), "{\"sub\":\"42\"}");
    expect(v, t, "wrong_alg");
    free(t);
    mc_jwt_verifier_free(v);
}

static void test_alg_none(void)
{
    char err[256], tok[4096];
    mc_jwt_verifier_t *v =
        mc_jwt_verifier_new("HS256", SECRET, strlen(SECRET), NULL, NULL, 0, err, sizeof err);
    craft(tok, "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"admin\"}", "");
    expect(v, tok, "alg_none");
    craft(tok, "{\"alg\":\"none\"}", "{\"sub\":\"admin\"}", "c2ln");
    expect(v, tok, "alg_none");
    craft(tok, "{\"alg\":\"None\"}", "{\"sub\":\"admin\"}", "");
    expect(v, tok, "alg_none");

    mc_jwt_verifier_free(v);
}

static void test_claims_checks(void)
{
    char err[256];
    mc_jwt_verifier_t *v = mc_jwt_verifier_new("HS256", SECRET, strlen(SECRET),
                                               "https://issuer.test", "modelcast", 30, err,
                                               sizeof err);
    struct {
        const char *grants, *want;
    } cases[] = {
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\"}", NULL},
        {"{\"iss\":\"https://issuer.test\",\"aud\":[\"x\",\"modelcast\"]}", NULL},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\",\"exp\":1800000001}", NULL},
        /* exp within the leeway is still fine; beyond it, expired. */
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\",\"exp\":1799999980}", NULL},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\",\"exp\":1799999970}", "expired"},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\",\"exp\":1000}", "expired"},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\",\"nbf\":1800000020}", NULL},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\",\"nbf\":1800000031}",
         "not_yet_valid"},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\",\"exp\":\"soon\"}", "malformed"},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\",\"nbf\":true}", "malformed"},
        {"{\"iss\":\"https://evil.test\",\"aud\":\"modelcast\"}", "bad_issuer"},
        {"{\"aud\":\"modelcast\"}", "bad_issuer"},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"other\"}", "bad_audience"},
        {"{\"iss\":\"https://issuer.test\",\"aud\":[\"a\",\"b\"]}", "bad_audience"},
        {"{\"iss\":\"https://issuer.test\"}", "bad_audience"},
        {"{\"iss\":\"https://issuer.test\",\"aud\":42}", "bad_audience"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = make_token(JWT_ALG_HS256, SECRET, strlen(SECRET), cases[i].grants);
        MC_CHECK(t != NULL);
        expect(v, t, cases[i].want);
        free(t);
    }
    /* With exp required, a token that never expires is refused; one with exp passes. */
    mc_jwt_verifier_require_exp(v, 1);
    char *forever = make_token(JWT_ALG_HS256, SECRET, strlen(SECRET),
                               "{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\"}");
    char *expiring = make_token(JWT_ALG_HS256, SECRET, strlen(SECRET),
                                "{\"iss\":\"https://issuer.test\",\"aud\":\"modelcast\","
                                "\"exp\":1800000001}");
    expect(v, forever, "no_exp");
    expect(v, expiring, NULL);
    free(forever);
    free(expiring);
    mc_jwt_verifier_free(v);
}

static void test_malformed(void)
{
    char err[256], tok[4096];
    mc_jwt_verifier_t *v =
        mc_jwt_verifier_new("HS256", SECRET, strlen(SECRET), NULL, NULL, 0, err, sizeof err);
    expect(v, NULL, "missing");
    expect(v, "", "missing");
    expect(v, "abc", "malformed");
    expect(v, "a.b", "malformed");
    expect(v, "a.b.c.d", "malformed");
    expect(v, "!!!.e30.c2ln", "malformed");
    expect(v, "e30.e30.c2ln", "malformed"); /* header {} has no alg */
    craft(tok, "[\"alg\",\"HS256\"]", "{}", "c2ln");
    expect(v, tok, "malformed");
    craft(tok, "{\"alg\":\"HS256\"", "{}", "c2ln");
    expect(v, tok, "malformed");
    craft(tok, "{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}", "c2ln"); /* duplicate keys */
    expect(v, tok, "malformed");
    craft(tok, "{\"alg\":7}", "{}", "c2ln");
    expect(v, tok, "malformed");
    craft(tok, "{\"alg\":\"HS256\"}", "not json", "c2ln");
    expect(v, tok, "malformed");
    craft(tok, "{\"alg\":\"HS256\"}", "[1]", "c2ln");
    expect(v, tok, "malformed");
    craft(tok, "{\"alg\":\"HS256\"}", "{}", "c2l+");
    expect(v, tok, "malformed");
    craft(tok, "{\"alg\":\"HS256\"}", "{}", "c2ln");
    expect(v, tok, "bad_signature");

    char *big = malloc(MC_JWT_MAX_LEN + 100);
    memset(big, 'a', MC_JWT_MAX_LEN + 99);
    big[MC_JWT_MAX_LEN + 99] = '\0';
    expect(v, big, "too_large");
    free(big);
    mc_jwt_verifier_free(v);
}

static void test_rs256_es256(void)
{
    char err[256] = "", tok[8192];
    char *rsa = slurp("rsa.pem"), *rsa_pub = slurp("rsa.pub"), *rsa2 = slurp("rsa2.pem");
    char *ec = slurp("ec.pem"), *ec_pub = slurp("ec.pub");
    MC_CHECK(rsa && rsa_pub && rsa2 && ec && ec_pub);
    if (!(rsa && rsa_pub && rsa2 && ec && ec_pub))
        goto out;

    mc_jwt_verifier_t *v = mc_jwt_verifier_new("RS256", rsa_pub, strlen(rsa_pub), NULL, NULL, 0,
                                               err, sizeof err);
    MC_CHECK(v != NULL);
    char *t = make_token(JWT_ALG_RS256, rsa, strlen(rsa), "{\"sub\":\"7\",\"role\":\"admin\"}");
    expect(v, t, NULL);
    free(t);
    /* Signed by another key pair. */
    t = make_token(JWT_ALG_RS256, rsa2, strlen(rsa2), "{\"sub\":\"7\"}");
    expect(v, t, "bad_signature");
    free(t);

    /* Algorithm confusion: HS256 "signed" with the RSA public key as the HMAC secret. */
    t = make_token(JWT_ALG_HS256, rsa_pub, strlen(rsa_pub), "{\"sub\":\"7\",\"role\":\"admin\"}");
    MC_CHECK(t != NULL);
    expect(v, t, "wrong_alg");
    free(t);
    /* ES256 token against the RS256 verifier. */
    t = make_token(JWT_ALG_ES256, ec, strlen(ec), "{\"sub\":\"7\"}");
    expect(v, t, "wrong_alg");
    craft(tok, "{\"alg\":\"none\"}", "{\"sub\":\"7\"}", "");
    expect(v, tok, "alg_none");
    mc_jwt_verifier_free(v);

    v = mc_jwt_verifier_new("ES256", ec_pub, strlen(ec_pub), NULL, NULL, 0, err, sizeof err);
    MC_CHECK(v != NULL);
    expect(v, t, NULL);
    free(t);
    t = make_token(JWT_ALG_RS256, rsa, strlen(rsa), "{\"sub\":\"7\"}");
    expect(v, t, "wrong_alg");
    free(t);
    mc_jwt_verifier_free(v);

    /* Verifiers refuse private keys and non-PEM keys for public-key algorithms. */
    MC_CHECK(mc_jwt_verifier_new("RS256", rsa, strlen(rsa), NULL, NULL, 0, err, sizeof err) ==
             NULL);
    MC_CHECK_CONTAINS(err, "private key");
    /* ... and a key of the wrong type for the pinned algorithm. */
    MC_CHECK(mc_jwt_verifier_new("RS256", ec_pub, strlen(ec_pub), NULL, NULL, 0, err,
                                 sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "EC");
    MC_CHECK(mc_jwt_verifier_new("ES256", rsa_pub, strlen(rsa_pub), NULL, NULL, 0, err,
                                 sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "RSA");
    MC_CHECK(mc_jwt_verifier_new("RS256", "-----BEGIN PUBLIC KEY-----\nxx\n", 31, NULL, NULL,
                                 0, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "not a PEM public key");
out:
    free(rsa);
    free(rsa_pub);
    free(rsa2);
    free(ec);
    free(ec_pub);
}


/* ------------------------------------------------------------------ JWKS */

/* Base64url of big-endian parameter name of pk (padded to pad bytes when pad > 0). */
static void bn_b64(EVP_PKEY *pk, const char *name, int pad, char *out)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    EVP_PKEY_get_bn_param(pk, name, &bn);
    int n = pad ? pad : BN_num_bytes(bn);
    BN_bn2binpad(bn, buf, n);
    BN_free(bn);
    b64url((const char *)buf, (size_t)n, out);
}

/* A JWK (JSON text) of PEM public key pem with kid, and alg unless NULL; extra is added
 * inside the object (",\"use\":\"enc\"" or ""). */
static char *jwk_json(const char *pem, const char *kid, const char *alg, const char *extra)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)strlen(pem));
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    char a[1500], b[200], *out = malloc(4096), algp[64] = "";
    if (alg)
        snprintf(algp, sizeof algp, ",\"alg\":\"%s\"", alg);
    if (EVP_PKEY_is_a(pk, "RSA")) {
        bn_b64(pk, OSSL_PKEY_PARAM_RSA_N, 0, a);
        bn_b64(pk, OSSL_PKEY_PARAM_RSA_E, 0, b);
        snprintf(out, 4096, "{\"kty\":\"RSA\",\"kid\":\"%s\"%s,\"n\":\"%s\",\"e\":\"%s\"%s}",
                 kid, algp, a, b, extra);
    } else {
        bn_b64(pk, OSSL_PKEY_PARAM_EC_PUB_X, 32, a);
        bn_b64(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b);
        snprintf(out, 4096,
                 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\"%s,\"x\":\"%s\",\"y\":\"%s\"%s}",
                 kid, algp, a, b, extra);
    }
    EVP_PKEY_free(pk);
    return out;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static mc_jwks_t *jwks_file(const char *path, const char *algs, char *err, size_t errlen)
{
    mc_jwks_opts_t o = {NULL, path, algs, 60, 3600, 2000, 0, NULL};
    return mc_jwks_new(&o, err, errlen);
}

static json_int_t status_int(mc_jwks_t *k, const char *field)
{
    json_t *d = NULL;
    mc_jwks_status(k, &d);
    json_int_t v = json_integer_value(json_object_get(d, field));
    json_decref(d);
    return v;
}

static void test_jwks_file(void)
{
    char err[512] = "", path[300], doc[16384], tok[4096];
    char *rsa = slurp("rsa.pem"), *rsa_pub = slurp("rsa.pub"), *rsa2 = slurp("rsa2.pem");
    char *rsa2_pub = slurp("rsa2.pub"), *ec = slurp("ec.pem"), *ec_pub = slurp("ec.pub");
    MC_CHECK(rsa && rsa_pub && rsa2 && rsa2_pub && ec && ec_pub);
    if (!(rsa && rsa_pub && rsa2 && rsa2_pub && ec && ec_pub))
        goto out;
    char *ka = jwk_json(rsa_pub, "a", "RS256", ""), *kb = jwk_json(ec_pub, "b", NULL, "");
    char *khs = jwk_json(rsa2_pub, "hs", "HS256", ""), *kenc = jwk_json(rsa2_pub, "enc", NULL,
                                                                         ",\"use\":\"enc\"");
    char *kc = jwk_json(rsa2_pub, "c", "RS256", "");
    snprintf(path, sizeof path, "%s/jwks.json", tmpdir);
    snprintf(doc, sizeof doc,
             "{\"keys\":[%s,%s,%s,%s,{\"kty\":\"oct\",\"kid\":\"oct\",\"k\":\"c2VjcmV0\"}]}",
             ka, kb, khs, kenc);
    write_file(path, doc);

    mc_jwks_t *k = jwks_file(path, "RS256,ES256", err, sizeof err);
    MC_CHECK(k != NULL);
    if (!k)
        goto out2;
    MC_CHECK_INT(mc_jwks_status(k, NULL), 1);
    MC_CHECK_INT(status_int(k, "keys"), 2); /* hs, enc and oct are skipped */
    mc_jwt_verifier_t *v = mc_jwt_verifier_new_jwks(k, "https://idp.test", "modelcast", 30, err,
                                                    sizeof err);
    MC_CHECK(v != NULL);
    MC_CHECK_STR(mc_jwt_verifier_alg(v), "JWKS");
    MC_CHECK(mc_jwt_verifier_jwks(v) == k);
    const char *ok_claims = "{\"sub\":\"7\",\"iss\":\"https://idp.test\",\"aud\":\"modelcast\"}";

    char *t = make_token_kid(JWT_ALG_RS256, rsa, strlen(rsa), ok_claims, "a");
    expect(v, t, NULL);
    free(t);
    t = make_token_kid(JWT_ALG_ES256, ec, strlen(ec), ok_claims, "b");
    expect(v, t, NULL);
    free(t);
    /* The key decides the algorithm: an RS256 token naming the EC key. */
    t = make_token_kid(JWT_ALG_RS256, rsa, strlen(rsa), ok_claims, "b");
    expect(v, t, "wrong_alg");
    free(t);
    /* Algorithm confusion: HS256 "signed" with the RSA public key, naming the RSA key. */
    t = make_token_kid(JWT_ALG_HS256, rsa_pub, strlen(rsa_pub), ok_claims, "a");
    expect(v, t, "wrong_alg");
    free(t);
    /* The HS256 key of the document and its oct key were never taken. */
    t = make_token_kid(JWT_ALG_HS256, "secret", 6, ok_claims, "oct");
    expect(v, t, "wrong_alg");
    free(t);
    craft(tok, "{\"alg\":\"none\",\"kid\":\"a\"}", ok_claims, "");
    expect(v, tok, "alg_none");
    craft(tok, "{\"alg\":\"RS256\",\"kid\":7}", ok_claims, "c2ln");
    expect(v, tok, "malformed");
    /* Wrong key: signed by another RSA key, naming kid a. */
    t = make_token_kid(JWT_ALG_RS256, rsa2, strlen(rsa2), ok_claims, "a");
    expect(v, t, "bad_signature");
    free(t);
    /* No kid with two keys. */
    t = make_token(JWT_ALG_RS256, rsa, strlen(rsa), ok_claims);
    expect(v, t, "no_kid");
    free(t);
    /* Registered claims through the JWKS path. */
    struct {
        const char *grants, *want;
    } cases[] = {
        {"{\"iss\":\"https://idp.test\",\"aud\":\"modelcast\",\"exp\":1799999970}", "expired"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"modelcast\",\"nbf\":1800000031}", "not_yet_valid"},
        {"{\"iss\":\"https://evil.test\",\"aud\":\"modelcast\"}", "bad_issuer"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"other\"}", "bad_audience"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t = make_token_kid(JWT_ALG_RS256, rsa, strlen(rsa), cases[i].grants, "a");
        expect(v, t, cases[i].want);
        free(t);
    }

    /* Rotation: key c joins the document; its first token refetches once and passes. */
    snprintf(doc, sizeof doc, "{\"keys\":[%s,%s,%s]}", ka, kb, kc);
    write_file(path, doc);
    json_int_t before = status_int(k, "refreshes");
    t = make_token_kid(JWT_ALG_RS256, rsa2, strlen(rsa2), ok_claims, "c");
    expect(v, t, NULL);
    free(t);
    MC_CHECK_INT(status_int(k, "refreshes"), before + 1);
    MC_CHECK_INT(status_int(k, "unknown_kid_fetches"), 1);
    MC_CHECK_INT(status_int(k, "keys"), 3);
    /* A flood of unknown kids within MC_JWT_JWKS_REFRESH_MIN fetches nothing more. */
    for (int i = 0; i < 50; i++) {
        char kid[32];
        snprintf(kid, sizeof kid, "random-%d", i);
        t = make_token_kid(JWT_ALG_RS256, rsa, strlen(rsa), ok_claims, kid);
        expect(v, t, "unknown_kid");
        free(t);
    }
    MC_CHECK_INT(status_int(k, "refreshes"), before + 1);
    MC_CHECK_INT(status_int(k, "unknown_kid_fetches"), 1);
    mc_jwt_verifier_free(v);

    /* Fail closed: no document, no keys, every token refused; the error is reported. */
    snprintf(path, sizeof path, "%s/missing.json", tmpdir);
    k = jwks_file(path, "RS256", err, sizeof err);
    MC_CHECK(k != NULL);
    json_t *d = NULL;
    MC_CHECK_INT(mc_jwks_status(k, &d), 0);
    MC_CHECK_STR(json_string_value(json_object_get(d, "status")), "no_keys");
    MC_CHECK_CONTAINS(json_string_value(json_object_get(d, "last_error")), "cannot open");
    MC_CHECK(json_is_null(json_object_get(d, "last_success")));
    json_decref(d);
    v = mc_jwt_verifier_new_jwks(k, NULL, NULL, 0, err, sizeof err);
    t = make_token_kid(JWT_ALG_RS256, rsa, strlen(rsa), ok_claims, "a");
    expect(v, t, "no_keys");
    free(t);
    mc_jwt_verifier_free(v);

    /* Documents that are not key sets, or hold no usable key. */
    const char *bad[] = {"not json", "{\"keys\":{}}", "[]",
                         "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}"};
    const char *why[] = {"not JSON", "no \"keys\" array", "no \"keys\" array", "no usable key"};
    snprintf(path, sizeof path, "%s/jwks.json", tmpdir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i]);
        k = jwks_file(path, "RS256", err, sizeof err);
        d = NULL;
        MC_CHECK_INT(mc_jwks_status(k, &d), 0);
        MC_CHECK_CONTAINS(json_string_value(json_object_get(d, "last_error")), why[i]);
        json_decref(d);
        mc_jwks_free(k);
    }
    /* More keys than MC_JWKS_MAX_KEYS. */
    size_t o = (size_t)snprintf(doc, sizeof doc, "{\"keys\":[");
    for (int i = 0; i <= MC_JWKS_MAX_KEYS; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s{}", i ? "," : "");
    snprintf(doc + o, sizeof doc - o, "]}");
    write_file(path, doc);
    k = jwks_file(path, "RS256", err, sizeof err);
    d = NULL;
    MC_CHECK_INT(mc_jwks_status(k, &d), 0);
    MC_CHECK_CONTAINS(json_string_value(json_object_get(d, "last_error")), "more than");
    json_decref(d);
    mc_jwks_free(k);
    unlink(path);
out2:
    free(ka);
    free(kb);
    free(khs);
    free(kenc);
    free(kc);
out:
    free(rsa);
    free(rsa_pub);
    free(rsa2);
    free(rsa2_pub);
    free(ec);
    free(ec_pub);
}

static void test_jwks_settings(void)
{
    char err[512];
    struct {
        mc_jwks_opts_t o;
        const char *want;
    } cases[] = {
        {{NULL, NULL, "RS256", 60, 3600, 1000, 0, NULL}, "set exactly one"},
        {{"https://idp.test/jwks", "/tmp/x", "RS256", 60, 3600, 1000, 0, NULL}, "exactly one"},
        {{"http://idp.test/jwks", NULL, "RS256", 60, 3600, 1000, 0, NULL}, "ALLOW_HTTP"},
        {{"ftp://idp.test/jwks", NULL, "RS256", 60, 3600, 1000, 0, NULL}, "not https"},
        {{"https://idp.test/jwks", NULL, "HS256", 60, 3600, 1000, 0, NULL}, "'HS256' is not"},
        {{"https://idp.test/jwks", NULL, "RS256,XS1", 60, 3600, 1000, 0, NULL}, "'XS1'"},
        {{"https://idp.test/jwks", NULL, "", 60, 3600, 1000, 0, NULL}, "empty"},
        {{"https://idp.test/jwks", NULL, "RS256", 600, 60, 1000, 0, NULL}, "REFRESH_MIN"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        mc_jwks_t *k = mc_jwks_new(&cases[i].o, err, sizeof err);
        MC_CHECK(k == NULL);
        MC_CHECK_CONTAINS(err, cases[i].want);
        mc_jwks_free(k);
    }
    /* http to loopback is allowed; nothing listens on port 1: no keys, a reported error. */
    mc_jwks_opts_t o = {"http://127.0.0.1:1/jwks", NULL, "RS256", 60, 3600, 1000, 0, NULL};
    mc_jwks_t *k = mc_jwks_new(&o, err, sizeof err);
    MC_CHECK(k != NULL);
    json_t *d = NULL;
    MC_CHECK_INT(mc_jwks_status(k, &d), 0);
    MC_CHECK_INT(json_integer_value(json_object_get(d, "failures")), 1);
    MC_CHECK(json_string_value(json_object_get(d, "last_error")) != NULL);
    json_decref(d);
    mc_metrics_t *m = mc_metrics_new();
    MC_CHECK_INT(mc_jwks_metrics(k, m), MC_OK);
    char *text = mc_metrics_render(m);
    MC_CHECK_CONTAINS(text, "modelcast_jwks_refresh_failures_total 1\n");
    MC_CHECK_CONTAINS(text, "modelcast_jwks_keys 0\n");
    MC_CHECK_CONTAINS(text, "modelcast_jwks_last_success_timestamp_seconds 0\n");
    free(text);
    mc_metrics_free(m);
    mc_jwks_free(k);
    /* ... and plain http elsewhere only when allowed (no fetch is made to a bad name). */
    mc_jwks_opts_t o2 = {"http://idp.invalid/jwks", NULL, "RS256", 60, 3600, 200, 1, NULL};
    k = mc_jwks_new(&o2, err, sizeof err);
    MC_CHECK(k != NULL);
    mc_jwks_free(k);
}

static void test_cache_ttl(void)
{
    MC_CHECK_INT(mc_jwks_cache_ttl("public, max-age=300", NULL, NULL, 0), 300);
    MC_CHECK_INT(mc_jwks_cache_ttl("max-age=15, stale-while-revalidate=15", NULL, NULL, 0), 15);
    MC_CHECK_INT(mc_jwks_cache_ttl("no-cache", "Thu, 01 Jan 2099 00:00:00 GMT", NULL, 0), 0);
    MC_CHECK_INT(mc_jwks_cache_ttl("no-store, max-age=300", NULL, NULL, 0), 0);
    MC_CHECK_INT(mc_jwks_cache_ttl("MAX-AGE=7", NULL, NULL, 0), 7);
    MC_CHECK_INT(mc_jwks_cache_ttl("private", NULL, NULL, 0), -1);
    MC_CHECK_INT(mc_jwks_cache_ttl(NULL, NULL, NULL, 0), -1);
    MC_CHECK_INT(mc_jwks_cache_ttl(NULL, "Wed, 21 Oct 2015 07:28:00 GMT",
                                   "Wed, 21 Oct 2015 07:18:00 GMT", 0), 600);
    MC_CHECK_INT(mc_jwks_cache_ttl(NULL, "Wed, 21 Oct 2015 07:28:00 GMT", NULL, 1445412480 - 60),
                 60);
    MC_CHECK_INT(mc_jwks_cache_ttl(NULL, "0", NULL, 0), 0);
    MC_CHECK_INT(mc_jwks_cache_ttl("max-age=300", "Wed, 21 Oct 2015 07:28:00 GMT", NULL, 0), 300);
}

/* Policies read claims as lists: a token naming more items than the bound is refused. */
static void test_claim_items(void)
{
    char err[256];
    mc_jwt_verifier_t *v =
        mc_jwt_verifier_new("HS256", SECRET, strlen(SECRET), NULL, NULL, 0, err, sizeof err);
    char *grants = malloc(16384), *t;
    for (int n = MC_JWT_MAX_CLAIM_ITEMS; n <= MC_JWT_MAX_CLAIM_ITEMS + 1; n++) {
        size_t o = (size_t)snprintf(grants, 16384, "{\"sub\":\"1\",\"teams\":[");
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(grants + o, 16384 - o, "%s%d", i ? "," : "", i % 10);
        snprintf(grants + o, 16384 - o, "]}");
        json_t *j = json_loads(grants, 0, NULL);
        MC_CHECK_INT(mc_jwt_claim_items(j), n);
        json_decref(j);
        t = make_token(JWT_ALG_HS256, SECRET, strlen(SECRET), grants);
        expect(v, t, n > MC_JWT_MAX_CLAIM_ITEMS ? "too_many_items" : NULL);
        free(t);
    }
    /* Words of a space-separated string count; nested arrays count; strings in arrays
     * count once. */
    size_t o = (size_t)snprintf(grants, 16384, "{\"scope\":\"");
    for (int i = 0; i <= MC_JWT_MAX_CLAIM_ITEMS; i++)
        o += (size_t)snprintf(grants + o, 16384 - o, "%sa", i ? " " : "");
    snprintf(grants + o, 16384 - o, "\"}");
    t = make_token(JWT_ALG_HS256, SECRET, strlen(SECRET), grants);
    expect(v, t, "too_many_items");
    free(t);
    json_t *j = json_loads("{\"a\":{\"roles\":[\"x y\",[1,2]]},\"name\":\"Ada Lovelace\","
                           "\"one\":\"word\"}", 0, NULL);
    MC_CHECK_INT(mc_jwt_claim_items(j), 4 + 2);
    json_decref(j);
    free(grants);
    mc_jwt_verifier_free(v);
}

static void test_verifier_args(void)
{
    char err[256] = "";
    MC_CHECK(mc_jwt_verifier_new("none", "k", 1, NULL, NULL, 0, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "'none' is not supported");
    MC_CHECK(mc_jwt_verifier_new(NULL, "k", 1, NULL, NULL, 0, err, sizeof err) == NULL);
    MC_CHECK(mc_jwt_verifier_new("HS256", "", 0, NULL, NULL, 0, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "empty");
    MC_CHECK(mc_jwt_verifier_new("RS256", "secret", 6, NULL, NULL, 0, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "PEM");
    MC_CHECK(mc_jwt_verifier_new("HS256", "k", 1, NULL, NULL, -1, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "leeway");
    mc_jwt_verifier_free(NULL);
    const char *reason = NULL;
    MC_CHECK_INT(mc_jwt_verify(NULL, "a.b.c", NOW, NULL, &reason), MC_ERR_INVAL);
}

int main(void)
{
    int keys = make_keys();
    MC_CHECK_INT(keys, 0);
    MC_TEST_RUN(test_hs256);
    MC_TEST_RUN(test_alg_none);
    MC_TEST_RUN(test_claims_checks);
    MC_TEST_RUN(test_malformed);
    if (keys == 0)
        MC_TEST_RUN(test_rs256_es256);
    MC_TEST_RUN(test_verifier_args);
    if (keys == 0)
        MC_TEST_RUN(test_jwks_file);
    MC_TEST_RUN(test_jwks_settings);
    MC_TEST_RUN(test_cache_ttl);
    MC_TEST_RUN(test_claim_items);
    remove_keys();
    MC_TEST_DONE();
}
