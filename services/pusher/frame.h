/*
 * frame.h - a refcounted, immutable outbound WebSocket text frame, serialized once (header
 * included) and shared by every subscriber queue of every worker that holds it.
 */
#ifndef PUSHER_FRAME_H
#define PUSHER_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Headroom before the payload: holds the WebSocket header (at most 10 bytes for a server). */
#define PUSHER_FRAME_PRE 16

typedef struct pusher_frame {
    atomic_int refs;
    size_t len;            /* payload bytes (without the NUL that follows them) */
    int32_t partition;     /* Kafka position of a "change" frame; -1 for other frames */
    int64_t offset;        /* (set by the creator before sharing the frame) */
    int64_t kafka_ts_ms;   /* Kafka timestamp of a "change" (ms since the epoch), or -1 */
    const char *channel;   /* routing channel (inside the same allocation), or NULL */
    struct pusher_trace *trace; /* a live change whose fan-out span records (fanout_trace.h),
                                   freed with the frame; NULL for the others */
    uint8_t hlen;          /* bytes of the WebSocket header right before the payload */
    unsigned char buf[];   /* headroom (header at its end), payload, NUL, channel */
} pusher_frame_t;

/* Payload start. */
#define PUSHER_FRAME_DATA(f) ((f)->buf + PUSHER_FRAME_PRE)

/*
 * The frame as it goes on the wire: an unmasked, final text frame (RFC 6455 5.2) - header
 * then payload - ready for a raw write. Never written to after pusher_frame_new.
 */
#define PUSHER_FRAME_WIRE(f) ((const unsigned char *)PUSHER_FRAME_DATA(f) - (f)->hlen)
#define PUSHER_FRAME_WIRE_LEN(f) ((f)->len + (f)->hlen)

/*
 * Copies payload (len bytes) into a new frame with one reference held by the caller and
 * writes its WebSocket header. channel (may be NULL) is copied too and routes the frame
 * through the hub. Returns NULL on allocation failure.
 */
pusher_frame_t *pusher_frame_new(const char *payload, size_t len, const char *channel);

/* Takes one more reference to f and returns f. Thread-safe. */
pusher_frame_t *pusher_frame_ref(pusher_frame_t *f);

/* Drops one reference; the last one frees the frame (and its trace). NULL-safe,
 * thread-safe. */
void pusher_frame_unref(pusher_frame_t *f);

#endif
