/* rest.c - REST handlers: list, get, create over the declared models. */
#include "rest.h"
#include "mc_error.h"
#include "mc_http.h"
#include "mc_log.h"
#include "list_query.h"
#include "openapi.h"
#include "mc_pg.h"
#include "mc_sql.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REST_POOL_WAIT_MS 5000
#define REST_SQL_MAX 8192

enum { R_MODELS, R_LIST, R_COUNT, R_GET, R_CREATE, R_UPDATE, R_DESTROY, R_READYZ, R__COUNT };
static const char *const route_labels[R__COUNT] = {
    "GET /v1/models",         "GET /v1/{model}",           "GET /v1/{model}/count",
    "GET /v1/{model}/{id}",   "POST /v1/{model}",          "PATCH /v1/{model}/{id}",
    "DELETE /v1/{model}/{id}", "GET /readyz",
};

/* What each route's handler gets: the service and the route's metric label. */
typedef struct {
    struct rest *rest;
    const char *route;
} route_t;

struct rest {
    const api_config_t *cfg;
    const mc_schema_t *schema;
    pg_pool_t *pool;
    outbox_relay_t *relay;
    mc_metrics_t *metrics;
    mc_metric_t *latency;
    route_t routes[R__COUNT];
    char *openapi;          /* the generated document, built once */
};

static double rest__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rest__count(const route_t *r, const struct _u_response *resp, double t0)
{
    char labels[128];
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%ld\"", r->route, resp->status);
    mc_metric_add(mc_metrics_counter(r->rest->metrics, "modelcast_http_requests_total",
                                     "HTTP requests by route and status.", labels),
                  1);
    mc_metric_observe(r->rest->latency, rest__now() - t0);
}

/* The attribute behind a unique index "<table>_<attr>_key", or NULL. */
static const mc_attr_t *rest__unique_attr(const mc_model_t *m, const char *constraint)
{
    size_t tl = strlen(m->table);
    for (size_t i = 0; constraint && m && i < m->nattrs; i++) {
        const char *a = m->attrs[i].name;
        size_t al = strlen(a);
        if (m->attrs[i].unique && strlen(constraint) == tl + al + 5 &&
            strncmp(constraint, m->table, tl) == 0 && constraint[tl] == '_' &&
            strncmp(constraint + tl + 1, a, al) == 0 && strcmp(constraint + tl + 1 + al, "_key") == 0)
            return &m->attrs[i];
    }
    return NULL;
}

/* Maps a failed statement to a client-facing status; logs server-side failures. */
static void rest__pg_error_model(struct _u_response *resp, PGresult *res, const char *what,
                                 const mc_model_t *m)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const mc_attr_t *ua;

    if (state && strcmp(state, "23505") == 0 &&
        (ua = rest__unique_attr(m, PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME)))) {
        mc_http_error(resp, 422, "invalid", json_pack("{s:[s]}", ua->name, "is already taken"),
                      "the %s is not valid", m->name);
    } else if (state && strcmp(state, "23505") == 0) {
        mc_http_error(resp, 409, "conflict", NULL, "%s", detail ? detail : "duplicate value");
    } else if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
        /* data exceptions and integrity violations come from the input */
        mc_http_error(resp, 422, "invalid", NULL, "%s", detail ? detail : "invalid value");
    } else if (!state || strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0) {
        MC_WARN("%s: database unavailable: %s", what, detail ? detail : "no result");
        mc_http_error(resp, 503, "unavailable", NULL, "the database is unavailable");
    } else {
        MC_ERROR("%s failed: SQLSTATE %s: %s", what, state, detail ? detail : "");
        mc_http_error(resp, 500, "internal", NULL, "the request could not be completed");
    }
}

static void rest__pg_error(struct _u_response *resp, PGresult *res, const char *what)
{
    rest__pg_error_model(resp, res, what, NULL);
}

