/*
 * pg_pool.h - a fixed-size pool of PostgreSQL connections shared by the HTTP worker
 * threads. Connections are opened lazily; an idle one is checked before it is handed out,
 * and a lost one is reopened.
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
 * Checks out a connection, waiting up to wait_ms for a free one. An idle connection the
 * server has closed meanwhile (a restart, a terminated backend) is replaced by a new one,
 * without a round trip. Returns NULL with err filled when none is free in time or the
 * server cannot be reached. Give it back with pg_pool_release().
 */
PGconn *pg_pool_acquire(pg_pool_t *pool, int wait_ms, char *err, size_t errlen);

/*
 * Runs sql with nparams text parameters (values; NULL entries are SQL NULL) on *conn, a
 * connection checked out of pool. When the connection turns out to be lost, no transaction
 * was open and repeatable is set (the statement only reads, or only opens a transaction),
 * *conn is replaced by a new connection and the statement runs once more there; a
 * statement that may have written is never repeated. Returns the result (PQclear it; NULL
 * only when memory ran out); *conn stays a connection of the pool in every case.
 */
PGresult *pg_pool_exec(pg_pool_t *pool, PGconn **conn, const char *sql, int nparams,
                       const char *const *values, int repeatable);

/* Returns conn to the pool; a connection in a bad state is closed and reopened later. */
void pg_pool_release(pg_pool_t *pool, PGconn *conn);

#endif
