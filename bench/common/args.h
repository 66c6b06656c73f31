/*
 * args.h - numeric command-line values of the bench tools: the whole argument must be a
 * number in range, else the tool says which option is wrong and exits with status 2
 * (atoi() would silently turn "10k" into 10 and "x" into 0).
 */
#ifndef BENCH_ARGS_H
#define BENCH_ARGS_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* The value v of option name as a long in [min, max]; exits(2) if it is not one. */
static inline long bench_arg_long(const char *name, const char *v, long min, long max)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        fprintf(stderr, "%s: '%s' is not a whole number in [%ld, %ld]\n", name, v, min, max);
        exit(2);
    }
    return n;
}

/* The value v of option name as an int (any int). */
static inline int bench_arg_int(const char *name, const char *v)
{
    return (int)bench_arg_long(name, v, INT_MIN, INT_MAX);
}

/* The value v of option name as a double; exits(2) if it is not a number. */
static inline double bench_arg_double(const char *name, const char *v)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0') {
        fprintf(stderr, "%s: '%s' is not a number\n", name, v);
        exit(2);
    }
    return d;
}

#endif
