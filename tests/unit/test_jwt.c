/* test_jwt.c - token verification with a pinned algorithm: HS256, RS256 and ES256 tokens
 * made with libjwt, hand-crafted alg:none and alg-confusion tokens, every reason code. */
#include "mc_error.h"
#include "mc_jwt.h"
#include "mc_test.h"

#include <jwt.h>
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

/* A token signed by libjwt with alg and key, payload = grants (a JSON object text). */
static char *make_token(jwt_alg_t alg, const char *key, size_t keylen, const char *grants)
{
    jwt_t *jwt = NULL;
    char *out = NULL;
    if (jwt_new(&jwt))
        return NULL;
    if (jwt_add_grants_json(jwt, grants) == 0 &&
        jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)keylen) == 0)
        out = jwt_encode_str(jwt);
    jwt_free(jwt);
    return out;
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

    /* What libjwt 1.10 does by itself: documents why the header is checked first. */
    jwt_t *jwt = NULL;
    craft(tok, "{\"alg\":\"none\"}", "{\"sub\":\"admin\"}", "");
    int rc = jwt_decode(&jwt, tok, (const unsigned char *)SECRET, (int)strlen(SECRET));
    printf("  note: libjwt jwt_decode(alg none, with key) = %d (%s)\n", rc,
           rc == 0 ? "ACCEPTED" : "refused");
    if (jwt)
        jwt_free(jwt);
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
    jwt_t *jwt = NULL;
    int rc = jwt_decode(&jwt, t, (const unsigned char *)rsa_pub, (int)strlen(rsa_pub));
    printf("  note: libjwt jwt_decode(HS256 signed with the RSA public key) = %d (%s)\n", rc,
           rc == 0 ? "ACCEPTED: never let the header choose" : "refused");
    if (jwt)
        jwt_free(jwt);
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
out:
    free(rsa);
    free(rsa_pub);
    free(rsa2);
    free(ec);
    free(ec_pub);
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
    remove_keys();
    MC_TEST_DONE();
}
