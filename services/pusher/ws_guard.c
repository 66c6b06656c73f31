/* ws_guard.c - the recv() under libwebsockets and the client frame-header follower. */
#define _GNU_SOURCE
/* This file defines recv(): glibc's fortified inline recv() must not be in the way. */
#undef _FORTIFY_SOURCE
#include "ws_guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#define GUARD_CHUNK 1024 /* descriptors per chunk of the table */

static struct {
    pthread_mutex_t lock;              /* allocation of chunks */
    size_t nchunks;
    _Atomic(ws_guard_state_t *) *chunks;
} guard = {PTHREAD_MUTEX_INITIALIZER, 0, NULL};

size_t ws_guard_scan(ws_guard_state_t *s, const unsigned char *buf, size_t n)
{
    static const unsigned char end[4] = {'\r', '\n', '\r', '\n'};
    size_t i = 0;

    if (s->mode == WS_GUARD_HTTP) {
        for (; i < n; i++) {
            s->extra++;
            if (buf[i] == end[s->crlf])
                s->crlf++;
            else
                s->crlf = buf[i] == '\r';
            if (s->crlf == 4) {
                s->crlf = 0;
                s->extra = 0;
            }
        }
        return n;
    }
    if (s->mode != WS_GUARD_FRAMES)
        return n;
    while (i < n) {
        if (s->payload) {
            size_t skip = n - i < s->payload ? n - i : (size_t)s->payload;
            i += skip;
            s->payload -= skip;
            continue;
        }
        s->hdr[s->hlen++] = buf[i++];
        if (s->hlen == 2) {
            unsigned len7 = s->hdr[1] & 0x7f;
            if (!(s->hdr[1] & 0x80)) {
                s->mode = WS_GUARD_BROKEN;
                return i >= 2 ? i - 2 : 0; /* the header's first byte, if in this buffer */
            }
            s->need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
        }
        if (s->hlen >= 2 && s->hlen == s->need) {
            unsigned len7 = s->hdr[1] & 0x7f;
            uint64_t len = len7;
            if (len7 == 126)
                len = (uint64_t)s->hdr[2] << 8 | s->hdr[3];
            else if (len7 == 127) {
                len = 0;
                for (int k = 0; k < 8; k++)
                    len = len << 8 | s->hdr[2 + k];
            }
            s->payload = len;
            s->hlen = 0;
            s->need = 0;
        }
    }
    return n;
}

int ws_guard_init(size_t max_fd)
{
    int rc = 0;
    pthread_mutex_lock(&guard.lock);
    if (!guard.chunks) {
        size_t n = max_fd / GUARD_CHUNK + 1;
        guard.chunks = calloc(n, sizeof *guard.chunks);
        if (guard.chunks)
            guard.nchunks = n;
        else
            rc = -1;
    }
    pthread_mutex_unlock(&guard.lock);
    return rc;
}

void ws_guard_cleanup(void)
{
    pthread_mutex_lock(&guard.lock);
    for (size_t i = 0; i < guard.nchunks; i++)
        free(atomic_load(&guard.chunks[i]));
    free(guard.chunks);
    guard.chunks = NULL;
    guard.nchunks = 0;
    pthread_mutex_unlock(&guard.lock);
}

/* fd's state, allocating its chunk when create; NULL when unwatched or out of range. */
static ws_guard_state_t *guard__state(int fd, int create)
{
    size_t c = (size_t)fd / GUARD_CHUNK;
    ws_guard_state_t *chunk;
    if (fd < 0 || !guard.chunks || c >= guard.nchunks)
        return NULL;
    chunk = atomic_load_explicit(&guard.chunks[c], memory_order_acquire);
    if (!chunk && create) {
        pthread_mutex_lock(&guard.lock);
        if (!(chunk = atomic_load(&guard.chunks[c])) &&
            (chunk = calloc(GUARD_CHUNK, sizeof *chunk)))
            atomic_store_explicit(&guard.chunks[c], chunk, memory_order_release);
        pthread_mutex_unlock(&guard.lock);
    }
    return chunk ? &chunk[(size_t)fd % GUARD_CHUNK] : NULL;
}

void ws_guard_watch(int fd)
{
    ws_guard_state_t *s = guard__state(fd, 1);
    if (s) {
        memset(s, 0, sizeof *s);
        s->mode = WS_GUARD_HTTP;
    }
}

int ws_guard_upgrade(int fd, void (*broken)(void *arg), void *arg)
{
    ws_guard_state_t *s = guard__state(fd, 1);
    int early;
    if (!s)
        return 0;
    early = s->mode == WS_GUARD_HTTP && s->extra > 0;
    memset(s, 0, sizeof *s);
    s->mode = early ? WS_GUARD_BROKEN : WS_GUARD_FRAMES;
    s->broken = broken;
    s->arg = arg;
    return early ? -1 : 0;
}

void ws_guard_forget(int fd)
{
    ws_guard_state_t *s = guard__state(fd, 0);
    if (s)
        memset(s, 0, sizeof *s);
}

/* Reads and drops what fd holds: after a broken frame nothing more goes to lws. */
static ssize_t guard__discard(int fd, int flags)
{
    char sink[4096];
    for (;;) {
        ssize_t n = recvfrom(fd, sink, sizeof sink, flags | MSG_DONTWAIT, NULL, NULL);
        if (n == 0)
            return 0; /* the peer is gone: lws closes */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            errno = EAGAIN;
            return -1;
        }
    }
}

/*
 * The recv() of the process (see ws_guard.h): the C library's (recvfrom without an address),
 * then, on a watched socket, the client stream followed.
 */
ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    ws_guard_state_t *s;
    ssize_t got;
    size_t ok;

    s = (flags & MSG_PEEK) ? NULL : guard__state(fd, 0);
    if (s && s->mode == WS_GUARD_BROKEN)
        return guard__discard(fd, flags);
    got = recvfrom(fd, buf, n, flags, NULL, NULL);
    if (!s || got <= 0 || s->mode == WS_GUARD_OFF)
        return got;
    ok = ws_guard_scan(s, buf, (size_t)got);
    if (ok == (size_t)got)
        return got;
    if (s->broken)
        s->broken(s->arg);
    if (ok > 0)
        return (ssize_t)ok; /* the frames before the broken one */
    return guard__discard(fd, flags);
}
