/* cors.c - MC_CORS_ORIGINS: parse, check, match. */
#include "cors.h"
#include "mc_error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORS_MAX_ORIGINS 64
#define CORS_MAX_ORIGIN 256

struct cors {
    int any;
    size_t n;
    char *origins[CORS_MAX_ORIGINS];
};

void cors_free(cors_t *cors)
{
    if (!cors)
        return;
    for (size_t i = 0; i < cors->n; i++)
        free(cors->origins[i]);
    free(cors);
}

/*
 * Checks that o (len bytes) is an origin as a browser serializes it; on failure writes
 * the reason to why.
 */
static int cors__valid(const char *o, size_t len, char *why, size_t whylen)
{
    const char *sep = NULL, *end = o + len, *host, *p;
    for (p = o; p + 2 < end; p++)
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            sep = p;
            break;
        }
    if (len == 4 && strncmp(o, "null", 4) == 0) {
        snprintf(why, whylen, "the origin 'null' (sandboxed pages, file:) is never allowed");
        return 0;
    }
    if (!sep || sep == o || !isalpha((unsigned char)o[0])) {
        snprintf(why, whylen, "expected scheme://host[:port], e.g. https://app.example.com");
        return 0;
    }
    for (p = o; p < sep; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '+' ||
              *p == '-' || *p == '.')) {
            snprintf(why, whylen, "the scheme must be lower-case letters, digits, '+', '-', '.'");
            return 0;
        }
    host = sep + 3;
    const char *colon = NULL;
    if (host < end && *host == '[') { /* IPv6 literal */
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (!close || close == host + 1) {
            snprintf(why, whylen, "an IPv6 host is written [address]");
            return 0;
        }
        for (p = host + 1; p < close; p++)
            if (!(isxdigit((unsigned char)*p) || *p == ':' || *p == '.') ||
                isupper((unsigned char)*p)) {
                snprintf(why, whylen, "an IPv6 host holds lower-case hex digits, ':' and '.'");
                return 0;
            }
        p = close + 1;
        colon = p < end ? p : NULL;
        if (colon && *colon != ':') {
            snprintf(why, whylen, "no path, query or fragment after the host (an origin ends "
                                  "with the host or port)");
            return 0;
        }
    } else {
        for (p = host; p < end && *p != ':'; p++) {
            if (*p == '/' || *p == '?' || *p == '#') {
                snprintf(why, whylen, "no path, query or fragment after the host (an origin "
                                      "ends with the host or port, without a trailing '/')");
                return 0;
            }
            if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' ||
                  *p == '.' || *p == '_')) {
                snprintf(why, whylen, "the host must be lower-case letters, digits, '-', '.' "
                                      "(browsers send it lower-cased; no user@, no spaces)");
                return 0;
            }
        }
        if (p == host) {
            snprintf(why, whylen, "the host is missing");
            return 0;
        }
        colon = p < end ? p : NULL;
    }
    if (colon) {
        long port = 0;
        const char *d = colon + 1;
        if (d == end || *d == '0') {
            snprintf(why, whylen, "the port must be a number from 1 to 65535");
            return 0;
        }
        for (; d < end; d++) {
            if (!isdigit((unsigned char)*d) || (port = port * 10 + (*d - '0')) > 65535) {
                snprintf(why, whylen, "the port must be a number from 1 to 65535 (no path after "
                                      "it)");
                return 0;
            }
        }
        size_t slen = (size_t)(sep - o);
        if ((slen == 4 && strncmp(o, "http", 4) == 0 && port == 80) ||
            (slen == 5 && strncmp(o, "https", 5) == 0 && port == 443)) {
            snprintf(why, whylen, "leave out the scheme's default port (browsers do)");
            return 0;
        }
    }
    return 1;
}

int cors_new(const char *spec, cors_t **out, char *err, size_t errlen)
{
    cors_t *c = calloc(1, sizeof *c);
    const char *p = spec ? spec : "";
    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return MC_ERR_NOMEM;
    }
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && isspace((unsigned char)*p))
            p++;
        size_t len = (size_t)(end - p);
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        char why[160];
        if (len == 0) {
            if (comma) {
                snprintf(err, errlen, "MC_CORS_ORIGINS: an empty entry (two commas, or a comma "
                                      "at an end)");
                cors_free(c);
                return MC_ERR_CONFIG;
            }
        } else if (len == 1 && *p == '*') {
            c->any = 1;
        } else if (len >= CORS_MAX_ORIGIN || !cors__valid(p, len, why, sizeof why)) {
            snprintf(err, errlen, "MC_CORS_ORIGINS: '%.*s' is not an origin: %s",
                     (int)(len < 120 ? len : 120), p,
                     len >= CORS_MAX_ORIGIN ? "longer than 255 bytes" : why);
            cors_free(c);
            return MC_ERR_CONFIG;
        } else if (c->n == CORS_MAX_ORIGINS) {
            snprintf(err, errlen, "MC_CORS_ORIGINS: more than %d origins", CORS_MAX_ORIGINS);
            cors_free(c);
            return MC_ERR_CONFIG;
        } else if (!(c->origins[c->n++] = strndup(p, len))) {
            snprintf(err, errlen, "out of memory");
            cors_free(c);
            return MC_ERR_NOMEM;
        }
        p = comma ? comma + 1 : end;
    }
    if (c->any && c->n > 0) {
        snprintf(err, errlen, "MC_CORS_ORIGINS: '*' allows every origin: list origins or '*', "
                              "not both");
        cors_free(c);
        return MC_ERR_CONFIG;
    }
    *out = c;
    return MC_OK;
}

int cors_enabled(const cors_t *cors)
{
    return cors && (cors->any || cors->n > 0);
}

int cors_any(const cors_t *cors)
{
    return cors && cors->any;
}

const char *cors_allow(const cors_t *cors, const char *origin)
{
    if (!cors || !origin)
        return NULL;
    if (cors->any)
        return "*";
    for (size_t i = 0; i < cors->n; i++)
        if (strcmp(cors->origins[i], origin) == 0)
            return cors->origins[i];
    return NULL;
}
