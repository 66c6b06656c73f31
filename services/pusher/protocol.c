/* protocol.c - client frame parsing and server frame building with jansson. */
#include "protocol.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mc_contract.h"
#include "mc_error.h"

static const char *const proto__codes[PROTO_ERR__COUNT] = {
    [PROTO_OK] = "ok",
    [PROTO_ERR_BAD_FRAME] = "bad_frame",
    [PROTO_ERR_UNKNOWN_TYPE] = "unknown_type",
    [PROTO_ERR_BAD_CHANNEL] = "bad_channel",
    [PROTO_ERR_TOO_MANY_SUBSCRIPTIONS] = "too_many_subscriptions",
    [PROTO_ERR_TOO_LARGE] = "frame_too_large",
    [PROTO_ERR_BAD_SINCE] = "bad_since",
    [PROTO_ERR_BAD_TOKEN] = "bad_token",
    [PROTO_ERR_OUT_OF_ORDER] = "out_of_order",
    [PROTO_ERR_ALREADY_SUBSCRIBED] = "already_subscribed",
    [PROTO_ERR_FORBIDDEN] = "forbidden",
    [PROTO_ERR_UNAVAILABLE] = "unavailable",
    [PROTO_ERR_BUSY] = "busy",
};

const char *proto_err_code(proto_err_t err)
{
    return (unsigned)err < PROTO_ERR__COUNT ? proto__codes[err] : "internal";
}

int proto_channel_valid(const char *s)
{
    return s && mc_channel_valid(s, strnlen(s, PROTO_CHANNEL_MAX + 1));
}

/* NOLINTNEXTLINE(misc-no-recursion): recurses once, on "p:0" */
int proto_position_parse(const char *s, int32_t *partition, int64_t *offset)
{
    unsigned long long v[2] = {0, 0};
    int part = 0, digits = 0;

    if (!s)
        return -1;
    {
        /* "p:-1": before the first offset (a position of an empty partition) */
        const char *c = strchr(s, ':');
        if (c && strcmp(c, ":-1") == 0) {
            char head[16];
            int32_t pp;
            int64_t oo;
            if ((size_t)(c - s) >= sizeof head - 2)
                return -1;
            memcpy(head, s, (size_t)(c - s));
            memcpy(head + (c - s), ":0", 3);
            if (proto_position_parse(head, &pp, &oo) != 0)
                return -1;
            *partition = pp;
            *offset = -1;
            return 0;
        }
    }
    for (; *s; s++) {
        if (*s == ':' && part == 0 && digits) {
            part = 1;
            digits = 0;
            continue;
        }
        if (*s < '0' || *s > '9' || digits >= 19)
            return -1;
        v[part] = v[part] * 10 + (unsigned)(*s - '0');
        digits++;
    }
    if (part != 1 || !digits || v[0] > INT32_MAX || v[1] > INT64_MAX)
        return -1;
    *partition = (int32_t)v[0];
    *offset = (int64_t)v[1];
    return 0;
}

