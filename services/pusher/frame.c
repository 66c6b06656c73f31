/* frame.c - refcounted outbound frames. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

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
    memset(f->buf, 0, PUSHER_FRAME_PRE);
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

pusher_frame_t *pusher_frame_copy(const pusher_frame_t *f)
{
    pusher_frame_t *c = pusher_frame_new((const char *)PUSHER_FRAME_DATA(f), f->len, f->channel);
    if (c) {
        c->partition = f->partition;
        c->offset = f->offset;
        c->kafka_ts_ms = f->kafka_ts_ms;
    }
    return c;
}

pusher_frame_t *pusher_frame_ref(pusher_frame_t *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void pusher_frame_unref(pusher_frame_t *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}
