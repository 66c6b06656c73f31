/*
 * workers.h - the WebSocket workers of one pusher process: ws_servers sharing one port, each
 * live delivery fanned out to every one of them, started and stopped together.
 */
#ifndef PUSHER_WORKERS_H
#define PUSHER_WORKERS_H

#include <stddef.h>

#include "frame.h"
#include "ws_server.h"

typedef struct workers workers_t;

/*
 * Raises the soft open-file limit to the hard one (each connection is a descriptor; warns
 * when opts->max_connections cannot fit) and sizes ws_guard's table to it, then creates n
 * workers from opts (n <= 0: one per online core); worker_id and open_connections (one
 * count for the whole set) are set here.
 * Returns NULL with err filled ("worker 1: cannot serve on ...") on failure.
 */
workers_t *workers_new(const ws_server_opts_t *opts, long n, char *err, size_t errlen);

/* How many workers there are. */
size_t workers_count(const workers_t *w);

/* Starts every worker's service thread. Returns MC_OK or MC_ERR_NOMEM. */
int workers_start(workers_t *w);

/*
 * The feed_sink_fn: hands frame (ownership taken) to every worker - frames are immutable,
 * so all share it, a reference each. Waits while a worker's inbox is full; after
 * workers_stop the frame is dropped. Returns MC_OK.
 */
int workers_sink(void *workers, pusher_frame_t *frame, const char *position);

/* Refuses further frames (workers_sink drops them) and stops every worker. Idempotent. */
void workers_stop(workers_t *w);

/* ws_server_detach_resume for every worker (after workers_stop). NULL-safe. */
void workers_detach_resume(workers_t *w);

/* Stops if needed and frees every worker and w. NULL-safe. */
void workers_free(workers_t *w);

#endif
