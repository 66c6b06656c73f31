/* metrics.c - Prometheus registry: families of labelled series, rendered on demand. */
#include "mc_metrics.h"
#include "mc_buf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind_t;

struct mc_metric {
    struct mc_metric *next;
    char *labels;                 /* may be NULL */
    _Atomic double value;         /* counter, gauge; histogram sum */
    _Atomic uint64_t count;       /* histogram observations */
    _Atomic uint64_t *buckets;    /* histogram: nbounds cumulative-at-render counters */
    double (*fn)(void *);
    void *fn_arg;
    struct family *family;
};

struct family {
    struct family *next;
    char *name;
    char *help;
    metric_kind_t kind;
    double *bounds;
    size_t nbounds;
    struct mc_metric *series;
};

struct mc_metrics {
    pthread_mutex_t lock;
    struct family *families;
    struct family *last;
};

const double mc_metrics_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,   0.25,   0.5,   1,     2.5, 5};
const size_t mc_metrics_latency_nbounds =
    sizeof mc_metrics_latency_bounds / sizeof mc_metrics_latency_bounds[0];

mc_metrics_t *mc_metrics_new(void)
{
    mc_metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void mc_metrics_free(mc_metrics_t *m)
{
    if (!m)
        return;
    struct family *f = m->families;
    while (f) {
        struct family *fn = f->next;
        struct mc_metric *s = f->series;
        while (s) {
            struct mc_metric *sn = s->next;
            free(s->labels);
            free((void *)s->buckets);
            free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f);
        f = fn;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int metrics__same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static struct family *metrics__family(mc_metrics_t *m, const char *name, const char *help,
                                      metric_kind_t kind, const double *bounds, size_t nbounds)
{
    struct family *f;
    for (f = m->families; f; f = f->next) {
        if (strcmp(f->name, name) == 0)
            return f->kind == kind ? f : NULL;
    }
    f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->kind = kind;
    if (kind == KIND_HISTOGRAM && nbounds) {
        f->bounds = malloc(nbounds * sizeof *bounds);
        if (f->bounds)
            memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
        f->nbounds = nbounds;
    }
    if (!f->name || !f->help || (kind == KIND_HISTOGRAM && nbounds && !f->bounds)) {
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f);
        return NULL;
    }
    if (m->last)
        m->last->next = f;
    else
        m->families = f;
    m->last = f;
    return f;
}

static mc_metric_t *metrics__get(mc_metrics_t *m, const char *name, const char *help,
                                 const char *labels, metric_kind_t kind, const double *bounds,
                                 size_t nbounds)
{
    mc_metric_t *s = NULL;
    if (!m || !name)
        return NULL;
    pthread_mutex_lock(&m->lock);
    struct family *f = metrics__family(m, name, help, kind, bounds, nbounds);
    if (!f)
        goto out;
    for (s = f->series; s; s = s->next) {
        if (metrics__same(s->labels, labels))
            goto out;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        goto out;
    s->family = f;
    if (labels && !(s->labels = strdup(labels)))
        goto fail;
    if (kind == KIND_HISTOGRAM && f->nbounds &&
        !(s->buckets = calloc(f->nbounds, sizeof *s->buckets)))
        goto fail;
    s->next = f->series;
    f->series = s;
    goto out;
fail:
    free(s->labels);
    free(s);
    s = NULL;
out:
    pthread_mutex_unlock(&m->lock);
    return s;
}

mc_metric_t *mc_metrics_counter(mc_metrics_t *m, const char *name, const char *help,
                                const char *labels)
{
    return metrics__get(m, name, help, labels, KIND_COUNTER, NULL, 0);
}

mc_metric_t *mc_metrics_gauge(mc_metrics_t *m, const char *name, const char *help,
                              const char *labels)
{
    return metrics__get(m, name, help, labels, KIND_GAUGE, NULL, 0);
}

mc_metric_t *mc_metrics_histogram(mc_metrics_t *m, const char *name, const char *help,
                                  const char *labels, const double *bounds, size_t nbounds)
{
    return metrics__get(m, name, help, labels, KIND_HISTOGRAM, bounds, nbounds);
}

static mc_metric_t *metrics__fn(mc_metrics_t *m, const char *name, const char *help,
                                const char *labels, metric_kind_t kind,
                                double (*fn)(void *arg), void *arg)
{
    mc_metric_t *s = metrics__get(m, name, help, labels, kind, NULL, 0);
    if (s) {
        pthread_mutex_lock(&m->lock);
        s->fn = fn;
        s->fn_arg = arg;
        pthread_mutex_unlock(&m->lock);
    }
    return s;
}

mc_metric_t *mc_metrics_gauge_fn(mc_metrics_t *m, const char *name, const char *help,
                                 const char *labels, double (*fn)(void *arg), void *arg)
{
    return metrics__fn(m, name, help, labels, KIND_GAUGE, fn, arg);
}

mc_metric_t *mc_metrics_counter_fn(mc_metrics_t *m, const char *name, const char *help,
                                   const char *labels, double (*fn)(void *arg), void *arg)
{
    return metrics__fn(m, name, help, labels, KIND_COUNTER, fn, arg);
}

static void metrics__atomic_add(_Atomic double *slot, double v)
{
    double cur = atomic_load_explicit(slot, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(slot, &cur, cur + v, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void mc_metric_add(mc_metric_t *s, double v)
{
    if (s)
        metrics__atomic_add(&s->value, v);
}

void mc_metric_set(mc_metric_t *s, double v)
{
    if (s)
        atomic_store_explicit(&s->value, v, memory_order_relaxed);
}

double mc_metric_value(const mc_metric_t *s)
{
    return s ? atomic_load_explicit(&((mc_metric_t *)s)->value, memory_order_relaxed) : 0;
}

void mc_metric_observe(mc_metric_t *s, double v)
{
    if (!s || s->family->kind != KIND_HISTOGRAM)
        return;
    const struct family *f = s->family;
    for (size_t i = 0; i < f->nbounds; i++) {
        if (v <= f->bounds[i]) {
            atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
            break;
        }
    }
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    metrics__atomic_add(&s->value, v);
}

/* Integers print exactly; other values with enough digits and no binary noise. */
static void metrics__value(mc_buf_t *b, double v)
{
    if (v == (double)(long long)v && v < 9007199254740992.0 && v > -9007199254740992.0)
        mc_buf_appendf(b, " %lld\n", (long long)v);
    else
        mc_buf_appendf(b, " %.12g\n", v);
}

static const char *const kind_names[] = {"counter", "gauge", "histogram"};

static void metrics__series_name(mc_buf_t *b, const char *name, const char *suffix,
                                 const char *labels, const char *extra)
{
    int has = labels && *labels;
    mc_buf_appendf(b, "%s%s", name, suffix);
    if (has || extra)
        mc_buf_appendf(b, "{%s%s%s}", has ? labels : "", has && extra ? "," : "",
                       extra ? extra : "");
}

char *mc_metrics_render(mc_metrics_t *m)
{
    mc_buf_t b;
    mc_buf_init(&b);
    pthread_mutex_lock(&m->lock);
    for (struct family *f = m->families; f; f = f->next) {
        mc_buf_appendf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                       kind_names[f->kind]);
        for (mc_metric_t *s = f->series; s; s = s->next) {
            if (f->kind != KIND_HISTOGRAM) {
                double v = s->fn ? s->fn(s->fn_arg) : mc_metric_value(s);
                metrics__series_name(&b, f->name, "", s->labels, NULL);
                metrics__value(&b, v);
                continue;
            }
            uint64_t cum = 0;
            char le[64];
            for (size_t i = 0; i < f->nbounds; i++) {
                cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
                snprintf(le, sizeof le, "le=\"%g\"", f->bounds[i]);
                metrics__series_name(&b, f->name, "_bucket", s->labels, le);
                mc_buf_appendf(&b, " %llu\n", (unsigned long long)cum);
            }
            uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
            metrics__series_name(&b, f->name, "_bucket", s->labels, "le=\"+Inf\"");
            mc_buf_appendf(&b, " %llu\n", (unsigned long long)count);
            metrics__series_name(&b, f->name, "_sum", s->labels, NULL);
            metrics__value(&b, mc_metric_value(s));
            metrics__series_name(&b, f->name, "_count", s->labels, NULL);
            mc_buf_appendf(&b, " %llu\n", (unsigned long long)count);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return mc_buf_steal(&b);
}
