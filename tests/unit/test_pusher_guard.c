/* test_pusher_guard.c - the client stream follower under lws: handshake end, frame headers,
 * unmasked frames, and the recv() that keeps them from lws. */
#include "mc_test.h"
#include "ws_guard.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_http_end_and_extra(void)
{
    ws_guard_state_t s = {.mode = WS_GUARD_HTTP};
    const char *req = "GET /ws HTTP/1.1\r\nHost: h\r\n\r\n";
    MC_CHECK_INT(ws_guard_scan(&s, (const unsigned char *)req, strlen(req)), strlen(req));
    MC_CHECK_INT(s.extra, 0);
    /* split across reads, "\r" then "\n\r\n" */
    ws_guard_state_t t = {.mode = WS_GUARD_HTTP};
    ws_guard_scan(&t, (const unsigned char *)"GET / HTTP/1.1\r\nA: b\r", 21);
    ws_guard_scan(&t, (const unsigned char *)"\n\r\n", 3);
    MC_CHECK_INT(t.extra, 0);
    ws_guard_scan(&t, (const unsigned char *)"\x81\x80", 2); /* sent before the answer */
    MC_CHECK_INT(t.extra, 2);
}

static size_t frame(unsigned char *out, int masked, unsigned opcode, size_t len)
{
    size_t n = 0;
    out[n++] = (unsigned char)(0x80 | opcode);
    if (len < 126)
        out[n++] = (unsigned char)((masked ? 0x80 : 0) | len);
    else if (len < 65536) {
        out[n++] = (unsigned char)((masked ? 0x80 : 0) | 126);
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    } else {
        out[n++] = (unsigned char)((masked ? 0x80 : 0) | 127);
        for (int i = 7; i >= 0; i--)
            out[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    if (masked) {
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): a masking key, not a string */
        memcpy(out + n, "\x01\x02\x03\x04", 4);
        n += 4;
    }
    memset(out + n, 'x', len);
    return n + len;
}

static void test_frames_masked_then_unmasked(void)
{
    static unsigned char buf[200000];
    size_t n = 0, bad;
    ws_guard_state_t s = {.mode = WS_GUARD_FRAMES};
    n += frame(buf + n, 1, 1, 5);
    n += frame(buf + n, 1, 1, 300);
    n += frame(buf + n, 1, 2, 70000);
    n += frame(buf + n, 1, 9, 0);
    bad = n;
    n += frame(buf + n, 0, 1, 5);
    n += frame(buf + n, 1, 1, 5);
    MC_CHECK_INT(ws_guard_scan(&s, buf, n), bad);
    MC_CHECK_INT(s.mode, WS_GUARD_BROKEN);
    /* The same stream a byte at a time: the bad frame is found at its second byte. */
    ws_guard_state_t t = {.mode = WS_GUARD_FRAMES};
    size_t i;
    for (i = 0; i < n; i++)
        if (ws_guard_scan(&t, buf + i, 1) != 1)
            break;
    MC_CHECK_INT(i, bad + 1);
    MC_CHECK_INT(t.mode, WS_GUARD_BROKEN);
    /* Masked frames only: all fine, in pieces of any size. */
    ws_guard_state_t u = {.mode = WS_GUARD_FRAMES};
    for (i = 0; i < bad; i += 7)
        MC_CHECK_INT(ws_guard_scan(&u, buf + i, bad - i < 7 ? bad - i : 7),
                     bad - i < 7 ? bad - i : 7);
    MC_CHECK_INT(u.mode, WS_GUARD_FRAMES);
    MC_CHECK_INT(u.payload, 0);
    MC_CHECK_INT(u.hlen, 0);
}

static int broken_calls;
static void on_broken(void *arg)
{
    (void)arg;
    broken_calls++;
}

/* recv() on a watched socket: frames before the unmasked one pass, the rest is dropped. */
static void test_recv_keeps_the_broken_frame_from_the_reader(void)
{
    int sv[2];
    unsigned char buf[64], got[64];
    size_t n = 0, good;
    ssize_t r;
    MC_CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    MC_CHECK_INT(ws_guard_init(4096), 0);
    ws_guard_watch(sv[1]);
    MC_CHECK_INT(write(sv[0], "GET /ws HTTP/1.1\r\n\r\n", 20), 20);
    MC_CHECK_INT(recv(sv[1], got, sizeof got, 0), 20);
    MC_CHECK_INT(ws_guard_upgrade(sv[1], on_broken, NULL), 0);
    n += frame(buf + n, 1, 1, 3);
    good = n;
    n += frame(buf + n, 0, 1, 3);
    n += frame(buf + n, 1, 1, 3);
    MC_CHECK_INT(write(sv[0], buf, n), n);
    r = recv(sv[1], got, sizeof got, 0);
    MC_CHECK_INT(r, good);
    MC_CHECK_INT(broken_calls, 1);
    r = recv(sv[1], got, sizeof got, MSG_DONTWAIT); /* the rest was read and dropped */
    MC_CHECK_INT(r, -1);
    MC_CHECK_INT(errno, EAGAIN);
    close(sv[0]);
    MC_CHECK_INT(recv(sv[1], got, sizeof got, 0), 0);
    ws_guard_forget(sv[1]);
    close(sv[1]);

    /* Data after the handshake request, before the answer: refused at the upgrade. */
    MC_CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ws_guard_watch(sv[1]);
    MC_CHECK_INT(write(sv[0], "GET /ws HTTP/1.1\r\n\r\n\x81\x83", 22), 22);
    MC_CHECK_INT(recv(sv[1], got, sizeof got, 0), 22);
    MC_CHECK_INT(ws_guard_upgrade(sv[1], on_broken, NULL), -1);
    ws_guard_forget(sv[1]);
    /* An unwatched socket is left alone. */
    MC_CHECK_INT(write(sv[0], "\x81\x03xyz", 5), 5);
    MC_CHECK_INT(recv(sv[1], got, sizeof got, 0), 5);
    close(sv[0]);
    close(sv[1]);
    ws_guard_cleanup();
}

int main(void)
{
    MC_TEST_RUN(test_http_end_and_extra);
    MC_TEST_RUN(test_frames_masked_then_unmasked);
    MC_TEST_RUN(test_recv_keeps_the_broken_frame_from_the_reader);
    MC_TEST_DONE();
}
