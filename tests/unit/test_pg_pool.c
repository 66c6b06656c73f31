/*
 * test_pg_pool.c - the connection pool against a fake PostgreSQL server on loopback (the
 * v3 protocol, just enough for libpq): idle connections the server closed are replaced on
 * checkout; a connection lost during a statement is reopened and the statement repeated
 * only when it is repeatable and no transaction was open.
 */
#include "mc_test.h"
#include "pg_pool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FAKE_CONNS 8
#define FAKE_BUF 8192

typedef struct {
    int fd;             /* -1: free slot */
    int started;        /* the startup message was answered */
    int in_tx;          /* between BEGIN and COMMIT/ROLLBACK */
    char query[128];    /* of the last Parse */
    char buf[FAKE_BUF];
    size_t len;
} fake_conn_t;

/* The fake server; every field is guarded by lock. */
typedef struct {
    pthread_mutex_t lock;
    pthread_t thread;
    int lfd, port, stop;
    int drop_next;      /* close the connection at the next statement's end, unanswered */
    int accepted;
    int executed;       /* statements of the extended protocol (the pool's own SET is not) */
    fake_conn_t conns[FAKE_CONNS];
} fake_pg_t;

static void fake_send(int fd, char type, const void *body, size_t len)
{
    char msg[256];
    uint32_t n = htonl((uint32_t)len + 4);
    msg[0] = type;
    memcpy(msg + 1, &n, 4);
    memcpy(msg + 5, body, len);
    if (write(fd, msg, len + 5) != (ssize_t)(len + 5))
        fprintf(stderr, "fake server: short write\n");
}

static void fake_close(fake_conn_t *c)
{
    close(c->fd);
    c->fd = -1;
}

/* A statement ended (simple Query, or Sync after Parse/Bind/Describe/Execute). */
static void fake_statement(fake_pg_t *f, fake_conn_t *c, const char *query, int extended)
{
    f->executed += extended;
    if (f->drop_next) {
        f->drop_next = 0;
        fake_close(c);
        return;
    }
    if (strncmp(query, "BEGIN", 5) == 0)
        c->in_tx = 1;
    else if (strncmp(query, "COMMIT", 6) == 0 || strncmp(query, "ROLLBACK", 8) == 0)
        c->in_tx = 0;
    if (extended) {
        fake_send(c->fd, '1', "", 0); /* ParseComplete */
        fake_send(c->fd, '2', "", 0); /* BindComplete */
        fake_send(c->fd, 'n', "", 0); /* NoData */
    }
    fake_send(c->fd, 'C', "OK", 3);
    fake_send(c->fd, 'Z', c->in_tx ? "T" : "I", 1);
}

/* Handles the complete messages in c's buffer. */
static void fake_input(fake_pg_t *f, fake_conn_t *c)
{
    for (;;) {
        uint32_t n;
        size_t head = c->started ? 1 : 0;
        if (c->len < head + 4)
            return;
        memcpy(&n, c->buf + head, 4);
        size_t total = head + ntohl(n);
        if (c->len < total)
            return;
        char type = (char)(c->started ? c->buf[0] : 0);
        const char *body = c->buf + head + 4;
        if (!c->started) {
            static const uint32_t auth_ok = 0;
            c->started = 1;
            fake_send(c->fd, 'R', &auth_ok, 4);
            fake_send(c->fd, 'Z', "I", 1);
        } else if (type == 'Q') {
            fake_statement(f, c, body, 0);
        } else if (type == 'P') {
            snprintf(c->query, sizeof c->query, "%s", body + strlen(body) + 1);
        } else if (type == 'S') {
            fake_statement(f, c, c->query, 1);
        } else if (type == 'X') {
            fake_close(c);
        }
        if (c->fd < 0)
            return;
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
    }
}

