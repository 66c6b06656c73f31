/*
 * fuzz_proto_frame.c - the pusher's client frame parser (services/pusher/protocol.c):
 * one input is one WebSocket text message. A parsed request must be what the protocol
 * promises (a valid channel, a bounded token, a position in range), and the replies built
 * from it must be JSON. The same bytes also go through proto_change() as a delivery read
 * from Kafka, and through proto_position_parse().
 */
#include "fuzz_common.h"
#include "mc_error.h"
#include "protocol.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_FRAME 65536

/* The frame is one JSON object with a "type" (what every client receives); an error frame
 * has its "code" and "message" strings. */
static void check_frame(pusher_frame_t *f)
{
    FUZZ_ASSERT(f != NULL, "no reply frame");
    json_t *j = json_loadb((const char *)PUSHER_FRAME_DATA(f), f->len, 0, NULL);
    FUZZ_ASSERT(json_is_object(j), "a reply frame is not a JSON object");
    const char *type = json_string_value(json_object_get(j, "type"));
    FUZZ_ASSERT(type != NULL, "a reply frame has no type");
    if (strcmp(type, "error") == 0)
        FUZZ_ASSERT(json_is_string(json_object_get(j, "code")) &&
                        json_is_string(json_object_get(j, "message")),
                    "an error frame without its code or message");
    json_decref(j);
    pusher_frame_unref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_request_t req;
    char msg[256];
    const char *text = (const char *)data;

    proto_err_t rc = proto_parse(text, size, 0, FUZZ_MAX_FRAME, &req, msg, sizeof msg);
    FUZZ_ASSERT(rc >= PROTO_OK && rc < PROTO_ERR__COUNT, "proto_parse: unknown code");
    if (rc == PROTO_OK) {
        FUZZ_ASSERT(strlen(req.token) <= PROTO_TOKEN_MAX, "token over its limit");
        if (req.type == PROTO_SUBSCRIBE || req.type == PROTO_UNSUBSCRIBE) {
            FUZZ_ASSERT(proto_channel_valid(req.channel), "parsed an invalid channel");
            check_frame(proto_subscribed(req.channel, req.has_since ? "0:1" : NULL));
            check_frame(proto_unsubscribed(req.channel));
            check_frame(proto_resync(req.channel));
        }
        if (req.has_since)
            FUZZ_ASSERT(req.since_partition >= 0 && req.since_offset >= -1,
                        "since out of range");
    } else {
        FUZZ_ASSERT(strlen(msg) < sizeof msg, "reason not terminated");
        check_frame(proto_error(rc, NULL, msg));
    }
    /* A binary frame is always refused. */
    FUZZ_ASSERT(proto_parse(text, size, 1, FUZZ_MAX_FRAME, &req, msg, sizeof msg) != PROTO_OK,
                "a binary frame was accepted");

    /* The same bytes as a delivery value (Kafka record) at some position. */
    pusher_frame_t *f = NULL;
    char err[256];
    if (proto_change(text, size, 3, 12345, &f, err, sizeof err) == MC_OK) {
        FUZZ_ASSERT(f && proto_channel_valid(f->channel), "change frame without a channel");
        check_frame(f);
    } else {
        FUZZ_ASSERT(f == NULL, "a refused delivery produced a frame");
    }

    /* And as a position "partition:offset". */
    char *pos = fuzz_cstr((fuzz_part_t){text, size < 64 ? size : 64});
    int32_t p;
    int64_t o;
    if (proto_position_parse(pos, &p, &o) == 0)
        FUZZ_ASSERT(p >= 0 && o >= -1, "position out of range");
    free(pos);
    return 0;
}