proto_err_t proto_parse(const char *data, size_t len, int binary, size_t max_frame,
                        proto_request_t *req, char *msg, size_t msglen)
{
    json_error_t jerr;
    json_t *root, *jtype, *jchan;
    const char *type;
    proto_err_t rc = PROTO_OK;

    req->type = PROTO_PING;
    req->channel[0] = '\0';
    req->has_since = 0;
    req->since_partition = -1;
    req->since_offset = -1;
    req->token[0] = '\0';
    if (len > max_frame) {
        snprintf(msg, msglen, "frame of %zu bytes is over the limit of %zu", len, max_frame);
        return PROTO_ERR_TOO_LARGE;
    }
    if (binary) {
        snprintf(msg, msglen, "binary frames are not accepted; send JSON text");
        return PROTO_ERR_BAD_FRAME;
    }
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(msg, msglen, "malformed JSON: %s", jerr.text);
        return PROTO_ERR_BAD_FRAME;
    }
    if (!json_is_object(root)) {
        snprintf(msg, msglen, "a frame must be a JSON object");
        rc = PROTO_ERR_BAD_FRAME;
        goto out;
    }
    jtype = json_object_get(root, "type");
    if (!json_is_string(jtype)) {
        snprintf(msg, msglen, "\"type\" must be a string");
        rc = PROTO_ERR_BAD_FRAME;
        goto out;
    }
    type = json_string_value(jtype);
    if (strcmp(type, "ping") == 0) {
        req->type = PROTO_PING;
        goto out;
    }
    if (strcmp(type, "auth") == 0) {
        json_t *tok = json_object_get(root, "token");
        req->type = PROTO_AUTH;
        if (!tok || json_is_null(tok))
            goto out;
        if (!json_is_string(tok) || json_string_length(tok) > PROTO_TOKEN_MAX ||
            strlen(json_string_value(tok)) != json_string_length(tok)) {
            snprintf(msg, msglen, "\"token\" must be a string of at most %d bytes",
                     PROTO_TOKEN_MAX);
            rc = PROTO_ERR_BAD_TOKEN;
            goto out;
        }
        memcpy(req->token, json_string_value(tok), json_string_length(tok) + 1);
        goto out;
    }
    if (strcmp(type, "subscribe") == 0)
        req->type = PROTO_SUBSCRIBE;
    else if (strcmp(type, "unsubscribe") == 0)
        req->type = PROTO_UNSUBSCRIBE;
    else {
        snprintf(msg, msglen, "unknown type \"%.40s\"", type);
        rc = PROTO_ERR_UNKNOWN_TYPE;
        goto out;
    }
    jchan = json_object_get(root, "channel");
    if (!json_is_string(jchan) || strlen(json_string_value(jchan)) != json_string_length(jchan) ||
        !proto_channel_valid(json_string_value(jchan))) {
        snprintf(msg, msglen, "\"channel\" must be 1..%d characters of %s", PROTO_CHANNEL_MAX,
                 MC_CHANNEL_CHARS);
        rc = PROTO_ERR_BAD_CHANNEL;
        goto out;
    }
    memcpy(req->channel, json_string_value(jchan), json_string_length(jchan) + 1);
    if (req->type == PROTO_SUBSCRIBE) {
        json_t *jsince = json_object_get(root, "since");
        if (jsince && !json_is_null(jsince)) {
            if (!json_is_string(jsince) ||
                proto_position_parse(json_string_value(jsince), &req->since_partition,
                                     &req->since_offset) != 0) {
                snprintf(msg, msglen,
                         "\"since\" must be a position \"partition:offset\" from a frame");
                rc = PROTO_ERR_BAD_SINCE;
                goto out;
            }
            req->has_since = 1;
        }
    }
out:
    json_decref(root);
    return rc;
}

/* Serializes obj (decref'd here) into a new frame routed to channel (may be NULL). */
static pusher_frame_t *proto__frame(json_t *obj, const char *channel)
{
    pusher_frame_t *f = NULL;
    char *s;
    if (!obj)
        return NULL;
    s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (s) {
        f = pusher_frame_new(s, strlen(s), channel);
        free(s);
    }
    return f;
}

pusher_frame_t *proto_subscribed(const char *channel, const char *position)
{
    return proto__frame(json_pack("{s:s, s:s, s:o}", "type", "subscribed", "channel", channel,
                                  "position", position ? json_string(position) : json_null()),
                        NULL);
}

pusher_frame_t *proto_unsubscribed(const char *channel)
{
    return proto__frame(json_pack("{s:s, s:s}", "type", "unsubscribed", "channel", channel),
                        NULL);
}

pusher_frame_t *proto_pong(void)
{
    return pusher_frame_new("{\"type\":\"pong\"}", strlen("{\"type\":\"pong\"}"), NULL);
}

pusher_frame_t *proto_resync(const char *channel)
{
    return proto__frame(json_pack("{s:s, s:s}", "type", "resync", "channel", channel), NULL);
}

