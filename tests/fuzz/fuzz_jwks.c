/*
 * fuzz_jwks.c - the JWKS document parser (common/src/jwk_set.c, jwk_set_parse): one input is
 * one key set document as an identity provider (or whoever answers MC_JWT_JWKS_URL) serves
 * it. It is parsed under several algorithm sets (MC_JWT_JWKS_ALGS): every algorithm, the
 * default RS256,ES256, one RSA-PSS and one EC algorithm, and none; with full-size and tiny
 * report buffers. Every key of a returned set must be one the verifier may use: a public RSA
 * or EC key (no private member survives cjose's import), pinned to a non-empty subset of the
 * allowed algorithms its type and curve fit, a kid of 1..256 bytes unique in the set (found by
 * jwk_set_find), at most MC_JWKS_MAX_KEYS keys, no more than the document held. A refusal
 * says why. The header is common/src's own (jwk_set.h): the parser is not public API, and
 * going through mc_jwks_new (a file, a thread) would test far less per second.
 */
#include "fuzz_common.h"
#include "jwk_set.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KID_MAX 256 /* jwk_set.c */

static unsigned bit(const char *name)
{
    unsigned b = jwk_alg_bit(name);
    FUZZ_ASSERT(b != 0, "an algorithm of jwk_set.c is unknown");
    return b;
}

/* The number of elements of the document's "keys" array, or -1 when it has none. */
static long doc_keys(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *keys = json_object_get(root, "keys");
    long n = json_is_array(keys) ? (long)json_array_size(keys) : -1;
    json_decref(root);
    return n;
}

/* The family and curve of a cjose key, as jwk_algs_for_key takes them. */
static void key_type(const cjose_jwk_t *jwk, int *family, int *crv)
{
    cjose_err cerr;
    *crv = 0;
    switch (cjose_jwk_get_kty(jwk, &cerr)) {
    case CJOSE_JWK_KTY_RSA:
        *family = JWK_FAM_RSA;
        break;
    case CJOSE_JWK_KTY_EC:
        *family = JWK_FAM_EC;
        *crv = (int)cjose_jwk_EC_get_curve(jwk, &cerr);
        break;
    default:
        *family = 0;
        FUZZ_ASSERT(0, "a key that is neither RSA nor EC was kept");
    }
}

/* Whether the key, exported with whatever private part cjose holds, has one. */
static int has_private_part(const cjose_jwk_t *jwk)
{
    cjose_err cerr;
    char *text = cjose_jwk_to_json(jwk, true, &cerr);
    FUZZ_ASSERT(text != NULL, "a kept key cannot be exported");
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    FUZZ_ASSERT(json_is_object(j), "a kept key exports as no JSON object");
    int priv = json_object_get(j, "d") != NULL || json_object_get(j, "p") != NULL ||
               json_object_get(j, "k") != NULL;
    json_decref(j);
    return priv;
}

static void check_set(const jwk_set_t *s, unsigned allowed, long in_doc)
{
    FUZZ_ASSERT(atomic_load(&s->refs) == 1, "a new set is not held once");
    FUZZ_ASSERT(s->n <= MC_JWKS_MAX_KEYS, "more keys than MC_JWKS_MAX_KEYS");
    FUZZ_ASSERT(in_doc >= 0 && s->n <= (size_t)in_doc, "more keys than the document holds");
    for (size_t i = 0; i < s->n; i++) {
        const jwk_key_t *k = &s->keys[i];
        int family, crv;
        FUZZ_ASSERT(k->jwk != NULL, "a key without its cjose key");
        FUZZ_ASSERT(k->algs != 0, "a key pinned to no algorithm");
        FUZZ_ASSERT((k->algs & ~allowed) == 0, "a key pinned to an algorithm not allowed");
        key_type(k->jwk, &family, &crv);
        FUZZ_ASSERT((k->algs & ~jwk_algs_for_key(allowed, family, crv)) == 0,
                    "a key pinned to an algorithm its type or curve does not fit");
        FUZZ_ASSERT(!has_private_part(k->jwk), "a key with private material was kept");
        if (k->kid) {
            size_t n = strlen(k->kid);
            FUZZ_ASSERT(n >= 1 && n <= KID_MAX, "a kid out of 1..256 bytes");
            FUZZ_ASSERT(jwk_set_find(s, k->kid) == k, "a kid that is not unique in the set");
        }
    }
    if (s->n == 1)
        FUZZ_ASSERT(jwk_set_find(s, NULL) == &s->keys[0], "the only key is not found by NULL");
    else
        FUZZ_ASSERT(jwk_set_find(s, NULL) == NULL, "NULL kid found one of several keys");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned all = (1u << jwk_nalgs) - 1;
    const unsigned sets[] = {all, bit("RS256") | bit("ES256"), bit("PS512"), bit("ES384"), 0};
    const size_t report_sizes[] = {1024, 1};
    long in_doc = doc_keys(data, size);
    size_t kept_all = 0;

    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        for (size_t r = 0; r < sizeof report_sizes / sizeof report_sizes[0]; r++) {
            char err[256] = "", skipped[1024];
            size_t skippedlen = report_sizes[r];
            memset(skipped, 'x', sizeof skipped);
            jwk_set_t *s = jwk_set_parse((const char *)data, size, sets[i], err, sizeof err,
                                         skipped, skippedlen);
            FUZZ_ASSERT(memchr(skipped, '\0', skippedlen) != NULL, "the skipped report is unterminated");
            FUZZ_ASSERT(skippedlen == sizeof skipped || skipped[skippedlen] == 'x',
                        "the skipped report overran its buffer");
            if (!s) {
                FUZZ_ASSERT(err[0] != '\0', "a refused document without a reason");
                FUZZ_ASSERT(memchr(err, '\0', sizeof err) != NULL, "an unterminated reason");
                FUZZ_ASSERT(in_doc < 0 || in_doc > MC_JWKS_MAX_KEYS ||
                                strcmp(err, "out of memory") == 0,
                            "a key set of at most MC_JWKS_MAX_KEYS keys was refused");
                continue;
            }
            FUZZ_ASSERT(in_doc >= 0, "a document without a \"keys\" array was accepted");
            check_set(s, sets[i], in_doc);
            if (sets[i] == 0)
                FUZZ_ASSERT(s->n == 0, "a key was kept with no algorithm allowed");
            if (i == 0 && r == 0)
                kept_all = s->n;
            else if (r == 0)
                FUZZ_ASSERT(s->n <= kept_all, "a narrower algorithm set kept more keys");
            jwk_set_t *again = jwk_set_retain(s);
            FUZZ_ASSERT(again == s && atomic_load(&s->refs) == 2, "retain");
            jwk_set_release(again);
            jwk_set_release(s);
        }
    }
    return 0;
}
