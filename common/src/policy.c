/* policy.c - compile config/policies.json against the schema; connect, route, read, write. */
#include "mc_policy.h"
#include "mc_condition.h"
#include "mc_error.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- compiled form */

enum {
    RK_ALWAYS, RK_NEVER, RK_AUTH,
    RK_CLAIM_EQ, RK_CLAIM_CONTAINS, RK_CLAIM_EQ_INST, RK_CLAIM_CONTAINS_INST,
    RK_ALL, RK_ANY,
    RK_COND,            /* {"record"|"before"|"after": condition} */
    RK_ATTR_EQ_CLAIM,   /* {"attribute": a, "eq_claim": path} */
    RK_ATTR_IN_CLAIM,   /* {"attribute": a, "in_claim": path} */
};
enum { OF_RECORD, OF_BEFORE, OF_AFTER };
enum { OP_CREATE, OP_UPDATE, OP_DESTROY, OP__COUNT };
static const char *const op_names[OP__COUNT] = {"create", "update", "destroy"};

typedef struct prule {
    int kind;
    char **path;            /* claim path segments */
    int npath;
    json_t *value;          /* eq / contains value */
    struct prule *subs;     /* all / any */
    size_t nsubs;
    int of;                 /* OF_* for record tests */
    const mc_attr_t *attr;  /* attribute tests */
    json_t *cond;           /* RK_COND: a checked condition */
} prule_t;

typedef struct {
    char *name;
    int instance;
    prule_t connect;
} pchan_t;

#define SET_WORDS (MC_POLICY_MAX_COLUMNS / 64)
typedef struct {
    uint64_t w[SET_WORDS];
} attrset_t;

typedef struct {
    size_t chan;
    const mc_attr_t *attr;  /* instance channel: the attribute giving the id */
} ptarget_t;

typedef struct {
    attrset_t set;
    json_t *when;           /* NULL: always */
    ptarget_t *to;
    size_t nto;
} pbcast_t;

typedef struct {
    const mc_model_t *m;
    const char **cols;      /* system columns, then attributes */
    size_t ncols;
    pbcast_t *rules;
    size_t nrules, ntargets;
    prule_t *write[OP__COUNT];
} pmodel_t;

struct mc_policy {
    const mc_schema_t *schema;
    pchan_t *chans;
    size_t nchans;
    pmodel_t *models;
    size_t nmodels;
};

/* ---------------------------------------------------------------- freeing */

static void rule_cleanup(prule_t *r)
{
    for (int i = 0; i < r->npath; i++)
        free(r->path[i]);
    free(r->path);
    json_decref(r->value);
    json_decref(r->cond);
    for (size_t i = 0; i < r->nsubs; i++)
        rule_cleanup(&r->subs[i]);
    free(r->subs);
    memset(r, 0, sizeof *r);
}

void mc_policy_free(mc_policy_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nchans; i++) {
        free(p->chans[i].name);
        rule_cleanup(&p->chans[i].connect);
    }
    free(p->chans);
    for (size_t i = 0; i < p->nmodels; i++) {
        pmodel_t *pm = &p->models[i];
        free(pm->cols);
        for (size_t j = 0; j < pm->nrules; j++) {
            json_decref(pm->rules[j].when);
            free(pm->rules[j].to);
        }
        free(pm->rules);
        for (int op = 0; op < OP__COUNT; op++) {
            if (pm->write[op]) {
                rule_cleanup(pm->write[op]);
                free(pm->write[op]);
            }
        }
    }
    free(p->models);
    free(p);
}

/* ---------------------------------------------------------------- parsing */

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
} rctx_t;

static int name_ok(const char *s, int upper)
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

static int parse_claim_path(prule_t *r, const json_t *v, const char *file, const char *path,
                            const char *key, char *err, size_t errlen)
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

static int is_scalar_value(const json_t *v)
{
    return json_is_string(v) || json_is_integer(v) || json_is_boolean(v);
}

static int parse_rule(prule_t *r, const json_t *j, const rctx_t *c, const char *path, int depth,
                      char *err, size_t errlen);

static int parse_rule_list(prule_t *r, const json_t *arr, const rctx_t *c, const char *path,
                           const char *key, int depth, char *err, size_t errlen)
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
        TRY(parse_rule(&r->subs[i], e, c, sub, depth + 1, err, errlen));
    }
    return MC_OK;
}

static int parse_of(const json_t *j, const rctx_t *c, const char *path, int *of, char *err,
                    size_t errlen)
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

static int check_of(int of, const rctx_t *c, const char *path, char *err, size_t errlen)
{
    if (of == OF_BEFORE && c->op == OP_CREATE)
        FAIL("%s: %s: a create has no before record", c->file, path);
    if (of == OF_AFTER && c->op == OP_DESTROY)
        FAIL("%s: %s: a destroy has no after record", c->file, path);
    return MC_OK;
}

#define RULE_FORMS                                                                         \
    "\"always\", \"never\", \"authenticated\", {\"all\": [...]}, {\"any\": [...]}, "       \
    "{\"claim\": path, \"eq\"|\"contains\"|\"eq_instance\"|\"contains_instance\": ...}, " \
    "{\"record\"|\"before\"|\"after\": condition}, "                                       \
    "{\"attribute\": a, \"eq_claim\"|\"in_claim\": path}"

