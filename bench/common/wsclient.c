/*
 * wsclient.c - the minimal RFC 6455 client of the bench load tools (see wsclient.h).
 */
#define _GNU_SOURCE
#include "wsclient.h"

#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define WSC_EVENTS 512      /* epoll events taken per wait */
#define WSC_WAIT_MS 500     /* longest wait: how soon a deadline or a gone parent is seen */
#define WSC_MAX_PAYLOAD 4000

int wsc_parse_addr(const char *hostport, struct sockaddr_in *sa)
{
    char host[64], *colon, *end;
    if (snprintf(host, sizeof host, "%s", hostport) >= (int)sizeof host ||
        !(colon = strchr(host, ':')))
        return -1;
    *colon = '\0';
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int wsc_send(int fd, int op, const void *data, size_t n)
{
    unsigned char buf[WSC_MAX_PAYLOAD + 8];
    size_t h = 0;
    if (n > WSC_MAX_PAYLOAD)
        return -1;
    buf[h++] = (unsigned char)(0x80 | op);
    if (n < 126)
        buf[h++] = (unsigned char)(0x80 | n);
    else {
        buf[h++] = 0x80 | 126;
        buf[h++] = (unsigned char)(n >> 8);
        buf[h++] = (unsigned char)n;
    }
    memset(buf + h, 0, 4); /* zero mask: the payload goes unchanged */
    h += 4;
    memcpy(buf + h, data, n);
    return send(fd, buf, h + n, MSG_NOSIGNAL) == (ssize_t)(h + n) ? 0 : -1;
}

int wsc_open(const wsc_client_t *cl, wsc_conn_t *c, int ep, const struct sockaddr_in *dst,
             const struct sockaddr_in *src)
{
    int one = 1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};

    c->state = WSC_CONNECTING;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd >= 0) {
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (src)
            setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if ((!src || bind(c->fd, (const struct sockaddr *)src, sizeof *src) == 0) &&
            (connect(c->fd, (const struct sockaddr *)dst, sizeof *dst) == 0 ||
             errno == EINPROGRESS) &&
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == 0)
            return 0;
        close(c->fd);
    }
    c->fd = -1;
    c->state = WSC_DEAD;
    atomic_fetch_add(&cl->counts->failed, 1);
    return -1;
}

void wsc_set_subscribed(const wsc_client_t *cl, wsc_conn_t *c)
{
    c->state = WSC_SUBSCRIBED;
    atomic_fetch_add(&cl->counts->subscribed, 1);
}

/* Closes c (counted failed, and no longer subscribed). */
static void wsc__close(const wsc_client_t *cl, wsc_conn_t *c, int ep)
{
    if (c->state == WSC_SUBSCRIBED)
        atomic_fetch_sub(&cl->counts->subscribed, 1);
    atomic_fetch_add(&cl->counts->failed, 1);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    c->fd = -1;
    c->state = WSC_DEAD;
}

/* Sends the upgrade request once the connect completed; then only reads are awaited. */
static int wsc__handshake(const wsc_client_t *cl, wsc_conn_t *c, int ep)
{
    char req[512];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     cl->path, cl->host);
    if (n < 0 || n >= (int)sizeof req || send(c->fd, req, (size_t)n, MSG_NOSIGNAL) < 0)
        return -1;
    c->state = WSC_HANDSHAKE;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Parses the 101 answer, then every complete frame out of c->buf, keeping a partial one.
 * Returns -1 on a refused upgrade, a close frame, or a callback asking to close. */
static int wsc__parse(const wsc_client_t *cl, wsc_conn_t *c)
{
    size_t off = 0;
    if (c->state == WSC_HANDSHAKE) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end)
            return 0;
        if (c->len < 12 || memcmp(c->buf, "HTTP/1.1 101", 12) != 0)
            return -1;
        off = (size_t)(end - c->buf) + 4;
        c->state = WSC_OPEN;
        atomic_fetch_add(&cl->counts->connected, 1);
        if (cl->on_open(cl, c) != 0)
            return -1;
    }
    while (c->len - off >= 2) {
        unsigned char *b = (unsigned char *)c->buf + off;
        int op = b[0] & 0x0f;
        uint64_t ln = b[1] & 0x7f;
        size_t h = 2;
        if (ln == 126) {
            if (c->len - off < 4)
                break;
            ln = (uint64_t)b[2] << 8 | b[3];
            h = 4;
        } else if (ln == 127) {
            if (c->len - off < 10)
                break;
            ln = 0;
            for (int i = 0; i < 8; i++)
                ln = ln << 8 | b[2 + i];
            h = 10;
        }
        if (c->len - off < h + ln)
            break;
        if (op == WSC_CLOSE || cl->on_frame(cl, c, op, (const char *)b + h, (size_t)ln) != 0)
            return -1;
        off += h + ln;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return 0;
}

/* Reads all that is there and parses it. Returns -1 when the connection is over. */
static int wsc__read(const wsc_client_t *cl, wsc_conn_t *c)
{
    for (;;) {
        ssize_t r;
        if (c->cap - c->len < cl->rx_free) {
            size_t cap = c->cap ? c->cap * 2 : cl->rx_first;
            char *buf = realloc(c->buf, cap);
            if (!buf)
                return -1;
            c->buf = buf;
            c->cap = cap;
        }
        r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r == 0)
            return -1;
        if (r < 0)
            return errno == EAGAIN ? 0 : -1;
        c->len += (size_t)r;
        if (wsc__parse(cl, c) != 0)
            return -1;
    }
}

/* Handles one epoll event of c. Returns -1 when c is to be closed. */
static int wsc__event(const wsc_client_t *cl, wsc_conn_t *c, int ep, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP))
        return -1;
    if (c->state == WSC_CONNECTING)
        return (events & EPOLLOUT) ? wsc__handshake(cl, c, ep) : 0;
    if (!(events & EPOLLIN))
        return 0;
    if (wsc__read(cl, c) != 0)
        return -1;
    if (cl->rx_give_back && c->len == 0 && c->cap > cl->rx_first) {
        free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
    return 0;
}

void wsc_run(const wsc_client_t *cl, int ep, double until)
{
    struct epoll_event evs[WSC_EVENTS];
    while (bench_mono_s() < until && getppid() != 1) {
        int n = epoll_wait(ep, evs, WSC_EVENTS, WSC_WAIT_MS);
        for (int k = 0; k < n; k++) {
            wsc_conn_t *c = evs[k].data.ptr;
            if (c->state != WSC_DEAD && wsc__event(cl, c, ep, evs[k].events) != 0)
                wsc__close(cl, c, ep);
        }
    }
}
