/* policy_eval.c - evaluate rules: who may connect to which channel, who may write what. */
#include "policy_internal.h"
#include "mc_condition.h"

#include <stdio.h>
#include <string.h>

/* What a rule is evaluated against. */
typedef struct {
    const json_t *claims;   /* NULL: anonymous */
    const char *instance;   /* instance id of the channel; NULL: instance tests are false */
    const mc_model_t *m;
    const json_t *before, *after;
    int some_instance;      /* instance tests: whether they hold for some instance id */
} policy_ctx_t;

const char *policy__scalar_text(const json_t *v, char *buf, size_t buflen)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    return NULL;
}

static const json_t *policy__claim_get(const policy_rule_t *r, const json_t *claims)
{
    const json_t *v = claims;
    for (int i = 0; v && i < r->npath; i++)
        v = json_is_object(v) ? json_object_get(v, r->path[i]) : NULL;
    return v;
}

/* Whether the space-separated word list s holds word. */
static int policy__words_have(const char *s, const char *word)
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
static int policy__claim_has_text(const json_t *claim, const char *text)
{
    char buf[32];
    if (json_is_array(claim)) {
        size_t i;
        json_t *e;
        json_array_foreach(claim, i, e) {
            const char *t = policy__scalar_text(e, buf, sizeof buf);
            if (t && strcmp(t, text) == 0)
                return 1;
        }
        return 0;
    }
    return json_is_string(claim) && policy__words_have(json_string_value(claim), text);
}

/* Whether policy__claim_has_text(claim, text) holds for some text. */
static int policy__claim_has_some(const json_t *claim)
{
    char buf[32];
    if (json_is_array(claim)) {
        size_t i;
        json_t *e;
        json_array_foreach(claim, i, e) {
            if (policy__scalar_text(e, buf, sizeof buf))
                return 1;
        }
        return 0;
    }
    return json_is_string(claim) && json_string_length(claim) > 0;
}

static int policy__claim_contains(const json_t *claim, const json_t *value)
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
           policy__words_have(json_string_value(claim), json_string_value(value));
}

static int policy__attr_claim_test(const policy_rule_t *r, const policy_ctx_t *c,
                                   const json_t *rec)
{
    char b1[32], b2[32];
    const json_t *claim = policy__claim_get(r, c->claims);
    const char *rv =
        rec ? policy__scalar_text(json_object_get(rec, r->attr->name), b1, sizeof b1) : NULL;
    if (!rv || !claim)
        return 0;
    if (r->kind == RK_ATTR_IN_CLAIM)
        return policy__claim_has_text(claim, rv);
    const char *cv = policy__scalar_text(claim, b2, sizeof b2);
    return cv && strcmp(cv, rv) == 0;
}

/* NOLINTNEXTLINE(misc-no-recursion): parsed rules nest MC_POLICY_MAX_DEPTH levels at most */
static int policy__rule_eval(const policy_rule_t *r, const policy_ctx_t *c)
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
        v = policy__claim_get(r, c->claims);
        return v && json_equal((json_t *)v, r->value);
    case RK_CLAIM_CONTAINS:
        v = policy__claim_get(r, c->claims);
        return v && policy__claim_contains(v, r->value);
    case RK_CLAIM_EQ_INST: {
        const char *t;
        v = policy__claim_get(r, c->claims);
        if (c->some_instance)
            return policy__scalar_text(v, buf, sizeof buf) != NULL;
        return c->instance && v && (t = policy__scalar_text(v, buf, sizeof buf)) &&
               strcmp(t, c->instance) == 0;
    }
    case RK_CLAIM_CONTAINS_INST:
        v = policy__claim_get(r, c->claims);
        if (c->some_instance)
            return policy__claim_has_some(v);
        return c->instance && v && policy__claim_has_text(v, c->instance);
    case RK_ALL:
        for (size_t i = 0; i < r->nsubs; i++)
            if (!policy__rule_eval(&r->subs[i], c))
                return 0;
        return 1;
    case RK_ANY:
        for (size_t i = 0; i < r->nsubs; i++)
            if (policy__rule_eval(&r->subs[i], c))
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
            return policy__attr_claim_test(r, c, c->before);
        if (r->of == OF_AFTER)
            return policy__attr_claim_test(r, c, c->after);
        if (!c->before && !c->after)
            return 0;
        return (!c->before || policy__attr_claim_test(r, c, c->before)) &&
               (!c->after || policy__attr_claim_test(r, c, c->after));
    }
    return 0;
}