static int parse_rule(prule_t *r, const json_t *j, const rctx_t *c, const char *path, int depth,
                      char *err, size_t errlen)
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
        return parse_rule_list(r, json_object_get(j, key), c, path, key, depth, err, errlen);
    }

    if (json_object_get(j, "claim")) {
        static const char *const ops[] = {"eq", "contains", "eq_instance", "contains_instance"};
        static const int kinds[] = {RK_CLAIM_EQ, RK_CLAIM_CONTAINS, RK_CLAIM_EQ_INST,
                                    RK_CLAIM_CONTAINS_INST};
        const char *key;
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
        TRY(parse_claim_path(r, json_object_get(j, "claim"), file, path, "claim", err, errlen));
        r->kind = kinds[found];
        v = json_object_get(j, ops[found]);
        if (found >= 2) {
            if (!json_is_true(v))
                FAIL("%s: %s.%s: expected true", file, path, ops[found]);
            if (!c->is_connect || !c->instance)
                FAIL("%s: %s.%s: only in the connect rule of an instance channel", file, path,
                     ops[found]);
        } else {
            if (!is_scalar_value(v))
                FAIL("%s: %s.%s: expected a string, integer or boolean", file, path,
                     ops[found]);
            r->value = json_incref(v);
        }
        return MC_OK;
    }

    static const char *const recs[] = {"record", "before", "after"};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(j, recs[i]);
        char sub[512];
        if (!v)
            continue;
        if (c->is_connect)
            FAIL("%s: %s.%s: record tests only apply to write rules", file, path, recs[i]);
        if (json_object_size(j) != 1)
            FAIL("%s: %s: \"%s\" stands alone in its object", file, path, recs[i]);
        r->kind = RK_COND;
        r->of = i == 0 ? OF_RECORD : i == 1 ? OF_BEFORE : OF_AFTER;
        TRY(check_of(r->of, c, path, err, errlen));
        snprintf(sub, sizeof sub, "%s: %s.%s", file, path, recs[i]);
        TRY(mc_cond_check(c->m, v, sub, err, errlen));
        r->cond = json_incref(v);
        return MC_OK;
    }

    if (json_object_get(j, "attribute")) {
        const char *aname = json_string_value(json_object_get(j, "attribute"));
        json_t *eq = json_object_get(j, "eq_claim"), *in = json_object_get(j, "in_claim");
        const char *key;
        json_t *v;
        if (c->is_connect)
            FAIL("%s: %s.attribute: attribute tests only apply to write rules", file, path);
        json_object_foreach((json_t *)j, key, v) {
            if (strcmp(key, "attribute") && strcmp(key, "eq_claim") && strcmp(key, "in_claim") &&
                strcmp(key, "of"))
                FAIL("%s: %s.%s: unknown key (an attribute test takes attribute, eq_claim or "
                     "in_claim, and of)", file, path, key);
        }
        if (!aname)
            FAIL("%s: %s.attribute: expected an attribute name", file, path);
        if (!(r->attr = mc_model_column(c->m, aname)))
            FAIL("%s: %s.attribute: '%s' is not an attribute of %s", file, path, aname,
                 c->m->name);
        if (!!eq == !!in)
            FAIL("%s: %s: an attribute test takes exactly one of eq_claim, in_claim", file,
                 path);
        r->kind = eq ? RK_ATTR_EQ_CLAIM : RK_ATTR_IN_CLAIM;
        TRY(parse_of(j, c, path, &r->of, err, errlen));
        TRY(check_of(r->of, c, path, err, errlen));
        return parse_claim_path(r, eq ? eq : in, file, path, eq ? "eq_claim" : "in_claim", err,
                                errlen);
    }
    FAIL("%s: %s: unknown rule form (one of " RULE_FORMS ")", file, path);
}

static int ignorable(const char *key)
{
    return key[0] == '$'; /* "$comment" and friends */
}

