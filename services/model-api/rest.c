/* rest.c - REST handlers over the declared models, enforcing the policies: every read is
 * narrowed by the compiled read predicate and attribute filter, every write is checked. */
#include "rest.h"
#include "cors.h"
#include "list_query.h"
#include "mc_auth.h"
#include "mc_error.h"
#include "mc_http.h"
#include "mc_log.h"
#include "mc_pg.h"
#include "mc_sql.h"
#include "mc_trace.h"
#include "openapi.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REST_POOL_WAIT_MS 5000

/* The routes with a handler of their own (rest_routes[] below). */
enum { R_MODELS, R_CHANNELS, R_LIST, R_COUNT, R_GET, R_CREATE, R_UPDATE, R_DESTROY, R_READYZ, R__COUNT };

/* What each route's handler gets: the service and the route's metric label. */
typedef struct {
    struct rest *rest;
    const char *route;
} route_t;

struct rest {
    const api_config_t *cfg;
    const mc_schema_t *schema;
    const mc_policy_t *policy;
    const mc_jwt_verifier_t *verifier;
    pg_pool_t *pool;
    outbox_relay_t *relay;
    const cors_t *cors;
    mc_metrics_t *metrics;
    mc_metric_t *latency;
    const mc_tracer_t *tracer; /* NULL: writes pass contexts on, record no span */
    route_t routes[R__COUNT];
    char *openapi;          /* the generated document, built once */
};

/* One request in flight: who calls, on which model, with which connection. */
typedef struct {
    const route_t *route;
    rest_t *rest;
    const struct _u_request *req;
    struct _u_response *resp;
    const mc_model_t *m;
    json_t *claims;         /* NULL: anonymous */
    PGconn *conn;
    double t0;
    int query_input;        /* a value PostgreSQL refuses came from the query string */
    char model_name[128];   /* path segments after /v1/ */
    char id_text[64];
    int traced;             /* a write: span is its "REST write" span (rest__trace_begin) */
    int trace_continued;    /* the request's traceparent was valid: its tracestate goes on */
    mc_span_t span;
} call_t;

