/* auth.c - MC_JWT_* settings → verifier; HTTP Authorization header → claims. */
#include "mc_auth.h"
#include "mc_error.h"
#include "mc_http.h"
#include "mc_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define AUTH_KEY_MAX (64 * 1024)

/* A verified token never names more instance ids than a policy takes from one caller, so
 * REST filters and the WebSocket channel check read the same complete lists. */
_Static_assert(MC_JWT_MAX_CLAIM_ITEMS <= MC_POLICY_MAX_INSTANCES,
               "a verified token must fit the policy's instance bound");

static int auth__jwks_verifier(const mc_auth_settings_t *s, mc_jwt_verifier_t **out,
                               char *err, size_t errlen)
{
    char why[512];
    if (s->key || s->key_file) {
        snprintf(err, errlen, "MC_JWT_KEY/MC_JWT_KEY_FILE and MC_JWT_JWKS_URL/MC_JWT_JWKS_FILE: "
                 "set one kind of key only");
        return MC_ERR_CONFIG;
    }
    mc_jwks_opts_t o = {s->jwks_url,         s->jwks_file,        s->jwks_algs,
                        s->jwks_refresh_min, s->jwks_refresh_max, s->jwks_timeout_ms,
                        s->jwks_allow_http,  s->jwks_ca_file};
    mc_jwks_t *k = mc_jwks_new(&o, why, sizeof why);
    if (!k) {
        snprintf(err, errlen, "%s", why);
        return MC_ERR_CONFIG;
    }
    if (!(*out = mc_jwt_verifier_new_jwks(k, s->issuer, s->audience, s->leeway, why,
                                          sizeof why))) {
        snprintf(err, errlen, "MC_JWT_LEEWAY: %s", why);
        return MC_ERR_CONFIG;
    }
    mc_jwt_verifier_require_exp(*out, s->require_exp);
    return MC_OK;
}

int mc_auth_verifier(const mc_auth_settings_t *s, mc_jwt_verifier_t **out, char *err,
                     size_t errlen)
{
    char *buf = NULL;
    const char *key = s->key;
    size_t keylen = key ? strlen(key) : 0;
    char why[256];

    *out = NULL;
    if (s->jwks_url || s->jwks_file)
        return auth__jwks_verifier(s, out, err, errlen);
    if (s->key && s->key_file) {
        snprintf(err, errlen, "MC_JWT_KEY and MC_JWT_KEY_FILE: set only one");
        return MC_ERR_CONFIG;
    }
    if (s->key_file) {
        FILE *f = fopen(s->key_file, "rb");
        if (!f) {
            snprintf(err, errlen, "MC_JWT_KEY_FILE: cannot open '%s'", s->key_file);
            return MC_ERR_CONFIG;
        }
        buf = malloc(AUTH_KEY_MAX + 1);
        keylen = buf ? fread(buf, 1, AUTH_KEY_MAX + 1, f) : 0;
        fclose(f);
        if (!buf || keylen == 0 || keylen > AUTH_KEY_MAX) {
            free(buf);
            snprintf(err, errlen, "MC_JWT_KEY_FILE: '%s' is empty or larger than %d bytes",
                     s->key_file, AUTH_KEY_MAX);
            return MC_ERR_CONFIG;
        }
        buf[keylen] = '\0';
        key = buf;
    }
    if (!key || keylen == 0) {
        free(buf);
        return MC_OK;
    }
    *out = mc_jwt_verifier_new(s->alg, key, keylen, s->issuer, s->audience, s->leeway, why,
                               sizeof why);
    if (buf) {
        memset(buf, 0, keylen); /* do not leave the secret lying in freed memory */
        free(buf);
    }
    if (!*out) {
        /* the message names the setting, never the key */
        snprintf(err, errlen, "MC_JWT_ALG/MC_JWT_KEY: %s", why);
        return MC_ERR_CONFIG;
    }
    mc_jwt_verifier_require_exp(*out, s->require_exp);
    return MC_OK;
}

int mc_auth_token(const mc_jwt_verifier_t *v, const char *token, json_t **claims,
                  const char **reason)
{
    *claims = NULL;
    if (!token || !*token)
        return MC_OK;
    if (!v) {
        *reason = "no_key";
        return MC_ERR_INVAL;
    }
    int rc = mc_jwt_verify(v, token, (long)time(NULL), claims, reason);
    if (rc == MC_ERR_NOMEM)
        *reason = "no_memory";
    return rc == MC_OK ? MC_OK : MC_ERR_INVAL;
}

int mc_auth_request(const mc_jwt_verifier_t *v, const struct _u_request *req,
                    struct _u_response *resp, json_t **claims)
{
    const char *h = u_map_get_case(req->map_header, "Authorization");
    const char *reason = "malformed";

    *claims = NULL;
    if (!h)
        return MC_OK;
    if (strncasecmp(h, "Bearer ", 7) == 0 && h[7]) {
        if (mc_auth_token(v, h + 7, claims, &reason) == MC_OK)
            return MC_OK;
    }
    u_map_put(resp->map_header, "WWW-Authenticate", "Bearer");
    mc_http_error(resp, 401, "invalid_token", json_pack("{s:s}", "reason", reason),
                  "the bearer token was refused (%s)", reason);
    return MC_ERR_INVAL;
}

int mc_auth_ready(const mc_jwt_verifier_t *v, json_t *body)
{
    mc_jwks_t *k = mc_jwt_verifier_jwks(v);
    json_t *detail = NULL;
    if (!k)
        return 1;
    int ok = mc_jwks_status(k, &detail);
    if (body && detail)
        json_object_set_new(body, "jwks", detail);
    else
        json_decref(detail);
    return ok;
}

int mc_auth_metrics(const mc_jwt_verifier_t *v, mc_metrics_t *m)
{
    mc_jwks_t *k = mc_jwt_verifier_jwks(v);
    return k ? mc_jwks_metrics(k, m) : MC_OK;
}
