/* origin.c - MC_WS_ORIGINS and the same-origin comparison of Origin with Host. */
#include "origin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ORIGIN_MAX 256

struct ws_origins {
    int any;        /* "*" */
    size_t n;
    char **list;
};

void ws_origins_free(ws_origins_t *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++)
        free(o->list[i]);
    free(o->list);
    free(o);
}

/* scheme "://" authority, scheme [a-z][a-z0-9+.-]*, authority without / ? # or spaces. */
static int origin__valid(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || n > ORIGIN_MAX || !isalpha((unsigned char)s[0]))
        return 0;
    while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '.' || s[i] == '-'))
        i++;
    /* cppcheck-suppress knownConditionTrueFalse ; cppcheck 2.10: the loop above runs to n */
    if (n - i < 4 || strncmp(s + i, "://", 3) != 0)
        return 0;
    for (i += 3; i < n; i++)
        if (s[i] == '/' || s[i] == '?' || s[i] == '#' || s[i] == ',' ||
            isspace((unsigned char)s[i]) || !isprint((unsigned char)s[i]))
            return 0;
    return 1;
}

ws_origins_t *ws_origins_new(const char *list, char *err, size_t errlen)
{
    ws_origins_t *o = calloc(1, sizeof *o);
    const char *p = list;

    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!list || !*list)
        return o;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char **nl;
        while (n && isspace((unsigned char)*p)) {
            p++;
            n--;
        }
        while (n && isspace((unsigned char)p[n - 1]))
            n--;
        if (n == 1 && *p == '*')
            o->any = 1;
        else if (!origin__valid(p, n)) {
            snprintf(err, errlen,
                     "MC_WS_ORIGINS: '%.*s' is not an origin (scheme://host[:port], or *)",
                     (int)(n > 80 ? 80 : n), p);
            ws_origins_free(o);
            return NULL;
        } else {
            if (!(nl = realloc(o->list, (o->n + 1) * sizeof *nl)) ||
                !(nl[o->n] = strndup(p, n))) {
                if (nl)
                    o->list = nl;
                snprintf(err, errlen, "out of memory");
                ws_origins_free(o);
                return NULL;
            }
            o->list = nl;
            o->n++;
        }
        if (!end)
            return o;
        p = end + 1;
    }
}

/*
 * Splits an authority "host[:port]" ("[v6]:port" too) into host (lowercased into buf) and
 * port; defport when none. Returns 0, or -1 when malformed.
 */
static int origin__authority(const char *a, size_t n, long defport, char *buf, size_t buflen,
                             long *port)
{
    size_t hl = n;
    const char *colon = NULL;
    if (n && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (!rb)
            return -1;
        hl = (size_t)(rb - a) + 1;
        if (hl < n) {
            if (a[hl] != ':')
                return -1;
            colon = a + hl;
        }
    } else {
        colon = memchr(a, ':', n);
        if (colon)
            hl = (size_t)(colon - a);
    }
    if (hl == 0 || hl >= buflen)
        return -1;
    for (size_t i = 0; i < hl; i++)
        buf[i] = (char)tolower((unsigned char)a[i]);
    buf[hl] = '\0';
    *port = defport;
    if (colon) {
        char *end;
        size_t pl = n - (size_t)(colon - a) - 1;
        char digits[8];
        if (pl == 0 || pl >= sizeof digits)
            return -1;
        memcpy(digits, colon + 1, pl);
        digits[pl] = '\0';
        *port = strtol(digits, &end, 10);
        if (*end || *port <= 0 || *port > 65535 || !isdigit((unsigned char)digits[0]))
            return -1;
    }
    return *port > 0 ? 0 : -1;
}

/* Origin's host and port equal Host's (the scheme's default port where one is missing). */
static int origin__same(const char *origin, const char *host)
{
    const char *sep = strstr(origin, "://");
    char oh[ORIGIN_MAX + 1], hh[ORIGIN_MAX + 1];
    long op, hp, def = 0;
    size_t sl;

    if (!sep || !host)
        return 0;
    sl = (size_t)(sep - origin);
    if ((sl == 4 && strncasecmp(origin, "http", 4) == 0) ||
        (sl == 2 && strncasecmp(origin, "ws", 2) == 0))
        def = 80;
    else if ((sl == 5 && strncasecmp(origin, "https", 5) == 0) ||
             (sl == 3 && strncasecmp(origin, "wss", 3) == 0))
        def = 443;
    if (origin__authority(sep + 3, strlen(sep + 3), def, oh, sizeof oh, &op) != 0 ||
        origin__authority(host, strlen(host), def, hh, sizeof hh, &hp) != 0)
        return 0;
    return op == hp && strcmp(oh, hh) == 0;
}

int ws_origins_allow(const ws_origins_t *o, const char *origin, const char *host)
{
    if (!origin)
        return 1;
    if (o && o->any)
        return 1;
    for (size_t i = 0; o && i < o->n; i++)
        if (strcasecmp(o->list[i], origin) == 0)
            return 1;
    return origin__valid(origin, strlen(origin)) && origin__same(origin, host);
}
