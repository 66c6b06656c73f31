/* workers.c - the set of ws_servers of one process and the fan-out of deliveries to them. */
#include "workers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fanout_trace.h"
#include "mc_error.h"
#include "mc_log.h"
#include "ws_guard.h"

struct workers {
    ws_server_t **ws;
    size_t n;
    atomic_long open_connections; /* shared by the workers: MC_MAX_CONNECTIONS is per process */
    atomic_int stopping;
};

/*
 * Raises the soft open-file limit to the hard one and warns when max_connections cannot
 * fit (with ~256 descriptors left for Kafka and the rest).
 */
static void workers__raise_nofile(size_t max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            MC_WARN("cannot raise the open-file limit from %lu: %s", (unsigned long)old,
                    strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (ws_guard_init(rl.rlim_cur == RLIM_INFINITY ? 1048576 : (size_t)rl.rlim_cur) != 0)
        MC_WARN("out of memory for the WebSocket frame checks");
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)max_connections + 256 > rl.rlim_cur)
        MC_WARN("MC_MAX_CONNECTIONS=%zu does not fit the open-file limit %lu (minus ~256 "
                "for Kafka and the rest): run more instances or raise ulimit -Hn",
                max_connections, (unsigned long)rl.rlim_cur);
    else
        MC_INFO("open-file limit %lu", (unsigned long)rl.rlim_cur);
}

workers_t *workers_new(const ws_server_opts_t *opts, long n, char *err, size_t errlen)
{
    workers_t *w;
    char why[512];

    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    workers__raise_nofile(opts->max_connections);
    if (!(w = calloc(1, sizeof *w)) || !(w->ws = calloc((size_t)n, sizeof *w->ws))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&w->open_connections, 0);
    atomic_init(&w->stopping, 0);
    for (long i = 0; i < n; i++) {
        ws_server_opts_t o = *opts;
        o.worker_id = (int)i;
        o.open_connections = &w->open_connections;
        if (!(w->ws[i] = ws_server_new(&o, why, sizeof why))) {
            snprintf(err, errlen, "worker %ld: %s", i, why);
            workers_free(w);
            return NULL;
        }
        w->n++;
    }
    return w;
}

size_t workers_count(const workers_t *w)
{
    return w->n;
}

int workers_start(workers_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (ws_server_start(w->ws[i]) != MC_OK)
            return MC_ERR_NOMEM;
    return MC_OK;
}

int workers_sink(void *workers, pusher_frame_t *frame, const char *position)
{
    workers_t *w = workers;
    (void)position;
    if (frame->trace)
        fanout_trace_expect(frame->trace, (int)w->n);
    /* One reference per worker: the caller's goes to the last. */
    for (size_t i = 0; i + 1 < w->n; i++)
        pusher_frame_ref(frame);
    for (size_t i = 0; i < w->n; i++) {
        while (ws_server_post(w->ws[i], frame) != MC_OK) {
            if (atomic_load(&w->stopping)) {
                for (size_t k = i; k < w->n; k++)
                    pusher_frame_unref(frame);
                return MC_OK;
            }
        }
    }
    return MC_OK;
}

void workers_stop(workers_t *w)
{
    if (!w)
        return;
    atomic_store(&w->stopping, 1);
    for (size_t i = 0; i < w->n; i++)
        ws_server_stop(w->ws[i]);
}

void workers_detach_resume(workers_t *w)
{
    for (size_t i = 0; w && i < w->n; i++)
        ws_server_detach_resume(w->ws[i]);
}

void workers_free(workers_t *w)
{
    if (!w)
        return;
    workers_stop(w);
    for (size_t i = 0; i < w->n; i++)
        ws_server_free(w->ws[i]);
    free(w->ws);
    free(w);
    ws_guard_cleanup();
}