static void *fake_run(void *arg)
{
    fake_pg_t *f = arg;
    for (;;) {
        struct pollfd pfd[FAKE_CONNS + 1];
        pthread_mutex_lock(&f->lock);
        if (f->stop) {
            pthread_mutex_unlock(&f->lock);
            return NULL;
        }
        pfd[0] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
        for (int i = 0; i < FAKE_CONNS; i++)
            pfd[i + 1] = (struct pollfd){.fd = f->conns[i].fd, .events = POLLIN};
        pthread_mutex_unlock(&f->lock);
        if (poll(pfd, FAKE_CONNS + 1, 10) <= 0)
            continue;
        pthread_mutex_lock(&f->lock);
        if (pfd[0].revents & POLLIN) {
            int fd = accept(f->lfd, NULL, NULL);
            for (int i = 0; fd >= 0 && i < FAKE_CONNS; i++) {
                if (f->conns[i].fd < 0) {
                    f->conns[i] = (fake_conn_t){.fd = fd};
                    f->accepted++;
                    fd = -1;
                }
            }
            if (fd >= 0)
                close(fd);
        }
        for (int i = 0; i < FAKE_CONNS; i++) {
            fake_conn_t *c = &f->conns[i];
            if (c->fd < 0 || c->fd != pfd[i + 1].fd || !pfd[i + 1].revents)
                continue;
            ssize_t got = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (got <= 0) {
                fake_close(c);
                continue;
            }
            c->len += (size_t)got;
            fake_input(f, c);
        }
        pthread_mutex_unlock(&f->lock);
    }
}

static void fake_start(fake_pg_t *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    memset(f, 0, sizeof *f);
    for (int i = 0; i < FAKE_CONNS; i++)
        f->conns[i].fd = -1;
    pthread_mutex_init(&f->lock, NULL);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    MC_CHECK(f->lfd >= 0 && bind(f->lfd, (struct sockaddr *)&a, sizeof a) == 0 &&
             listen(f->lfd, 16) == 0 &&
             getsockname(f->lfd, (struct sockaddr *)&a, &alen) == 0);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->thread, NULL, fake_run, f);
}

static void fake_stop(fake_pg_t *f)
{
    pthread_mutex_lock(&f->lock);
    f->stop = 1;
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    for (int i = 0; i < FAKE_CONNS; i++)
        if (f->conns[i].fd >= 0)
            fake_close(&f->conns[i]);
    close(f->lfd);
    pthread_mutex_destroy(&f->lock);
}

/* As a PostgreSQL shutdown does: a FATAL error on every connection, then it is closed. */
static void fake_goodbye(fake_pg_t *f)
{
    static const char fatal[] = "SFATAL\0VFATAL\0C57P01\0M"
                                "terminating connection due to administrator command\0";
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < FAKE_CONNS; i++) {
        if (f->conns[i].fd >= 0) {
            fake_send(f->conns[i].fd, 'E', fatal, sizeof fatal);
            fake_close(&f->conns[i]);
        }
    }
    pthread_mutex_unlock(&f->lock);
}

static int fake_get(fake_pg_t *f, const int *field)
{
    pthread_mutex_lock(&f->lock);
    int v = *field;
    pthread_mutex_unlock(&f->lock);
    return v;
}

static void fake_drop_next(fake_pg_t *f)
{
    pthread_mutex_lock(&f->lock);
    f->drop_next = 1;
    pthread_mutex_unlock(&f->lock);
}

static pg_pool_t *pool_for(const fake_pg_t *f, size_t size)
{
    char conninfo[160];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d dbname=t user=t sslmode=disable gssencmode=disable "
             "connect_timeout=10",
             f->port);
    return pg_pool_new(conninfo, size);
}

/* Runs sql on *conn through the pool; returns its status. */
static ExecStatusType run(pg_pool_t *pool, PGconn **conn, const char *sql, int repeatable)
{
    PGresult *res = pg_pool_exec(pool, conn, sql, 0, NULL, repeatable);
    ExecStatusType st = PQresultStatus(res);
    PQclear(res);
    return st;
}

