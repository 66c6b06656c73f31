/*
 * fuzz_jwt.c - the bearer token verifier (common/src/jwt.c, public API only): one input is
 * one token, checked by an HS256 verifier with issuer, audience and a required exp, by a
 * bare HS256 verifier, and by an RS256 verifier (tests/fuzz/data/jwt_rs256.pub). An
 * accepted token must carry what the verifier demanded; a refused one names a known reason.
 * The seeds (tests/fuzz/make_seeds.py) are signed with the same keys, so mutations reach
 * the claim checks behind a valid signature.
 */
#include "fuzz_common.h"
#include "mc_error.h"
#include "mc_jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_HS_KEY "modelcast-fuzz-hs256-key-0123456789"
#define FUZZ_ISS "modelcast-fuzz"
#define FUZZ_AUD "modelcast"
#define FUZZ_NOW 1700000000L
#define FUZZ_LEEWAY 30L

/* The reasons of mc_jwt.h (with those of the JWKS verifier, which a one-key verifier never
 * gives). */
static const char *const reasons[] = {"missing",       "too_large",     "malformed",
                                      "alg_none",      "wrong_alg",     "no_keys",
                                      "unknown_kid",   "no_kid",        "bad_signature",
                                      "expired",       "not_yet_valid", "bad_issuer",
                                      "bad_audience",  "no_exp",        "too_many_items"};

static mc_jwt_verifier_t *verifiers[3];

static char *read_key(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MC_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    FUZZ_ASSERT(f != NULL, "cannot open the RS256 public key");
    char *key = calloc(1, 16384);
    FUZZ_ASSERT(key != NULL, "out of memory");
    *len = fread(key, 1, 16383, f);
    fclose(f);
    return key;
}

static void init(void)
{
    char err[256];
    size_t publen;
    if (verifiers[0])
        return;
    verifiers[0] = mc_jwt_verifier_new("HS256", FUZZ_HS_KEY, strlen(FUZZ_HS_KEY), FUZZ_ISS,
                                       FUZZ_AUD, FUZZ_LEEWAY, err, sizeof err);
    FUZZ_ASSERT(verifiers[0] != NULL, err);
    mc_jwt_verifier_require_exp(verifiers[0], 1);
    verifiers[1] = mc_jwt_verifier_new("HS256", FUZZ_HS_KEY, strlen(FUZZ_HS_KEY), NULL, NULL, 0,
                                       err, sizeof err);
    FUZZ_ASSERT(verifiers[1] != NULL, err);
    char *pub = read_key("tests/fuzz/data/jwt_rs256.pub", &publen);
    verifiers[2] = mc_jwt_verifier_new("RS256", pub, publen, NULL, FUZZ_AUD, 0, err, sizeof err);
    free(pub);
    FUZZ_ASSERT(verifiers[2] != NULL, err);
}

static int known_reason(const char *r)
{
    for (size_t i = 0; r && i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(r, reasons[i]) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    char *token = fuzz_cstr((fuzz_part_t){(const char *)data, size});
    for (size_t i = 0; i < sizeof verifiers / sizeof verifiers[0]; i++) {
        json_t *claims = NULL;
        const char *reason = NULL;
        int rc = mc_jwt_verify(verifiers[i], token, FUZZ_NOW, &claims, &reason);
        if (rc == MC_OK) {
            FUZZ_ASSERT(json_is_object(claims) && reason == NULL, "accepted without claims");
            FUZZ_ASSERT(strlen(token) <= MC_JWT_MAX_LEN, "accepted a token over the limit");
            if (i == 0) {
                json_t *exp = json_object_get(claims, "exp");
                FUZZ_ASSERT(json_is_number(exp) &&
                                json_number_value(exp) > (double)(FUZZ_NOW - FUZZ_LEEWAY),
                            "accepted without a valid exp");
                const char *iss = json_string_value(json_object_get(claims, "iss"));
                FUZZ_ASSERT(iss && strcmp(iss, FUZZ_ISS) == 0, "accepted another issuer");
            }
        } else {
            FUZZ_ASSERT(claims == NULL, "claims returned with a refusal");
            FUZZ_ASSERT(rc == MC_ERR_NOMEM || (rc == MC_ERR_INVAL && known_reason(reason)),
                        "refused without a known reason");
        }
        json_decref(claims);
    }
    free(token);
    return 0;
}