static double rest__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Request headers a cross-origin script may send (the preflight's Allow-Headers): the
 * trace context too, which browser instrumentation (OpenTelemetry JS) adds to requests. */
#define REST_CORS_ALLOW_HEADERS "Authorization, Content-Type, If-Match, traceparent, tracestate"
/* Response headers a cross-origin script may read besides the CORS-safelisted ones. */
#define REST_CORS_EXPOSE_HEADERS "ETag, Location, traceresponse"
/* How long a browser may keep a preflight's answer, seconds. */
#define REST_CORS_MAX_AGE "600"

/*
 * Adds the CORS headers of an actual (not preflight) response: for an allowed Origin,
 * Access-Control-Allow-Origin and -Expose-Headers; Vary: Origin whenever the answer depends
 * on the Origin (exact origins configured). A refused or absent Origin gets no CORS header.
 * Never Access-Control-Allow-Credentials: tokens travel in Authorization, not cookies.
 */
static void rest__cors(const rest_t *rest, const struct _u_request *req,
                       struct _u_response *resp)
{
    if (!cors_enabled(rest->cors))
        return;
    if (!cors_any(rest->cors))
        u_map_put(resp->map_header, "Vary", "Origin");
    const char *allow = cors_allow(rest->cors, u_map_get_case(req->map_header, "Origin"));
    if (!allow)
        return;
    u_map_put(resp->map_header, "Access-Control-Allow-Origin", allow);
    u_map_put(resp->map_header, "Access-Control-Expose-Headers", REST_CORS_EXPOSE_HEADERS);
}

/* Sets ETag to the record's version (what If-Match takes). */
static void rest__etag(struct _u_response *resp, const json_t *rec)
{
    char etag[32];
    json_t *v = json_object_get(rec, "version");
    if (!json_is_integer(v))
        return;
    snprintf(etag, sizeof etag, "\"%" JSON_INTEGER_FORMAT "\"", json_integer_value(v));
    u_map_put(resp->map_header, "ETag", etag);
}

/* Whether the caller may see anything of model at all. */
static int rest__model_visible(const rest_t *rest, const mc_model_t *m, const json_t *claims)
{
    json_t *cols = mc_policy_visible_attributes(rest->policy, m->name, claims);
    json_decref(cols);
    return cols != NULL;
}

enum { NO_MODEL, READ_MODEL, WRITE_MODEL };

/* ulfius joins a query parameter named like a path parameter to it: "<path>,<query>". */
static int rest__merged(const char *mapped, const char *path_value)
{
    size_t n = strlen(path_value);
    return mapped && strncmp(mapped, path_value, n) == 0 && mapped[n] == ',';
}

/*
 * Begins the "REST write" span of a write: the child of the request's traceparent, or the
 * root of a new trace when it has none or an invalid one (said at debug level).
 */
static void rest__trace_begin(call_t *c)
{
    mc_trace_ctx_t parent;
    const char *tp = u_map_get_case(c->req->map_header, "traceparent");
    c->trace_continued = tp && mc_trace_parse(tp, &parent) == MC_OK;
    if (tp && !c->trace_continued)
        MC_DEBUG("%s: traceparent '%.64s' is not valid: a new trace starts", c->route->route,
                 tp);
    mc_span_begin(c->rest->tracer, &c->span, "REST write", MC_SPAN_SERVER,
                  c->trace_continued ? &parent : NULL);
    c->traced = 1;
}

/*
 * Appends to a write statement what hands the trace context to the outbox trigger:
 * set_config('modelcast.traceparent', ...) (and modelcast.tracestate, when the request's
 * was valid), local to the transaction, in the statement itself: no extra round trip. As a
 * condition (" AND ... IS NOT NULL") for UPDATE and DELETE, evaluated on the row before it
 * is changed; as a value (for INSERT's version column, which the BEFORE trigger overwrites),
 * evaluated before the row exists. Either way before the AFTER trigger reads them.
 */
static void rest__trace_sql(call_t *c, mc_sql_t *sql, int as_value)
{
    char tp[MC_TRACEPARENT_LEN + 1], ts[MC_TRACESTATE_MAX + 1];
    const char *state = c->trace_continued ? u_map_get_case(c->req->map_header, "tracestate")
                                           : NULL;
    int with_state = state && mc_tracestate_check(state, ts, sizeof ts) == MC_OK;
    mc_trace_format(&c->span.ctx, tp);
    tp[MC_TRACEPARENT_LEN] = '\0';
    mc_sql_add(sql, as_value ? "length(set_config('modelcast.traceparent', "
                             : " AND set_config('modelcast.traceparent', ");
    mc_sql_param(sql, tp, NULL);
    mc_sql_add(sql, as_value ? ", true))" : ", true) IS NOT NULL");
    if (!with_state)
        return;
    mc_sql_add(sql, as_value ? " + length(set_config('modelcast.tracestate', "
                             : " AND set_config('modelcast.tracestate', ");
    mc_sql_param(sql, ts, NULL);
    mc_sql_add(sql, as_value ? ", true))" : ", true) IS NOT NULL");
}

/*
 * Ends the write's span (status, model, record), answers its context in traceresponse (W3C
 * Trace Context Level 2: the trace and this request's span, for the caller to find its
 * trace), and logs the write with its trace-id at debug level.
 */
static void rest__trace_end(call_t *c)
{
    char tr[MC_TRACEPARENT_LEN + 1], tid[33];
    long status = c->resp->status;
    mc_trace_format(&c->span.ctx, tr);
    tr[MC_TRACEPARENT_LEN] = '\0';
    u_map_put(c->resp->map_header, "traceresponse", tr);
    if (c->span.recording) {
        mc_span_attr_str(&c->span, "http.request.method", c->req->http_verb);
        mc_span_attr_str(&c->span, "http.route", c->route->route);
        mc_span_attr_int(&c->span, "http.response.status_code", status);
        if (c->m)
            mc_span_attr_str(&c->span, "modelcast.model", c->m->name);
        if (c->id_text[0])
            mc_span_attr_str(&c->span, "modelcast.record_id", c->id_text);
        c->span.error = status >= 500;
        mc_span_end(c->rest->tracer, &c->span, 0);
    }
    if (mc_log_level() <= MC_LOG_DEBUG) {
        mc_trace_id_hex(&c->span.ctx, tid);
        mc_log_ctx_t lc = {NULL, tid};
        MC_LOG_CTX(MC_LOG_DEBUG, &lc, "%s %s: %ld", c->req->http_verb, c->req->url_path, status);
    }
}

/*
 * Authenticates the caller and resolves {model} (READ_MODEL: one the caller can see;
 * WRITE_MODEL: any served model, the write rules decide); on failure the response is set.
 */
static int call_begin(call_t *c, const route_t *route, const struct _u_request *req,
                      struct _u_response *resp, int with_model)
{
    memset(c, 0, sizeof *c);
    c->route = route;
    c->rest = route->rest;
    c->req = req;
    c->resp = resp;
    c->t0 = rest__now();
    if (route == &c->rest->routes[R_CREATE] || route == &c->rest->routes[R_UPDATE] ||
        route == &c->rest->routes[R_DESTROY])
        rest__trace_begin(c);
    if (mc_http_check_request(req, resp) != MC_OK ||
        mc_auth_request(c->rest->verifier, req, resp, &c->claims) != MC_OK)
        return -1;
    if (!with_model)
        return 0;
    /* The path decides: ulfius also merges a query parameter named like a path parameter
     * (?model=x, ?id=2) into the same map, which is refused here. */
    const char *path = req->url_path ? req->url_path : "";
    const char *seg = strncmp(path, "/v1/", 4) == 0 ? path + 4 : "";
    size_t n = strcspn(seg, "/");
    snprintf(c->model_name, sizeof c->model_name, "%.*s", (int)(n < 127 ? n : 127), seg);
    if (seg[n] == '/')
        snprintf(c->id_text, sizeof c->id_text, "%.*s", (int)strcspn(seg + n + 1, "/"),
                 seg + n + 1);
    const char *pm = u_map_get(req->map_url, "model"), *pid = u_map_get(req->map_url, "id");
    const route_t *routes = c->rest->routes;
    int id_route = route == &routes[R_GET] || route == &routes[R_UPDATE] ||
                   route == &routes[R_DESTROY];
    if (!id_route)
        c->id_text[0] = '\0';
    if (rest__merged(pm, c->model_name) || (id_route && rest__merged(pid, c->id_text))) {
        mc_http_error(resp, 400, "bad_query", NULL, "unknown query parameter '%s'",
                      rest__merged(pm, c->model_name) ? "model" : "id");
        return -1;
    }
    c->m = mc_schema_find(c->rest->schema, c->model_name);
    if (!c->m || c->m->server_only ||
        (with_model == READ_MODEL && !rest__model_visible(c->rest, c->m, c->claims))) {
        /* a model the caller can never see does not exist for it */
        mc_http_error(resp, 404, "unknown_model", NULL, "no such model");
        return -1;
    }
    return 0;
}

static int call_db(call_t *c)
{
    char err[256];
    if (!(c->conn = pg_pool_acquire(c->rest->pool, REST_POOL_WAIT_MS, err, sizeof err))) {
        MC_WARN("%s: %s", c->route->route, err);
        mc_http_error(c->resp, 503, "unavailable", NULL, "the database is unavailable");
        return -1;
    }
    return 0;
}

static int call_end(call_t *c)
{
    char labels[128];
    if (c->conn) {
        if (PQtransactionStatus(c->conn) == PQTRANS_INTRANS ||
            PQtransactionStatus(c->conn) == PQTRANS_INERROR)
            PQclear(PQexec(c->conn, "ROLLBACK"));
        pg_pool_release(c->rest->pool, c->conn);
    }
    json_decref(c->claims);
    if (c->traced)
        rest__trace_end(c);
    rest__cors(c->rest, c->req, c->resp);
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%ld\"", c->route->route,
             c->resp->status);
    mc_metric_add(mc_metrics_counter(c->rest->metrics, "modelcast_http_requests_total",
                                     "HTTP requests by route and status.", labels),
                  1);
    mc_metric_observe(c->rest->latency, rest__now() - c->t0);
    return U_CALLBACK_COMPLETE;
}

