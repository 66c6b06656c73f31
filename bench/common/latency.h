/*
 * latency.h - the latency histogram of the bench load tools: fixed-width buckets in shared
 * memory, filled with atomics by every process of a run, read as percentiles and a maximum.
 */
#ifndef BENCH_LATENCY_H
#define BENCH_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    long width_us;       /* bucket width */
    long nbuckets;       /* the last bucket also holds everything beyond */
    atomic_long count;   /* latencies added */
    atomic_long max_us;  /* the largest one */
    atomic_long bucket[];
} lat_hist_t;

/* Maps an empty histogram of nbuckets buckets of width_us each, shared with the processes
 * forked after it (MAP_SHARED). Returns NULL when it cannot be mapped; lat_hist_free frees. */
lat_hist_t *lat_hist_new(long width_us, long nbuckets);

/* Unmaps h (NULL is fine). */
void lat_hist_free(lat_hist_t *h);

/* Adds one latency in microseconds (a negative one, from clock skew, counts as 0). */
void lat_hist_add(lat_hist_t *h, int64_t lat_us);

/* The q-quantile (0 < q <= 1) of what was added, in ms: the middle of its bucket; the upper
 * end of the last bucket when nothing was added or it lies there. */
double lat_hist_pct_ms(lat_hist_t *h, double q);

/* The largest latency added, in ms (0 when none). */
double lat_hist_max_ms(lat_hist_t *h);

#endif
