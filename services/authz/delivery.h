/*
 * delivery.h - turns one change event (the public event contract) into the deliveries
 * authz writes to modelcast.deliveries: channel, model, id, op, version, attributes,
 * changed, event_id. Pure functions, no I/O.
 */
#ifndef DELIVERY_H
#define DELIVERY_H

#include <jansson.h>
#include <stddef.h>

/*
 * Parses and checks a change event value (len bytes) and routes it to channel.
 * event_id is the event's ce_id header (may be NULL: the event is then refused).
 * Returns MC_OK with *out a new JSON array of delivery objects (the caller owns it), or
 * MC_ERR_INVAL with reason explaining why the event cannot be evaluated (it belongs in
 * the dead-letter topic).
 */
int delivery_route(const char *value, size_t len, const char *event_id, const char *channel,
                   json_t **out, char *reason, size_t reasonlen);

#endif
