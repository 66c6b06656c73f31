/* frame.c - refcounted outbound frames with their WebSocket header written once. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

/* Writes the header of a final, unmasked text frame of len bytes before payload p. */
static uint8_t frame__header(unsigned char *p, size_t len)
{
    unsigned char *h;
    if (len < 126) {
        h = p - 2;
        h[1] = (unsigned char)len;
    } else if (len <= 0xffff) {
        h = p - 4;
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
    } else {
        h = p - 10;
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    h[0] = 0x81; /* FIN, text */
    return (uint8_t)(p - h);
}

pusher_frame_t *pusher_frame_new(const char *payload, size_t len, const char *channel)
{
    size_t clen = channel ? strlen(channel) + 1 : 0;
    pusher_frame_t *f = malloc(sizeof *f + PUSHER_FRAME_PRE + len + 1 + clen);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->len = len;
    f->partition = -1;
    f->offset = -1;
    f->kafka_ts_ms = -1;
    f->trace = NULL;
    memset(f->buf, 0, PUSHER_FRAME_PRE);
    f->hlen = frame__header(PUSHER_FRAME_DATA(f), len);
    if (len)
        memcpy(PUSHER_FRAME_DATA(f), payload, len);
    PUSHER_FRAME_DATA(f)[len] = '\0';
    f->channel = NULL;
    if (channel) {
        char *c = (char *)PUSHER_FRAME_DATA(f) + len + 1;
        memcpy(c, channel, clen);
        f->channel = c;
    }
    return f;
}

pusher_frame_t *pusher_frame_ref(pusher_frame_t *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void pusher_frame_unref(pusher_frame_t *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        free(f->trace);
        free(f);
    }
}