/* Resolves {model} to a served model or answers 404. */
static const mc_model_t *rest__model(rest_t *rest, const struct _u_request *req,
                                     struct _u_response *resp)
{
    const char *name = u_map_get(req->map_url, "model");
    const mc_model_t *m = mc_schema_find(rest->schema, name);
    if (!m || m->server_only) {
        mc_http_error(resp, 404, "unknown_model", NULL, "no such model");
        return NULL;
    }
    return m;
}

/* Parses a positive decimal record id; 0 when it is not one. */
static long long rest__parse_id(const char *s)
{
    long long v = 0;
    if (!s || !*s || strlen(s) > 18)
        return 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return 0;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* Appends the quoted select list of m ("id","version",...,"attr") to sql. */
static void rest__columns(const mc_model_t *m, char *sql, size_t cap)
{
    size_t len = strlen(sql);
    for (size_t i = 0; i < MC_MODEL_NSYSTEM; i++)
        len += (size_t)snprintf(sql + len, cap - len, "%s\"%s\"", i ? ", " : "",
                                mc_model_system_columns[i]);
    for (size_t i = 0; i < m->nattrs && len < cap; i++)
        len += (size_t)snprintf(sql + len, cap - len, ", \"%s\"", m->attrs[i].name);
}

/* Sends a JSON text produced by PostgreSQL as the response body. */
static void rest__send_text(struct _u_response *resp, unsigned status, const char *json)
{
    u_map_put(resp->map_header, "Content-Type", "application/json");
    ulfius_set_binary_body_response(resp, status, json, strlen(json));
}

static int rest_models(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const route_t *r = ud;
    double t0 = rest__now();
    json_t *list = json_array();
    (void)req;

    for (size_t i = 0; i < r->rest->schema->nmodels; i++) {
        const mc_model_t *m = &r->rest->schema->models[i];
        if (m->server_only)
            continue;
        json_t *attrs = json_object();
        for (size_t j = 0; j < m->nattrs; j++) {
            const mc_attr_t *a = &m->attrs[j];
            json_t *spec = json_pack("{s:s, s:b}", "type", mc_attr_type_name(a->type),
                                     "required", a->required);
            if (a->max_length)
                json_object_set_new(spec, "max_length", json_integer(a->max_length));
            if (a->references)
                json_object_set_new(spec, "references", json_string(a->references));
            json_object_set_new(attrs, a->name, spec);
        }
        json_array_append_new(list, json_pack("{s:s, s:o}", "name", m->name, "attributes", attrs));
    }
    mc_http_json(resp, 200, json_pack("{s:o}", "models", list));
    rest__count(r, resp, t0);
    return U_CALLBACK_COMPLETE;
}

static int rest_get(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const route_t *r = ud;
    double t0 = rest__now();
    const mc_model_t *m = rest__model(r->rest, req, resp);
    char sql[REST_SQL_MAX] = "SELECT row_to_json(r)::text FROM (SELECT ";
    char err[256], idtext[32];
    long long id;
    PGconn *conn;

    if (!m)
        goto out;
    id = rest__parse_id(u_map_get(req->map_url, "id"));
    if (id <= 0) {
        mc_http_error(resp, 404, "not_found", NULL, "no %s with that id", m->name);
        goto out;
    }
    rest__columns(m, sql, sizeof sql);
    snprintf(sql + strlen(sql), sizeof sql - strlen(sql), " FROM \"%s\" WHERE id = $1) r",
             m->table);
    snprintf(idtext, sizeof idtext, "%lld", id);
    if (!(conn = pg_pool_acquire(r->rest->pool, REST_POOL_WAIT_MS, err, sizeof err))) {
        MC_WARN("GET %s: %s", m->name, err);
        mc_http_error(resp, 503, "unavailable", NULL, "the database is unavailable");
        goto out;
    }
    const char *params[1] = {idtext};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rest__pg_error(resp, res, "GET record");
    else if (PQntuples(res) == 0)
        mc_http_error(resp, 404, "not_found", NULL, "no %s with id %lld", m->name, id);
    else
        rest__send_text(resp, 200, PQgetvalue(res, 0, 0));
    PQclear(res);
    pg_pool_release(r->rest->pool, conn);
out:
    rest__count(r, resp, t0);
    return U_CALLBACK_COMPLETE;
}

/* GET /v1/{Model} (count = 0) and GET /v1/{Model}/count (count = 1). */
static void rest__query(const route_t *r, const struct _u_request *req,
                        struct _u_response *resp, int count)
{
    const mc_model_t *m = rest__model(r->rest, req, resp);
    list_query_t q;
    const char *code = "bad_query";
    char err[512];
    PGconn *conn;

    if (!m)
        return;
    if (list_query_build(m, req->map_url, r->rest->cfg->list_limit_max, count, &q, &code, err,
                         sizeof err) != MC_OK) {
        mc_http_error(resp, 400, code, NULL, "%s", err);
        goto out;
    }
    if (!(conn = pg_pool_acquire(r->rest->pool, REST_POOL_WAIT_MS, err, sizeof err))) {
        MC_WARN("GET %s: %s", m->name, err);
        mc_http_error(resp, 503, "unavailable", NULL, "the database is unavailable");
        goto out;
    }
    PGresult *res = PQexecParams(conn, q.sql.text, q.sql.nparams, NULL, mc_sql_values(&q.sql),
                                 NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strncmp(state, "22", 2) == 0) /* a filter value PostgreSQL refused */
            mc_http_error(resp, 400, "bad_query", NULL, "%s",
                          PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        else
            rest__pg_error(resp, res, "GET list");
    } else if (count) {
        mc_http_json(resp, 200, json_pack("{s:I}", "count",
                                          (json_int_t)atoll(PQgetvalue(res, 0, 0))));
    } else {
        int n = PQntuples(res), more = n > q.limit;
        if (more)
            n = (int)q.limit;
        size_t cap = 64;
        for (int i = 0; i < n; i++)
            cap += (size_t)PQgetlength(res, i, 0) + 1;
        char *cursor = NULL;
        if (more) {
            json_t *last = json_loads(PQgetvalue(res, n - 1, 0), 0, NULL);
            cursor = list_query_cursor(&q, last);
            json_decref(last);
            cap += cursor ? strlen(cursor) : 0;
        }
        char *body = malloc(cap);
        if (!body) {
            mc_http_error(resp, 503, "unavailable", NULL, "out of memory");
        } else {
            size_t len = (size_t)snprintf(body, cap, "{\"data\":[");
            for (int i = 0; i < n; i++) {
                size_t l = (size_t)PQgetlength(res, i, 0);
                if (i)
                    body[len++] = ',';
                memcpy(body + len, PQgetvalue(res, i, 0), l);
                len += l;
            }
            if (cursor)
                snprintf(body + len, cap - len, "],\"next_cursor\":\"%s\"}", cursor);
            else
                snprintf(body + len, cap - len, "],\"next_cursor\":null}");
            rest__send_text(resp, 200, body);
            free(body);
        }
        free(cursor);
    }
    PQclear(res);
    pg_pool_release(r->rest->pool, conn);
out:
    list_query_cleanup(&q);
}

static int rest_list(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    double t0 = rest__now();
    rest__query(ud, req, resp, 0);
    rest__count(ud, resp, t0);
    return U_CALLBACK_COMPLETE;
}

static int rest_count_route(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    double t0 = rest__now();
    rest__query(ud, req, resp, 1);
    rest__count(ud, resp, t0);
    return U_CALLBACK_COMPLETE;
}

/* Known paths with a method they do not take. */
static int rest_method_not_allowed(const struct _u_request *req, struct _u_response *resp,
                                   void *ud)
{
    const char *allow = ud;
    u_map_put(resp->map_header, "Allow", allow);
    mc_http_error(resp, 405, "method_not_allowed", NULL, "%s is not allowed here (allowed: %s)",
                  req->http_verb, allow);
    return U_CALLBACK_COMPLETE;
}

static int rest_create(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const route_t *r = ud;
    double t0 = rest__now();
    const mc_model_t *m = rest__model(r->rest, req, resp);
    json_t *body = NULL, *errors = NULL;
    char sql[REST_SQL_MAX], err[256];
    const char *params[256];
    char *owned[256];
    int nparams = 0, failed = 0;
    size_t len;
    PGconn *conn;

    if (!m)
        goto out;
    if (!(body = mc_http_body_object(req, resp, (size_t)r->rest->cfg->max_body)))
        goto out;
    if (mc_model_validate(m, body, 0, &errors) != MC_OK) {
        mc_http_error(resp, 422, "invalid", errors, "the %s is not valid", m->name);
        errors = NULL;
        goto out;
    }
    len = (size_t)snprintf(sql, sizeof sql, "WITH r AS (INSERT INTO \"%s\" ", m->table);
    if (json_object_size(body) == 0) {
        len += (size_t)snprintf(sql + len, sizeof sql - len, "DEFAULT VALUES");
    } else {
        /* Attribute names come from the schema (validated), never from the request. */
        len += (size_t)snprintf(sql + len, sizeof sql - len, "(");
        for (size_t i = 0; i < m->nattrs; i++) {
            const json_t *v = json_object_get(body, m->attrs[i].name);
            if (!v)
                continue;
            owned[nparams] = mc_attr_param_text(&m->attrs[i], v, &failed);
            params[nparams] = owned[nparams];
            len += (size_t)snprintf(sql + len, sizeof sql - len, "%s\"%s\"", nparams ? ", " : "",
                                    m->attrs[i].name);
            nparams++;
        }
        len += (size_t)snprintf(sql + len, sizeof sql - len, ") VALUES (");
        for (int i = 0; i < nparams; i++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, "%s$%d", i ? ", " : "", i + 1);
        len += (size_t)snprintf(sql + len, sizeof sql - len, ")");
    }
    snprintf(sql + len, sizeof sql - len, " RETURNING *) SELECT row_to_json(s)::text FROM (SELECT ");
    rest__columns(m, sql, sizeof sql);
    snprintf(sql + strlen(sql), sizeof sql - strlen(sql), " FROM r) s");
    if (failed) {
        mc_http_error(resp, 503, "unavailable", NULL, "out of memory");
        goto free_params;
    }
    if (!(conn = pg_pool_acquire(r->rest->pool, REST_POOL_WAIT_MS, err, sizeof err))) {
        MC_WARN("POST %s: %s", m->name, err);
        mc_http_error(resp, 503, "unavailable", NULL, "the database is unavailable");
        goto free_params;
    }
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        rest__pg_error_model(resp, res, "POST", m);
    } else {
        json_error_t jerr;
        json_t *rec = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
        char location[128];
        snprintf(location, sizeof location, "/v1/%s/%" JSON_INTEGER_FORMAT, m->name,
                 json_integer_value(json_object_get(rec, "id")));
        u_map_put(resp->map_header, "Location", location);
        json_decref(rec);
        rest__send_text(resp, 201, PQgetvalue(res, 0, 0));
        outbox_relay_kick(r->rest->relay);
    }
    PQclear(res);
    pg_pool_release(r->rest->pool, conn);
free_params:
    for (int i = 0; i < nparams; i++)
        free(owned[i]);
out:
    json_decref(body);
    json_decref(errors);
    rest__count(r, resp, t0);
    return U_CALLBACK_COMPLETE;
}