/* s as a JSON string; when it is not valid UTF-8 (a parser's excerpt of the frame, cut
 * in the middle of a character), its bytes past ASCII become '?'. NULL: no memory. */
static json_t *proto__text(const char *s)
{
    json_t *j = json_string(s);
    char *copy;
    if (j || !(copy = strdup(s)))
        return j;
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

pusher_frame_t *proto_error(proto_err_t err, const char *channel, const char *message)
{
    json_t *o = json_pack("{s:s, s:s}", "type", "error", "code", proto_err_code(err));
    if (o && channel)
        json_object_set_new(o, "channel", proto__text(channel));
    if (o && json_object_set_new(o, "message", proto__text(message ? message : "")) != 0) {
        json_decref(o);
        o = NULL;
    }
    return proto__frame(o, NULL);
}

static int proto__op_valid(const char *op)
{
    return strcmp(op, MC_OP_CREATE) == 0 || strcmp(op, MC_OP_UPDATE) == 0 ||
           strcmp(op, MC_OP_DESTROY) == 0 || strcmp(op, MC_OP_REMOVE) == 0;
}

int proto_change(const char *value, size_t len, int32_t partition, int64_t offset,
                 pusher_frame_t **out, char *err, size_t errlen)
{
    return proto_change_id(value, len, partition, offset, out, NULL, 0, err, errlen);
}

int proto_change_id(const char *value, size_t len, int32_t partition, int64_t offset,
                    pusher_frame_t **out, char *event_id, size_t eidlen, char *err,
                    size_t errlen)
{
    json_error_t jerr;
    json_t *d, *o, *v;
    const char *key, *channel, *op;
    char pos[48];
    int rc = MC_ERR_JSON;

    *out = NULL;
    if (event_id && eidlen)
        event_id[0] = '\0';
    if (!value || len == 0) {
        snprintf(err, errlen, "empty delivery");
        return MC_ERR_JSON;
    }
    if (!(d = json_loadb(value, len, 0, &jerr))) {
        snprintf(err, errlen, "malformed JSON: %s", jerr.text);
        return MC_ERR_JSON;
    }
    if (!json_is_object(d)) {
        snprintf(err, errlen, "delivery is not a JSON object");
        goto out;
    }
    v = json_object_get(d, MC_FIELD_CHANNEL);
    channel = json_string_value(v);
    if (!channel || strlen(channel) != json_string_length(v) || !proto_channel_valid(channel)) {
        snprintf(err, errlen, "delivery has no valid \"channel\"");
        goto out;
    }
    if (!json_is_string(json_object_get(d, MC_FIELD_MODEL))) {
        snprintf(err, errlen, "delivery has no \"model\" string");
        goto out;
    }
    op = json_string_value(json_object_get(d, MC_FIELD_OP));
    if (!op || !proto__op_valid(op)) {
        snprintf(err, errlen, "delivery has no valid \"op\"");
        goto out;
    }
    snprintf(pos, sizeof pos, "%" PRId32 ":%" PRId64, partition, offset);
    if (!(o = json_pack("{s:s}", "type", "change"))) {
        rc = MC_ERR_NOMEM;
        goto out;
    }
    json_object_foreach(d, key, v)
    {
        if (strcmp(key, "type") != 0 && strcmp(key, "position") != 0)
            json_object_set(o, key, v);
    }
    json_object_set_new(o, "position", json_string(pos));
    if (event_id && eidlen && json_is_string(json_object_get(d, MC_FIELD_EVENT_ID)))
        snprintf(event_id, eidlen, "%s", json_string_value(json_object_get(d, MC_FIELD_EVENT_ID)));
    *out = proto__frame(o, channel);
    rc = *out ? MC_OK : MC_ERR_NOMEM;
    if (*out) {
        (*out)->partition = partition;
        (*out)->offset = offset;
    }
    if (rc != MC_OK)
        snprintf(err, errlen, "out of memory");
out:
    json_decref(d);
    return rc;
}
