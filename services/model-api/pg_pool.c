/* pg_pool.c - mutex + condition variable pool of libpq connections. */
#include "pg_pool.h"
#include "mc_log.h"
#include "mc_pg.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pg_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *conninfo;
    size_t size;
    size_t opened;      /* connections that exist (idle or checked out) */
    PGconn **idle;      /* stack of idle connections */
    size_t nidle;
};

pg_pool_t *pg_pool_new(const char *conninfo, size_t size)
{
    pg_pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->conninfo = strdup(conninfo);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof *p of an array of pointers */
    p->idle = calloc(size, sizeof *p->idle);
    if (!p->conninfo || !p->idle) {
        free(p->conninfo);
        free(p->idle);
        free(p);
        return NULL;
    }
    p->size = size;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    return p;
}

void pg_pool_free(pg_pool_t *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; i < pool->nidle; i++)
        PQfinish(pool->idle[i]);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->freed);
    free(pool->idle);
    free(pool->conninfo);
    free(pool);
}

/*
 * Opens a connection for requests. Its writes wake this process's relay directly
 * (outbox_relay_kick), so the outbox trigger skips its NOTIFY for them (modelcast.notify):
 * a NOTIFY takes a database-wide lock at commit and would serialize the API's writers.
 */
static PGconn *pool__open(pg_pool_t *pool, char *err, size_t errlen)
{
    PGconn *conn = mc_pg_connect(pool->conninfo, 0, err, errlen);
    if (conn &&
        mc_pg_exec(conn, "SET TIME ZONE 'UTC'; SET modelcast.notify = 'off'", err, errlen) != 0) {
        PQfinish(conn);
        conn = NULL;
    }
    return conn;
}

/*
 * Whether an idle connection can still be used. Nothing arrives on an idle connection of
 * the pool (it listens to nothing) but the server's goodbye, an error and then the end of
 * the stream (a restart, a terminated backend), so one with anything to read is done with.
 * No round trip.
 */
static int pool__usable(PGconn *conn)
{
    struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
    return PQstatus(conn) == CONNECTION_OK && pfd.fd >= 0 && poll(&pfd, 1, 0) == 0;
}

PGconn *pg_pool_acquire(pg_pool_t *pool, int wait_ms, char *err, size_t errlen)
{
    struct timespec deadline;
    PGconn *conn = NULL;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&pool->lock);
    while (pool->nidle == 0 && pool->opened >= pool->size) {
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            snprintf(err, errlen, "no database connection free within %d ms", wait_ms);
            return NULL;
        }
    }
    if (pool->nidle > 0) {
        conn = pool->idle[--pool->nidle];
        pthread_mutex_unlock(&pool->lock);
        if (pool__usable(conn))
            return conn;
        MC_DEBUG("database connection closed while idle; opening a new one");
        PQfinish(conn); /* broken: replace it below, keeping its slot */
    } else {
        pool->opened++;
        pthread_mutex_unlock(&pool->lock);
    }
    conn = pool__open(pool, err, errlen);
    if (!conn) {
        pthread_mutex_lock(&pool->lock);
        pool->opened--;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->lock);
    }
    return conn;
}

PGresult *pg_pool_exec(pg_pool_t *pool, PGconn **conn, const char *sql, int nparams,
                       const char *const *values, int repeatable)
{
    char err[256];
    int idle = PQtransactionStatus(*conn) == PQTRANS_IDLE;
    PGresult *res = PQexecParams(*conn, sql, nparams, NULL, values, NULL, NULL, 0);
    if (PQstatus(*conn) != CONNECTION_BAD || !idle || !repeatable)
        return res;
    PGconn *fresh = pool__open(pool, err, sizeof err);
    if (!fresh)
        return res; /* the server is away: the first failure tells */
    MC_INFO("database connection lost; the statement runs again on a new one");
    PQclear(res);
    PQfinish(*conn);
    *conn = fresh;
    return PQexecParams(fresh, sql, nparams, NULL, values, NULL, NULL, 0);
}

void pg_pool_release(pg_pool_t *pool, PGconn *conn)
{
    if (!conn)
        return;
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQfinish(conn);
        conn = NULL;
    }
    pthread_mutex_lock(&pool->lock);
    if (conn)
        pool->idle[pool->nidle++] = conn;
    else
        pool->opened--;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}