static int parse_channels(mc_policy_t *p, const json_t *chans, const char *file, char *err,
                          size_t errlen)
{
    const char *name, *key;
    json_t *spec, *v;
    if (!json_is_object(chans) || json_object_size(chans) == 0)
        FAIL("%s: channels: expected an object of channels, e.g. {\"Application\": "
             "{\"connect\": \"always\"}}", file);
    if (!(p->chans = calloc(json_object_size(chans), sizeof *p->chans)))
        return MC_ERR_NOMEM;
    json_object_foreach((json_t *)chans, name, spec) {
        pchan_t *ch = &p->chans[p->nchans];
        char path[256];
        if (ignorable(name))
            continue;
        if (!name_ok(name, 1))
            FAIL("%s: channels.%s: channel names must match [A-Z][A-Za-z0-9_]* (at most 63 "
                 "characters)", file, name);
        if (!json_is_object(spec))
            FAIL("%s: channels.%s: expected an object like {\"connect\": \"always\"}", file,
                 name);
        json_object_foreach(spec, key, v) {
            if (strcmp(key, "connect") && strcmp(key, "instance") && !ignorable(key))
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
        rctx_t c = {.file = file, .is_connect = 1, .instance = ch->instance};
        snprintf(path, sizeof path, "channels.%s.connect", name);
        TRY(parse_rule(&ch->connect, json_object_get(spec, "connect"), &c, path, 0, err, errlen));
    }
    return MC_OK;
}

static const pchan_t *find_chan(const mc_policy_t *p, const char *name, size_t len, size_t *idx)
{
    for (size_t i = 0; i < p->nchans; i++)
        if (strlen(p->chans[i].name) == len && memcmp(p->chans[i].name, name, len) == 0) {
            if (idx)
                *idx = i;
            return &p->chans[i];
        }
    return NULL;
}

static void set_add(attrset_t *s, size_t i)
{
    s->w[i / 64] |= UINT64_C(1) << (i % 64);
}

static int set_has(const attrset_t *s, size_t i)
{
    return (s->w[i / 64] >> (i % 64)) & 1;
}

static long col_index(const pmodel_t *pm, const char *name)
{
    for (size_t i = 0; i < pm->ncols; i++)
        if (strcmp(pm->cols[i], name) == 0)
            return (long)i;
    return -1;
}

static int parse_attr_list(const pmodel_t *pm, const json_t *list, const char *file,
                           const char *path, const char *key, int but, attrset_t *out,
                           char *err, size_t errlen)
{
    size_t i;
    json_t *e;
    if (!json_is_array(list) || json_array_size(list) == 0)
        FAIL("%s: %s.%s: expected a non-empty array of attribute names", file, path, key);
    json_array_foreach(list, i, e) {
        const char *a = json_string_value(e);
        long ci = a ? col_index(pm, a) : -1;
        if (!a)
            FAIL("%s: %s.%s[%zu]: expected an attribute name", file, path, key, i);
        if (ci < 0)
            FAIL("%s: %s.%s[%zu]: '%s' is not an attribute of %s", file, path, key, i, a,
                 pm->m->name);
        if (ci < MC_MODEL_NSYSTEM && but)
            FAIL("%s: %s.%s[%zu]: '%s' is a system column, always sent", file, path, key, i, a);
        set_add(out, (size_t)ci);
    }
    return MC_OK;
}

static int instance_type_ok(mc_attr_type_t t)
{
    return t == MC_ATTR_INTEGER || t == MC_ATTR_BIGINT || t == MC_ATTR_REFERENCE ||
           t == MC_ATTR_STRING;
}

static int parse_broadcast(const mc_policy_t *p, pmodel_t *pm, const json_t *list,
                           const char *file, char *err, size_t errlen)
{
    size_t i;
    json_t *rj;
    const char *mname = pm->m->name;
    if (!json_is_array(list))
        FAIL("%s: models.%s.broadcast: expected an array of rules", file, mname);
    if (!(pm->rules = calloc(json_array_size(list) + 1, sizeof *pm->rules)))
        return MC_ERR_NOMEM;
    json_array_foreach(list, i, rj) {
        pbcast_t *b = &pm->rules[i];
        char path[256];
        const char *key;
        json_t *v;
        int nsend = 0;
        snprintf(path, sizeof path, "models.%s.broadcast[%zu]", mname, i);
        if (!json_is_object(rj))
            FAIL("%s: %s: expected an object like {\"send\": \"all\", \"to\": [\"Application\"]}",
                 file, path);
        pm->nrules = i + 1;
        json_object_foreach(rj, key, v) {
            if (strcmp(key, "send") && strcmp(key, "send_only") && strcmp(key, "send_all_but") &&
                strcmp(key, "to") && strcmp(key, "when") && !ignorable(key))
                FAIL("%s: %s.%s: unknown key (send, send_only, send_all_but, to, when)", file,
                     path, key);
            nsend += strncmp(key, "send", 4) == 0;
        }
        if (nsend != 1)
            FAIL("%s: %s: give exactly one of \"send\": \"all\", \"send_only\": [...], "
                 "\"send_all_but\": [...]", file, path);
        for (size_t c = 0; c < MC_MODEL_NSYSTEM; c++)
            set_add(&b->set, c);
        if ((v = json_object_get(rj, "send"))) {
            if (!json_is_string(v) || strcmp(json_string_value(v), "all") != 0)
                FAIL("%s: %s.send: expected \"all\" (or use send_only / send_all_but)", file,
                     path);
            for (size_t c = 0; c < pm->ncols; c++)
                set_add(&b->set, c);
        } else if ((v = json_object_get(rj, "send_only"))) {
            TRY(parse_attr_list(pm, v, file, path, "send_only", 0, &b->set, err, errlen));
        } else {
            attrset_t but = {{0}};
            TRY(parse_attr_list(pm, json_object_get(rj, "send_all_but"), file, path,
                                "send_all_but", 1, &but, err, errlen));
            for (size_t c = 0; c < pm->ncols; c++)
                if (!set_has(&but, c))
                    set_add(&b->set, c);
        }
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
        size_t k;
        json_t *t;
        json_array_foreach(v, k, t) {
            ptarget_t *tg = &b->to[k];
            const char *cname = NULL, *iname = NULL, *tk;
            const pchan_t *ch;
            json_t *tv;
            if (json_is_string(t)) {
                cname = json_string_value(t);
            } else if (json_is_object(t)) {
                json_object_foreach(t, tk, tv) {
                    if (strcmp(tk, "channel") && strcmp(tk, "instance"))
                        FAIL("%s: %s.to[%zu].%s: unknown key (channel, instance)", file, path, k,
                             tk);
                }
                cname = json_string_value(json_object_get(t, "channel"));
                tv = json_object_get(t, "instance");
                if (tv && !(iname = json_string_value(tv)))
                    FAIL("%s: %s.to[%zu].instance: expected an attribute name", file, path, k);
            }
            if (!cname)
                FAIL("%s: %s.to[%zu]: expected a channel name or {\"channel\": C, \"instance\": "
                     "attribute}", file, path, k);
            if (!(ch = find_chan(p, cname, strlen(cname), &tg->chan)))
                FAIL("%s: %s.to[%zu]: '%s' is not a channel declared under channels", file, path,
                     k, cname);
            if (ch->instance && !iname)
                FAIL("%s: %s.to[%zu]: %s is an instance channel: use {\"channel\": \"%s\", "
                     "\"instance\": \"<attribute>\"}", file, path, k, cname, cname);
            if (!ch->instance && iname)
                FAIL("%s: %s.to[%zu].instance: %s is a class channel (no \"instance\": true), "
                     "it takes no instance", file, path, k, cname);
            if (iname) {
                if (!(tg->attr = mc_model_column(pm->m, iname)))
                    FAIL("%s: %s.to[%zu].instance: '%s' is not an attribute of %s", file, path, k,
                         iname, mname);
                if (!instance_type_ok(tg->attr->type))
                    FAIL("%s: %s.to[%zu].instance: '%s' is a %s; instance ids come from integer, "
                         "bigint, reference or string attributes", file, path, k, iname,
                         mc_attr_type_name(tg->attr->type));
            }
            b->nto = k + 1;
            pm->ntargets++;
        }
    }
    return MC_OK;
}

static int parse_model(mc_policy_t *p, pmodel_t *pm, const char *mname, const json_t *spec,
                       const char *file, char *err, size_t errlen)
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
        if (strcmp(key, "broadcast") && strcmp(key, "write") && !ignorable(key))
            FAIL("%s: models.%s.%s: unknown key (broadcast, write)", file, mname, key);
    }
    if ((v = json_object_get(spec, "broadcast")))
        TRY(parse_broadcast(p, pm, v, file, err, errlen));
    if ((v = json_object_get(spec, "write"))) {
        json_t *r;
        if (!json_is_object(v))
            FAIL("%s: models.%s.write: expected an object {\"create\": rule, \"update\": rule, "
                 "\"destroy\": rule}", file, mname);
        json_object_foreach(v, key, r) {
            int op = -1;
            char path[256];
            if (ignorable(key))
                continue;
            for (int i = 0; i < OP__COUNT; i++)
                if (strcmp(key, op_names[i]) == 0)
                    op = i;
            if (op < 0)
                FAIL("%s: models.%s.write.%s: unknown operation (create, update, destroy)", file,
                     mname, key);
            if (!(pm->write[op] = calloc(1, sizeof *pm->write[op])))
                return MC_ERR_NOMEM;
            rctx_t c = {.file = file, .op = op, .m = m};
            snprintf(path, sizeof path, "models.%s.write.%s", mname, key);
            TRY(parse_rule(pm->write[op], r, &c, path, 0, err, errlen));
        }
    }
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
        if (strcmp(key, "channels") && strcmp(key, "models") && !ignorable(key)) {
            snprintf(err, errlen, "%s: %s: unknown key (channels, models)", file, key);
            rc = MC_ERR_CONFIG;
            goto done;
        }
    }
    if ((rc = parse_channels(p, json_object_get(root, "channels"), file, err, errlen)))
        goto done;
    models = json_object_get(root, "models");
    if (models && !json_is_object(models)) {
        snprintf(err, errlen, "%s: models: expected an object of models", file);
        rc = MC_ERR_CONFIG;
        goto done;
    }
    if (models && !(p->models = calloc(json_object_size(models) + 1, sizeof *p->models))) {
        rc = MC_ERR_NOMEM;
        goto done;
    }
    json_object_foreach(models, key, v) {
        if (ignorable(key))
            continue;
        p->nmodels++;
        if ((rc = parse_model(p, &p->models[p->nmodels - 1], key, v, file, err, errlen)))
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
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    *out = NULL;
    if (!root) {
        snprintf(err, errlen, "%s: line %d column %d: %s", path, jerr.line, jerr.column,
                 jerr.text);
        return jerr.line < 0 || jerr.position == 0 ? MC_ERR_IO : MC_ERR_JSON;
    }
    int rc = mc_policy_parse(root, path, schema, out, err, errlen);
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------- evaluation */

typedef struct {
    const json_t *claims;   /* NULL: anonymous */
    const char *instance;   /* instance id of the channel; NULL: instance tests are false */
    const mc_model_t *m;
    const json_t *before, *after;
} ectx_t;

/* The text of a scalar (string as is, integer in decimal), or NULL. buf: >= 24 bytes. */
static const char *scalar_text(const json_t *v, char *buf, size_t buflen)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    return NULL;
}