/*
 * Parses If-Match: a record version, bare or quoted ("3", W/"3"). Returns 0 when the header
 * is absent, the version when valid, -1 when malformed.
 */
static long long rest__if_match(const struct _u_request *req)
{
    const char *h = u_map_get_case(req->map_header, "If-Match");
    char digits[24];
    size_t n = 0;
    if (!h)
        return 0;
    if (strncmp(h, "W/", 2) == 0)
        h += 2;
    if (*h == '"')
        h++;
    while (isdigit((unsigned char)*h) && n < sizeof digits - 1)
        digits[n++] = *h++;
    digits[n] = '\0';
    if (*h == '"')
        h++;
    if (*h != '\0' || n == 0)
        return -1;
    long long v = rest__parse_id(digits);
    return v > 0 ? v : -1;
}

/* After a conditional write matched no row: 412 if the record exists, else 404. */
static void rest__missing_or_stale(PGconn *conn, const mc_model_t *m, const char *idtext,
                                   long long expected, struct _u_response *resp)
{
    char sql[256];
    const char *params[1] = {idtext};
    snprintf(sql, sizeof sql, "SELECT version FROM \"%s\" WHERE id = $1", m->table);
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && expected > 0)
        mc_http_error(resp, 412, "version_mismatch",
                      json_pack("{s:I, s:I}", "expected_version", (json_int_t)expected,
                                "current_version", (json_int_t)atoll(PQgetvalue(res, 0, 0))),
                      "the %s was changed since version %lld", m->name, expected);
    else
        mc_http_error(resp, 404, "not_found", NULL, "no %s with id %s", m->name, idtext);
    PQclear(res);
}