/* The attribute behind a unique index "<table>_<attr>_key", or NULL. */
static const mc_attr_t *rest__unique_attr(const mc_model_t *m, const char *constraint)
{
    size_t tl = m ? strlen(m->table) : 0;
    for (size_t i = 0; constraint && m && i < m->nattrs; i++) {
        const char *a = m->attrs[i].name;
        size_t al = strlen(a);
        if (m->attrs[i].unique && strlen(constraint) == tl + al + 5 &&
            strncmp(constraint, m->table, tl) == 0 && constraint[tl] == '_' &&
            strncmp(constraint + tl + 1, a, al) == 0 &&
            strcmp(constraint + tl + 1 + al, "_key") == 0)
            return &m->attrs[i];
    }
    return NULL;
}

/* Maps a failed statement to a client-facing status; logs server-side failures. */
static void rest__pg_error(call_t *c, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const mc_attr_t *ua;

    if (state && strcmp(state, "23505") == 0 &&
        (ua = rest__unique_attr(c->m, PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME)))) {
        mc_http_error(c->resp, 422, "invalid",
                      json_pack("{s:[s]}", ua->name, "is already taken"), "the %s is not valid",
                      c->m->name);
    } else if (state && strcmp(state, "23505") == 0) {
        mc_http_error(c->resp, 409, "conflict", NULL, "%s", detail ? detail : "duplicate value");
    } else if (state && strncmp(state, "22", 2) == 0 && c->query_input) {
        mc_http_error(c->resp, 400, "bad_query", NULL, "%s", detail ? detail : "invalid value");
    } else if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
        /* data exceptions and integrity violations come from the input */
        mc_http_error(c->resp, 422, "invalid", NULL, "%s", detail ? detail : "invalid value");
    } else if (!state || strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0) {
        MC_WARN("%s: database unavailable: %s", c->route->route, detail ? detail : "no result");
        mc_http_error(c->resp, 503, "unavailable", NULL, "the database is unavailable");
    } else {
        MC_ERROR("%s failed: SQLSTATE %s: %s", c->route->route, state, detail ? detail : "");
        mc_http_error(c->resp, 500, "internal", NULL, "the request could not be completed");
    }
}

/*
 * Runs text on the call's connection; repeatable as pg_pool_exec() takes it (the statement
 * only reads, or opens a transaction). On failure answers and returns NULL.
 */
static PGresult *rest__run(call_t *c, const char *text, int nparams, const char *const *values,
                           int repeatable)
{
    PGresult *res = pg_pool_exec(c->rest->pool, &c->conn, text, nparams, values, repeatable);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    rest__pg_error(c, res);
    PQclear(res);
    return NULL;
}

static PGresult *rest__exec(call_t *c, const mc_sql_t *sql, int repeatable)
{
    if (mc_sql_failed(sql)) {
        mc_http_error(c->resp, 503, "unavailable", NULL, "out of memory");
        return NULL;
    }
    return rest__run(c, mc_sql_text(sql), sql->nparams, mc_sql_values(sql), repeatable);
}

