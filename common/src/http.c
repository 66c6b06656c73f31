/* http.c - ulfius listener setup and JSON response helpers. */
#include "mc_http.h"
#include "mc_error.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The access handler ulfius gives libmicrohttpd (its dispatcher, a static function of
 * libulfius: the same for every instance), captured by MHD_start_daemon below. Written once
 * by mc_http_start(), before any request thread exists.
 */
static MHD_AccessHandlerCallback http__ulfius_dispatch;

static const char http__nul_body[] =
    "{\"error\":{\"code\":\"bad_query\",\"message\":\"the request line holds a NUL byte\"}}";

/*
 * What libmicrohttpd calls for every request, in front of ulfius's dispatcher: it refuses
 * a request whose request line holds a raw NUL byte. libmicrohttpd hands on the URL as a C
 * string, so "GET /v1/Word?word=a\0b" would be served as "?word=a": ulfius copies the URL
 * (request->http_url) at the request line, where `url` and `version` still point into the
 * received line ("<url> <version>"): a copy shorter than the span between them was cut by
 * a NUL. Answered before any handler runs; the rest of the request is not read.
 */
static enum MHD_Result http__dispatch(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    const struct connection_info_struct *ci = *con_cls;
    if (ci && ci->callback_first_iteration && ci->request && ci->request->http_url && url &&
        version && *version && (uintptr_t)version > (uintptr_t)url) {
        size_t span = (size_t)((uintptr_t)version - (uintptr_t)url) - 1;
        if (strlen(ci->request->http_url) != span) {
            struct MHD_Response *r = MHD_create_response_from_buffer(
                sizeof http__nul_body - 1, (void *)http__nul_body, MHD_RESPMEM_PERSISTENT);
            enum MHD_Result ret = MHD_NO;
            if (r) {
                MHD_add_response_header(r, "Content-Type", "application/json");
                ret = MHD_queue_response(conn, 400, r);
                MHD_destroy_response(r);
            }
            return ret;
        }
    }
    return http__ulfius_dispatch(cls, conn, url, method, version, upload_data, upload_data_size,
                                 con_cls);
}

/*
 * libmicrohttpd's MHD_start_daemon as ulfius calls it: this process's definition comes
 * before the library's (symbol interposition), so ulfius's call lands here, and the daemon
 * starts through MHD_start_daemon_va with http__dispatch in front of ulfius's dispatcher.
 * mc_http_start() checks that this happened.
 */
struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port,
                                    MHD_AcceptPolicyCallback apc, void *apc_cls,
                                    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    va_list ap;
    struct MHD_Daemon *d;
    http__ulfius_dispatch = dh;
    va_start(ap, dh_cls);
    d = MHD_start_daemon_va(flags, port, apc, apc_cls, http__dispatch, dh_cls, ap);
    va_end(ap);
    return d;
}

int mc_http_init(mc_http_server_t *srv, const mc_http_opts_t *opts, char *err, size_t errlen)
{
    struct sockaddr_in *addr = &srv->addr;
    struct _u_instance *inst = &srv->inst;

    if (!opts->bind || opts->port <= 0 || opts->port > 65535 || opts->threads < 1) {
        snprintf(err, errlen, "invalid HTTP listener settings");
        return MC_ERR_INVAL;
    }
    memset(srv, 0, sizeof *srv);
    srv->opts = *opts;
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, opts->bind, &addr->sin_addr) != 1) {
        snprintf(err, errlen, "MC_HTTP_BIND: '%s' is not an IPv4 address", opts->bind);
        return MC_ERR_INVAL;
    }
    if (ulfius_init_instance(inst, (unsigned)opts->port, addr, NULL) != U_OK) {
        snprintf(err, errlen, "ulfius_init_instance failed");
        return MC_ERR_IO;
    }
    srv->inited = 1;
    /* Invalid UTF-8 is refused with a message (mc_http_check_request), not dropped silently. */
    inst->check_utf8 = 0;
    /* One byte over the limit so that mc_http_body_object() can tell truncation. */
    inst->max_post_body_size = opts->max_body + 1;
    /* No form parsing: bodies are JSON. With it, ulfius feeds a form Content-Type's body
     * to libmicrohttpd's post processor before any handler, and a body that is not a form
     * ends the connection without an answer; without it, the handler answers 415. */
    inst->allowed_post_processor = U_POST_PROCESS_NONE;
    return MC_OK;
}

int mc_http_start(mc_http_server_t *srv, char *err, size_t errlen)
{
    struct _u_instance *inst = &srv->inst;
    const mc_http_opts_t *opts = &srv->opts;
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, (void *)&srv->addr},
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)opts->threads, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)(opts->max_conns ? opts->max_conns : 1024), NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
        /* room for a request line up to MC_HTTP_MAX_URL and more, so that an over-long URL
         * gets our JSON 414 rather than libmicrohttpd's HTML one */
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 * 1024, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO;
    if (ulfius_start_framework_with_mhd_options(inst, flags, ops) != U_OK) {
        snprintf(err, errlen, "cannot listen on %s:%ld (address in use?)", opts->bind, opts->port);
        return MC_ERR_IO;
    }
    if (!http__ulfius_dispatch) {
        /* ulfius did not start libmicrohttpd through MHD_start_daemon (linked statically?) */
        snprintf(err, errlen, "the request-line check is not in place (ulfius bypassed "
                              "MHD_start_daemon)");
        ulfius_stop_framework(inst);
        return MC_ERR_IO;
    }
    return MC_OK;
}

