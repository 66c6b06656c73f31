/*
 * latency.c - the latency histogram of the bench load tools (see latency.h).
 */
#define _GNU_SOURCE
#include "latency.h"

#include <stddef.h>
#include <sys/mman.h>

static size_t lat_hist__size(long nbuckets)
{
    return sizeof(lat_hist_t) + sizeof(atomic_long) * (size_t)nbuckets;
}

lat_hist_t *lat_hist_new(long width_us, long nbuckets)
{
    lat_hist_t *h;
    if (width_us < 1 || nbuckets < 1)
        return NULL;
    h = mmap(NULL, lat_hist__size(nbuckets), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED)
        return NULL;
    h->width_us = width_us; /* the rest is zero, as mapped */
    h->nbuckets = nbuckets;
    return h;
}

void lat_hist_free(lat_hist_t *h)
{
    if (h)
        munmap(h, lat_hist__size(h->nbuckets));
}

void lat_hist_add(lat_hist_t *h, int64_t lat_us)
{
    long b, cur;
    if (lat_us < 0)
        lat_us = 0;
    b = (long)(lat_us / h->width_us);
    if (b >= h->nbuckets)
        b = h->nbuckets - 1;
    atomic_fetch_add(&h->bucket[b], 1);
    atomic_fetch_add(&h->count, 1);
    cur = atomic_load(&h->max_us);
    while (lat_us > cur && !atomic_compare_exchange_weak(&h->max_us, &cur, (long)lat_us))
        ;
}

double lat_hist_pct_ms(lat_hist_t *h, double q)
{
    long want = (long)(q * (double)atomic_load(&h->count) + 0.5), seen = 0;
    if (want < 1)
        want = 1;
    for (long b = 0; b < h->nbuckets; b++) {
        seen += atomic_load(&h->bucket[b]);
        if (seen >= want)
            return ((double)b + 0.5) * (double)h->width_us / 1000.0;
    }
    return (double)h->nbuckets * (double)h->width_us / 1000.0;
}

double lat_hist_max_ms(lat_hist_t *h)
{
    return (double)atomic_load(&h->max_us) / 1000.0;
}