int policy__instance_ok(const char *s, size_t len)
{
    return len <= POLICY_INSTANCE_MAX && mc_channel_valid(s, len);
}

int policy__chan_admits(const policy_chan_t *ch, const json_t *claims, const char *instance)
{
    policy_ctx_t c = {.claims = claims, .instance = instance};
    return policy__rule_eval(&ch->connect, &c);
}

int policy__chan_may_admit(const policy_chan_t *ch, const json_t *claims)
{
    policy_ctx_t c = {.claims = claims, .some_instance = 1};
    return policy__rule_eval(&ch->connect, &c);
}

int mc_policy_can_connect(const mc_policy_t *p, const json_t *claims, const char *channel,
                          const char **reason)
{
    const char *dash = channel ? strchr(channel, '-') : NULL;
    const policy_chan_t *ch = NULL;
    if (reason)
        *reason = NULL;
    if (p && channel)
        ch = policy__find_chan(p, channel, dash ? (size_t)(dash - channel) : strlen(channel),
                               NULL);
    if (!ch || (ch->instance != (dash != NULL)) || !mc_channel_valid(channel, strlen(channel)) ||
        (dash && !policy__instance_ok(dash + 1, strlen(dash + 1)))) {
        if (reason)
            *reason = "unknown_channel";
        return 0;
    }
    if (policy__chan_admits(ch, claims, dash ? dash + 1 : NULL))
        return 1;
    if (reason)
        *reason = claims ? "denied" : "unauthenticated";
    return 0;
}

/* ------------------------------------------------ instance ids a caller may connect to */

/* Collects into ids (array of strings, deduplicated) the instance ids named by the
 * instance tests of r for claims. */
/* NOLINTNEXTLINE(misc-no-recursion): parsed rules nest MC_POLICY_MAX_DEPTH levels at most */
static void policy__collect_candidates(const policy_rule_t *r, const json_t *claims,
                                       json_t *ids)
{
    char buf[32];
    const char *t;
    if (r->kind == RK_ALL || r->kind == RK_ANY) {
        for (size_t i = 0; i < r->nsubs; i++)
            policy__collect_candidates(&r->subs[i], claims, ids);
        return;
    }
    if (r->kind != RK_CLAIM_EQ_INST && r->kind != RK_CLAIM_CONTAINS_INST)
        return;
    const json_t *v = policy__claim_get(r, claims);
    json_t *list = json_array();
    if (!list)
        return;
    if (r->kind == RK_CLAIM_CONTAINS_INST && json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if ((t = policy__scalar_text(e, buf, sizeof buf)))
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
    } else if ((t = policy__scalar_text(v, buf, sizeof buf))) {
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
        if (!dup && policy__instance_ok(json_string_value(e), json_string_length(e)))
            json_array_append(ids, e);
    }
    json_decref(list);
}

/* The ids of the instances of ch whose connect rule admits claims among those its instance
 * tests name: a new array, NULL on allocation failure. */
static json_t *policy__admitted_ids(const policy_chan_t *ch, const json_t *claims)
{
    json_t *cand = json_array(), *ok = json_array();
    size_t i;
    json_t *e;
    if (!cand || !ok) {
        json_decref(cand);
        json_decref(ok);
        return NULL;
    }
    policy__collect_candidates(&ch->connect, claims, cand);
    json_array_foreach(cand, i, e) {
        if (policy__chan_admits(ch, claims, json_string_value(e)))
            json_array_append(ok, e);
    }
    json_decref(cand);
    return ok;
}

