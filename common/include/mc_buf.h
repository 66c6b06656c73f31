/*
 * mc_buf.h - a growable NUL-terminated string: append bytes or printf-formatted text. An
 * allocation failure is remembered (failed) and turns every later append into a no-op, so
 * a builder checks once, at the end.
 */
#ifndef MC_BUF_H
#define MC_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data;     /* the text so far, NUL-terminated; NULL until something is appended */
    size_t len;     /* bytes in data, without the NUL */
    size_t cap;     /* bytes allocated */
    int failed;     /* an allocation failed: the text is incomplete */
} mc_buf_t;

/* Initialises an empty buffer the caller owns. */
void mc_buf_init(mc_buf_t *b);

/* Frees the text; b is empty (and not failed) again. */
void mc_buf_cleanup(mc_buf_t *b);

/*
 * Makes room for more bytes after the text plus the NUL. Returns 0, or -1 when b has
 * failed (now or before). For builders that write into data + len themselves.
 */
int mc_buf_reserve(mc_buf_t *b, size_t more);

/* Appends the n bytes at s. */
void mc_buf_append(mc_buf_t *b, const char *s, size_t n);

/* Appends printf-formatted text. */
void mc_buf_appendf(mc_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* As mc_buf_appendf() with a va_list. */
void mc_buf_vappendf(mc_buf_t *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * Hands the text over: a heap string the caller frees ("" when nothing was appended), or
 * NULL when b failed (the text is freed). b is empty afterwards.
 */
char *mc_buf_steal(mc_buf_t *b);

#endif
