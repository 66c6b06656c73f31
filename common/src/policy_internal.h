/*
 * policy_internal.h - the compiled form of a policy, shared by the four parts of the policy
 * engine: policy_parse.c builds it (and owns the lookups into it), policy_eval.c evaluates
 * rules (connect, channels, writes), policy_route.c sends a change to channels,
 * policy_read.c turns the policy into the read predicate and the visible attributes.
 * Not a public header: services use mc_policy.h.
 */
#ifndef POLICY_INTERNAL_H
#define POLICY_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "mc_channel.h"
#include "mc_policy.h"

/* Rule kinds. */
enum {
    RK_ALWAYS, RK_NEVER, RK_AUTH,
    RK_CLAIM_EQ, RK_CLAIM_CONTAINS, RK_CLAIM_EQ_INST, RK_CLAIM_CONTAINS_INST,
    RK_ALL, RK_ANY,
    RK_COND,            /* {"record"|"before"|"after": condition} */
    RK_ATTR_EQ_CLAIM,   /* {"attribute": a, "eq_claim": path} */
    RK_ATTR_IN_CLAIM,   /* {"attribute": a, "in_claim": path} */
};
/* Which record a record or attribute test reads. */
enum { OF_RECORD, OF_BEFORE, OF_AFTER };
/* The operations of a change, in the order of policy__op_names. */
enum { OP_CREATE, OP_UPDATE, OP_DESTROY, OP__COUNT };

typedef struct policy_rule {
    int kind;
    char **path;            /* claim path segments */
    int npath;
    json_t *value;          /* eq / contains value */
    struct policy_rule *subs; /* all / any */
    size_t nsubs;
    int of;                 /* OF_* for record tests */
    const mc_attr_t *attr;  /* attribute tests */
    json_t *cond;           /* RK_COND: a checked condition */
} policy_rule_t;

/* The longest instance id (bytes) of an instance channel ("User-<id>"). */
#define POLICY_INSTANCE_MAX 256
/* Every channel a policy can name fits a channel name: class (63) '-' instance id. */
_Static_assert(63 + 1 + POLICY_INSTANCE_MAX <= MC_CHANNEL_MAX, "channel names too short");

/* Whether s can be an instance id: 1..POLICY_INSTANCE_MAX bytes that a channel name may hold
 * (mc_channel.h). Any other value (a claim "jane doe", a record's 300-byte string) names no
 * instance: not listed, not connectable, not routed to, not read through. */
int policy__instance_ok(const char *s, size_t len);

typedef struct {
    char *name;
    int instance;
    policy_rule_t connect;
} policy_chan_t;

/* A set of columns of one model, by index into policy_model_t.cols. */
#define POLICY_SET_WORDS (MC_POLICY_MAX_COLUMNS / 64)
typedef struct {
    uint64_t w[POLICY_SET_WORDS];
} policy_set_t;

typedef struct {
    size_t chan;
    const mc_attr_t *attr;  /* instance channel: the attribute giving the id */
} policy_target_t;

/* One broadcast rule: what it sends (set), when, to which channels. */
typedef struct {
    policy_set_t set;
    json_t *when;           /* NULL: always */
    policy_target_t *to;
    size_t nto;
} policy_bcast_t;

typedef struct {
    const mc_model_t *m;
    const char **cols;      /* system columns, then attributes */
    size_t ncols;
    policy_bcast_t *rules;
    size_t nrules, ntargets;
    policy_rule_t *write[OP__COUNT];
} policy_model_t;

struct mc_policy {
    const mc_schema_t *schema;
    policy_chan_t *chans;
    size_t nchans;
    policy_model_t *models;
    size_t nmodels;
};

static inline void policy__set_add(policy_set_t *s, size_t i)
{
    s->w[i / 64] |= UINT64_C(1) << (i % 64);
}

static inline int policy__set_has(const policy_set_t *s, size_t i)
{
    return (int)((s->w[i / 64] >> (i % 64)) & 1);
}

/* *s = *s ∩ *t */
static inline void policy__set_and(policy_set_t *s, const policy_set_t *t)
{
    for (size_t w = 0; w < POLICY_SET_WORDS; w++)
        s->w[w] &= t->w[w];
}

/* *s = *s ∪ *t */
static inline void policy__set_or(policy_set_t *s, const policy_set_t *t)
{
    for (size_t w = 0; w < POLICY_SET_WORDS; w++)
        s->w[w] |= t->w[w];
}

/* Whether every column of s is in t. */
static inline int policy__set_within(const policy_set_t *s, const policy_set_t *t)
{
    for (size_t w = 0; w < POLICY_SET_WORDS; w++)
        if (s->w[w] & ~t->w[w])
            return 0;
    return 1;
}

/* ------------------------------------------------ policy_parse.c: lookups */

/* "create", "update", "destroy", indexed by OP_*. */
extern const char *const policy__op_names[OP__COUNT];

/* The OP_* called op, or -1. */
int policy__op(const char *op);

/* The channel whose name is the len bytes at name (and its index in *idx), or NULL. */
const policy_chan_t *policy__find_chan(const mc_policy_t *p, const char *name, size_t len,
                                       size_t *idx);

/* The policy of the model called name, or NULL (no policy, or no such model). */
const policy_model_t *policy__find_model(const mc_policy_t *p, const char *name);

/* The index of column name in pm->cols, or -1. */
long policy__col_index(const policy_model_t *pm, const char *name);

/* ------------------------------------------------ policy_eval.c: rules */

/* The text of a scalar (string as is, integer in decimal), or NULL. buf: >= 24 bytes. */
const char *policy__scalar_text(const json_t *v, char *buf, size_t buflen);

/* Whether ch's connect rule admits claims to the channel instance (NULL: a class channel,
 * or "with every instance test false"). */
int policy__chan_admits(const policy_chan_t *ch, const json_t *claims, const char *instance);

/*
 * Whether the caller might be admitted to some instance of ch: ch's rule evaluated with
 * each instance test true when some instance id would pass it (its claim holds a usable
 * id). Rules are monotone, so 0 means no instance id whatever admits the caller.
 */
int policy__chan_may_admit(const policy_chan_t *ch, const json_t *claims);

/*
 * The instances of channel ch the caller may connect to: returns 1 when the rule admits
 * every instance (it holds without any instance test), else 0 with *ids (new array, may be
 * empty; NULL on allocation failure) the verified ids.
 */
int policy__chan_instances(const policy_chan_t *ch, const json_t *claims, json_t **ids);

/* Whether op (OP_*, -1: unknown) comes with the records it needs: before unless it is a
 * create, after unless it is a destroy (objects). */
int policy__op_records_ok(int op, const json_t *before, const json_t *after);

/* ------------------------------------------------ policy_route.c: channels of a record */

/* One concrete channel a record goes to: channel, instance id, attributes. */
typedef struct {
    size_t chan;
    const char *inst;       /* points into the record, or into ibuf */
    char ibuf[24];
    policy_set_t set;
} policy_hit_t;

/* Fills hits (room for pm->ntargets) with the channels rec goes to; returns their number. */
size_t policy__collect_hits(const policy_model_t *pm, const json_t *rec, policy_hit_t *hits);

/* A new object with the columns of rec in set (values shared), or NULL (no memory). */
json_t *policy__filter_record(const policy_model_t *pm, const json_t *rec,
                              const policy_set_t *set);

#endif
