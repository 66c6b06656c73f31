/*
 * delivery.h - turns one change event (the public event contract) into the deliveries
 * authz writes to modelcast.deliveries, as the policies decide: per channel, the record
 * filtered to the attributes that channel may see, and `remove` deliveries to channels
 * that can no longer see it. Pure functions, no I/O.
 */
#ifndef DELIVERY_H
#define DELIVERY_H

#include <jansson.h>
#include <stddef.h>

#include "mc_policy.h"

/*
 * Parses and checks a change event value (len bytes) and routes it with policy.
 * event_id is the event's ce_id header (may be NULL: the event is then refused).
 * Returns MC_OK with *out a new JSON array of delivery objects
 * {"channel","model","id","op","version","attributes","changed","event_id"} (the caller
 * owns it; empty when no channel receives the change), or MC_ERR_INVAL with reason
 * explaining why the event cannot be evaluated (it belongs in the dead-letter topic).
 */
int delivery_route(const mc_policy_t *policy, const char *value, size_t len,
                   const char *event_id, json_t **out, char *reason, size_t reasonlen);

#endif