static int rest_update(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const route_t *r = ud;
    double t0 = rest__now();
    const mc_model_t *m = rest__model(r->rest, req, resp);
    json_t *body = NULL, *errors = NULL;
    char sql[REST_SQL_MAX], err[256], idtext[32], vertext[32];
    const char *params[258];
    char *owned[256];
    int nparams = 0, failed = 0;
    long long id, expected;
    size_t len;
    PGconn *conn;

    if (!m)
        goto out;
    id = rest__parse_id(u_map_get(req->map_url, "id"));
    if (id <= 0) {
        mc_http_error(resp, 404, "not_found", NULL, "no %s with that id", m->name);
        goto out;
    }
    expected = rest__if_match(req);
    if (expected < 0) {
        mc_http_error(resp, 400, "bad_header", NULL, "If-Match must be a record version");
        goto out;
    }
    if (!(body = mc_http_body_object(req, resp, (size_t)r->rest->cfg->max_body)))
        goto out;
    if (mc_model_validate(m, body, 1, &errors) != MC_OK) {
        mc_http_error(resp, 422, "invalid", errors, "the %s is not valid", m->name);
        errors = NULL;
        goto out;
    }
    if (json_object_size(body) == 0) {
        mc_http_error(resp, 422, "invalid", NULL, "no attributes to update");
        goto out;
    }
    len = (size_t)snprintf(sql, sizeof sql, "WITH r AS (UPDATE \"%s\" SET ", m->table);
    for (size_t i = 0; i < m->nattrs; i++) {
        const json_t *v = json_object_get(body, m->attrs[i].name);
        if (!v)
            continue;
        owned[nparams] = mc_attr_param_text(&m->attrs[i], v, &failed);
        params[nparams] = owned[nparams];
        nparams++;
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s\"%s\" = $%d",
                                nparams > 1 ? ", " : "", m->attrs[i].name, nparams);
    }
    snprintf(idtext, sizeof idtext, "%lld", id);
    snprintf(vertext, sizeof vertext, "%lld", expected);
    params[nparams] = idtext;
    len += (size_t)snprintf(sql + len, sizeof sql - len, " WHERE id = $%d", nparams + 1);
    if (expected > 0) {
        params[nparams + 1] = vertext;
        len += (size_t)snprintf(sql + len, sizeof sql - len, " AND version = $%d", nparams + 2);
    }
    snprintf(sql + len, sizeof sql - len, " RETURNING *) SELECT row_to_json(s)::text FROM (SELECT ");
    rest__columns(m, sql, sizeof sql);
    snprintf(sql + strlen(sql), sizeof sql - strlen(sql), " FROM r) s");
    if (failed) {
        mc_http_error(resp, 503, "unavailable", NULL, "out of memory");
        goto free_params;
    }
    if (!(conn = pg_pool_acquire(r->rest->pool, REST_POOL_WAIT_MS, err, sizeof err))) {
        MC_WARN("PATCH %s: %s", m->name, err);
        mc_http_error(resp, 503, "unavailable", NULL, "the database is unavailable");
        goto free_params;
    }
    PGresult *res = PQexecParams(conn, sql, nparams + 1 + (expected > 0), NULL, params, NULL,
                                 NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rest__pg_error_model(resp, res, "PATCH", m);
    } else if (PQntuples(res) == 0) {
        rest__missing_or_stale(conn, m, idtext, expected, resp);
    } else {
        rest__send_text(resp, 200, PQgetvalue(res, 0, 0));
        outbox_relay_kick(r->rest->relay);
    }
    PQclear(res);
    pg_pool_release(r->rest->pool, conn);