static const json_t *claim_get(const prule_t *r, const json_t *claims)
{
    const json_t *v = claims;
    for (int i = 0; v && i < r->npath; i++)
        v = json_is_object(v) ? json_object_get(v, r->path[i]) : NULL;
    return v;
}

/* Whether the space-separated word list s holds word. */
static int words_have(const char *s, const char *word)
{
    size_t n = strlen(word);
    if (n == 0)
        return 0;
    for (const char *p = s; (p = strstr(p, word)); p++)
        if ((p == s || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

/* claim (array, or space-separated string) holds an element whose text is text. */
static int claim_has_text(const json_t *claim, const char *text)
{
    char buf[32];
    if (json_is_array(claim)) {
        size_t i;
        json_t *e;
        json_array_foreach(claim, i, e) {
            const char *t = scalar_text(e, buf, sizeof buf);
            if (t && strcmp(t, text) == 0)
                return 1;
        }
        return 0;
    }
    return json_is_string(claim) && words_have(json_string_value(claim), text);
}

static int claim_contains(const json_t *claim, const json_t *value)
{
    if (json_is_array(claim)) {
        size_t i;
        json_t *e;
        json_array_foreach(claim, i, e) {
            if (json_equal(e, (json_t *)value))
                return 1;
        }
        return 0;
    }
    return json_is_string(claim) && json_is_string(value) &&
           words_have(json_string_value(claim), json_string_value(value));
}

static int attr_claim_test(const prule_t *r, const ectx_t *c, const json_t *rec)
{
    char b1[32], b2[32];
    const json_t *claim = claim_get(r, c->claims);
    const char *rv = rec ? scalar_text(json_object_get(rec, r->attr->name), b1, sizeof b1) : NULL;
    if (!rv || !claim)
        return 0;
    if (r->kind == RK_ATTR_IN_CLAIM)
        return claim_has_text(claim, rv);
    const char *cv = scalar_text(claim, b2, sizeof b2);
    return cv && strcmp(cv, rv) == 0;
}

static int rule_eval(const prule_t *r, const ectx_t *c)
{
    const json_t *v;
    char buf[32];
    switch (r->kind) {
    case RK_ALWAYS:
        return 1;
    case RK_NEVER:
        return 0;
    case RK_AUTH:
        return c->claims != NULL;
    case RK_CLAIM_EQ:
        v = claim_get(r, c->claims);
        return v && json_equal((json_t *)v, r->value);
    case RK_CLAIM_CONTAINS:
        v = claim_get(r, c->claims);
        return v && claim_contains(v, r->value);
    case RK_CLAIM_EQ_INST: {
        const char *t;
        v = claim_get(r, c->claims);
        return c->instance && v && (t = scalar_text(v, buf, sizeof buf)) &&
               strcmp(t, c->instance) == 0;
    }
    case RK_CLAIM_CONTAINS_INST:
        v = claim_get(r, c->claims);
        return c->instance && v && claim_has_text(v, c->instance);
    case RK_ALL:
        for (size_t i = 0; i < r->nsubs; i++)
            if (!rule_eval(&r->subs[i], c))
                return 0;
        return 1;
    case RK_ANY:
        for (size_t i = 0; i < r->nsubs; i++)
            if (rule_eval(&r->subs[i], c))
                return 1;
        return 0;
    case RK_COND:
        if (r->of == OF_BEFORE)
            return c->before && mc_cond_eval(c->m, r->cond, c->before);
        if (r->of == OF_AFTER)
            return c->after && mc_cond_eval(c->m, r->cond, c->after);
        return (c->before || c->after) &&
               (!c->before || mc_cond_eval(c->m, r->cond, c->before)) &&
               (!c->after || mc_cond_eval(c->m, r->cond, c->after));
    case RK_ATTR_EQ_CLAIM:
    case RK_ATTR_IN_CLAIM:
        if (r->of == OF_BEFORE)
            return attr_claim_test(r, c, c->before);
        if (r->of == OF_AFTER)
            return attr_claim_test(r, c, c->after);
        if (!c->before && !c->after)
            return 0;
        return (!c->before || attr_claim_test(r, c, c->before)) &&
               (!c->after || attr_claim_test(r, c, c->after));
    }
    return 0;
}

static int chan_admits(const pchan_t *ch, const json_t *claims, const char *instance)
{
    ectx_t c = {.claims = claims, .instance = instance};
    return rule_eval(&ch->connect, &c);
}

int mc_policy_can_connect(const mc_policy_t *p, const json_t *claims, const char *channel,
                          const char **reason)
{
    const char *dash = channel ? strchr(channel, '-') : NULL;
    const pchan_t *ch = NULL;
    if (reason)
        *reason = NULL;
    if (p && channel)
        ch = find_chan(p, channel, dash ? (size_t)(dash - channel) : strlen(channel), NULL);
    if (!ch || (ch->instance != (dash != NULL)) || (dash && (!dash[1] || strlen(dash) > 256))) {
        if (reason)
            *reason = "unknown_channel";
        return 0;
    }
    if (chan_admits(ch, claims, dash ? dash + 1 : NULL))
        return 1;
    if (reason)
        *reason = claims ? "denied" : "unauthenticated";
    return 0;
}

/* ------------------------------------------------ instance ids a caller may connect to */

/* Collects into ids (array of strings, deduplicated) the instance ids named by the
 * instance tests of r for claims. */
static void collect_candidates(const prule_t *r, const json_t *claims, json_t *ids)
{
    char buf[32];
    const char *t;
    if (r->kind == RK_ALL || r->kind == RK_ANY) {
        for (size_t i = 0; i < r->nsubs; i++)
            collect_candidates(&r->subs[i], claims, ids);
        return;
    }
    if (r->kind != RK_CLAIM_EQ_INST && r->kind != RK_CLAIM_CONTAINS_INST)
        return;
    const json_t *v = claim_get(r, claims);
    json_t *list = json_array();
    if (!list)
        return;
    if (r->kind == RK_CLAIM_CONTAINS_INST && json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if ((t = scalar_text(e, buf, sizeof buf)))
                json_array_append_new(list, json_string(t));
        }
    } else if (r->kind == RK_CLAIM_CONTAINS_INST && json_is_string(v)) {
        const char *s = json_string_value(v);
        while (*s) {
            size_t n = strcspn(s, " ");
            if (n)
                json_array_append_new(list, json_stringn(s, n));
            s += n + (s[n] == ' ');
        }
    } else if ((t = scalar_text(v, buf, sizeof buf))) {
        json_array_append_new(list, json_string(t));
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        size_t k;
        json_t *have;
        int dup = 0;
        if (json_array_size(ids) >= MC_POLICY_MAX_INSTANCES)
            break;
        json_array_foreach(ids, k, have) dup |= json_equal(have, e);
        if (!dup && json_string_length(e) > 0 && json_string_length(e) <= 256)
            json_array_append(ids, e);
    }
    json_decref(list);
}

/*
 * The instances of channel ch the caller may connect to: returns 1 when the rule admits
 * every instance (it holds without any instance test), else 0 with *ids (new array, may be
 * empty; NULL on allocation failure) the verified ids.
 */
static int chan_instances(const pchan_t *ch, const json_t *claims, json_t **ids)
{
    *ids = NULL;
    if (chan_admits(ch, claims, NULL))
        return 1; /* rules are monotone: true with every instance test false */
    json_t *cand = json_array(), *ok = json_array();
    if (!cand || !ok) {
        json_decref(cand);
        json_decref(ok);
        return 0;
    }
    collect_candidates(&ch->connect, claims, cand);
    size_t i;
    json_t *e;
    json_array_foreach(cand, i, e) {
        if (chan_admits(ch, claims, json_string_value(e)))
            json_array_append(ok, e);
    }
    json_decref(cand);
    *ids = ok;
    return 0;
}

json_t *mc_policy_channels(const mc_policy_t *p, const json_t *claims)
{
    json_t *out = json_array();
    if (!out || !p)
        return out;
    for (size_t i = 0; i < p->nchans; i++) {
        const pchan_t *ch = &p->chans[i];
        if (!ch->instance) {
            if (chan_admits(ch, claims, NULL))
                json_array_append_new(out, json_string(ch->name));
            continue;
        }
        json_t *cand = json_array();
        if (!cand)
            break;
        collect_candidates(&ch->connect, claims, cand);
        size_t k;
        json_t *e;
        json_array_foreach(cand, k, e) {
            const char *id = json_string_value(e);
            if (chan_admits(ch, claims, id)) {
                char name[340];
                snprintf(name, sizeof name, "%s-%s", ch->name, id);
                json_array_append_new(out, json_string(name));
            }
        }
        json_decref(cand);
    }
    return out;
}

/* ---------------------------------------------------------------- routing */

static const pmodel_t *find_model(const mc_policy_t *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->nmodels; i++)
        if (strcmp(p->models[i].m->name, name) == 0)
            return &p->models[i];
    return NULL;
}

/* One concrete channel a record goes to: channel, instance id, attributes. */
typedef struct {
    size_t chan;
    const char *inst;       /* points into the record, or into ibuf */
    char ibuf[24];
    attrset_t set;
} hit_t;

static int hit_same(const hit_t *h, size_t chan, const char *inst)
{
    return h->chan == chan && (h->inst == inst || (h->inst && inst && strcmp(h->inst, inst) == 0));
}

/* Fills hits (room for pm->ntargets) with the channels rec goes to; returns their number. */
static size_t collect_hits(const pmodel_t *pm, const json_t *rec, hit_t *hits)
{
    size_t n = 0;
    for (size_t r = 0; r < pm->nrules; r++) {
        const pbcast_t *b = &pm->rules[r];
        if (b->when && !mc_cond_eval(pm->m, b->when, rec))
            continue;
        for (size_t t = 0; t < b->nto; t++) {
            char buf[24];
            const char *inst = NULL;
            size_t k;
            if (b->to[t].attr) {
                inst = scalar_text(json_object_get(rec, b->to[t].attr->name), buf, sizeof buf);
                if (!inst || !*inst)
                    continue;
            }
            for (k = 0; k < n; k++)
                if (hit_same(&hits[k], b->to[t].chan, inst))
                    break;
            if (k < n) {
                for (int w = 0; w < SET_WORDS; w++)
                    hits[k].set.w[w] &= b->set.w[w];
                continue;
            }
            hits[n].chan = b->to[t].chan;
            hits[n].set = b->set;
            if (inst == buf) {
                memcpy(hits[n].ibuf, buf, sizeof buf);
                hits[n].inst = hits[n].ibuf;
            } else {
                hits[n].inst = inst;
            }
            n++;
        }
    }
    return n;
}

static json_t *filter_record(const pmodel_t *pm, const json_t *rec, const attrset_t *set)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < pm->ncols; i++) {
        if (!set_has(set, i))
            continue;
        json_t *v = json_object_get(rec, pm->cols[i]);
        if (v && json_object_set_nocheck(o, pm->cols[i], v)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int hit_name(const mc_policy_t *p, const hit_t *h, char *buf, size_t buflen)
{
    int n = h->inst ? snprintf(buf, buflen, "%s-%s", p->chans[h->chan].name, h->inst)
                    : snprintf(buf, buflen, "%s", p->chans[h->chan].name);
    return n >= 0 && (size_t)n < buflen;
}

static int emit(json_t *out, const char *channel, const char *op, json_t *attrs)
{
    if (!attrs)
        return MC_ERR_NOMEM;
    json_t *d = json_object();
    if (!d || json_object_set_new_nocheck(d, "channel", json_string(channel)) ||
        json_object_set_new_nocheck(d, "op", json_string(op)) ||
        json_object_set_new_nocheck(d, "attributes", attrs) || json_array_append_new(out, d)) {
        json_decref(d);
        return MC_ERR_NOMEM;
    }
    return MC_OK;
}

int mc_policy_route(const mc_policy_t *p, const char *model, const char *op,
                    const json_t *before, const json_t *after, json_t **deliveries)
{
    const pmodel_t *pm;
    hit_t *hb = NULL, *ha = NULL;
    size_t nb = 0, na = 0;
    int o = -1, rc = MC_OK;
    char name[400];

    *deliveries = NULL;
    for (int i = 0; op && i < OP__COUNT; i++)
        if (strcmp(op, op_names[i]) == 0)
            o = i;
    if (!p || o < 0)
        return MC_ERR_INVAL;
    if ((o != OP_CREATE && !json_is_object(before)) ||
        (o != OP_DESTROY && !json_is_object(after)))
        return MC_ERR_INVAL;
    if (!(pm = find_model(p, model))) {
        if (!mc_schema_find(p->schema, model))
            return MC_ERR_NOT_FOUND;
        return (*deliveries = json_array()) ? MC_OK : MC_ERR_NOMEM;
    }
    if (!(*deliveries = json_array()))
        return MC_ERR_NOMEM;
    if (pm->ntargets == 0)
        return MC_OK;
    hb = o != OP_CREATE ? calloc(pm->ntargets, sizeof *hb) : NULL;
    ha = o != OP_DESTROY ? calloc(pm->ntargets, sizeof *ha) : NULL;
    if ((o != OP_CREATE && !hb) || (o != OP_DESTROY && !ha)) {
        rc = MC_ERR_NOMEM;
        goto done;
    }
    if (hb)
        nb = collect_hits(pm, before, hb);
    if (ha)
        na = collect_hits(pm, after, ha);
    for (size_t i = 0; rc == MC_OK && i < na; i++) {
        const char *dop = op_names[o];
        if (o == OP_UPDATE) {
            /* A channel that did not see the record before gets it as a create. */
            size_t k;
            for (k = 0; k < nb; k++)
                if (hit_same(&hb[k], ha[i].chan, ha[i].inst))
                    break;
            if (k == nb)
                dop = "create";
        }
        if (hit_name(p, &ha[i], name, sizeof name))
            rc = emit(*deliveries, name, dop, filter_record(pm, after, &ha[i].set));
    }
    for (size_t i = 0; rc == MC_OK && i < nb; i++) {
        if (!hit_name(p, &hb[i], name, sizeof name))
            continue;
        if (o == OP_DESTROY) {
            rc = emit(*deliveries, name, "destroy", filter_record(pm, before, &hb[i].set));
            continue;
        }
        size_t k;
        for (k = 0; k < na; k++)
            if (hit_same(&ha[k], hb[i].chan, hb[i].inst))
                break;
        if (k == na) {
            json_t *id = json_object_get(before, "id"), *a = json_object();
            if (a && id)
                json_object_set_nocheck(a, "id", id);
            rc = emit(*deliveries, name, "remove", a);
        }
    }
done:
    free(hb);
    free(ha);
    if (rc != MC_OK) {
        json_decref(*deliveries);
        *deliveries = NULL;
    }
    return rc;
}

/* ---------------------------------------------------------------- writes */

int mc_policy_can_write(const mc_policy_t *p, const char *model, const char *op,
                        const json_t *claims, const json_t *before, const json_t *after,
                        const char **reason)
{
    const char *dummy;
    const pmodel_t *pm;
    int o = -1;
    if (!reason)
        reason = &dummy;
    *reason = NULL;
    if (!p || !mc_schema_find(p->schema, model)) {
        *reason = "unknown_model";
        return 0;
    }
    for (int i = 0; op && i < OP__COUNT; i++)
        if (strcmp(op, op_names[i]) == 0)
            o = i;
    if (o < 0 || (o != OP_CREATE && !json_is_object(before)) ||
        (o != OP_DESTROY && !json_is_object(after))) {
        *reason = "denied";
        return 0;
    }
    pm = find_model(p, model);
    if (!pm || !pm->write[o]) {
        *reason = "no_rule";
        return 0;
    }
    ectx_t c = {.claims = claims, .m = pm->m, .before = o == OP_CREATE ? NULL : before,
                .after = o == OP_DESTROY ? NULL : after};
    if (rule_eval(pm->write[o], &c))
        return 1;
    *reason = claims ? "denied" : "unauthenticated";
    return 0;
}

/* ---------------------------------------------------------------- reads */

/* Per broadcast rule, what the caller reaches: any class channel, or per instance target
 * every instance (all) or the listed ids. */
typedef struct {
    int cls;                /* a class channel of the rule admits the caller */
    int *all;               /* per target: every instance */
    json_t **ids;           /* per target: verified ids (or NULL) */
} reach_t;

static void reach_cleanup(reach_t *r, size_t nto)
{
    for (size_t t = 0; r->ids && t < nto; t++)
        json_decref(r->ids[t]);
    free(r->ids);
    free(r->all);
}

/* Whether an instance id can be bound to a column of attr's type. */
static int id_fits(const mc_attr_t *a, const char *id)
{
    if (a->type == MC_ATTR_STRING)
        return 1;
    char *end, canon[32];
    errno = 0;
    long long v = strtoll(id, &end, 10);
    if (errno || end == id || *end)
        return 0;
    /* Only the canonical decimal form, as routing names instance channels ("User-42"). */
    snprintf(canon, sizeof canon, "%lld", v);
    if (strcmp(canon, id) != 0)
        return 0;
    if (a->type == MC_ATTR_INTEGER)
        return v >= INT32_MIN && v <= INT32_MAX;
    return 1;
}

/* Fills r for rule b; returns whether the rule reaches the caller at all (-1: no memory). */
static int reach_rule(const mc_policy_t *p, const pbcast_t *b, const json_t *claims, reach_t *r)
{
    int any = 0;
    memset(r, 0, sizeof *r);
    if (!(r->all = calloc(b->nto, sizeof *r->all)) || !(r->ids = calloc(b->nto, sizeof *r->ids)))
        return -1;
    for (size_t t = 0; t < b->nto; t++) {
        const pchan_t *ch = &p->chans[b->to[t].chan];
        if (!b->to[t].attr) {
            if (chan_admits(ch, claims, NULL))
                any = r->cls = 1;
            continue;
        }
        if (chan_instances(ch, claims, &r->ids[t])) {
            any = r->all[t] = 1;
            continue;
        }
        if (!r->ids[t])
            return -1;
        size_t i;
        json_t *e;
        json_array_foreach(r->ids[t], i, e) {
            if (id_fits(b->to[t].attr, json_string_value(e)))
                any = 1;
        }
    }
    return any;
}

static int rules_share_channel(const pbcast_t *a, const pbcast_t *b)
{
    for (size_t t = 0; t < a->nto; t++)
        for (size_t u = 0; u < b->nto; u++)
            if (a->to[t].chan == b->to[u].chan)
                return 1;
    return 0;
}

int mc_policy_read_filter(const mc_policy_t *p, const char *model, const json_t *claims,
                          const char *const *needed, size_t nneeded, mc_sql_t *sql)
{
    const pmodel_t *pm = find_model(p, model);
    int nterms = 0;
    attrset_t need = {{0}};
    if (!pm) {
        if (!p || !mc_schema_find(p->schema, model))
            return MC_ERR_NOT_FOUND;
        mc_sql_add(sql, "(FALSE)");
        return MC_OK;
    }
    for (size_t i = 0; i < nneeded; i++) {
        long c = col_index(pm, needed[i]);
        if (c < 0) {
            mc_sql_add(sql, "(FALSE)");
            return MC_OK;
        }
        set_add(&need, (size_t)c);
    }
    mc_sql_add(sql, "(");
    for (size_t i = 0; i < pm->nrules; i++) {
        const pbcast_t *b = &pm->rules[i];
        reach_t r;
        /* What this rule is sure to show: its set, narrowed by every rule that may send to
         * one of its channels too (a channel gets the intersection of the rules that send
         * it a record). A rule that is not sure to show every needed column cannot admit a
         * row, or a filter on a withheld attribute would tell its value. */
        attrset_t sure = b->set;
        for (size_t j = 0; j < pm->nrules; j++) {
            if (j != i && rules_share_channel(b, &pm->rules[j]))
                for (size_t w = 0; w < SET_WORDS; w++)
                    sure.w[w] &= pm->rules[j].set.w[w];
        }
        int lacks = 0;
        for (size_t w = 0; w < SET_WORDS; w++)
            lacks |= (need.w[w] & ~sure.w[w]) != 0;
        if (lacks)
            continue;
        int got = reach_rule(p, b, claims, &r);
        if (got < 0)
            sql->failed = 1;
        if (got <= 0) {
            reach_cleanup(&r, b->nto);
            continue;
        }
        if (nterms++)
            mc_sql_add(sql, " OR ");
        mc_sql_add(sql, "(");
        if (b->when) {
            mc_cond_sql(pm->m, b->when, sql);
            mc_sql_add(sql, " AND ");
        }
        if (r.cls) {
            mc_sql_add(sql, "TRUE");
        } else {
            int nt = 0;
            mc_sql_add(sql, "(");
            for (size_t t = 0; t < b->nto; t++) {
                const mc_attr_t *a = b->to[t].attr;
                if (!a || (!r.all[t] && !r.ids[t]))
                    continue;
                if (r.all[t]) {
                    mc_sql_add(sql, "%s", nt++ ? " OR " : "");
                    mc_sql_ident(sql, a->name);
                    mc_sql_add(sql, " IS NOT NULL");
                    continue;
                }
                size_t k, n = 0;
                json_t *e;
                json_array_foreach(r.ids[t], k, e) {
                    if (!id_fits(a, json_string_value(e)))
                        continue;
                    if (n++ == 0) {
                        mc_sql_add(sql, "%s", nt++ ? " OR " : "");
                        mc_sql_ident(sql, a->name);
                        mc_sql_add(sql, " IN (");
                    } else {
                        mc_sql_add(sql, ", ");
                    }
                    mc_sql_param(sql, json_string_value(e), mc_cond_cast(a->type));
                }
                if (n)
                    mc_sql_add(sql, ")");
            }
            mc_sql_add(sql, nt ? ")" : "FALSE)");
        }
        mc_sql_add(sql, ")");
        reach_cleanup(&r, b->nto);
    }
    if (!nterms)
        mc_sql_add(sql, "FALSE");
    mc_sql_add(sql, ")");
    return MC_OK;
}

json_t *mc_policy_visible(const mc_policy_t *p, const char *model, const json_t *claims,
                          const json_t *record)
{
    const pmodel_t *pm = find_model(p, model);
    attrset_t set = {{0}};
    int seen = 0;
    if (!pm || !json_is_object(record) || pm->ntargets == 0)
        return NULL;
    hit_t *hits = calloc(pm->ntargets, sizeof *hits);
    if (!hits)
        return NULL;
    size_t n = collect_hits(pm, record, hits);
    for (size_t i = 0; i < n; i++) {
        if (!chan_admits(&p->chans[hits[i].chan], claims, hits[i].inst))
            continue;
        seen = 1;
        for (int w = 0; w < SET_WORDS; w++)
            set.w[w] |= hits[i].set.w[w];
    }
    free(hits);
    return seen ? filter_record(pm, record, &set) : NULL;
}

json_t *mc_policy_visible_attributes(const mc_policy_t *p, const char *model,
                                     const json_t *claims)
{
    const pmodel_t *pm = find_model(p, model);
    attrset_t set = {{0}};
    int seen = 0;
    if (!pm)
        return NULL;
    for (size_t i = 0; i < pm->nrules; i++) {
        reach_t r;
        if (reach_rule(p, &pm->rules[i], claims, &r) > 0) {
            seen = 1;
            for (int w = 0; w < SET_WORDS; w++)
                set.w[w] |= pm->rules[i].set.w[w];
        }
        reach_cleanup(&r, pm->rules[i].nto);
    }
    if (!seen)
        return NULL;
    json_t *out = json_array();
    for (size_t i = 0; out && i < pm->ncols; i++)
        if (set_has(&set, i))
            json_array_append_new(out, json_string(pm->cols[i]));
    return out;
}
