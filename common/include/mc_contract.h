/*
 * mc_contract.h - the wire contract of a change and of a delivery (docs/events.md,
 * docs/asyncapi.yaml): op values, field names of the JSON values, Kafka headers. Every
 * producer and consumer spells them from here: model-api's outbox trigger and relay write
 * change events; authz reads them and writes deliveries (routed by the policy engine);
 * the pusher reads deliveries. String literals, so SQL text can be joined from them too.
 */
#ifndef MC_CONTRACT_H
#define MC_CONTRACT_H

/* op of a change event: what happened to the record. */
#define MC_OP_CREATE "create"
#define MC_OP_UPDATE "update"
#define MC_OP_DESTROY "destroy"
/* op of a delivery: one of the above, or the record left the channel (attributes {"id"}). */
#define MC_OP_REMOVE "remove"

/* Fields of a change event (the value of a message on modelcast.changes). */
#define MC_FIELD_MODEL "model"
#define MC_FIELD_ID "id"
#define MC_FIELD_OP "op"
#define MC_FIELD_VERSION "version"
#define MC_FIELD_BEFORE "before"
#define MC_FIELD_AFTER "after"
#define MC_FIELD_CHANGED "changed"
#define MC_FIELD_TXID "txid"
#define MC_FIELD_COMMITTED_AT "committed_at"

/* Fields of a delivery (modelcast.deliveries) besides model, id, op, version, changed. */
#define MC_FIELD_CHANNEL "channel"
#define MC_FIELD_ATTRIBUTES "attributes"
#define MC_FIELD_EVENT_ID "event_id"

/* Headers of a change event: CloudEvents 1.0, Kafka protocol binding, binary mode. */
#define MC_HEADER_CE_SPECVERSION "ce_specversion"
#define MC_HEADER_CE_ID "ce_id"
#define MC_HEADER_CE_SOURCE "ce_source"
#define MC_HEADER_CE_TYPE "ce_type"
#define MC_HEADER_CE_SUBJECT "ce_subject"
#define MC_HEADER_CE_TIME "ce_time"
#define MC_HEADER_CONTENT_TYPE "content-type"
/* The CloudEvents distributed-tracing extension (traceparent, tracestate): the W3C trace
 * context of the change. Deliveries carry the same headers (the trace goes on). */
#define MC_HEADER_CE_TRACEPARENT "ce_traceparent"
#define MC_HEADER_CE_TRACESTATE "ce_tracestate"
#define MC_CE_SPECVERSION "1.0"
#define MC_CONTENT_TYPE_JSON "application/json"

/* ce_type of a change event, for op create, update and destroy. */
#define MC_CE_TYPE_CREATED "modelcast.record.created"
#define MC_CE_TYPE_UPDATED "modelcast.record.updated"
#define MC_CE_TYPE_DESTROYED "modelcast.record.destroyed"

/* Header authz adds to a change event it sends to the dead-letter topic: the reason. */
#define MC_HEADER_ERROR "mc_error"

#endif
