/*
 * pg_pool.h - a fixed-size pool of PostgreSQL connections shared by the HTTP worker
 * threads. Connections are opened lazily and reset when found broken.
 */
#ifndef PG_POOL_H
#define PG_POOL_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct pg_pool pg_pool_t;

/* Creates a pool of at most size connections to conninfo (copied). NULL on failure. */
pg_pool_t *pg_pool_new(const char *conninfo, size_t size);

/* Closes every connection and frees the pool. No connection may be checked out. */
void pg_pool_free(pg_pool_t *pool);

/*
 * Checks out a connection, waiting up to wait_ms for a free one. Returns NULL with err
 * filled when none is free in time or the server cannot be reached. Give it back with
 * pg_pool_release().
 */
PGconn *pg_pool_acquire(pg_pool_t *pool, int wait_ms, char *err, size_t errlen);

/* Returns conn to the pool; a connection in a bad state is closed and reopened later. */
void pg_pool_release(pg_pool_t *pool, PGconn *conn);

#endif
