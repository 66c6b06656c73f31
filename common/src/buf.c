/* buf.c - a growable NUL-terminated string. */
#include "mc_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 256

void mc_buf_init(mc_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void mc_buf_cleanup(mc_buf_t *b)
{
    free(b->data);
    mc_buf_init(b);
}

int mc_buf_reserve(mc_buf_t *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : BUF_MIN_CAP;
    while (ncap < b->len + more + 1)
        ncap *= 2;
    char *n = realloc(b->data, ncap);
    if (!n) {
        b->failed = 1;
        return -1;
    }
    b->data = n;
    b->cap = ncap;
    return 0;
}

void mc_buf_append(mc_buf_t *b, const char *s, size_t n)
{
    if (mc_buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void mc_buf_vappendf(mc_buf_t *b, const char *fmt, va_list ap)
{
    va_list again;
    if (b->failed)
        return;
    va_copy(again, ap);
    /* Straight into the room left; when that is too small, n says how much is needed. */
    size_t room = b->data ? b->cap - b->len : 0;
    int n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
    if (n < 0) {
        b->failed = 1;
    } else if ((size_t)n < room) {
        b->len += (size_t)n;
    } else if (mc_buf_reserve(b, (size_t)n) == 0) {
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void mc_buf_appendf(mc_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mc_buf_vappendf(b, fmt, ap);
    va_end(ap);
}

char *mc_buf_steal(mc_buf_t *b)
{
    char *text = b->data;
    if (b->failed) {
        mc_buf_cleanup(b);
        return NULL;
    }
    if (!text)
        text = strdup("");
    mc_buf_init(b);
    return text;
}
