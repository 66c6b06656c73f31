/*
 * mc_metrics.h - a thread-safe Prometheus metrics registry rendered as text exposition format.
 * Series are created once (get-or-create, under a lock) and then updated lock-free.
 */
#ifndef MC_METRICS_H
#define MC_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mc_metrics mc_metrics_t;
typedef struct mc_metric mc_metric_t;

/* Creates an empty registry. Returns NULL on allocation failure. */
mc_metrics_t *mc_metrics_new(void);

/* Frees the registry and every series in it; series pointers become invalid. */
void mc_metrics_free(mc_metrics_t *m);

/*
 * Gets or creates the series name{labels} of a counter/gauge/histogram family.
 * labels is the inside of the braces, already escaped (`route="/v1",status="200"`), or NULL.
 * name, help and labels are copied. A family keeps the type it was created with: asking
 * for another type returns NULL. bounds (histograms) are the upper bounds in ascending
 * order; the registry copies them on the family's first series.
 * Returned pointers stay valid until mc_metrics_free(). NULL on error.
 */
mc_metric_t *mc_metrics_counter(mc_metrics_t *m, const char *name, const char *help,
                                const char *labels);
mc_metric_t *mc_metrics_gauge(mc_metrics_t *m, const char *name, const char *help,
                              const char *labels);
mc_metric_t *mc_metrics_histogram(mc_metrics_t *m, const char *name, const char *help,
                                  const char *labels, const double *bounds, size_t nbounds);

/*
 * A gauge whose value is read at render time by calling fn(arg) (for queue depths).
 * fn must be thread-safe and must not call into the registry.
 */
mc_metric_t *mc_metrics_gauge_fn(mc_metrics_t *m, const char *name, const char *help,
                                 const char *labels, double (*fn)(void *arg), void *arg);

/* A counter read the same way (a count kept by its owner, e.g. under the owner's lock);
 * fn must never return less than it did before. */
mc_metric_t *mc_metrics_counter_fn(mc_metrics_t *m, const char *name, const char *help,
                                   const char *labels, double (*fn)(void *arg), void *arg);

/* Adds v (>= 0 for counters) to a counter or gauge. NULL-safe. */
void mc_metric_add(mc_metric_t *s, double v);
/* Sets a gauge. NULL-safe. */
void mc_metric_set(mc_metric_t *s, double v);
/* Records one observation in a histogram. NULL-safe. */
void mc_metric_observe(mc_metric_t *s, double v);
/* Current value of a counter or gauge (tests). */
double mc_metric_value(const mc_metric_t *s);

/* Renders every family as Prometheus text. Returns a heap string the caller frees, or NULL. */
char *mc_metrics_render(mc_metrics_t *m);

/* Default latency buckets in seconds (0.5 ms .. 5 s) and their count. */
extern const double mc_metrics_latency_bounds[];
extern const size_t mc_metrics_latency_nbounds;

#endif
