/* policy_read.c - what a caller may read: the SQL predicate over a model's rows, the
 * attributes of a record it may see, the columns it may ever see, and whether every row
 * it may read shows the same columns. */
#include "policy_internal.h"
#include "mc_condition.h"
#include "mc_error.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per broadcast rule, what the caller reaches: any class channel, or per instance target
 * every instance (all) or the listed ids. */
typedef struct {
    int cls;                /* a class channel of the rule admits the caller */
    int *all;               /* per target: every instance */
    json_t **ids;           /* per target: verified ids (or NULL) */
} policy_reach_t;

static void policy__reach_cleanup(policy_reach_t *r, size_t nto)
{
    for (size_t t = 0; r->ids && t < nto; t++)
        json_decref(r->ids[t]);
    free(r->ids);
    free(r->all);
}

/* Whether an instance id can be bound to a column of attr's type. */
static int policy__id_fits(const mc_attr_t *a, const char *id)
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
static int policy__reach_rule(const mc_policy_t *p, const policy_bcast_t *b,
                              const json_t *claims, policy_reach_t *r)
{
    int any = 0;
    memset(r, 0, sizeof *r);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof *p of an array of pointers */
    if (!(r->all = calloc(b->nto, sizeof *r->all)) || !(r->ids = calloc(b->nto, sizeof *r->ids)))
        return -1;
    for (size_t t = 0; t < b->nto; t++) {
        const policy_chan_t *ch = &p->chans[b->to[t].chan];
        if (!b->to[t].attr) {
            if (policy__chan_admits(ch, claims, NULL))
                any = r->cls = 1;
            continue;
        }
        if (policy__chan_instances(ch, claims, &r->ids[t])) {
            any = r->all[t] = 1;
            continue;
        }
        if (!r->ids[t])
            return -1;
        size_t i;
        json_t *e;
        json_array_foreach(r->ids[t], i, e) {
            if (policy__id_fits(b->to[t].attr, json_string_value(e)))
                any = 1;
        }
    }
    return any;
}

static int policy__rules_share_channel(const policy_bcast_t *a, const policy_bcast_t *b)
{
    for (size_t t = 0; t < a->nto; t++)
        for (size_t u = 0; u < b->nto; u++)
            if (a->to[t].chan == b->to[u].chan)
                return 1;
    return 0;
}

/*
 * What rule i of pm is sure to show: its set, narrowed by every rule that may send to one
 * of its channels too (a channel gets the intersection of the rules that send it a record).
 * A rule that is not sure to show every needed column cannot admit a row, or a filter on a
 * withheld attribute would tell its value.
 */
static policy_set_t policy__sure_set(const policy_model_t *pm, size_t i)
{
    policy_set_t sure = pm->rules[i].set;
    for (size_t j = 0; j < pm->nrules; j++) {
        if (j != i && policy__rules_share_channel(&pm->rules[i], &pm->rules[j]))
            policy__set_and(&sure, &pm->rules[j].set);
    }
    return sure;
}

/* Appends "(<instance column> IS NOT NULL OR <column> IN (ids...) ...)" for the instance
 * targets of b that r reaches, "FALSE)" after the "(" when there are none. */
