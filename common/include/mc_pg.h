/*
 * mc_pg.h - PostgreSQL connection helpers over libpq: connect with a bounded retry,
 * run a statement and turn a failed result into an MC_ERR_PG with the server's message.
 */
#ifndef MC_PG_H
#define MC_PG_H

#include <libpq-fe.h>
#include <stddef.h>

/*
 * Connects with conninfo, retrying for up to wait_ms (0: one attempt) while the server
 * is starting. Returns a connection the caller closes with PQfinish(), or NULL with err
 * filled (the conninfo itself is never copied into err: it may hold a password).
 */
PGconn *mc_pg_connect(const char *conninfo, int wait_ms, char *err, size_t errlen);

/*
 * Runs sql (no parameters) and checks the result is COMMAND_OK or TUPLES_OK.
 * Returns MC_OK or MC_ERR_PG with the server's message in err.
 */
int mc_pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

/*
 * Checks res (may be NULL) has status want. On mismatch fills err with the server's
 * message and SQLSTATE and returns MC_ERR_PG. Does not clear res.
 */
int mc_pg_check(PGconn *conn, const PGresult *res, ExecStatusType want, char *err,
                size_t errlen);

/* True when conn is open and its last state is CONNECTION_OK (after PQreset if needed). */
int mc_pg_alive(PGconn *conn);

#endif
