/*
 * origin.h - the WebSocket Origin check: a connection without an Origin header (not a
 * browser) is accepted, a browser's only when its Origin is same-origin with the request's
 * Host or is in the allowlist MC_WS_ORIGINS (exact origins, or "*" for any). Pure.
 */
#ifndef PUSHER_ORIGIN_H
#define PUSHER_ORIGIN_H

#include <stddef.h>

typedef struct ws_origins ws_origins_t;

/*
 * Parses list: comma-separated origins ("https://app.example", "http://127.0.0.1:8080"),
 * spaces around them ignored, or "*". NULL or "" is the empty list (same-origin only).
 * Returns NULL on allocation failure or a malformed entry (not scheme://host[:port], a
 * path, an empty entry), with err naming MC_WS_ORIGINS and the entry.
 */
ws_origins_t *ws_origins_new(const char *list, char *err, size_t errlen);

void ws_origins_free(ws_origins_t *o);

/*
 * Nonzero when a handshake with this Origin (NULL: no header) and Host (NULL: none) may
 * proceed: no Origin, "*" listed, Origin listed (ASCII case-insensitive), or Origin's host
 * and port equal Host's (a missing port is the scheme's default: 80 for http/ws, 443 for
 * https/wss). o may be NULL (the empty list).
 */
int ws_origins_allow(const ws_origins_t *o, const char *origin, const char *host);

#endif
