/*
 * ws_guard.h - the RFC 6455 checks libwebsockets 4.1 leaves out, made under its recv() of
 * each WebSocket connection: "a server MUST close the connection upon receiving a frame that
 * is not masked" (5.1; lws checks it from 5.0 on) and "the client MUST wait for a response
 * from the server before sending any further data" after its handshake (4.1). It follows the
 * client's frame headers in the byte stream and keeps an offending frame, and everything
 * after it, from lws: the worker closes the connection with 1002.
 *
 * lws reads its sockets with recv(); this module defines recv() for the process, passing
 * every call through to the C library's and inspecting only the sockets it was told to watch.
 * That needs a table of watched descriptors for the whole process - the one piece of global
 * state of the pusher besides its configuration - and nothing else changes for other callers.
 */
#ifndef PUSHER_WS_GUARD_H
#define PUSHER_WS_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* Where one connection's client byte stream stands. */
typedef struct {
    uint8_t mode;          /* WS_GUARD_OFF, _HTTP, _FRAMES, _BROKEN */
    uint8_t crlf;          /* HTTP: how much of "\r\n\r\n" was just seen */
    uint8_t hlen, need;    /* FRAMES: header bytes collected, header length once known */
    uint8_t hdr[14];
    uint64_t payload;      /* FRAMES: payload bytes of the current frame still to come */
    uint64_t extra;        /* HTTP: bytes after the last "\r\n\r\n" */
    void (*broken)(void *arg);
    void *arg;
} ws_guard_state_t;

enum { WS_GUARD_OFF = 0, WS_GUARD_HTTP, WS_GUARD_FRAMES, WS_GUARD_BROKEN };

/*
 * Follows n bytes of a client stream in s. Returns n when they are fine, or the offset in
 * buf of the first byte of an unmasked frame (s is then WS_GUARD_BROKEN). Pure: for tests.
 */
size_t ws_guard_scan(ws_guard_state_t *s, const unsigned char *buf, size_t n);

/*
 * Sizes the table of watched descriptors (fds below max_fd; chunks are allocated when first
 * used). Call once before any worker starts; returns 0 or -1 (no memory). Idempotent.
 */
int ws_guard_init(size_t max_fd);

/* Frees the table once no worker runs. */
void ws_guard_cleanup(void);

/* An accepted socket: follows its HTTP request(s) to find where the handshake ends. */
void ws_guard_watch(int fd);

/*
 * fd's handshake was answered (the connection is a WebSocket now): from here on its frames
 * are followed and broken(arg) is called, on the thread reading fd, at the first unmasked
 * one. Returns 0, or -1 when the client already sent bytes after its handshake request.
 */
int ws_guard_upgrade(int fd, void (*broken)(void *arg), void *arg);

/* fd is about to be closed: stops watching it. */
void ws_guard_forget(int fd);

#endif
