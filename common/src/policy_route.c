/* policy_route.c - route a change of a record to the channels that receive it. */
#include "policy_internal.h"
#include "mc_condition.h"
#include "mc_contract.h"
#include "mc_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int policy__hit_same(const policy_hit_t *h, size_t chan, const char *inst)
{
    return h->chan == chan && (h->inst == inst || (h->inst && inst && strcmp(h->inst, inst) == 0));
}

/* Whether hits (n of them) hold the channel of h. */
static int policy__hits_have(const policy_hit_t *hits, size_t n, const policy_hit_t *h)
{
    for (size_t k = 0; k < n; k++)
        if (policy__hit_same(&hits[k], h->chan, h->inst))
            return 1;
    return 0;
}

size_t policy__collect_hits(const policy_model_t *pm, const json_t *rec, policy_hit_t *hits)
{
    size_t n = 0;
    for (size_t r = 0; r < pm->nrules; r++) {
        const policy_bcast_t *b = &pm->rules[r];
        if (b->when && !mc_cond_eval(pm->m, b->when, rec))
            continue;
        for (size_t t = 0; t < b->nto; t++) {
            char buf[24];
            const char *inst = NULL;
            size_t k;
            if (b->to[t].attr) {
                inst = policy__scalar_text(json_object_get(rec, b->to[t].attr->name), buf,
                                           sizeof buf);
                if (!inst || !policy__instance_ok(inst, strlen(inst)))
                    continue; /* null, or no instance id: no channel */
            }
            for (k = 0; k < n; k++)
                if (policy__hit_same(&hits[k], b->to[t].chan, inst))
                    break;
            if (k < n) {
                policy__set_and(&hits[k].set, &b->set);
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

json_t *policy__filter_record(const policy_model_t *pm, const json_t *rec,
                              const policy_set_t *set)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < pm->ncols; i++) {
        if (!policy__set_has(set, i))
            continue;
        json_t *v = json_object_get(rec, pm->cols[i]);
        if (v && json_object_set_nocheck(o, pm->cols[i], v)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* Appends the delivery {"channel", "op", "attributes"} of hit h to out. Takes attrs (NULL:
 * no memory). Hits name channels (policy__instance_ok); one that did not would be skipped:
 * no one could subscribe to it. */
static int policy__emit(json_t *out, const mc_policy_t *p, const policy_hit_t *h,
                        const char *op, json_t *attrs)
{
    char channel[MC_CHANNEL_MAX + 2];
    int n = h->inst ? snprintf(channel, sizeof channel, "%s-%s", p->chans[h->chan].name, h->inst)
                    : snprintf(channel, sizeof channel, "%s", p->chans[h->chan].name);
    if (!attrs)
        return MC_ERR_NOMEM;
    if (n <= 0 || (size_t)n >= sizeof channel || !mc_channel_valid(channel, (size_t)n)) {
        json_decref(attrs);
        return MC_OK;
    }
    json_t *d = json_object();
    if (!d || json_object_set_new_nocheck(d, MC_FIELD_CHANNEL, json_string(channel)) ||
        json_object_set_new_nocheck(d, MC_FIELD_OP, json_string(op)) ||
        json_object_set_new_nocheck(d, MC_FIELD_ATTRIBUTES, attrs) ||
        json_array_append_new(out, d)) {
        json_decref(d);
        return MC_ERR_NOMEM;
    }
    return MC_OK;
}

/* The attributes of a remove: {"id"} of rec. */
static json_t *policy__id_only(const json_t *rec)
{
    json_t *id = json_object_get(rec, "id"), *a = json_object();
    if (a && id)
        json_object_set_nocheck(a, "id", id);
    return a;
}

int mc_policy_route(const mc_policy_t *p, const char *model, const char *op,
                    const json_t *before, const json_t *after, json_t **deliveries)
{
    const policy_model_t *pm;
    policy_hit_t *hb = NULL, *ha = NULL;
    size_t nb = 0, na = 0;
    int o = policy__op(op), rc = MC_OK;

    *deliveries = NULL;
    if (!p || !policy__op_records_ok(o, before, after))
        return MC_ERR_INVAL;
    if (!(pm = policy__find_model(p, model))) {
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
        nb = policy__collect_hits(pm, before, hb);
    if (ha)
        na = policy__collect_hits(pm, after, ha);
    /* The channels of after get the op; on an update one that did not see before gets a
     * create. */
    for (size_t i = 0; rc == MC_OK && i < na; i++) {
        const char *dop = o == OP_UPDATE && !policy__hits_have(hb, nb, &ha[i])
                              ? MC_OP_CREATE
                              : policy__op_names[o];
        rc = policy__emit(*deliveries, p, &ha[i], dop,
                          policy__filter_record(pm, after, &ha[i].set));
    }
    /* The channels of before get the destroy; on an update one that does not get after
     * gets a remove. */
    for (size_t i = 0; rc == MC_OK && i < nb; i++) {
        if (o == OP_DESTROY)
            rc = policy__emit(*deliveries, p, &hb[i], MC_OP_DESTROY,
                              policy__filter_record(pm, before, &hb[i].set));
        else if (!policy__hits_have(ha, na, &hb[i]))
            rc = policy__emit(*deliveries, p, &hb[i], MC_OP_REMOVE, policy__id_only(before));
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