free_params:
    for (int i = 0; i < nparams; i++)
        free(owned[i]);
out:
    json_decref(body);
    json_decref(errors);
    rest__count(r, resp, t0);
    return U_CALLBACK_COMPLETE;
}

static int rest_destroy(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const route_t *r = ud;
    double t0 = rest__now();
    const mc_model_t *m = rest__model(r->rest, req, resp);
    char sql[256], err[256], idtext[32], vertext[32];
    long long id, expected;
    PGconn *conn;

    if (!m)
        goto out;
    id = rest__parse_id(u_map_get(req->map_url, "id"));
    if (id <= 0) {
        mc_http_error(resp, 404, "not_found", NULL, "no %s with that id", m->name);
        goto out;
    }
    expected = rest__if_match(req);
    if (expected < 0) {
        mc_http_error(resp, 400, "bad_header", NULL, "If-Match must be a record version");
        goto out;
    }
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\" WHERE id = $1%s RETURNING id", m->table,
             expected > 0 ? " AND version = $2" : "");
    snprintf(idtext, sizeof idtext, "%lld", id);
    snprintf(vertext, sizeof vertext, "%lld", expected);
    if (!(conn = pg_pool_acquire(r->rest->pool, REST_POOL_WAIT_MS, err, sizeof err))) {
        MC_WARN("DELETE %s: %s", m->name, err);
        mc_http_error(resp, 503, "unavailable", NULL, "the database is unavailable");
        goto out;
    }
    const char *params[2] = {idtext, vertext};
    PGresult *res = PQexecParams(conn, sql, expected > 0 ? 2 : 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rest__pg_error(resp, res, "DELETE");
    } else if (PQntuples(res) == 0) {
        rest__missing_or_stale(conn, m, idtext, expected, resp);
    } else {
        ulfius_set_empty_body_response(resp, 204);
        outbox_relay_kick(r->rest->relay);
    }
    PQclear(res);
    pg_pool_release(r->rest->pool, conn);
