/*
 * rest.h - the REST API of model-api over the declared models: routes, request
 * validation, SQL with bound parameters only, and the JSON error envelope.
 */
#ifndef REST_H
#define REST_H

#include <ulfius.h>

#include "api_config.h"
#include "cors.h"
#include "mc_jwt.h"
#include "mc_metrics.h"
#include "mc_model.h"
#include "mc_policy.h"
#include "outbox_relay.h"
#include "pg_pool.h"

typedef struct rest rest_t;

/*
 * Creates the API over schema, enforcing policy (reads narrowed, writes checked) for
 * callers authenticated by verifier (NULL: anonymous callers only), using pool for queries
 * and waking relay after writes, answering browsers of the origins cors allows (NULL:
 * none). None of the arguments are owned; they must outlive the rest_t. NULL on failure.
 */
rest_t *rest_new(const api_config_t *cfg, const mc_schema_t *schema, const mc_policy_t *policy,
                 const mc_jwt_verifier_t *verifier, pg_pool_t *pool, outbox_relay_t *relay,
                 const cors_t *cors, mc_metrics_t *metrics);

/*
 * Traces the writes (POST, PATCH, DELETE) with tracer (not owned, outlives rest; NULL or
 * never called: contexts are still passed on, no span is recorded): each continues the
 * request's traceparent (a missing or invalid one starts a trace), stores the context with
 * the change's outbox row, answers it in a traceresponse header, and with an exporter
 * records a "REST write" span.
 */
void rest_set_tracer(rest_t *rest, const mc_tracer_t *tracer);

/* Adds every route to inst. Returns MC_OK or MC_ERR_NOMEM. */
int rest_register(rest_t *rest, struct _u_instance *inst);

void rest_free(rest_t *rest);

#endif