static void test_idle_connection_closed_by_the_server_is_replaced(void)
{
    fake_pg_t f;
    char err[256] = "";
    fake_start(&f);
    pg_pool_t *pool = pool_for(&f, 2);
    PGconn *conn = pg_pool_acquire(pool, 1000, err, sizeof err);
    MC_CHECK(conn != NULL);
    MC_CHECK_INT(run(pool, &conn, "SELECT 1", 1), PGRES_COMMAND_OK);
    pg_pool_release(pool, conn);
    MC_CHECK_INT(fake_get(&f, &f.accepted), 1);

    fake_goodbye(&f); /* the server restarts while the connection is idle in the pool */
    conn = pg_pool_acquire(pool, 1000, err, sizeof err);
    MC_CHECK(conn != NULL);
    MC_CHECK_INT(fake_get(&f, &f.accepted), 2);
    int before = fake_get(&f, &f.executed);
    MC_CHECK_INT(run(pool, &conn, "INSERT", 0), PGRES_COMMAND_OK);
    MC_CHECK_INT(fake_get(&f, &f.executed), before + 1);
    pg_pool_release(pool, conn);
    pg_pool_free(pool);
    fake_stop(&f);
}

static void test_lost_connection_repeats_only_what_is_repeatable(void)
{
    fake_pg_t f;
    char err[256] = "";
    fake_start(&f);
    pg_pool_t *pool = pool_for(&f, 1);
    PGconn *conn = pg_pool_acquire(pool, 1000, err, sizeof err);
    MC_CHECK(conn != NULL);

    /* a read: lost, reopened, run again */
    int before = fake_get(&f, &f.executed);
    fake_drop_next(&f);
    MC_CHECK_INT(run(pool, &conn, "SELECT 1", 1), PGRES_COMMAND_OK);
    MC_CHECK_INT(fake_get(&f, &f.executed), before + 2);
    MC_CHECK_INT(fake_get(&f, &f.accepted), 2);
    MC_CHECK_INT(PQstatus(conn), CONNECTION_OK);

    /* a write that may have run: never repeated */
    before = fake_get(&f, &f.executed);
    fake_drop_next(&f);
    MC_CHECK_INT(run(pool, &conn, "INSERT", 0), PGRES_FATAL_ERROR);
    MC_CHECK_INT(fake_get(&f, &f.executed), before + 1);
    MC_CHECK_INT(fake_get(&f, &f.accepted), 2);
    MC_CHECK_INT(PQstatus(conn), CONNECTION_BAD);
    pg_pool_release(pool, conn); /* closed; its slot reopens on the next checkout */

    /* a read inside a transaction: the transaction is gone, so is the statement */
    conn = pg_pool_acquire(pool, 1000, err, sizeof err);
    MC_CHECK(conn != NULL);
    MC_CHECK_INT(fake_get(&f, &f.accepted), 3);
    MC_CHECK_INT(run(pool, &conn, "BEGIN", 1), PGRES_COMMAND_OK);
    MC_CHECK_INT(PQtransactionStatus(conn), PQTRANS_INTRANS);
    fake_drop_next(&f);
    MC_CHECK_INT(run(pool, &conn, "SELECT 1", 1), PGRES_FATAL_ERROR);
    MC_CHECK_INT(fake_get(&f, &f.accepted), 3);
    pg_pool_release(pool, conn);
    pg_pool_free(pool);
    fake_stop(&f);
}

static void test_acquire_refusals(void)
{
    fake_pg_t f;
    char err[256] = "";
    fake_start(&f);
    pg_pool_t *pool = pool_for(&f, 1);
    PGconn *conn = pg_pool_acquire(pool, 1000, err, sizeof err);
    MC_CHECK(conn != NULL);
    MC_CHECK(pg_pool_acquire(pool, 20, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "no database connection free within 20 ms");
    pg_pool_release(pool, conn);
    pg_pool_free(pool);
    fake_stop(&f); /* nobody listens on the port any more */

    pool = pool_for(&f, 1);
    MC_CHECK(pg_pool_acquire(pool, 1000, err, sizeof err) == NULL);
    MC_CHECK_CONTAINS(err, "cannot connect to PostgreSQL");
    pg_pool_free(pool);
}

int main(void)
{
    MC_TEST_RUN(test_idle_connection_closed_by_the_server_is_replaced);
    MC_TEST_RUN(test_lost_connection_repeats_only_what_is_repeatable);
    MC_TEST_RUN(test_acquire_refusals);
    MC_TEST_DONE();
}