out:
    rest__count(r, resp, t0);
    return U_CALLBACK_COMPLETE;
}

static int rest_openapi(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    rest__send_text(resp, 200, ((rest_t *)ud)->openapi);
    return U_CALLBACK_COMPLETE;
}

static int rest_readyz(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const route_t *r = ud;
    double t0 = rest__now();
    char err[256];
    int pg_ok = 0, kafka_ok;
    long depth = 0;
    double age = 0;
    (void)req;

    PGconn *conn = pg_pool_acquire(r->rest->pool, 1000, err, sizeof err);
    if (conn) {
        PGresult *res = PQexec(conn, "SELECT 1");
        pg_ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        pg_pool_release(r->rest->pool, conn);
    }
    kafka_ok = outbox_relay_kafka_ok(r->rest->relay, 1000);
    outbox_relay_lag(r->rest->relay, &depth, &age);
    mc_http_json(resp, pg_ok && kafka_ok ? 200 : 503,
                 json_pack("{s:s, s:s, s:s, s:I, s:f}", "status",
                           pg_ok && kafka_ok ? "ready" : "not_ready", "postgres",
                           pg_ok ? "ok" : "unreachable", "kafka", kafka_ok ? "ok" : "unreachable",
                           "outbox_depth", (json_int_t)depth, "outbox_lag_seconds", age));
    rest__count(r, resp, t0);
    return U_CALLBACK_COMPLETE;
}

