/*
 * frame.h - a refcounted, immutable outbound WebSocket text frame, serialized once and shared
 * by every subscriber queue that holds it; headroom in front of the payload serves lws_write.
 */
#ifndef PUSHER_FRAME_H
#define PUSHER_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Headroom before the payload; ws_server.c checks it is >= LWS_PRE at compile time. */
#define PUSHER_FRAME_PRE 16

typedef struct pusher_frame {
    atomic_int refs;
    size_t len;            /* payload bytes (without the NUL that follows them) */
    int32_t partition;     /* Kafka position of a "change" frame; -1 for other frames */
    int64_t offset;        /* (set by the creator before sharing the frame) */
    int64_t kafka_ts_ms;   /* Kafka timestamp of a "change" (ms since the epoch), or -1 */
    const char *channel;   /* routing channel (inside the same allocation), or NULL */
    unsigned char buf[];   /* PUSHER_FRAME_PRE bytes of headroom, payload, NUL, channel */
} pusher_frame_t;

/* Payload start: the bytes to hand to lws_write (which may write into the headroom). */
#define PUSHER_FRAME_DATA(f) ((f)->buf + PUSHER_FRAME_PRE)

/*
 * Copies payload (len bytes) into a new frame with one reference held by the caller.
 * channel (may be NULL) is copied too and routes the frame through the hub.
 * Returns NULL on allocation failure.
 */
pusher_frame_t *pusher_frame_new(const char *payload, size_t len, const char *channel);

/*
 * A private copy of f (payload, channel, position) with one reference held by the caller:
 * lws_write writes the WebSocket header into the headroom, so a frame written by several
 * service threads needs one copy per thread. NULL on allocation failure.
 */
pusher_frame_t *pusher_frame_copy(const pusher_frame_t *f);

/* Takes one more reference to f and returns f. Thread-safe. */
pusher_frame_t *pusher_frame_ref(pusher_frame_t *f);

/* Drops one reference; the last one frees the frame. NULL-safe, thread-safe. */
void pusher_frame_unref(pusher_frame_t *f);

#endif
