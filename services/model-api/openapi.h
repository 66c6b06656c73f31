/*
 * openapi.h - the OpenAPI 3.1 description of model-api, generated from the models file:
 * one set of paths and schemas per served model, the error envelope, the operational
 * endpoints.
 */
#ifndef OPENAPI_H
#define OPENAPI_H

#include <jansson.h>

#include "mc_model.h"
#include "mc_policy.h"

/*
 * Builds the document for schema. Every operation declares the bearer scheme (a JWT in
 * Authorization); those policy lets an anonymous caller perform also the empty requirement
 * (anonymous allowed). Returns a new object (caller owns), or NULL.
 */
json_t *openapi_build(const mc_schema_t *schema, const mc_policy_t *policy, long list_limit_max,
                      long max_body);

#endif
