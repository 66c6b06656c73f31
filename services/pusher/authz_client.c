/* authz_client.c - POST /v1/authorize over libcurl, one easy handle per call. */
#include "authz_client.h"
#include "mc_log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTHZ_REPLY_MAX (64 * 1024)

struct authz_client {
    char *url;             /* .../v1/authorize */
    long timeout_ms;
    atomic_int stopped;    /* authz_client_stop: abort transfers */
    pthread_key_t handle;  /* each resume thread keeps its own keep-alive CURL handle */
    mc_metric_t *allowed, *refused, *failed;
};

typedef struct {
    char buf[AUTHZ_REPLY_MAX];
    size_t len;
    int overflow;
} reply_t;

static size_t authz__write(char *data, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    size_t len = size * n;
    if (r->len + len >= sizeof r->buf) {
        r->overflow = 1;
        return 0;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    r->buf[r->len] = '\0';
    return len;
}

/* libcurl's progress callback: nonzero aborts the transfer (authz_client_stop). */
static int authz__progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    authz_client_t *c = arg;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load(&c->stopped);
}

void authz_client_stop(authz_client_t *c)
{
    if (c)
        atomic_store(&c->stopped, 1);
}

static void authz__handle_free(void *h)
{
    curl_easy_cleanup(h);
}

authz_client_t *authz_client_new(const char *base_url, long timeout_ms, mc_metrics_t *metrics)
{
    authz_client_t *c;
    size_t n = strlen(base_url) + sizeof "/v1/authorize";
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    c = calloc(1, sizeof *c);
    if (!c || !(c->url = malloc(n)) || pthread_key_create(&c->handle, authz__handle_free)) {
        if (c)
            free(c->url);
        free(c);
        curl_global_cleanup();
        return NULL;
    }
    size_t blen = strlen(base_url);
    while (blen && base_url[blen - 1] == '/')
        blen--;
    snprintf(c->url, n, "%.*s/v1/authorize", (int)blen, base_url);
    c->timeout_ms = timeout_ms;
    atomic_init(&c->stopped, 0);
    c->allowed = mc_metrics_counter(metrics, "modelcast_pusher_authorizations_total",
                                    "Subscriptions checked with authz.", "result=\"allow\"");
    c->refused = mc_metrics_counter(metrics, "modelcast_pusher_authorizations_total",
                                    "Subscriptions checked with authz.", "result=\"deny\"");
    c->failed = mc_metrics_counter(metrics, "modelcast_pusher_authorizations_total",
                                   "Subscriptions checked with authz.", "result=\"error\"");
    return c;
}

void authz_client_free(authz_client_t *c)
{
    if (!c)
        return;
    /* The resume threads have ended (their handles went with them); this thread's too. */
    void *h = pthread_getspecific(c->handle);
    if (h)
        curl_easy_cleanup(h);
    pthread_key_delete(c->handle);
    free(c->url);
    free(c);
    curl_global_cleanup();
}

proto_err_t authz_client_authorize(void *client, const char *token, const char *channel,
                                   char *msg, size_t msglen)
{
    authz_client_t *c = client;
    reply_t *reply = malloc(sizeof *reply);
    json_t *req = json_pack("{s:s?, s:[s]}", "token", token && *token ? token : NULL,
                            "channels", channel);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    CURL *h = pthread_getspecific(c->handle);
    if (!h && (h = curl_easy_init()) && pthread_setspecific(c->handle, h) != 0) {
        curl_easy_cleanup(h);
        h = NULL;
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    proto_err_t rc = PROTO_ERR_UNAVAILABLE;
    long status = 0;

    snprintf(msg, msglen, "authorization unavailable; retry");
    json_decref(req);
    if (!reply || !body || !h || !hdrs)
        goto out;
    reply->len = 0;
    reply->overflow = 0;
    reply->buf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, authz__write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, authz__progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    CURLcode cc = atomic_load(&c->stopped) ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(h);
    if (cc != CURLE_OK) {
        if (!atomic_load(&c->stopped))
            MC_WARN("authz: POST %s: %s", c->url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    json_t *ans = json_loads(reply->buf, 0, NULL);
    if (status == 401) {
        const char *why = json_string_value(
            json_object_get(json_object_get(json_object_get(ans, "error"), "details"), "reason"));
        snprintf(msg, msglen, "the token was refused (%s)", why ? why : "invalid");
        rc = PROTO_ERR_BAD_TOKEN;
    } else if (status == 200) {
        json_t *first = json_array_get(json_object_get(ans, "channels"), 0);
        const char *name = json_string_value(json_object_get(first, "channel"));
        if (name && strcmp(name, channel) == 0 && json_is_true(json_object_get(first, "allow"))) {
            rc = PROTO_OK;
        } else {
            const char *why = json_string_value(json_object_get(first, "reason"));
            snprintf(msg, msglen, "not allowed on %s (%s)", channel, why ? why : "denied");
            rc = PROTO_ERR_FORBIDDEN;
        }
    } else {
        MC_WARN("authz: POST %s answered %ld", c->url, status);
    }
    json_decref(ans);
out:
    mc_metric_add(rc == PROTO_OK ? c->allowed
                  : rc == PROTO_ERR_UNAVAILABLE ? c->failed
                                                : c->refused,
                  1);
    curl_slist_free_all(hdrs);
    if (h) /* kept, with its connection, for this thread's next call; options reset */
        curl_easy_reset(h);
    free(body);
    free(reply);
    return rc;
}