void mc_http_stop(mc_http_server_t *srv)
{
    if (!srv->inited)
        return;
    if (srv->inst.status == U_STATUS_RUNNING)
        ulfius_stop_framework(&srv->inst);
    ulfius_clean_instance(&srv->inst);
    srv->inited = 0;
}

void mc_http_json(struct _u_response *resp, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    u_map_put(resp->map_header, "Content-Type", "application/json");
    if (text) {
        ulfius_set_binary_body_response(resp, status, text, strlen(text));
        free(text);
    } else {
        ulfius_set_binary_body_response(resp, status, "{}", 2);
    }
    json_decref(body);
}

void mc_http_error(struct _u_response *resp, unsigned status, const char *code,
                   json_t *details, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (e && details)
        json_object_set_new(e, "details", details);
    else
        json_decref(details);
    mc_http_json(resp, status, json_pack("{s:o*}", "error", e));
}

json_t *mc_http_body_object(const struct _u_request *req, struct _u_response *resp,
                            size_t max_body)
{
    const char *ctype = u_map_get_case(req->map_header, "Content-Type");
    const char *clen = u_map_get_case(req->map_header, "Content-Length");
    json_error_t jerr;

    if ((clen && strtoull(clen, NULL, 10) > max_body) || req->binary_body_length > max_body) {
        mc_http_error(resp, 413, "body_too_large", NULL, "request body exceeds %zu bytes",
                      max_body);
        return NULL;
    }
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0 ||
        (ctype[16] != '\0' && ctype[16] != ';' && ctype[16] != ' ')) {
        mc_http_error(resp, 415, "unsupported_media_type", NULL,
                      "Content-Type must be application/json");
        return NULL;
    }
    if (req->binary_body_length == 0) {
        mc_http_error(resp, 400, "bad_json", NULL, "request body is empty");
        return NULL;
    }
    json_t *body = json_loadb(req->binary_body, req->binary_body_length,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        mc_http_error(resp, 400, "bad_json", NULL, "malformed JSON at line %d column %d: %s",
                      jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        mc_http_error(resp, 400, "bad_json", NULL, "request body must be a JSON object");
        return NULL;
    }
    return body;
}

int mc_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

int mc_http_check_request(const struct _u_request *req, struct _u_response *resp)
{
    const char *url = req->http_url ? req->http_url : "";
    if (strlen(url) > MC_HTTP_MAX_URL) {
        mc_http_error(resp, 414, "uri_too_long", NULL, "the URL is longer than %d bytes",
                      MC_HTTP_MAX_URL);
        return MC_ERR_INVAL;
    }
    for (const char *p = strchr(url, '%'); p; p = strchr(p + 1, '%')) {
        if (p[1] == '0' && p[2] == '0') {
            mc_http_error(resp, 400, "bad_query", NULL, "the URL holds an encoded NUL (%%00)");
            return MC_ERR_INVAL;
        }
    }
    if (!mc_utf8_valid(req->url_path ? req->url_path : "")) {
        mc_http_error(resp, 400, "bad_query", NULL, "the path is not valid UTF-8");
        return MC_ERR_INVAL;
    }
    const char **keys = u_map_enum_keys(req->map_url);
    for (int i = 0; keys && keys[i]; i++) {
        const char *v = u_map_get(req->map_url, keys[i]);
        if (!mc_utf8_valid(keys[i]) || (v && !mc_utf8_valid(v))) {
            mc_http_error(resp, 400, "bad_query", NULL, "query parameters must be valid UTF-8");
            return MC_ERR_INVAL;
        }
    }
    return MC_OK;
}

int mc_http_healthz(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    (void)req;
    (void)user_data;
    mc_http_json(resp, 200, json_pack("{s:s}", "status", "ok"));
    return U_CALLBACK_COMPLETE;
}

int mc_http_metrics(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    (void)req;
    char *text = mc_metrics_render((mc_metrics_t *)user_data);
    if (!text) {
        mc_http_error(resp, 503, "unavailable", NULL, "metrics unavailable");
        return U_CALLBACK_COMPLETE;
    }
    u_map_put(resp->map_header, "Content-Type", "text/plain; version=0.0.4");
    ulfius_set_binary_body_response(resp, 200, text, strlen(text));
    free(text);
    return U_CALLBACK_COMPLETE;
}

int mc_http_not_found(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    (void)user_data;
    mc_http_error(resp, 404, "not_found", NULL, "no route for %s", req->http_verb);
    return U_CALLBACK_COMPLETE;
}
