/* policy_parse.c - compile config/policies.json against the schema; lookups in the result. */
#include "policy_internal.h"
#include "mc_condition.h"
#include "mc_contract.h"
#include "mc_error.h"
#include "mc_json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const policy__op_names[OP__COUNT] = {MC_OP_CREATE, MC_OP_UPDATE, MC_OP_DESTROY};

/* ---------------------------------------------------------------- lookups */

int policy__op(const char *op)
{
    for (int i = 0; op && i < OP__COUNT; i++)
        if (strcmp(op, policy__op_names[i]) == 0)
            return i;
    return -1;
}

const policy_chan_t *policy__find_chan(const mc_policy_t *p, const char *name, size_t len,
                                       size_t *idx)
{
    for (size_t i = 0; i < p->nchans; i++)
        if (strlen(p->chans[i].name) == len && memcmp(p->chans[i].name, name, len) == 0) {
            if (idx)
                *idx = i;
            return &p->chans[i];
        }
    return NULL;
}

const policy_model_t *policy__find_model(const mc_policy_t *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->nmodels; i++)
        if (strcmp(p->models[i].m->name, name) == 0)
            return &p->models[i];
    return NULL;
}

long policy__col_index(const policy_model_t *pm, const char *name)
{
    for (size_t i = 0; i < pm->ncols; i++)
        if (strcmp(pm->cols[i], name) == 0)
            return (long)i;
    return -1;
}

/* ---------------------------------------------------------------- freeing */

/* NOLINTNEXTLINE(misc-no-recursion): parsed rules nest MC_POLICY_MAX_DEPTH levels at most */
static void policy__rule_cleanup(policy_rule_t *r)
{
    for (int i = 0; i < r->npath; i++)
        free(r->path[i]);
    free(r->path);
    json_decref(r->value);
    json_decref(r->cond);
    for (size_t i = 0; i < r->nsubs; i++)
        policy__rule_cleanup(&r->subs[i]);
    free(r->subs);
    memset(r, 0, sizeof *r);
}

void mc_policy_free(mc_policy_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nchans; i++) {
        free(p->chans[i].name);
        policy__rule_cleanup(&p->chans[i].connect);
    }
    free(p->chans);
    for (size_t i = 0; i < p->nmodels; i++) {
        policy_model_t *pm = &p->models[i];
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): nmodels counts p->models' entries */
        free(pm->cols);
        for (size_t j = 0; j < pm->nrules; j++) {
            json_decref(pm->rules[j].when);
            free(pm->rules[j].to);
        }
        free(pm->rules);
        for (int op = 0; op < OP__COUNT; op++) {
            if (pm->write[op]) {
                policy__rule_cleanup(pm->write[op]);
                free(pm->write[op]);
            }
        }
    }
    free(p->models);
    free(p);
}

/* ---------------------------------------------------------------- rules */

#define FAIL(...)                                   \
    do {                                            \
        snprintf(err, errlen, __VA_ARGS__);         \
        return MC_ERR_CONFIG;                       \
    } while (0)
#define TRY(x)                                      \
    do {                                            \
        int rc_ = (x);                              \
        if (rc_ != MC_OK)                           \
            return rc_;                             \
    } while (0)

/* Where a rule appears: connect rule of a (possibly instance) channel, or a write op. */
typedef struct {
    const char *file;
    int is_connect;
    int instance;           /* connect: the channel is an instance channel */
    int op;                 /* write: OP_* */
    const mc_model_t *m;    /* write: the model */
} policy_where_t;

