/*
 * dedupe.h - drops a change event that repeats one seen shortly before on its partition
 * (same ce_id): the relay republishes, with the same ce_id, the events Kafka acknowledged
 * but whose outbox rows it could not delete (a crash between the two), and they follow
 * their originals within one relay batch. Per partition it remembers the ce_ids of the
 * last `window` events whose transaction committed, plus those staged by the open batch
 * (forgotten again if the batch aborts). Pure data structure, no I/O; one thread.
 */
#ifndef DEDUPE_H
#define DEDUPE_H

#include <stdint.h>

typedef struct dedupe dedupe_t;

/* A dedupe remembering window events per partition (0: remembers nothing). NULL: no memory. */
dedupe_t *dedupe_new(long window);

void dedupe_free(dedupe_t *d);

/* 1 when id is among the last window committed events of partition or staged, else 0. */
int dedupe_seen(const dedupe_t *d, int32_t partition, const char *id);

/*
 * Stages event id at offset of partition (the open batch), repeats included, so that the
 * distance between two copies is counted in events. MC_OK or MC_ERR_NOMEM.
 */
int dedupe_stage(dedupe_t *d, int32_t partition, int64_t offset, const char *id);

/* The open batch committed: its staged events join the windows (oldest ones drop out). */
int dedupe_commit(dedupe_t *d);

/* The open batch aborted: forgets what it staged. */
void dedupe_rollback(dedupe_t *d);

/* The offset after the last committed event remembered for partition; -1 when unknown. */
int64_t dedupe_end(const dedupe_t *d, int32_t partition);

/* Forgets partition's window (and staged events); its end becomes end (-1: unknown). */
void dedupe_reset(dedupe_t *d, int32_t partition, int64_t end);

/* Adds a committed event directly (rebuilding a window from the topic). MC_OK or MC_ERR_NOMEM. */
int dedupe_push(dedupe_t *d, int32_t partition, int64_t offset, const char *id);

/* Events remembered for partition (committed ones), for tests and logs. */
long dedupe_count(const dedupe_t *d, int32_t partition);

/* The window size. */
long dedupe_window(const dedupe_t *d);

#endif