int policy__chan_instances(const policy_chan_t *ch, const json_t *claims, json_t **ids)
{
    *ids = NULL;
    if (policy__chan_admits(ch, claims, NULL))
        return 1; /* rules are monotone: true with every instance test false */
    *ids = policy__admitted_ids(ch, claims);
    return 0;
}

json_t *mc_policy_channels(const mc_policy_t *p, const json_t *claims)
{
    json_t *out = json_array();
    if (!out || !p)
        return out;
    for (size_t i = 0; i < p->nchans; i++) {
        const policy_chan_t *ch = &p->chans[i];
        if (!ch->instance) {
            if (policy__chan_admits(ch, claims, NULL))
                json_array_append_new(out, json_string(ch->name));
            continue;
        }
        json_t *ids = policy__admitted_ids(ch, claims);
        if (!ids)
            break;
        size_t k;
        json_t *e;
        json_array_foreach(ids, k, e) {
            char name[MC_CHANNEL_MAX + 2]; /* ids are policy__instance_ok: the name fits */
            int n = snprintf(name, sizeof name, "%s-%s", ch->name, json_string_value(e));
            if (n > 0 && (size_t)n < sizeof name && mc_channel_valid(name, (size_t)n))
                json_array_append_new(out, json_string(name));
        }
        json_decref(ids);
    }
    return out;
}

json_t *mc_policy_any_instance(const mc_policy_t *p, const json_t *claims, const char *model)
{
    json_t *out = json_array();
    const policy_model_t *pm = NULL;
    if (!out || !p)
        return out;
    if (model && !(pm = policy__find_model(p, model)))
        return out;
    for (size_t i = 0; i < p->nchans; i++) {
        const policy_chan_t *ch = &p->chans[i];
        int sent = !pm;
        for (size_t r = 0; pm && r < pm->nrules && !sent; r++)
            for (size_t t = 0; t < pm->rules[r].nto && !sent; t++)
                sent = pm->rules[r].to[t].chan == i;
        /* rules are monotone: true with every instance test false admits every instance */
        if (ch->instance && sent && policy__chan_admits(ch, claims, NULL) &&
            json_array_append_new(out, json_string(ch->name)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

json_t *mc_policy_channels_answer(const mc_policy_t *p, const json_t *claims)
{
    json_t *list = mc_policy_channels(p, claims);
    json_t *any = mc_policy_any_instance(p, claims, NULL);
    if (!list || !any) {
        json_decref(list);
        json_decref(any);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "channels", list, "any_instance", any);
}

/* ---------------------------------------------------------------- writes */

int policy__op_records_ok(int op, const json_t *before, const json_t *after)
{
    return op >= 0 && (op == OP_CREATE || json_is_object(before)) &&
           (op == OP_DESTROY || json_is_object(after));
}

int mc_policy_can_write(const mc_policy_t *p, const char *model, const char *op,
                        const json_t *claims, const json_t *before, const json_t *after,
                        const char **reason)
{
    const char *dummy;
    const policy_model_t *pm;
    int o;
    if (!reason)
        reason = &dummy;
    *reason = NULL;
    if (!p || !mc_schema_find(p->schema, model)) {
        *reason = "unknown_model";
        return 0;
    }
    o = policy__op(op);
    if (!policy__op_records_ok(o, before, after)) {
        *reason = "denied";
        return 0;
    }
    pm = policy__find_model(p, model);
    if (!pm || !pm->write[o]) {
        *reason = "no_rule";
        return 0;
    }
    policy_ctx_t c = {.claims = claims, .m = pm->m, .before = o == OP_CREATE ? NULL : before,
                      .after = o == OP_DESTROY ? NULL : after};
    if (policy__rule_eval(pm->write[o], &c))
        return 1;
    *reason = claims ? "denied" : "unauthenticated";
    return 0;
}
