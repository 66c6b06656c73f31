/* pg.c - libpq helpers: bounded connect retry and result checking. */
#include "mc_pg.h"
#include "mc_error.h"
#include "mc_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void pg__trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* Server notices ("relation already exists, skipping") go to the debug log, not stderr. */
static void pg__notice(void *arg, const char *message)
{
    (void)arg;
    char line[512];
    snprintf(line, sizeof line, "%s", message);
    pg__trim(line);
    MC_DEBUG("postgres: %s", line);
}

PGconn *mc_pg_connect(const char *conninfo, int wait_ms, char *err, size_t errlen)
{
    struct timespec pause = {0, 200 * 1000 * 1000};
    int waited = 0;

    for (;;) {
        PGconn *conn = PQconnectdb(conninfo ? conninfo : "");
        if (conn && PQstatus(conn) == CONNECTION_OK) {
            PQsetNoticeProcessor(conn, pg__notice, NULL);
            return conn;
        }
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                 conn ? PQerrorMessage(conn) : "out of memory");
        pg__trim(err);
        PQfinish(conn);
        if (waited >= wait_ms)
            return NULL;
        nanosleep(&pause, NULL);
        waited += 200;
    }
}

int mc_pg_check(PGconn *conn, const PGresult *res, ExecStatusType want, char *err,
                size_t errlen)
{
    if (res && PQresultStatus(res) == want)
        return MC_OK;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(err, errlen, "%s%s%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn),
             state ? " SQLSTATE " : "", state ? state : "");
    pg__trim(err);
    return MC_ERR_PG;
}

int mc_pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    int rc = MC_OK;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = mc_pg_check(conn, res, PGRES_COMMAND_OK, err, errlen);
    PQclear(res);
    return rc;
}

int mc_pg_alive(PGconn *conn)
{
    if (!conn)
        return 0;
    if (PQstatus(conn) != CONNECTION_OK)
        PQreset(conn);
    return PQstatus(conn) == CONNECTION_OK;
}