rest_t *rest_new(const api_config_t *cfg, const mc_schema_t *schema, pg_pool_t *pool,
                 outbox_relay_t *relay, mc_metrics_t *metrics)
{
    rest_t *rest = calloc(1, sizeof *rest);
    if (!rest)
        return NULL;
    rest->cfg = cfg;
    rest->schema = schema;
    rest->pool = pool;
    rest->relay = relay;
    rest->metrics = metrics;
    rest->latency = mc_metrics_histogram(metrics, "modelcast_http_request_duration_seconds",
                                         "HTTP request latency.", NULL,
                                         mc_metrics_latency_bounds, mc_metrics_latency_nbounds);
    for (int i = 0; i < R__COUNT; i++) {
        rest->routes[i].rest = rest;
        rest->routes[i].route = route_labels[i];
    }
    json_t *doc = openapi_build(schema, cfg->list_limit_max, cfg->max_body);
    rest->openapi = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!rest->openapi) {
        free(rest);
        return NULL;
    }
    return rest;
}

int rest_register(rest_t *rest, struct _u_instance *inst)
{
    route_t *routes = rest->routes;
    int rc = 0;
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/v1", "models", 0, rest_models,
                                     &routes[R_MODELS]);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/v1", ":model", 1, rest_list,
                                     &routes[R_LIST]);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/v1", ":model/count", 0, rest_count_route,
                                     &routes[R_COUNT]);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/v1", ":model/:id", 1, rest_get,
                                     &routes[R_GET]);
    rc |= ulfius_add_endpoint_by_val(inst, "POST", "/v1", ":model", 1, rest_create,
                                     &routes[R_CREATE]);
    rc |= ulfius_add_endpoint_by_val(inst, "PATCH", "/v1", ":model/:id", 1, rest_update,
                                     &routes[R_UPDATE]);
    rc |= ulfius_add_endpoint_by_val(inst, "DELETE", "/v1", ":model/:id", 1, rest_destroy,
                                     &routes[R_DESTROY]);
    /* Lowest priority: any other method on a known path. */
    rc |= ulfius_add_endpoint_by_val(inst, "*", "/v1", "models", 9, rest_method_not_allowed,
                                     "GET");
    rc |= ulfius_add_endpoint_by_val(inst, "*", "/v1", ":model/count", 8,
                                     rest_method_not_allowed, "GET");
    rc |= ulfius_add_endpoint_by_val(inst, "*", "/v1", ":model", 9, rest_method_not_allowed,
                                     "GET, POST");
    rc |= ulfius_add_endpoint_by_val(inst, "*", "/v1", ":model/:id", 9, rest_method_not_allowed,
                                     "GET, PATCH, DELETE");
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/readyz", NULL, 0, rest_readyz,
                                     &routes[R_READYZ]);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/openapi.json", NULL, 0, rest_openapi, rest);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/healthz", NULL, 0, mc_http_healthz, NULL);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/metrics", NULL, 0, mc_http_metrics,
                                     rest->metrics);
    rc |= ulfius_set_default_endpoint(inst, mc_http_not_found, NULL);
    return rc ? MC_ERR_NOMEM : MC_OK;
}

void rest_free(rest_t *rest)
{
    if (rest)
        free(rest->openapi);
    free(rest);
}
