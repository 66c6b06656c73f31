/*
 * wsclient.h - the minimal RFC 6455 client of the bench load tools (bench/pipeline/pipeload,
 * bench/pusher/wsload): many non-blocking connections per process in one epoll loop, the
 * upgrade handshake, masked frames out, frames parsed from a growing receive buffer.
 * For loopback benchmarks only: no TLS, no fragmented messages, a fixed Sec-WebSocket-Key
 * (the answer's accept key is not checked) and a zero mask.
 */
#ifndef BENCH_WSCLIENT_H
#define BENCH_WSCLIENT_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>

/* Frame opcodes. */
enum { WSC_TEXT = 0x1, WSC_BINARY = 0x2, WSC_CLOSE = 0x8, WSC_PING = 0x9, WSC_PONG = 0xA };

/* A connection's life; a tool's on_frame moves it from WSC_OPEN to WSC_SUBSCRIBED. */
typedef enum {
    WSC_CONNECTING, /* TCP connect in progress */
    WSC_HANDSHAKE,  /* upgrade request sent, waiting for 101 */
    WSC_OPEN,       /* upgraded; the tool's first message sent */
    WSC_SUBSCRIBED, /* the tool saw its subscription confirmed */
    WSC_DEAD        /* closed (failed to open, error, close frame, or closed by the tool) */
} wsc_state_t;

/* Counters over all connections of all processes of a run: place them in MAP_SHARED memory. */
typedef struct {
    atomic_long connected;  /* upgrades answered 101 */
    atomic_long subscribed; /* connections in WSC_SUBSCRIBED now */
    atomic_long failed;     /* connections that could not be opened, or died */
} wsc_counts_t;

/* One connection; zero-initialized (calloc) before wsc_open. */
typedef struct {
    int fd;
    wsc_state_t state;
    char *buf;      /* received bytes not parsed yet */
    size_t len, cap;
} wsc_conn_t;

typedef struct wsc_client wsc_client_t;

/* What a tool's connections do: the request, receive-buffer sizes and the tool's callbacks. */
struct wsc_client {
    const char *host; /* Host header of the upgrade request */
    const char *path; /* its request target, e.g. "/ws" */
    size_t rx_first;  /* first receive buffer, bytes */
    size_t rx_free;   /* free space wanted before each recv(): below it the buffer doubles */
    int rx_give_back; /* nonzero: free an emptied buffer grown beyond rx_first (idle stays small) */
    wsc_counts_t *counts;
    /* Called once on the 101 answer (state WSC_OPEN), to send the tool's first message.
     * Returns 0, or nonzero to close the connection. */
    int (*on_open)(const wsc_client_t *cl, wsc_conn_t *c);
    /* Called for each complete frame but a close (which ends the connection), pings included:
     * op is its opcode, p/n its unmasked payload (valid during the call only).
     * Returns 0, or nonzero to close the connection. */
    int (*on_frame)(const wsc_client_t *cl, wsc_conn_t *c, int op, const char *p, size_t n);
};

/* Parses "a.b.c.d:port" into sa. Returns 0, or -1 when hostport is not of that form. */
int wsc_parse_addr(const char *hostport, struct sockaddr_in *sa);

/* Sends one final frame of opcode op with payload data/n (at most 4,000 bytes), masked with a
 * zero key, in one send(). Returns 0, or -1 when it is too long or not sent whole. */
int wsc_send(int fd, int op, const void *data, size_t n);

/* Starts a non-blocking connect of c to dst, from source address src (port chosen by the
 * kernel at connect time) unless src is NULL, and adds it to the epoll set ep. Returns 0, or
 * -1 after counting it in cl->counts->failed and marking it WSC_DEAD. */
int wsc_open(const wsc_client_t *cl, wsc_conn_t *c, int ep, const struct sockaddr_in *dst,
             const struct sockaddr_in *src);

/* Marks c subscribed and counts it (call from on_frame when the server confirms). */
void wsc_set_subscribed(const wsc_client_t *cl, wsc_conn_t *c);

/* Serves the connections of ep (opened with wsc_open): sends each upgrade request when its
 * connect completes, reads and parses what arrives, closes and counts the dead, until
 * bench_mono_s() reaches until or the parent process is gone. */
void wsc_run(const wsc_client_t *cl, int ep, double until);

#endif