static void policy__targets_sql(const policy_bcast_t *b, const policy_reach_t *r, mc_sql_t *sql)
{
    int nt = 0;
    mc_sql_add(sql, "(");
    for (size_t t = 0; t < b->nto; t++) {
        const mc_attr_t *a = b->to[t].attr;
        if (!a || (!r->all[t] && !r->ids[t]))
            continue;
        if (r->all[t]) {
            mc_sql_add(sql, "%s", nt++ ? " OR " : "");
            mc_sql_ident(sql, a->name);
            mc_sql_add(sql, " IS NOT NULL");
            continue;
        }
        size_t k, n = 0;
        json_t *e;
        json_array_foreach(r->ids[t], k, e) {
            if (!policy__id_fits(a, json_string_value(e)))
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

int mc_policy_read_filter(const mc_policy_t *p, const char *model, const json_t *claims,
                          const char *const *needed, size_t nneeded, mc_sql_t *sql)
{
    const policy_model_t *pm = policy__find_model(p, model);
    int nterms = 0;
    policy_set_t need = {{0}};
    if (!pm) {
        if (!p || !mc_schema_find(p->schema, model))
            return MC_ERR_NOT_FOUND;
        mc_sql_add(sql, "(FALSE)");
        return MC_OK;
    }
    for (size_t i = 0; i < nneeded; i++) {
        long c = policy__col_index(pm, needed[i]);
        if (c < 0) {
            mc_sql_add(sql, "(FALSE)");
            return MC_OK;
        }
        policy__set_add(&need, (size_t)c);
    }
    mc_sql_add(sql, "(");
    for (size_t i = 0; i < pm->nrules; i++) {
        const policy_bcast_t *b = &pm->rules[i];
        policy_set_t sure = policy__sure_set(pm, i);
        policy_reach_t r;
        if (!policy__set_within(&need, &sure))
            continue;
        int got = policy__reach_rule(p, b, claims, &r);
        if (got < 0)
            mc_sql_fail(sql);
        if (got > 0) {
            if (nterms++)
                mc_sql_add(sql, " OR ");
            mc_sql_add(sql, "(");
            if (b->when) {
                mc_cond_sql(pm->m, b->when, sql);
                mc_sql_add(sql, " AND ");
            }
            if (r.cls)
                mc_sql_add(sql, "TRUE");
            else
                policy__targets_sql(b, &r, sql);
            mc_sql_add(sql, ")");
        }
        policy__reach_cleanup(&r, b->nto);
    }
    if (!nterms)
        mc_sql_add(sql, "FALSE");
    mc_sql_add(sql, ")");
    return MC_OK;
}

json_t *mc_policy_visible(const mc_policy_t *p, const char *model, const json_t *claims,
                          const json_t *record)
{
    const policy_model_t *pm = policy__find_model(p, model);
    policy_set_t set = {{0}};
    int seen = 0;
    if (!pm || !json_is_object(record) || pm->ntargets == 0)
        return NULL;
    policy_hit_t *hits = calloc(pm->ntargets, sizeof *hits);
    if (!hits)
        return NULL;
    size_t n = policy__collect_hits(pm, record, hits);
    for (size_t i = 0; i < n; i++) {
        if (!policy__chan_admits(&p->chans[hits[i].chan], claims, hits[i].inst))
            continue;
        seen = 1;
        policy__set_or(&set, &hits[i].set);
    }
    free(hits);
    return seen ? policy__filter_record(pm, record, &set) : NULL;
}

/* The columns of set as a new array of names in column order (NULL: no memory). */
static json_t *policy__set_names(const policy_model_t *pm, const policy_set_t *set)
{
    json_t *out = json_array();
    for (size_t i = 0; out && i < pm->ncols; i++)
        if (policy__set_has(set, i) && json_array_append_new(out, json_string(pm->cols[i]))) {
            json_decref(out);
            return NULL;
        }
    return out;
}

static int policy__set_eq(const policy_set_t *s, const policy_set_t *t)
{
    return policy__set_within(s, t) && policy__set_within(t, s);
}

/* Whether every rule of pm sending to channel chan sends at least the columns of set (so
 * a record's hit on that channel, their intersection, shows no less). */
static int policy__chan_sends_all(const policy_model_t *pm, size_t chan, const policy_set_t *set)
{
    for (size_t i = 0; i < pm->nrules; i++)
        for (size_t t = 0; t < pm->rules[i].nto; t++)
            if (pm->rules[i].to[t].chan == chan && !policy__set_within(set, &pm->rules[i].set))
                return 0;
    return 1;
}

/*
 * Whether rule b, unconditional, shows exactly set on each channel it sends to, and every
 * row its read predicate term admits is one the record's routing sends to a channel the
 * caller connects to: class targets (TRUE in SQL, a hit on the class channel in C); number
 * instance targets (the id's canonical text is the hit's instance); string instance
 * targets only through listed ids (IS NOT NULL would admit "", which routing skips).
 */
static int policy__rule_sure(const mc_policy_t *p, const policy_model_t *pm,
                             const policy_bcast_t *b, const json_t *claims,
                             const policy_set_t *set)
{
    if (b->when || !policy__set_eq(&b->set, set))
        return 0;
    for (size_t t = 0; t < b->nto; t++) {
        const mc_attr_t *a = b->to[t].attr;
        if (!policy__chan_sends_all(pm, b->to[t].chan, set))
            return 0;
        if (a && a->type != MC_ATTR_INTEGER && a->type != MC_ATTR_BIGINT &&
            a->type != MC_ATTR_REFERENCE &&
            (a->type != MC_ATTR_STRING || policy__chan_admits(&p->chans[b->to[t].chan], claims,
                                                              NULL)))
            return 0;
    }
    return 1;
}

json_t *mc_policy_uniform_attributes(const mc_policy_t *p, const char *model,
                                     const json_t *claims)
{
    const policy_model_t *pm = policy__find_model(p, model);
    policy_set_t upper = {{0}};
    int any = 0, whole = 0, all_sure = 1;
    if (!pm || pm->nrules == 0)
        return NULL;
    unsigned char *may = calloc(pm->nrules, 1);
    if (!may)
        return NULL;
    /* The rules that might send a record to a channel the caller connects to, and the
     * columns they send: no record ever shows more. */
    for (size_t i = 0; i < pm->nrules; i++) {
        const policy_bcast_t *b = &pm->rules[i];
        for (size_t t = 0; t < b->nto && !may[i]; t++) {
            const policy_chan_t *ch = &p->chans[b->to[t].chan];
            may[i] = b->to[t].attr ? policy__chan_may_admit(ch, claims)
                                   : policy__chan_admits(ch, claims, NULL);
        }
        if (may[i]) {
            any = 1;
            policy__set_or(&upper, &b->set);
        }
    }
    for (size_t i = 0; any && i < pm->nrules; i++) {
        const policy_bcast_t *b = &pm->rules[i];
        if (!may[i])
            continue;
        if (!policy__rule_sure(p, pm, b, claims, &upper))
            all_sure = 0;
        /* Shape 1: an unconditional rule to a class channel the caller connects to, which
         * every rule to that channel sends in full: every row shows upper through it. */
        for (size_t t = 0; t < b->nto && !whole; t++)
            whole = !b->when && !b->to[t].attr && policy__set_eq(&b->set, &upper) &&
                    policy__chan_admits(&p->chans[b->to[t].chan], claims, NULL) &&
                    policy__chan_sends_all(pm, b->to[t].chan, &upper);
    }
    free(may);
    /* Shape 2: every rule that might reach the caller is sure (policy__rule_sure). */
    return any && (whole || all_sure) ? policy__set_names(pm, &upper) : NULL;
}

json_t *mc_policy_visible_attributes(const mc_policy_t *p, const char *model,
                                     const json_t *claims)
{
    const policy_model_t *pm = policy__find_model(p, model);
    policy_set_t set = {{0}};
    int seen = 0;
    if (!pm)
        return NULL;
    for (size_t i = 0; i < pm->nrules; i++) {
        policy_reach_t r;
        if (policy__reach_rule(p, &pm->rules[i], claims, &r) > 0) {
            seen = 1;
            policy__set_or(&set, &pm->rules[i].set);
        }
        policy__reach_cleanup(&r, pm->rules[i].nto);
    }
    return seen ? policy__set_names(pm, &set) : NULL;
}
