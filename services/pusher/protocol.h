/*
 * protocol.h - the pusher's WebSocket protocol: parses and validates client frames, builds
 * server frames (replies, errors) and turns a Kafka delivery into a "change" frame. Pure.
 */
#ifndef PUSHER_PROTOCOL_H
#define PUSHER_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "mc_channel.h"

#define PROTO_CHANNEL_MAX MC_CHANNEL_MAX

#define PROTO_TOKEN_MAX 8192

typedef enum { PROTO_SUBSCRIBE, PROTO_UNSUBSCRIBE, PROTO_PING, PROTO_AUTH } proto_type_t;

/* Error codes sent to clients in {"type":"error","code":...}. */
typedef enum {
    PROTO_OK = 0,
    PROTO_ERR_BAD_FRAME,              /* not JSON, not an object, binary, no "type" */
    PROTO_ERR_UNKNOWN_TYPE,           /* "type" is not one we know */
    PROTO_ERR_BAD_CHANNEL,            /* channel missing or no channel name (mc_channel.h) */
    PROTO_ERR_TOO_MANY_SUBSCRIPTIONS, /* over MC_MAX_SUBSCRIPTIONS */
    PROTO_ERR_TOO_LARGE,              /* over MC_MAX_FRAME: close with 1009, no error frame */
    PROTO_ERR_BAD_SINCE,              /* "since" is not "partition:offset" */
    PROTO_ERR_BAD_TOKEN,              /* auth "token" missing type or over PROTO_TOKEN_MAX */
    PROTO_ERR_OUT_OF_ORDER,           /* auth after another frame, or a second auth */
    PROTO_ERR_ALREADY_SUBSCRIBED,     /* subscribe to a channel subscribed (or pending) */
    PROTO_ERR_FORBIDDEN,              /* the subscription was refused by authorization */
    PROTO_ERR_UNAVAILABLE,            /* Kafka could not answer (positions, replay): retry */
    PROTO_ERR_BUSY,                   /* too many subscriptions waiting for an answer: retry */
    PROTO_ERR__COUNT
} proto_err_t;

typedef struct {
    proto_type_t type;
    char channel[PROTO_CHANNEL_MAX + 1]; /* "" for ping and auth */
    int has_since;                       /* subscribe: "since" was given */
    int32_t since_partition;
    int64_t since_offset;
    char token[PROTO_TOKEN_MAX + 1];     /* auth: the token ("" when absent or null) */
} proto_request_t;

/* Stable snake_case name of err ("bad_frame"...), "internal" when out of range. */
const char *proto_err_code(proto_err_t err);

/* Nonzero when s is a channel name: 1..MC_CHANNEL_MAX bytes of MC_CHANNEL_CHARS
 * (mc_channel.h, the rule authz and the policy engine apply too). */
int proto_channel_valid(const char *s);

/*
 * Parses a position "partition:offset" (decimal, partition 0..2^31-1, offset -1..2^63-1;
 * -1 is "before the first offset").
 * Returns 0 and fills *partition, *offset, or -1.
 */
int proto_position_parse(const char *s, int32_t *partition, int64_t *offset);

/*
 * Parses one complete client message of len bytes (binary: it came as a binary frame).
 * max_frame bounds len. Fills *req on PROTO_OK; otherwise returns the error code and
 * writes a human-readable reason into msg.
 */
proto_err_t proto_parse(const char *data, size_t len, int binary, size_t max_frame,
                        proto_request_t *req, char *msg, size_t msglen);

/*
 * Server frames, each a new frame with one reference owned by the caller (no channel
 * routing). NULL on allocation failure.
 * position may be NULL (sent as null).
 */
pusher_frame_t *proto_subscribed(const char *channel, const char *position);
pusher_frame_t *proto_unsubscribed(const char *channel);
pusher_frame_t *proto_pong(void);
/* {"type":"resync","channel":...}: the client must refetch the channel's records. */
pusher_frame_t *proto_resync(const char *channel);
/* {"type":"error","code":...,"message":...}; channel (may be NULL) is added when given. */
pusher_frame_t *proto_error(proto_err_t err, const char *channel, const char *message);

/*
 * Builds the "change" frame of a delivery (JSON value of len bytes read from Kafka at
 * partition:offset): {"type":"change", the delivery's fields..., "position":"p:o"}, routed
 * to the delivery's channel and carrying partition/offset. *out receives a new frame the
 * caller owns.
 * Returns MC_OK, MC_ERR_JSON (malformed delivery: reason in err) or MC_ERR_NOMEM.
 */
int proto_change(const char *value, size_t len, int32_t partition, int64_t offset,
                 pusher_frame_t **out, char *err, size_t errlen);

/* proto_change, also copying the delivery's event_id into event_id (eidlen bytes; "" when it
 * has none) unless event_id is NULL. */
int proto_change_id(const char *value, size_t len, int32_t partition, int64_t offset,
                    pusher_frame_t **out, char *event_id, size_t eidlen, char *err,
                    size_t errlen);

#endif