static int policy__name_ok(const char *s, int upper)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    if (upper ? !isupper((unsigned char)s[0]) : !(islower((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

static int policy__ignorable(const char *key)
{
    return key[0] == '$'; /* "$comment" and friends */
}

static int policy__parse_claim_path(policy_rule_t *r, const json_t *v, const char *file,
                                    const char *path, const char *key, char *err,
                                    size_t errlen)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (!s || n == 0 || n > 255 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
        FAIL("%s: %s.%s: expected a claim path like \"sub\" or \"org.id\" (no empty segments)",
             file, path, key);
    int segs = 1;
    for (const char *c = s; *c; c++)
        segs += *c == '.';
    if (segs > MC_POLICY_MAX_DEPTH)
        FAIL("%s: %s.%s: claim path deeper than %d segments", file, path, key,
             MC_POLICY_MAX_DEPTH);
    if (!(r->path = calloc((size_t)segs, sizeof *r->path)))
        return MC_ERR_NOMEM;
    const char *start = s;
    for (int i = 0; i < segs; i++) {
        const char *end = strchr(start, '.');
        size_t len = end ? (size_t)(end - start) : strlen(start);
        if (!(r->path[i] = strndup(start, len)))
            return MC_ERR_NOMEM;
        r->npath = i + 1;
        start += len + 1;
    }
    return MC_OK;
}

static int policy__is_scalar_value(const json_t *v)
{
    return json_is_string(v) || json_is_integer(v) || json_is_boolean(v);
}

static int policy__parse_rule(policy_rule_t *r, const json_t *j, const policy_where_t *c,
                              const char *path, int depth, char *err, size_t errlen);

/* NOLINTNEXTLINE(misc-no-recursion): depth checked against MC_POLICY_MAX_DEPTH */
static int policy__parse_rule_list(policy_rule_t *r, const json_t *arr, const policy_where_t *c,
                                   const char *path, const char *key, int depth, char *err,
                                   size_t errlen)
{
    size_t i;
    json_t *e;
    char sub[512];
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        FAIL("%s: %s.%s: expected a non-empty array of rules", c->file, path, key);
    if (!(r->subs = calloc(json_array_size(arr), sizeof *r->subs)))
        return MC_ERR_NOMEM;
    json_array_foreach(arr, i, e) {
        snprintf(sub, sizeof sub, "%s.%s[%zu]", path, key, i);
        r->nsubs = i + 1;
        TRY(policy__parse_rule(&r->subs[i], e, c, sub, depth + 1, err, errlen));
    }
    return MC_OK;
}

static int policy__parse_of(const json_t *j, const policy_where_t *c, const char *path, int *of,
                            char *err, size_t errlen)
{
    json_t *v = json_object_get(j, "of");
    const char *s = json_string_value(v);
    *of = OF_RECORD;
    if (!v)
        return MC_OK;
    if (s && strcmp(s, "before") == 0)
        *of = OF_BEFORE;
    else if (s && strcmp(s, "after") == 0)
        *of = OF_AFTER;
    else
        FAIL("%s: %s.of: expected \"before\" or \"after\"", c->file, path);
    return MC_OK;
}

static int policy__check_of(int of, const policy_where_t *c, const char *path, char *err,
                            size_t errlen)
{
    if (of == OF_BEFORE && c->op == OP_CREATE)
        FAIL("%s: %s: a create has no before record", c->file, path);
    if (of == OF_AFTER && c->op == OP_DESTROY)
        FAIL("%s: %s: a destroy has no after record", c->file, path);
    return MC_OK;
}

/* {"claim": path, "eq"|"contains"|"eq_instance"|"contains_instance": ...} */
static int policy__parse_claim_test(policy_rule_t *r, const json_t *j, const policy_where_t *c,
                                    const char *path, char *err, size_t errlen)
{
    static const char *const ops[] = {"eq", "contains", "eq_instance", "contains_instance"};
    static const int kinds[] = {RK_CLAIM_EQ, RK_CLAIM_CONTAINS, RK_CLAIM_EQ_INST,
                                RK_CLAIM_CONTAINS_INST};
    const char *file = c->file, *key;
    json_t *v;
    int found = -1;
    json_object_foreach((json_t *)j, key, v) {
        int k = -1;
        if (strcmp(key, "claim") == 0)
            continue;
        for (int i = 0; i < 4; i++)
            if (strcmp(key, ops[i]) == 0)
                k = i;
        if (k < 0)
            FAIL("%s: %s.%s: unknown key (a claim test takes one of eq, contains, "
                 "eq_instance, contains_instance)", file, path, key);
        if (found >= 0)
            FAIL("%s: %s: a claim test takes exactly one of eq, contains, eq_instance, "
                 "contains_instance", file, path);
        found = k;
    }
    if (found < 0)
        FAIL("%s: %s: a claim test takes one of eq, contains, eq_instance, "
             "contains_instance", file, path);
    TRY(policy__parse_claim_path(r, json_object_get(j, "claim"), file, path, "claim", err,
                                 errlen));
    r->kind = kinds[found];
    v = json_object_get(j, ops[found]);
    if (found >= 2) {
        if (!json_is_true(v))
            FAIL("%s: %s.%s: expected true", file, path, ops[found]);
        if (!c->is_connect || !c->instance)
            FAIL("%s: %s.%s: only in the connect rule of an instance channel", file, path,
                 ops[found]);
    } else {
        if (!policy__is_scalar_value(v))
            FAIL("%s: %s.%s: expected a string, integer or boolean", file, path, ops[found]);
        r->value = json_incref(v);
    }
    return MC_OK;
}

/* {"record"|"before"|"after": condition}: key names the member, of the record it tests. */
static int policy__parse_record_test(policy_rule_t *r, const json_t *j, const char *key, int of,
                                     const policy_where_t *c, const char *path, char *err,
                                     size_t errlen)
{
    char sub[512];
    if (c->is_connect)
        FAIL("%s: %s.%s: record tests only apply to write rules", c->file, path, key);
    if (json_object_size(j) != 1)
        FAIL("%s: %s: \"%s\" stands alone in its object", c->file, path, key);
    r->kind = RK_COND;
    r->of = of;
    TRY(policy__check_of(r->of, c, path, err, errlen));
    snprintf(sub, sizeof sub, "%s: %s.%s", c->file, path, key);
    TRY(mc_cond_check(c->m, json_object_get(j, key), sub, err, errlen));
    r->cond = json_incref(json_object_get(j, key));
    return MC_OK;
}

/* {"attribute": a, "eq_claim"|"in_claim": path[, "of": "before"|"after"]} */
static int policy__parse_attr_test(policy_rule_t *r, const json_t *j, const policy_where_t *c,
                                   const char *path, char *err, size_t errlen)
{
    const char *file = c->file;
    const char *aname = json_string_value(json_object_get(j, "attribute"));
    json_t *eq = json_object_get(j, "eq_claim"), *in = json_object_get(j, "in_claim");
    const char *key;
    json_t *v;
    if (c->is_connect)
        FAIL("%s: %s.attribute: attribute tests only apply to write rules", file, path);
    json_object_foreach((json_t *)j, key, v) {
        if (strcmp(key, "attribute") != 0 && strcmp(key, "eq_claim") != 0 &&
            strcmp(key, "in_claim") != 0 && strcmp(key, "of") != 0)
            FAIL("%s: %s.%s: unknown key (an attribute test takes attribute, eq_claim or "
                 "in_claim, and of)", file, path, key);
    }
    if (!aname)
        FAIL("%s: %s.attribute: expected an attribute name", file, path);
    if (!(r->attr = mc_model_column(c->m, aname)))
        FAIL("%s: %s.attribute: '%s' is not an attribute of %s", file, path, aname,
             c->m->name);
    if (!!eq == !!in)
        FAIL("%s: %s: an attribute test takes exactly one of eq_claim, in_claim", file, path);
    r->kind = eq ? RK_ATTR_EQ_CLAIM : RK_ATTR_IN_CLAIM;
    TRY(policy__parse_of(j, c, path, &r->of, err, errlen));
    TRY(policy__check_of(r->of, c, path, err, errlen));
    return policy__parse_claim_path(r, eq ? eq : in, file, path, eq ? "eq_claim" : "in_claim",
                                    err, errlen);
}

#define RULE_FORMS                                                                         \
    "\"always\", \"never\", \"authenticated\", {\"all\": [...]}, {\"any\": [...]}, "       \
    "{\"claim\": path, \"eq\"|\"contains\"|\"eq_instance\"|\"contains_instance\": ...}, " \
    "{\"record\"|\"before\"|\"after\": condition}, "                                       \
    "{\"attribute\": a, \"eq_claim\"|\"in_claim\": path}"

/* NOLINTNEXTLINE(misc-no-recursion): depth checked against MC_POLICY_MAX_DEPTH */
static int policy__parse_rule(policy_rule_t *r, const json_t *j, const policy_where_t *c,
                              const char *path, int depth, char *err, size_t errlen)
{
    const char *file = c->file;
    if (depth > MC_POLICY_MAX_DEPTH)
        FAIL("%s: %s: rules nested deeper than %d levels", file, path, MC_POLICY_MAX_DEPTH);
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        if (strcmp(s, "always") == 0)
            r->kind = RK_ALWAYS;
        else if (strcmp(s, "never") == 0)
            r->kind = RK_NEVER;
        else if (strcmp(s, "authenticated") == 0)
            r->kind = RK_AUTH;
        else
            FAIL("%s: %s: unknown rule '%s' (one of " RULE_FORMS ")", file, path, s);
        return MC_OK;
    }
    if (!json_is_object(j) || json_object_size(j) == 0)
        FAIL("%s: %s: expected a rule: " RULE_FORMS, file, path);

    if (json_object_get(j, "all") || json_object_get(j, "any")) {
        const char *key = json_object_get(j, "all") ? "all" : "any";
        if (json_object_size(j) != 1)
            FAIL("%s: %s: \"%s\" stands alone in its object", file, path, key);
        r->kind = key[1] == 'l' ? RK_ALL : RK_ANY;
        return policy__parse_rule_list(r, json_object_get(j, key), c, path, key, depth, err,
                                       errlen);
    }
    if (json_object_get(j, "claim"))
        return policy__parse_claim_test(r, j, c, path, err, errlen);
    if (json_object_get(j, "record"))
        return policy__parse_record_test(r, j, "record", OF_RECORD, c, path, err, errlen);
    if (json_object_get(j, "before"))
        return policy__parse_record_test(r, j, "before", OF_BEFORE, c, path, err, errlen);
    if (json_object_get(j, "after"))
        return policy__parse_record_test(r, j, "after", OF_AFTER, c, path, err, errlen);
    if (json_object_get(j, "attribute"))
        return policy__parse_attr_test(r, j, c, path, err, errlen);
    FAIL("%s: %s: unknown rule form (one of " RULE_FORMS ")", file, path);
}

/* ---------------------------------------------------------------- channels */

static int policy__parse_channels(mc_policy_t *p, const json_t *chans, const char *file,
                                  char *err, size_t errlen)
{
    const char *name, *key;
    json_t *spec, *v;
    if (!json_is_object(chans) || json_object_size(chans) == 0)
        FAIL("%s: channels: expected an object of channels, e.g. {\"Application\": "
             "{\"connect\": \"always\"}}", file);
    if (!(p->chans = calloc(json_object_size(chans), sizeof *p->chans)))
        return MC_ERR_NOMEM;
    json_object_foreach((json_t *)chans, name, spec) {
        policy_chan_t *ch = &p->chans[p->nchans];
        char path[256];
        if (policy__ignorable(name))
            continue;
        if (!policy__name_ok(name, 1))
            FAIL("%s: channels.%s: channel names must match [A-Z][A-Za-z0-9_]* (at most 63 "
                 "characters)", file, name);
        if (!json_is_object(spec))
            FAIL("%s: channels.%s: expected an object like {\"connect\": \"always\"}", file,
                 name);
        json_object_foreach(spec, key, v) {
            if (strcmp(key, "connect") != 0 && strcmp(key, "instance") != 0 &&
                !policy__ignorable(key))
                FAIL("%s: channels.%s.%s: unknown key (connect, instance)", file, name, key);
        }
        v = json_object_get(spec, "instance");
        if (v && !json_is_boolean(v))
            FAIL("%s: channels.%s.instance: expected true or false", file, name);
        if (!json_object_get(spec, "connect"))
            FAIL("%s: channels.%s.connect: missing (who may connect: \"always\", "
                 "\"authenticated\", a claim test...)", file, name);
        if (!(ch->name = strdup(name)))
            return MC_ERR_NOMEM;
        p->nchans++;
        ch->instance = json_is_true(v);
        policy_where_t c = {.file = file, .is_connect = 1, .instance = ch->instance};
        snprintf(path, sizeof path, "channels.%s.connect", name);
        TRY(policy__parse_rule(&ch->connect, json_object_get(spec, "connect"), &c, path, 0, err,
                               errlen));
    }
    return MC_OK;
}

/* ---------------------------------------------------------------- broadcast rules */

static int policy__parse_attr_list(const policy_model_t *pm, const json_t *list,
                                   const char *file, const char *path, const char *key, int but,
                                   policy_set_t *out, char *err, size_t errlen)
{
    size_t i;
    json_t *e;
    if (!json_is_array(list) || json_array_size(list) == 0)
        FAIL("%s: %s.%s: expected a non-empty array of attribute names", file, path, key);
    json_array_foreach(list, i, e) {
        const char *a = json_string_value(e);
        long ci = a ? policy__col_index(pm, a) : -1;
        if (!a)
            FAIL("%s: %s.%s[%zu]: expected an attribute name", file, path, key, i);
        if (ci < 0)
            FAIL("%s: %s.%s[%zu]: '%s' is not an attribute of %s", file, path, key, i, a,
                 pm->m->name);
        if (ci < MC_MODEL_NSYSTEM && but)
            FAIL("%s: %s.%s[%zu]: '%s' is a system column, always sent", file, path, key, i, a);
        policy__set_add(out, (size_t)ci);
    }
    return MC_OK;
}

/* "send": "all" | "send_only": [...] | "send_all_but": [...] of rule rj → b->set. */
static int policy__parse_send(const policy_model_t *pm, policy_bcast_t *b, const json_t *rj,
                              const char *file, const char *path, char *err, size_t errlen)
{
    json_t *v;
    for (size_t c = 0; c < MC_MODEL_NSYSTEM; c++)
        policy__set_add(&b->set, c);
    if ((v = json_object_get(rj, "send"))) {
        if (!json_is_string(v) || strcmp(json_string_value(v), "all") != 0)
            FAIL("%s: %s.send: expected \"all\" (or use send_only / send_all_but)", file, path);
        for (size_t c = 0; c < pm->ncols; c++)
            policy__set_add(&b->set, c);
    } else if ((v = json_object_get(rj, "send_only"))) {
        TRY(policy__parse_attr_list(pm, v, file, path, "send_only", 0, &b->set, err, errlen));
    } else {
        policy_set_t but = {{0}};
        TRY(policy__parse_attr_list(pm, json_object_get(rj, "send_all_but"), file, path,
                                    "send_all_but", 1, &but, err, errlen));
        for (size_t c = 0; c < pm->ncols; c++)
            if (!policy__set_has(&but, c))
                policy__set_add(&b->set, c);
    }
    return MC_OK;
}

static int policy__instance_type_ok(mc_attr_type_t t)
{
    return t == MC_ATTR_INTEGER || t == MC_ATTR_BIGINT || t == MC_ATTR_REFERENCE ||
           t == MC_ATTR_STRING;
}

/* One element t of a rule's "to" (at path.to[k]): "Channel" or {"channel", "instance"}. */
static int policy__parse_target(const mc_policy_t *p, const policy_model_t *pm, const json_t *t,
                                policy_target_t *tg, const char *file, const char *path,
                                size_t k, char *err, size_t errlen)
{
    const char *cname = NULL, *iname = NULL, *tk;
    const policy_chan_t *ch;
    json_t *tv;
    if (json_is_string(t)) {
        cname = json_string_value(t);
    } else if (json_is_object(t)) {
        json_object_foreach((json_t *)t, tk, tv) {
            if (strcmp(tk, "channel") != 0 && strcmp(tk, "instance") != 0)
                FAIL("%s: %s.to[%zu].%s: unknown key (channel, instance)", file, path, k, tk);
        }
        cname = json_string_value(json_object_get(t, "channel"));
        tv = json_object_get(t, "instance");
        if (tv && !(iname = json_string_value(tv)))
            FAIL("%s: %s.to[%zu].instance: expected an attribute name", file, path, k);
    }
    if (!cname)
        FAIL("%s: %s.to[%zu]: expected a channel name or {\"channel\": C, \"instance\": "
             "attribute}", file, path, k);
    if (!(ch = policy__find_chan(p, cname, strlen(cname), &tg->chan)))
        FAIL("%s: %s.to[%zu]: '%s' is not a channel declared under channels", file, path, k,
             cname);
    if (ch->instance && !iname)
        FAIL("%s: %s.to[%zu]: %s is an instance channel: use {\"channel\": \"%s\", "
             "\"instance\": \"<attribute>\"}", file, path, k, cname, cname);
    if (!ch->instance && iname)
        FAIL("%s: %s.to[%zu].instance: %s is a class channel (no \"instance\": true), "
             "it takes no instance", file, path, k, cname);
    if (iname) {
        if (!(tg->attr = mc_model_column(pm->m, iname)))
            FAIL("%s: %s.to[%zu].instance: '%s' is not an attribute of %s", file, path, k,
                 iname, pm->m->name);
        if (!policy__instance_type_ok(tg->attr->type))
            FAIL("%s: %s.to[%zu].instance: '%s' is a %s; instance ids come from integer, "
                 "bigint, reference or string attributes", file, path, k, iname,
                 mc_attr_type_name(tg->attr->type));
    }
    return MC_OK;
}

/* Broadcast rule rj (at path) → b. */
static int policy__parse_bcast(const mc_policy_t *p, policy_model_t *pm, policy_bcast_t *b,
                               const json_t *rj, const char *file, const char *path, char *err,
                               size_t errlen)
{
    const char *key;
    json_t *v, *t;
    size_t k;
    int nsend = 0;
    if (!json_is_object(rj))
        FAIL("%s: %s: expected an object like {\"send\": \"all\", \"to\": [\"Application\"]}",
             file, path);
    json_object_foreach((json_t *)rj, key, v) {
        if (strcmp(key, "send") != 0 && strcmp(key, "send_only") != 0 &&
            strcmp(key, "send_all_but") != 0 && strcmp(key, "to") != 0 &&
            strcmp(key, "when") != 0 && !policy__ignorable(key))
            FAIL("%s: %s.%s: unknown key (send, send_only, send_all_but, to, when)", file, path,
                 key);
        nsend += strncmp(key, "send", 4) == 0;
    }
    if (nsend != 1)
        FAIL("%s: %s: give exactly one of \"send\": \"all\", \"send_only\": [...], "
             "\"send_all_but\": [...]", file, path);
    TRY(policy__parse_send(pm, b, rj, file, path, err, errlen));
    if ((v = json_object_get(rj, "when"))) {
        char sub[300];
        snprintf(sub, sizeof sub, "%s: %s.when", file, path);
        TRY(mc_cond_check(pm->m, v, sub, err, errlen));
        b->when = json_incref(v);
    }
    v = json_object_get(rj, "to");
    if (!json_is_array(v) || json_array_size(v) == 0)
        FAIL("%s: %s.to: expected a non-empty array of channels, e.g. [\"Application\", "
             "{\"channel\": \"User\", \"instance\": \"owner_id\"}]", file, path);
    if (!(b->to = calloc(json_array_size(v), sizeof *b->to)))
        return MC_ERR_NOMEM;
    json_array_foreach(v, k, t) {
        TRY(policy__parse_target(p, pm, t, &b->to[k], file, path, k, err, errlen));
        b->nto = k + 1;
        pm->ntargets++;
    }
    return MC_OK;
}

static int policy__parse_broadcast(const mc_policy_t *p, policy_model_t *pm, const json_t *list,
                                   const char *file, char *err, size_t errlen)
{
    size_t i;
    json_t *rj;
    if (!json_is_array(list))
        FAIL("%s: models.%s.broadcast: expected an array of rules", file, pm->m->name);
    if (!(pm->rules = calloc(json_array_size(list) + 1, sizeof *pm->rules)))
        return MC_ERR_NOMEM;
    json_array_foreach(list, i, rj) {
        char path[256];
        snprintf(path, sizeof path, "models.%s.broadcast[%zu]", pm->m->name, i);
        pm->nrules = i + 1;
        TRY(policy__parse_bcast(p, pm, &pm->rules[i], rj, file, path, err, errlen));
    }
    return MC_OK;
}

/* ---------------------------------------------------------------- models */

static int policy__parse_write(policy_model_t *pm, const json_t *v, const char *file, char *err,
                               size_t errlen)
{
    const char *key, *mname = pm->m->name;
    json_t *r;
    if (!json_is_object(v))
        FAIL("%s: models.%s.write: expected an object {\"create\": rule, \"update\": rule, "
             "\"destroy\": rule}", file, mname);
    json_object_foreach((json_t *)v, key, r) {
        int op;
        char path[256];
        if (policy__ignorable(key))
            continue;
        if ((op = policy__op(key)) < 0)
            FAIL("%s: models.%s.write.%s: unknown operation (create, update, destroy)", file,
                 mname, key);
        if (!(pm->write[op] = calloc(1, sizeof *pm->write[op])))
            return MC_ERR_NOMEM;
        policy_where_t c = {.file = file, .op = op, .m = pm->m};
        snprintf(path, sizeof path, "models.%s.write.%s", mname, key);
        TRY(policy__parse_rule(pm->write[op], r, &c, path, 0, err, errlen));
    }
    return MC_OK;
}

static int policy__parse_model(mc_policy_t *p, policy_model_t *pm, const char *mname,
                               const json_t *spec, const char *file, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    const mc_model_t *m = mc_schema_find(p->schema, mname);
    if (!m)
        FAIL("%s: models.%s: '%s' is not a model declared in models.json", file, mname, mname);
    if (m->server_only)
        FAIL("%s: models.%s: %s is server_only: it is never served nor pushed", file, mname,
             mname);
    if (!json_is_object(spec))
        FAIL("%s: models.%s: expected an object with broadcast and write", file, mname);
    pm->m = m;
    pm->ncols = MC_MODEL_NSYSTEM + m->nattrs;
    if (pm->ncols > MC_POLICY_MAX_COLUMNS)
        FAIL("%s: models.%s: more than %d attributes", file, mname,
             MC_POLICY_MAX_COLUMNS - MC_MODEL_NSYSTEM);
    if (!(pm->cols = calloc(pm->ncols, sizeof *pm->cols)))
        return MC_ERR_NOMEM;
    for (size_t i = 0; i < MC_MODEL_NSYSTEM; i++)
        pm->cols[i] = mc_model_system_columns[i];
    for (size_t i = 0; i < m->nattrs; i++)
        pm->cols[MC_MODEL_NSYSTEM + i] = m->attrs[i].name;
    json_object_foreach((json_t *)spec, key, v) {
        if (strcmp(key, "broadcast") != 0 && strcmp(key, "write") != 0 && !policy__ignorable(key))
            FAIL("%s: models.%s.%s: unknown key (broadcast, write)", file, mname, key);
    }
    if ((v = json_object_get(spec, "broadcast")))
        TRY(policy__parse_broadcast(p, pm, v, file, err, errlen));
    if ((v = json_object_get(spec, "write")))
        TRY(policy__parse_write(pm, v, file, err, errlen));
    return MC_OK;
}

int mc_policy_parse(const json_t *root, const char *file, const mc_schema_t *schema,
                    mc_policy_t **out, char *err, size_t errlen)
{
    mc_policy_t *p;
    const char *key;
    json_t *v, *models;
    int rc = MC_OK;

    *out = NULL;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: expected an object with channels and models", file);
        return MC_ERR_CONFIG;
    }
    if (!(p = calloc(1, sizeof *p)))
        return MC_ERR_NOMEM;
    p->schema = schema;
    json_object_foreach((json_t *)root, key, v) {
        if (strcmp(key, "channels") != 0 && strcmp(key, "models") != 0 &&
            !policy__ignorable(key)) {
            snprintf(err, errlen, "%s: %s: unknown key (channels, models)", file, key);
            rc = MC_ERR_CONFIG;
            goto done;
        }
    }
    if ((rc = policy__parse_channels(p, json_object_get(root, "channels"), file, err, errlen)))
        goto done;
    models = json_object_get(root, "models");
    if (!models)
        goto done;
    if (!json_is_object(models)) {
        snprintf(err, errlen, "%s: models: expected an object of models", file);
        rc = MC_ERR_CONFIG;
        goto done;
    }
    if (!(p->models = calloc(json_object_size(models) + 1, sizeof *p->models))) {
        rc = MC_ERR_NOMEM;
        goto done;
    }
    json_object_foreach(models, key, v) {
        if (policy__ignorable(key))
            continue;
        p->nmodels++;
        if ((rc = policy__parse_model(p, &p->models[p->nmodels - 1], key, v, file, err, errlen)))
            goto done;
    }
done:
    if (rc == MC_ERR_NOMEM)
        snprintf(err, errlen, "%s: out of memory", file);
    if (rc != MC_OK)
        mc_policy_free(p);
    else
        *out = p;
    return rc;
}

int mc_policy_load(const char *path, const mc_schema_t *schema, mc_policy_t **out, char *err,
                   size_t errlen)
{
    json_t *root;
    *out = NULL;
    int rc = mc_json_load_file(path, &root, err, errlen);
    if (rc != MC_OK)
        return rc;
    rc = mc_policy_parse(root, path, schema, out, err, errlen);
    json_decref(root);
    return rc;
}
