/* test_metrics.c - counters, gauges, histograms and the text exposition format. */
#include "mc_metrics.h"
#include "mc_test.h"

#include <pthread.h>

static double seven(void *arg)
{
    (void)arg;
    return 7;
}

static void test_render(void)
{
    mc_metrics_t *m = mc_metrics_new();
    mc_metric_t *c = mc_metrics_counter(m, "mc_requests_total", "Requests.", "status=\"200\"");
    MC_CHECK(c != NULL);
    MC_CHECK(mc_metrics_counter(m, "mc_requests_total", "Requests.", "status=\"200\"") == c);
    mc_metric_add(c, 2);
    mc_metric_add(mc_metrics_counter(m, "mc_requests_total", "Requests.", "status=\"404\""), 1);
    mc_metric_set(mc_metrics_gauge(m, "mc_depth", "Depth.", NULL), 3);
    mc_metrics_gauge_fn(m, "mc_lag", "Lag.", NULL, seven, NULL);
    MC_CHECK(mc_metrics_counter_fn(m, "mc_fetches_total", "Fetches.", NULL, seven, NULL));
    MC_CHECK(mc_metrics_gauge(m, "mc_requests_total", "x", NULL) == NULL); /* type clash */

    double bounds[] = {0.1, 1};
    mc_metric_t *h = mc_metrics_histogram(m, "mc_latency_seconds", "Latency.", NULL, bounds, 2);
    mc_metric_observe(h, 0.05);
    mc_metric_observe(h, 0.5);
    mc_metric_observe(h, 5);

    char *text = mc_metrics_render(m);
    MC_CHECK_CONTAINS(text, "# TYPE mc_requests_total counter\n");
    MC_CHECK_CONTAINS(text, "mc_requests_total{status=\"200\"} 2\n");
    MC_CHECK_CONTAINS(text, "mc_requests_total{status=\"404\"} 1\n");
    MC_CHECK_CONTAINS(text, "mc_depth 3\n");
    MC_CHECK_CONTAINS(text, "mc_lag 7\n");
    MC_CHECK_CONTAINS(text, "# TYPE mc_fetches_total counter\nmc_fetches_total 7\n");
    MC_CHECK_CONTAINS(text, "mc_latency_seconds_bucket{le=\"0.1\"} 1\n");
    MC_CHECK_CONTAINS(text, "mc_latency_seconds_bucket{le=\"1\"} 2\n");
    MC_CHECK_CONTAINS(text, "mc_latency_seconds_bucket{le=\"+Inf\"} 3\n");
    MC_CHECK_CONTAINS(text, "mc_latency_seconds_count 3\n");
    MC_CHECK_CONTAINS(text, "mc_latency_seconds_sum 5.55");
    free(text);
    mc_metrics_free(m);
}

static void *adder(void *arg)
{
    for (int i = 0; i < 100000; i++)
        mc_metric_add(arg, 1);
    return NULL;
}

static void test_concurrent_adds(void)
{
    mc_metrics_t *m = mc_metrics_new();
    mc_metric_t *c = mc_metrics_counter(m, "mc_n", "N.", NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, adder, c);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    MC_CHECK_INT((long long)mc_metric_value(c), 400000);
    mc_metrics_free(m);
}

int main(void)
{
    MC_TEST_RUN(test_render);
    MC_TEST_RUN(test_concurrent_adds);
    MC_TEST_DONE();
}
