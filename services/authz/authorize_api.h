/*
 * authorize_api.h - authz's HTTP API: POST /v1/authorize (may this token connect to these
 * channels?) for the pusher, and GET /v1/channels (the channels a token may connect to,
 * for clients that auto-connect).
 */
#ifndef AUTHORIZE_API_H
#define AUTHORIZE_API_H

#include <ulfius.h>

#include "mc_jwt.h"
#include "mc_metrics.h"
#include "mc_policy.h"

#define AUTHORIZE_MAX_CHANNELS 100
#define AUTHORIZE_MAX_BODY (64 * 1024)

typedef struct authorize_api authorize_api_t;

/* Creates the API over policy and verifier (may be NULL: anonymous only); not owned. */
authorize_api_t *authorize_api_new(const mc_policy_t *policy, const mc_jwt_verifier_t *verifier,
                                   mc_metrics_t *metrics);

/* Adds the routes to inst. Returns MC_OK or MC_ERR_NOMEM. */
int authorize_api_register(authorize_api_t *api, struct _u_instance *inst);

void authorize_api_free(authorize_api_t *api);

#endif