/* BEGIN (repeatable) or COMMIT (never): 0, or -1 with the answer set. */
static int rest__simple(call_t *c, const char *text, int repeatable)
{
    PGresult *res = rest__run(c, text, 0, NULL, repeatable);
    PQclear(res);
    return res ? 0 : -1;
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

/* Appends " WHERE id = $n". */
static void rest__where_id(mc_sql_t *sql, long long id)
{
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", id);
    mc_sql_add(sql, " WHERE id = ");
    mc_sql_param(sql, idtext, "bigint");
}

/* The id of a stored record. */
static long long rest__id_of(const json_t *rec)
{
    return (long long)json_integer_value(json_object_get(rec, "id"));
}

/* The record id of the path, or 0 with the 404 answered. */
static long long rest__path_id(call_t *c)
{
    long long id = rest__parse_id(c->id_text);
    if (!id)
        mc_http_error(c->resp, 404, "not_found", NULL, "no %s with that id", c->m->name);
    return id;
}

/*
 * Reads the record id as far as the caller may read it; with lock in a new transaction,
 * FOR UPDATE. Returns the stored record (caller owns), or NULL with the answer set (404
 * when there is none the caller may read, 503...).
 */
static json_t *rest__fetch(call_t *c, long long id, int lock)
{
    mc_sql_t sql;
    json_t *rec = NULL;

    if (call_db(c) != 0 || (lock && rest__simple(c, "BEGIN", 1) != 0))
        return NULL;
    mc_sql_init(&sql);
    list_query_select(c->m, c->m->table, &sql);
    rest__where_id(&sql, id);
    mc_sql_add(&sql, " AND ");
    if (mc_policy_read_filter(c->rest->policy, c->m->name, c->claims, NULL, 0, &sql) != MC_OK)
        mc_sql_add(&sql, "FALSE");
    mc_sql_add(&sql, lock ? " FOR UPDATE) r" : ") r");
    PGresult *res = rest__exec(c, &sql, 1);
    mc_sql_cleanup(&sql);
    if (!res)
        return NULL;
    if (PQntuples(res) == 1)
        rec = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (!rec)
        mc_http_error(c->resp, 404, "not_found", NULL, "no %s with id %lld", c->m->name, id);
    return rec;
}

/*
 * Whether the write rules allow op on a record of the call's model (before and after as
 * mc_policy_can_write() takes them); if not, answers 401 or 403.
 */
static int rest__may_write(call_t *c, const char *op, const json_t *before, const json_t *after)
{
    const char *reason = NULL;
    if (mc_policy_can_write(c->rest->policy, c->m->name, op, c->claims, before, after, &reason))
        return 1;
    int unauth = reason && strcmp(reason, "unauthenticated") == 0;
    mc_http_error(c->resp, unauth ? 401 : 403, unauth ? "unauthenticated" : "forbidden",
                  json_pack("{s:s}", "reason", reason ? reason : "denied"),
                  "the policies do not allow this %s of a %s", op, c->m->name);
    return 0;
}

/* An attribute as GET /v1/models describes it: type and constraints. */
static json_t *rest__attr_spec(const mc_attr_t *a)
{
    json_t *spec = json_pack("{s:s, s:b}", "type", mc_attr_type_name(a->type), "required",
                             a->required);
    if (a->max_length)
        json_object_set_new(spec, "max_length", json_integer(a->max_length));
    if (a->max_bytes)
        json_object_set_new(spec, "max_bytes", json_integer(a->max_bytes));
    if (a->references)
        json_object_set_new(spec, "references", json_string(a->references));
    if (a->unique)
        json_object_set_new(spec, "unique", json_true());
    if (a->has_min)
        json_object_set_new(spec, "min", json_real(a->min));
    if (a->has_max)
        json_object_set_new(spec, "max", json_real(a->max));
    if (a->enum_values)
        json_object_set(spec, "enum", a->enum_values);
    return spec;
}

/*
 * GET /v1/models: each model the caller may see, with the attributes it may see, the scopes
 * it may use (?scope=) and their conditions (so a client evaluates them as the server
 * does), and the instance channel classes admitted wholesale through which it may read the
 * model's records (docs/rest.md).
 */
static int rest_models(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    call_t c;
    if (call_begin(&c, ud, req, resp, NO_MODEL) != 0)
        return call_end(&c);
    json_t *list = json_array();
    for (size_t i = 0; i < c.rest->schema->nmodels; i++) {
        const mc_model_t *m = &c.rest->schema->models[i];
        json_t *visible = m->server_only ? NULL
                                         : mc_policy_visible_attributes(c.rest->policy, m->name,
                                                                        c.claims);
        if (!visible)
            continue;
        json_t *attrs = json_object(), *scopes = json_array(), *conds = json_object(), *v;
        size_t k;
        json_array_foreach(visible, k, v) {
            const mc_attr_t *a = mc_model_attr(m, json_string_value(v));
            if (a) /* system columns are not listed */
                json_object_set_new(attrs, a->name, rest__attr_spec(a));
        }
        /* A scope reading an attribute the caller is not shown does not exist for it (as in
         * a list): neither its name nor its condition may tell about that attribute. */
        for (size_t j = 0; j < m->nscopes; j++) {
            if (!list_query_scope_usable(m, &m->scopes[j], visible))
                continue;
            json_array_append_new(scopes, json_string(m->scopes[j].name));
            json_object_set(conds, m->scopes[j].name, m->scopes[j].condition);
        }
        json_t *any = mc_policy_any_instance(c.rest->policy, c.claims, m->name);
        json_array_append_new(list, json_pack("{s:s, s:o, s:o, s:o, s:o*}", "name", m->name,
                                              "attributes", attrs, "scopes", scopes,
                                              "scope_conditions", conds, "any_instance", any));
        json_decref(visible);
    }
    mc_http_json(resp, 200, json_pack("{s:o}", "models", list));
    return call_end(&c);
}

/*
 * GET /v1/channels: the channels the caller may subscribe to, and the instance channel
 * classes it may join for any instance id - the same answer as authz's, here so that a
 * page on another origin reaches it with the API's CORS.
 */
static int rest_channels(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    call_t c;
    if (call_begin(&c, ud, req, resp, NO_MODEL) != 0)
        return call_end(&c);
    json_t *answer = mc_policy_channels_answer(c.rest->policy, c.claims);
    if (answer)
        mc_http_json(resp, 200, answer);
    else
        mc_http_error(resp, 503, "unavailable", NULL, "out of memory");
    return call_end(&c);
}

static int rest_get(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    call_t c;
    json_t *rec = NULL;
    long long id = 0;
    if (call_begin(&c, ud, req, resp, READ_MODEL) == 0 && (id = rest__path_id(&c)) &&
        (rec = rest__fetch(&c, id, 0))) {
        json_t *vis = mc_policy_visible(c.rest->policy, c.m->name, c.claims, rec);
        if (vis) {
            rest__etag(resp, rec);
            mc_http_json(resp, 200, vis);
        } else /* not for this caller: the same answer as absent */
            mc_http_error(resp, 404, "not_found", NULL, "no %s with id %lld", c.m->name, id);
    }
    json_decref(rec);
    return call_end(&c);
}

/* Answers a page of the list: the rows of res (limit + 1 at most) as the caller may see them. */
static void rest__send_page(call_t *c, const list_query_t *q, const PGresult *res)
{
    int n = PQntuples(res), more = n > q->limit;
    if (more)
        n = (int)q->limit;
    json_t *data = json_array();
    char *cursor = NULL;
    for (int i = 0; i < n; i++) {
        json_t *rec = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        json_t *vis = rec ? mc_policy_visible(c->rest->policy, c->m->name, c->claims, rec)
                          : NULL;
        /* A row can match the read predicate yet show none of its attributes' worth (a
         * narrower rule to the same channel): it is left out of the page. */
        if (vis)
            json_array_append_new(data, vis);
        json_decref(rec);
    }
    /* The cursor carries the order keys of the page's last row, taken from what the
     * caller was shown (filters and order only name visible attributes, and a row only
     * matches through rules that show them), never from the stored row. */
    if (more && json_array_size(data) > 0)
        cursor = list_query_cursor(q, json_array_get(data, json_array_size(data) - 1));
    json_t *page = json_pack("{s:o, s:s?}", "data", data, "next_cursor", cursor);
    if (page)
        mc_http_json(c->resp, 200, page);
    else
        mc_http_error(c->resp, 503, "unavailable", NULL, "out of memory");
    free(cursor);
}

/* GET /v1/{Model} (count = 0) and GET /v1/{Model}/count (count = 1). */
static int rest__query(const route_t *route, const struct _u_request *req,
                       struct _u_response *resp, int count)
{
    call_t c;
    list_query_t q;
    const char *code = "bad_query";
    char err[512];

    memset(&q, 0, sizeof q);
    if (call_begin(&c, route, req, resp, READ_MODEL) != 0)
        return call_end(&c);
    if (list_query_build(c.m, req->map_url, c.rest->cfg->list_limit_max, count, c.rest->policy,
                         c.claims, &q, &code, err, sizeof err) != MC_OK) {
        mc_http_error(resp, 400, code, NULL, "%s", err);
        goto out;
    }
    c.query_input = 1;
    PGresult *res = call_db(&c) == 0 ? rest__exec(&c, &q.sql, 1) : NULL;
    if (res && count)
        mc_http_json(resp, 200, json_pack("{s:I}", "count",
                                          (json_int_t)atoll(PQgetvalue(res, 0, 0))));
    else if (res)
        rest__send_page(&c, &q, res);
    PQclear(res);
out:
    list_query_cleanup(&q);
    return call_end(&c);
}

static int rest_list(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return rest__query(ud, req, resp, 0);
}

static int rest_count_route(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return rest__query(ud, req, resp, 1);
}

/*
 * The methods path takes ("GET, POST"...), or NULL when no route serves it. Model names
 * and ids are not looked up: any /v1/{model}/{id} shape counts.
 */
static const char *rest__allow(const char *path)
{
    static const char *const get_only[] = {"/openapi.json", "/healthz", "/readyz", "/metrics",
                                           "/v1/models", "/v1/channels"};
    const char *seg[4];
    size_t len[4], n = 0;
    for (size_t i = 0; i < sizeof get_only / sizeof get_only[0]; i++)
        if (strcmp(path, get_only[i]) == 0)
            return "GET";
    for (const char *p = path; *p == '/' && n < 4;) {
        seg[n] = ++p;
        len[n] = strcspn(p, "/");
        if (len[n] == 0)
            return NULL;
        p += len[n++];
        if (*p && *p != '/')
            return NULL;
        if (!*p)
            break;
    }
    if (n < 2 || n > 3 || len[0] != 2 || strncmp(seg[0], "v1", 2) != 0 ||
        path[strlen(path) - 1] == '/')
        return NULL;
    if (n == 2)
        return "GET, POST";
    return len[2] == 5 && strncmp(seg[2], "count", 5) == 0 ? "GET" : "GET, PATCH, DELETE";
}

/* Known paths with a method they do not take: 405 with Allow. */
static int rest_method_not_allowed(const struct _u_request *req, struct _u_response *resp,
                                   void *ud)
{
    const char *allow = rest__allow(req->url_path ? req->url_path : "");
    rest__cors(ud, req, resp);
    if (mc_http_check_request(req, resp) != MC_OK)
        return U_CALLBACK_COMPLETE;
    if (!allow) {
        mc_http_error(resp, 404, "not_found", NULL, "no route for %s", req->http_verb);
        return U_CALLBACK_COMPLETE;
    }
    u_map_put(resp->map_header, "Allow", allow);
    mc_http_error(resp, 405, "method_not_allowed", NULL, "%s is not allowed here (allowed: %s)",
                  req->http_verb, allow);
    return U_CALLBACK_COMPLETE;
}

/*
 * OPTIONS on any path. A CORS preflight (Origin and Access-Control-Request-Method) from an
 * allowed origin gets 204 with what the path takes; from any other origin a 403 without
 * CORS headers, so the browser refuses the request. A plain OPTIONS gets 204 with Allow.
 */
static int rest_options(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const rest_t *rest = ud;
    const char *origin = u_map_get_case(req->map_header, "Origin");
    const char *method = u_map_get_case(req->map_header, "Access-Control-Request-Method");
    const char *allow = rest__allow(req->url_path ? req->url_path : "");
    char methods[64];

    if (mc_http_check_request(req, resp) != MC_OK)
        return U_CALLBACK_COMPLETE;
    if (!allow) {
        rest__cors(rest, req, resp);
        mc_http_error(resp, 404, "not_found", NULL, "no route for OPTIONS");
        return U_CALLBACK_COMPLETE;
    }
    snprintf(methods, sizeof methods, "%s, OPTIONS", allow);
    if (!origin || !method) {
        rest__cors(rest, req, resp);
        u_map_put(resp->map_header, "Allow", methods);
        ulfius_set_empty_body_response(resp, 204);
        return U_CALLBACK_COMPLETE;
    }
    if (!cors_any(rest->cors))
        u_map_put(resp->map_header, "Vary", "Origin");
    const char *allowed = cors_allow(rest->cors, origin);
    if (!allowed) {
        mc_http_error(resp, 403, "origin_not_allowed", NULL,
                      "the origin %.200s may not call this API from a browser (MC_CORS_ORIGINS)",
                      origin);
        return U_CALLBACK_COMPLETE;
    }
    u_map_put(resp->map_header, "Access-Control-Allow-Origin", allowed);
    u_map_put(resp->map_header, "Access-Control-Allow-Methods", allow);
    u_map_put(resp->map_header, "Access-Control-Allow-Headers", REST_CORS_ALLOW_HEADERS);
    u_map_put(resp->map_header, "Access-Control-Max-Age", REST_CORS_MAX_AGE);
    ulfius_set_empty_body_response(resp, 204);
    return U_CALLBACK_COMPLETE;
}

/* Appends the bound value of attribute a, or fails the statement on allocation failure. */
static void rest__bind(mc_sql_t *sql, const mc_attr_t *a, const json_t *v)
{
    int failed = 0;
    char *text = mc_attr_param_text(a, v, &failed);
    if (failed)
        mc_sql_fail(sql);
    mc_sql_param(sql, text, NULL);
    free(text);
}

/* What rest__attr_list() appends for each attribute. */
enum { AL_NAMES, AL_VALUES, AL_ASSIGN };

/*
 * Appends, comma-separated, for each attribute of m that body gives (in schema order: the
 * names come from the schema, never from the request) its name, its bound value, or
 * "name = value".
 */
static void rest__attr_list(mc_sql_t *sql, const mc_model_t *m, const json_t *body, int what)
{
    int n = 0;
    for (size_t i = 0; i < m->nattrs; i++) {
        const json_t *v = json_object_get(body, m->attrs[i].name);
        if (!v)
            continue;
        mc_sql_add(sql, n++ ? ", " : "");
        if (what != AL_VALUES)
            mc_sql_ident(sql, m->attrs[i].name);
        if (what == AL_ASSIGN)
            mc_sql_add(sql, " = ");
        if (what != AL_NAMES)
            rest__bind(sql, &m->attrs[i], v);
    }
}

/*
 * The request body, valid as a record to create (partial = 0) or as the attributes of an
 * update (partial = 1); NULL with the answer set (400, 413, 415, 422).
 */
static json_t *rest__body(call_t *c, int partial)
{
    json_t *errors = NULL;
    json_t *body = mc_http_body_object(c->req, c->resp, (size_t)c->rest->cfg->max_body);
    if (body && mc_model_validate(c->m, body, partial, &errors) != MC_OK) {
        mc_http_error(c->resp, 422, "invalid", errors, "the %s is not valid", c->m->name);
        json_decref(body);
        return NULL;
    }
    return body;
}

/*
 * Whether the change event of this write fits in MC_EVENT_MAX_BYTES (before and after as
 * mc_model_event_bytes() takes them); if not, answers 422 change_too_large. A record made
 * larger by SQL than the declared limits allow can still be written by SQL, whose events
 * the relay sets aside when Kafka refuses them; this API never writes a change it could
 * not publish.
 */
static int rest__event_fits(call_t *c, const json_t *before, const json_t *after)
{
    size_t bytes = mc_model_event_bytes(c->m, before, after);
    size_t max = (size_t)c->rest->cfg->event_max_bytes;
    if (bytes <= max)
        return 1;
    mc_http_error(c->resp, 422, "change_too_large",
                  json_pack("{s:I, s:I}", "event_bytes", (json_int_t)bytes, "max_bytes",
                            (json_int_t)max),
                  "the change event of this write could take %zu bytes, more than the %zu a "
                  "change event may take", bytes, max);
    return 0;
}

/* Ends "WITH w AS (<write>" with " RETURNING *) SELECT <the record as one JSON text>". */
static void rest__returning(const mc_model_t *m, mc_sql_t *sql)
{
    mc_sql_add(sql, " RETURNING *) ");
    list_query_select(m, "w", sql);
    mc_sql_add(sql, ") r");
}

/*
 * Answers a committed write with the record res returned (its one row_to_json text), as the
 * caller may see it (at least its id and version); a created one with its Location.
 */
static void rest__send_written(call_t *c, unsigned status, const PGresult *res)
{
    json_t *rec = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (status == 201) {
        char location[160];
        snprintf(location, sizeof location, "/v1/%s/%lld", c->m->name, rest__id_of(rec));
        u_map_put(c->resp->map_header, "Location", location);
    }
    json_t *vis = mc_policy_visible(c->rest->policy, c->m->name, c->claims, rec);
    rest__etag(c->resp, rec);
    mc_http_json(c->resp, status,
                 vis ? vis
                     : json_pack("{s:O?, s:O?}", "id", json_object_get(rec, "id"), "version",
                                 json_object_get(rec, "version")));
    json_decref(rec);
}

static int rest_create(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    call_t c;
    mc_sql_t sql;
    json_t *body = NULL;
    mc_sql_init(&sql);
    if (call_begin(&c, ud, req, resp, WRITE_MODEL) != 0 || !(body = rest__body(&c, 0)) ||
        !rest__may_write(&c, "create", NULL, body) || !rest__event_fits(&c, NULL, body))
        goto out;
    mc_sql_add(&sql, "WITH w AS (INSERT INTO ");
    mc_sql_ident(&sql, c.m->table);
    /* version: see rest__trace_sql */
    mc_sql_add(&sql, " (");
    rest__attr_list(&sql, c.m, body, AL_NAMES);
    mc_sql_add(&sql, "%sversion) VALUES (", json_object_size(body) ? ", " : "");
    rest__attr_list(&sql, c.m, body, AL_VALUES);
    mc_sql_add(&sql, "%s", json_object_size(body) ? ", " : "");
    rest__trace_sql(&c, &sql, 1);
    mc_sql_add(&sql, ")");
    rest__returning(c.m, &sql);
    if (call_db(&c) != 0)
        goto out;
    PGresult *res = rest__exec(&c, &sql, 0);
    if (res) {
        rest__send_written(&c, 201, res);
        outbox_relay_kick(c.rest->relay);
        PQclear(res);
    }
out:
    json_decref(body);
    mc_sql_cleanup(&sql);
    return call_end(&c);
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

/*
 * Opens a transaction and locks the record {id} the caller may read, checking If-Match.
 * Returns the record (caller owns) or NULL with the answer set (404, 412, 503...).
 */
static json_t *rest__lock_record(call_t *c)
{
    json_t *rec;
    long long id = rest__path_id(c);
    long long expected = rest__if_match(c->req);

    if (!id)
        return NULL;
    if (expected < 0) {
        mc_http_error(c->resp, 400, "bad_header", NULL, "If-Match must be a record version");
        return NULL;
    }
    if (!(rec = rest__fetch(c, id, 1)))
        return NULL;
    json_int_t current = json_integer_value(json_object_get(rec, "version"));
    if (expected > 0 && current != expected) {
        mc_http_error(c->resp, 412, "version_mismatch",
                      json_pack("{s:I, s:I}", "expected_version", (json_int_t)expected,
                                "current_version", current),
                      "the %s was changed since version %lld", c->m->name, expected);
        json_decref(rec);
        return NULL;
    }
    return rec;
}

static int rest_update(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    call_t c;
    mc_sql_t sql;
    json_t *body = NULL, *before = NULL, *after = NULL;
    const char *key;
    json_t *v;
    mc_sql_init(&sql);
    if (call_begin(&c, ud, req, resp, READ_MODEL) != 0)
        goto out;
    if (rest__if_match(req) < 0) {
        mc_http_error(resp, 400, "bad_header", NULL, "If-Match must be a record version");
        goto out;
    }
    if (!(body = rest__body(&c, 1)))
        goto out;
    if (json_object_size(body) == 0) {
        mc_http_error(resp, 422, "invalid", NULL, "no attributes to update");
        goto out;
    }
    if (!(before = rest__lock_record(&c)))
        goto out;
    after = json_deep_copy(before);
    json_object_foreach(body, key, v) json_object_set(after, key, v);
    if (!rest__may_write(&c, "update", before, after) || !rest__event_fits(&c, before, after))
        goto out;
    mc_sql_add(&sql, "WITH w AS (UPDATE ");
    mc_sql_ident(&sql, c.m->table);
    mc_sql_add(&sql, " SET ");
    rest__attr_list(&sql, c.m, body, AL_ASSIGN);
    rest__where_id(&sql, rest__id_of(before));
    rest__trace_sql(&c, &sql, 0);
    rest__returning(c.m, &sql);
    PGresult *res = rest__exec(&c, &sql, 0);
    if (res && rest__simple(&c, "COMMIT", 0) == 0) {
        rest__send_written(&c, 200, res);
        outbox_relay_kick(c.rest->relay);
    }
    PQclear(res);
out:
    json_decref(body);
    json_decref(before);
    json_decref(after);
    mc_sql_cleanup(&sql);
    return call_end(&c);
}

static int rest_destroy(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    call_t c;
    mc_sql_t sql;
    json_t *before = NULL;
    mc_sql_init(&sql);
    if (call_begin(&c, ud, req, resp, READ_MODEL) != 0 || !(before = rest__lock_record(&c)) ||
        !rest__may_write(&c, "destroy", before, NULL) || !rest__event_fits(&c, before, NULL))
        goto out;
    mc_sql_add(&sql, "DELETE FROM ");
    mc_sql_ident(&sql, c.m->table);
    rest__where_id(&sql, rest__id_of(before));
    rest__trace_sql(&c, &sql, 0);
    PGresult *res = rest__exec(&c, &sql, 0);
    if (res && rest__simple(&c, "COMMIT", 0) == 0) {
        ulfius_set_empty_body_response(resp, 204);
        outbox_relay_kick(c.rest->relay);
    }
    PQclear(res);
out:
    json_decref(before);
    mc_sql_cleanup(&sql);
    return call_end(&c);
}

static int rest_openapi(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const char *doc = ((rest_t *)ud)->openapi;
    rest__cors(ud, req, resp);
    u_map_put(resp->map_header, "Content-Type", "application/json");
    ulfius_set_binary_body_response(resp, 200, doc, strlen(doc));
    return U_CALLBACK_COMPLETE;
}

static int rest_metrics(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    rest__cors(ud, req, resp);
    return mc_http_metrics(req, resp, ((rest_t *)ud)->metrics);
}

static int rest_not_found(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    rest__cors(ud, req, resp);
    return mc_http_not_found(req, resp, NULL);
}

/*
 * Ready means "can serve": PostgreSQL answers. Kafka trouble, a backlog in the outbox or
 * events set aside do not stop this instance from serving requests (writes succeed, the
 * outbox holds the changes): they show as "degraded" with the reasons, still 200.
 */
static int rest_readyz(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const route_t *r = ud;
    call_t c = {.route = r, .rest = r->rest, .req = req, .resp = resp, .t0 = rest__now()};
    char err[256];
    int pg_ok = 0;
    outbox_relay_status_t st;

    PGconn *conn = pg_pool_acquire(r->rest->pool, 1000, err, sizeof err);
    if (conn) {
        PGresult *res = pg_pool_exec(r->rest->pool, &conn, "SELECT 1", 0, NULL, 1);
        pg_ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        pg_pool_release(r->rest->pool, conn);
    }
    outbox_relay_status(r->rest->relay, &st);
    json_t *degraded = json_array();
    if (!st.kafka_ok)
        json_array_append_new(degraded,
                              json_string("kafka: not answering; changes wait in the outbox"));
    if (st.dead > 0)
        json_array_append_new(degraded,
                              json_sprintf("relay: %ld change event%s Kafka refused set aside in "
                                           "modelcast_outbox_dead", st.dead,
                                           st.dead == 1 ? "" : "s"));
    json_t *body = json_pack("{s:s, s:s, s:s, s:I, s:f, s:I, s:o}", "postgres",
                             pg_ok ? "ok" : "unreachable", "kafka",
                             st.kafka_ok ? "ok" : "unreachable", "relay", st.role,
                             "outbox_depth", (json_int_t)st.depth, "outbox_lag_seconds",
                             st.age_s, "outbox_dead", (json_int_t)st.dead, "degraded", degraded);
    /* With a JWKS, no key set loaded means no token can be verified: not ready. */
    int ok = mc_auth_ready(r->rest->verifier, body) && pg_ok; /* + "jwks" */
    const char *status = !ok ? "not_ready" : json_array_size(degraded) ? "degraded" : "ready";
    json_object_set_new(body, "status", json_string(status));
    mc_http_json(resp, ok ? 200 : 503, body);
    return call_end(&c);
}

/* Alive unless the relay stopped for good or is stuck: then an orchestrator restarts us. */
static int rest_healthz(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    outbox_relay_status_t st;
    rest__cors(ud, req, resp);
    outbox_relay_status(((rest_t *)ud)->relay, &st);
    if (st.alive)
        mc_http_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok", "relay", st.role));
    else
        mc_http_json(resp, 503, json_pack("{s:s, s:s, s:s}", "status", "failing", "relay",
                                          st.role, "reason", st.why));
    return U_CALLBACK_COMPLETE;
}

/* What rest_register() adds for each route of the enum, and the route's metric label. */
static const struct {
    const char *method, *prefix, *pattern;
    unsigned priority;
    int (*handler)(const struct _u_request *, struct _u_response *, void *);
    const char *label;
} rest_routes[R__COUNT] = {
    [R_MODELS] = {"GET", "/v1", "models", 0, rest_models, "GET /v1/models"},
    [R_CHANNELS] = {"GET", "/v1", "channels", 0, rest_channels, "GET /v1/channels"},
    [R_LIST] = {"GET", "/v1", ":model", 1, rest_list, "GET /v1/{model}"},
    [R_COUNT] = {"GET", "/v1", ":model/count", 0, rest_count_route, "GET /v1/{model}/count"},
    [R_GET] = {"GET", "/v1", ":model/:id", 1, rest_get, "GET /v1/{model}/{id}"},
    [R_CREATE] = {"POST", "/v1", ":model", 1, rest_create, "POST /v1/{model}"},
    [R_UPDATE] = {"PATCH", "/v1", ":model/:id", 1, rest_update, "PATCH /v1/{model}/{id}"},
    [R_DESTROY] = {"DELETE", "/v1", ":model/:id", 1, rest_destroy, "DELETE /v1/{model}/{id}"},
    [R_READYZ] = {"GET", "/readyz", NULL, 0, rest_readyz, "GET /readyz"},
};

/*
 * Known paths with methods they do not take (405 with Allow), after the routes above: the
 * other methods on /v1/models, /v1/channels and /v1/{model}/count first, before the
 * {model} and {id} routes take "models", "channels" and "count" for a model name or an id;
 * then, at the lowest priority, any other method on a known path.
 */
static const struct {
    const char *method, *pattern;
    unsigned priority;
} rest_not_allowed[] = {
    {"POST", "models", 0},   {"POST", ":model/count", 0},   {"PUT", "models", 0},
    {"PUT", ":model/count", 0}, {"PATCH", "models", 0},     {"PATCH", ":model/count", 0},
    {"DELETE", "models", 0}, {"DELETE", ":model/count", 0}, {"*", "models", 9},
    {"POST", "channels", 0}, {"PUT", "channels", 0},        {"PATCH", "channels", 0},
    {"DELETE", "channels", 0}, {"*", "channels", 9},
    {"*", ":model/count", 8}, {"*", ":model", 9},           {"*", ":model/:id", 9},
};

rest_t *rest_new(const api_config_t *cfg, const mc_schema_t *schema, const mc_policy_t *policy,
                 const mc_jwt_verifier_t *verifier, pg_pool_t *pool, outbox_relay_t *relay,
                 const cors_t *cors, mc_metrics_t *metrics)
{
    rest_t *rest = calloc(1, sizeof *rest);
    if (!rest)
        return NULL;
    rest->cfg = cfg;
    rest->schema = schema;
    rest->policy = policy;
    rest->verifier = verifier;
    rest->pool = pool;
    rest->relay = relay;
    rest->cors = cors;
    rest->metrics = metrics;
    rest->latency = mc_metrics_histogram(metrics, "modelcast_http_request_duration_seconds",
                                         "HTTP request latency.", NULL,
                                         mc_metrics_latency_bounds, mc_metrics_latency_nbounds);
    for (int i = 0; i < R__COUNT; i++) {
        rest->routes[i].rest = rest;
        rest->routes[i].route = rest_routes[i].label;
    }
    for (size_t i = 0; i < schema->nmodels; i++) {
        size_t worst = mc_model_event_bytes_max(&schema->models[i]);
        if (!schema->models[i].server_only && worst > (size_t)cfg->event_max_bytes)
            MC_WARN("model %s: its limits allow change events of up to %zu bytes (an update "
                    "carries the record twice), more than MC_EVENT_MAX_BYTES %ld; writes "
                    "that would exceed it are refused (422 change_too_large)",
                    schema->models[i].name, worst, cfg->event_max_bytes);
    }
    json_t *doc = openapi_build(schema, policy, cfg->list_limit_max, cfg->max_body);
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
    int rc = 0;
    for (int i = 0; i < R__COUNT; i++)
        rc |= ulfius_add_endpoint_by_val(inst, rest_routes[i].method, rest_routes[i].prefix,
                                         rest_routes[i].pattern, rest_routes[i].priority,
                                         rest_routes[i].handler, &rest->routes[i]);
    for (size_t i = 0; i < sizeof rest_not_allowed / sizeof rest_not_allowed[0]; i++)
        rc |= ulfius_add_endpoint_by_val(inst, rest_not_allowed[i].method, "/v1",
                                         rest_not_allowed[i].pattern,
                                         rest_not_allowed[i].priority, rest_method_not_allowed,
                                         rest);
    /* Before the 405 routes, which take any method ("*"): every OPTIONS request. */
    rc |= ulfius_add_endpoint_by_val(inst, "OPTIONS", "*", NULL, 0, rest_options, rest);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/openapi.json", NULL, 0, rest_openapi, rest);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/healthz", NULL, 0, rest_healthz, rest);
    rc |= ulfius_add_endpoint_by_val(inst, "GET", "/metrics", NULL, 0, rest_metrics, rest);
    rc |= ulfius_set_default_endpoint(inst, rest_not_found, rest);
    return rc ? MC_ERR_NOMEM : MC_OK;
}

void rest_set_tracer(rest_t *rest, const mc_tracer_t *tracer)
{
    rest->tracer = tracer;
}

void rest_free(rest_t *rest)
{
    if (rest)
        free(rest->openapi);
    free(rest);
}
