/*
 * authz_client.h - asks authz whether a connection's token may subscribe to a channel
 * (POST /v1/authorize). Called on the resume threads, never on an event loop: it blocks for
 * one HTTP round trip, bounded by a timeout.
 */
#ifndef AUTHZ_CLIENT_H
#define AUTHZ_CLIENT_H

#include <stddef.h>

#include "mc_metrics.h"
#include "protocol.h"

typedef struct authz_client authz_client_t;

/*
 * Creates a client of the authz at base_url ("http://127.0.0.1:8702"; copied) whose calls
 * wait timeout_ms at most. Initialises libcurl, which is not thread-safe: call before any
 * thread starts. NULL on failure.
 */
authz_client_t *authz_client_new(const char *base_url, long timeout_ms, mc_metrics_t *metrics);

/*
 * Makes calls under way and later ones give up at once (unavailable), so that a shutdown
 * does not wait for an authz that hangs. Thread-safe. NULL-safe.
 */
void authz_client_stop(authz_client_t *c);

/* Frees c once no thread calls it any more, and releases libcurl. NULL-safe. */
void authz_client_free(authz_client_t *c);

/*
 * The resume_authorize_fn: PROTO_OK when authz allows token ("" = anonymous) on channel;
 * PROTO_ERR_FORBIDDEN (with msg "denied", "unknown_channel"...), PROTO_ERR_BAD_TOKEN (the
 * token was refused, msg gives the reason) or PROTO_ERR_UNAVAILABLE (authz did not answer:
 * the client may retry). Default deny: anything unexpected refuses. Thread-safe.
 */
proto_err_t authz_client_authorize(void *client, const char *token, const char *channel,
                                   char *msg, size_t msglen);

#endif
