/*
 * mc_http.h - HTTP server helpers over ulfius: an epoll + thread-pool listener bound to one
 * address, JSON responses, the error envelope, and the /healthz and /metrics endpoints.
 * Every listener refuses a request line holding a raw NUL byte (400, before any handler)
 * and never parses bodies as forms (handlers see them as they came).
 */
#ifndef MC_HTTP_H
#define MC_HTTP_H

#include <jansson.h>
#include <netinet/in.h>
#include <stddef.h>
#include <ulfius.h>

#include "mc_metrics.h"

typedef struct {
    const char *bind;       /* IPv4 address to listen on, e.g. "127.0.0.1" */
    long port;
    unsigned threads;       /* thread-pool size (>= 1) */
    size_t max_body;        /* largest accepted request body in bytes */
    unsigned max_conns;     /* connection limit */
} mc_http_opts_t;

/* A listener: the ulfius instance (add endpoints to .inst) and the address it binds,
 * which ulfius keeps a pointer to, so both live together in a caller-owned struct. */
typedef struct {
    struct _u_instance inst;
    struct sockaddr_in addr;
    mc_http_opts_t opts;
    int inited;
} mc_http_server_t;

/*
 * Initialises srv for opts (opts->bind is not copied and must outlive srv); the caller then
 * adds endpoints to srv->inst - step 1 of 2.
 * Returns MC_OK or MC_ERR_INVAL/MC_ERR_IO with err filled.
 */
int mc_http_init(mc_http_server_t *srv, const mc_http_opts_t *opts, char *err, size_t errlen);

/*
 * Starts listening with MHD's epoll thread pool (not ulfius's select() default) - step 2.
 * The request-line check runs in front of ulfius's dispatcher (http.c defines the
 * MHD_start_daemon ulfius calls); start fails when it could not be put in place.
 * Returns MC_OK or MC_ERR_IO (port in use...) with err filled.
 */
int mc_http_start(mc_http_server_t *srv, char *err, size_t errlen);

/* Stops the listener and cleans srv. Safe on a server that never initialised or started. */
void mc_http_stop(mc_http_server_t *srv);

/* Sets status and a JSON body. Takes ownership of body (decref'd here). */
void mc_http_json(struct _u_response *resp, unsigned status, json_t *body);

/*
 * Sets status and the error envelope {"error":{"code","message"[,"details"]}}.
 * Takes ownership of details (may be NULL). code is a stable snake_case identifier.
 */
void mc_http_error(struct _u_response *resp, unsigned status, const char *code,
                   json_t *details, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Reads the request body as a JSON object. On failure sets the error response
 * (413 over max_body, 415 wrong content type, 400 malformed or not an object) and
 * returns NULL. The caller owns the returned object.
 */
json_t *mc_http_body_object(const struct _u_request *req, struct _u_response *resp,
                            size_t max_body);

/* True when s is well-formed UTF-8 (no overlongs, no surrogates). */
int mc_utf8_valid(const char *s);

/* The longest request URL (path and query, encoded) a service accepts. */
#define MC_HTTP_MAX_URL 16384

/*
 * Checks the request line: URL no longer than MC_HTTP_MAX_URL (414), no encoded NUL
 * (%00: it would cut a value short), every query key and value valid UTF-8 (400). On
 * failure sets the JSON error on resp and returns MC_ERR_INVAL.
 */
int mc_http_check_request(const struct _u_request *req, struct _u_response *resp);

/* ulfius callbacks: 200 {"status":"ok"} and the Prometheus text of user_data (mc_metrics_t *). */
int mc_http_healthz(const struct _u_request *req, struct _u_response *resp, void *user_data);
int mc_http_metrics(const struct _u_request *req, struct _u_response *resp, void *user_data);
/* ulfius default endpoint: 404 JSON error for unknown routes. */
int mc_http_not_found(const struct _u_request *req, struct _u_response *resp, void *user_data);

#endif
