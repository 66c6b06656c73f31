/*
 * mc_channel.h - what a channel name may be: the one rule shared by the policy engine (which
 * builds "<Class>-<id>" names from claims and records), authz (POST /v1/authorize, GET
 * /v1/channels) and the pusher (subscribe frames, deliveries), so a name one of them gives
 * out the others accept.
 *
 * A channel name is 1..MC_CHANNEL_MAX bytes of ASCII letters, digits and _ . ~ - : / @ | + =
 * (docs/protocol.md, "Channel names"): identity-provider subjects name their own instance
 * channel ("User-auth0|abc123", "User-google-oauth2|1234", "User-jane+todo@example.com",
 * base64 and URL subjects), and nothing in a name needs quoting or escaping in JSON, log
 * lines, metric labels or Kafka keys: no control characters, spaces, quotes,
 * backslashes, % # ? & < > ; , * $, nor bytes past ASCII.
 */
#ifndef MC_CHANNEL_H
#define MC_CHANNEL_H

#include <stddef.h>

/* The longest channel name in bytes: a class name (at most 63), '-', an instance id (at
 * most 256, e.g. an e-mail address). */
#define MC_CHANNEL_MAX 320

/* The characters of a channel name, as said in messages. */
#define MC_CHANNEL_CHARS "A-Z a-z 0-9 _ . ~ - : / @ | + ="
/* The rule as a regular expression, as docs/protocol.md and docs/asyncapi.yaml give it
 * (tests/unit/test_channel.c holds the three together). */
#define MC_CHANNEL_PATTERN "^[A-Za-z0-9_.~:/@|+=-]{1,320}$"

/* Nonzero when c may appear in a channel name. */
int mc_channel_char(int c);

/* Nonzero when the len bytes at s are a channel name (s may hold no NUL among them). */
int mc_channel_valid(const char *s, size_t len);

#endif
