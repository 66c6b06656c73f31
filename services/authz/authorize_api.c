/* authorize_api.c - POST /v1/authorize and GET /v1/channels. */
#include "authorize_api.h"
#include "mc_auth.h"
#include "mc_channel.h"
#include "mc_error.h"
#include "mc_http.h"

#include <stdlib.h>
#include <string.h>

struct authorize_api {
    const mc_policy_t *policy;
    const mc_jwt_verifier_t *verifier;
    mc_metric_t *allowed, *denied, *bad_token;
};

authorize_api_t *authorize_api_new(const mc_policy_t *policy, const mc_jwt_verifier_t *verifier,
                                   mc_metrics_t *metrics)
{
    authorize_api_t *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->policy = policy;
    api->verifier = verifier;
    api->allowed = mc_metrics_counter(metrics, "modelcast_authz_decisions_total",
                                      "Channel authorization decisions.", "decision=\"allow\"");
    api->denied = mc_metrics_counter(metrics, "modelcast_authz_decisions_total",
                                     "Channel authorization decisions.", "decision=\"deny\"");
    api->bad_token = mc_metrics_counter(metrics, "modelcast_authz_invalid_tokens_total",
                                        "Tokens refused by /v1/authorize and /v1/channels.",
                                        NULL);
    return api;
}

void authorize_api_free(authorize_api_t *api)
{
    free(api);
}

/*
 * {"token": "..." | null, "channels": ["Application", "User-7"]} →
 * 200 {"channels": [{"channel": "Application", "allow": true},
 *                   {"channel": "User-7", "allow": false, "reason": "denied"}]}
 * A token that does not verify: 401 (details.reason); malformed request, or a string that is
 * no channel name (mc_channel.h, what the pusher accepts): 400.
 */
static int authorize(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    authorize_api_t *api = ud;
    json_t *body = mc_http_body_object(req, resp, AUTHORIZE_MAX_BODY), *claims = NULL;
    const char *reason = NULL;
    size_t i;
    json_t *ch;

    if (!body)
        return U_CALLBACK_COMPLETE;
    json_t *token = json_object_get(body, "token");
    json_t *channels = json_object_get(body, "channels");
    if ((token && !json_is_string(token) && !json_is_null(token)) || !json_is_array(channels) ||
        json_array_size(channels) == 0 || json_array_size(channels) > AUTHORIZE_MAX_CHANNELS) {
        mc_http_error(resp, 400, "bad_request", NULL,
                      "expected {\"token\": string or null, \"channels\": [1 to %d names]}",
                      AUTHORIZE_MAX_CHANNELS);
        goto out;
    }
    json_array_foreach(channels, i, ch) {
        if (!json_is_string(ch) ||
            !mc_channel_valid(json_string_value(ch), json_string_length(ch))) {
            mc_http_error(resp, 400, "bad_request", NULL,
                          "channels[%zu] is not a channel name (1 to %d of %s)", i,
                          MC_CHANNEL_MAX, MC_CHANNEL_CHARS);
            goto out;
        }
    }
    if (mc_auth_token(api->verifier, json_string_value(token), &claims, &reason) != MC_OK) {
        mc_metric_add(api->bad_token, 1);
        mc_http_error(resp, 401, "invalid_token", json_pack("{s:s}", "reason", reason),
                      "the token was refused (%s)", reason);
        goto out;
    }
    json_t *results = json_array();
    json_array_foreach(channels, i, ch) {
        const char *why = NULL;
        int ok = mc_policy_can_connect(api->policy, claims, json_string_value(ch), &why);
        json_t *r = json_pack("{s:O, s:b}", "channel", ch, "allow", ok);
        if (!ok)
            json_object_set_new(r, "reason", json_string(why ? why : "denied"));
        json_array_append_new(results, r);
        mc_metric_add(ok ? api->allowed : api->denied, 1);
    }
    mc_http_json(resp, 200, json_pack("{s:o}", "channels", results));
out:
    json_decref(claims);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* Authorization: Bearer <token> (or none) → 200 {"channels": [...], "any_instance": [...]}
 * (model-api serves the same answer, with CORS, for browsers). */
static int list_channels(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    authorize_api_t *api = ud;
    json_t *claims = NULL;
    if (mc_auth_request(api->verifier, req, resp, &claims) != MC_OK) {
        mc_metric_add(api->bad_token, 1);
        return U_CALLBACK_COMPLETE;
    }
    json_t *list = mc_policy_channels_answer(api->policy, claims);
    if (list)
        mc_http_json(resp, 200, list);
    else
        mc_http_error(resp, 503, "unavailable", NULL, "out of memory");
    json_decref(claims);
    return U_CALLBACK_COMPLETE;
}

static int not_allowed(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    u_map_put(resp->map_header, "Allow", ud);
    mc_http_error(resp, 405, "method_not_allowed", NULL, "%s is not allowed here",
                  req->http_verb);
    return U_CALLBACK_COMPLETE;
}

int authorize_api_register(authorize_api_t *api, struct _u_instance *inst)
{
    int rc = 0;
    rc |= ulfius_add_endpoint_by_val(inst, "POST", "/v1/authorize", NULL, 0, authorize, api);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/v1/channels", NULL, 0, list_channels, api);
    rc |= ulfius_add_endpoint_by_val(inst, "*", "/v1/authorize", NULL, 9, not_allowed, "POST");
    rc |= ulfius_add_endpoint_by_val(inst, "*", "/v1/channels", NULL, 9, not_allowed, "GET");
    return rc ? MC_ERR_NOMEM : MC_OK;
}
