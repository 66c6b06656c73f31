/*
 * mc_policy.h - the policies of config/policies.json (docs/policies.md): who may connect to
 * which channel, which records and attributes each channel receives, who may write what.
 * Compiled once against the model schema; every query afterwards is read-only and
 * thread-safe (share one mc_policy_t between threads).
 *
 * Reason codes (static strings): connect: "unknown_channel", "unauthenticated", "denied";
 * writes: "unknown_model", "no_rule", "unauthenticated", "denied".
 * "unauthenticated" means the caller had no verified token and the rule refused: a token
 * might help (HTTP 401); "denied" means a token was there and the rule refused (HTTP 403).
 */
#ifndef MC_POLICY_H
#define MC_POLICY_H

#include <jansson.h>
#include <stddef.h>

#include "mc_model.h"
#include "mc_sql.h"

/* Limits checked at load. */
#define MC_POLICY_MAX_COLUMNS 512   /* system columns + attributes of one model */
#define MC_POLICY_MAX_DEPTH 8       /* all/any nesting, claim path segments */
#define MC_POLICY_MAX_INSTANCES 1000 /* instance ids taken from one caller's claims */

typedef struct mc_policy mc_policy_t;

/*
 * Reads path and compiles it against schema (which must outlive the policy). On error
 * returns MC_ERR_IO, MC_ERR_JSON or MC_ERR_CONFIG with err naming the file, the JSON path
 * and the problem ("policies.json: models.Todo.broadcast[1].send_only[0]: 'titel' is not an
 * attribute of Todo"). On success *out is freed with mc_policy_free().
 */
int mc_policy_load(const char *path, const mc_schema_t *schema, mc_policy_t **out, char *err,
                   size_t errlen);

/* As mc_policy_load() from a parsed document; file names the source in errors. */
int mc_policy_parse(const json_t *root, const char *file, const mc_schema_t *schema,
                    mc_policy_t **out, char *err, size_t errlen);

void mc_policy_free(mc_policy_t *p);

/*
 * Whether a caller with claims (a verified token's payload; NULL = anonymous) may connect
 * to channel: a class channel ("Application") or an instance channel ("User-42").
 * Returns 1, or 0 with *reason (may be NULL) set to a reason code ("unknown_channel" also
 * for a string that is no channel name, mc_channel.h).
 */
int mc_policy_can_connect(const mc_policy_t *p, const json_t *claims, const char *channel,
                          const char **reason);

/*
 * The channels the caller may connect to: every class channel whose rule admits it, and
 * the instance channels derivable from its claims (User-<sub>, Team-<each of teams>...).
 * An instance channel whose rule admits every instance (e.g. admins) is not enumerated:
 * see mc_policy_any_instance(); nor is an instance whose id cannot be part of a channel
 * name (mc_channel.h: "a b", a 300-byte id): no rule reaches it, for reads either.
 * Returns a new array of strings (caller owns), NULL on allocation failure.
 */
json_t *mc_policy_channels(const mc_policy_t *p, const json_t *claims);

/*
 * The instance channels (by class name: "Team") whose connect rule admits the caller to
 * every instance - a rule that holds without any instance test, e.g. an admin clause -
 * which no list can enumerate. With model non-NULL only the classes that some broadcast
 * rule of model sends to (through which the caller may read model's records). Returns a
 * new array of strings in policy order (caller owns), NULL on allocation failure.
 */
json_t *mc_policy_any_instance(const mc_policy_t *p, const json_t *claims, const char *model);

/*
 * The answer of GET /v1/channels (model-api and authz give the same):
 * {"channels": mc_policy_channels(), "any_instance": mc_policy_any_instance(..., NULL)}.
 * A new object (caller owns), NULL on allocation failure.
 */
json_t *mc_policy_channels_answer(const mc_policy_t *p, const json_t *claims);

/*
 * Routes one change of a record of model. op: "create" (after given), "update" (before
 * and after), "destroy" (before). Records are objects as PostgreSQL's to_jsonb gives them.
 * *deliveries = new array of {"channel", "op", "attributes"}: per concrete channel, the
 * record filtered to the intersection of the attribute sets of the rules that send it
 * there (system columns id, version, created_at, updated_at always kept); on update,
 * channels that received `before` but do not receive `after` get op "remove" with
 * attributes {"id"}, and channels that receive `after` but did not receive `before` get op
 * "create"; a destroy goes, filtered, to the channels that received `before`. An instance
 * whose id cannot be part of a channel name (mc_channel.h) gets nothing.
 * Attribute values are shared (reference-counted) with the input records.
 * Returns MC_OK (an empty array when the model has no policy), MC_ERR_NOT_FOUND for a model
 * not in the schema, MC_ERR_INVAL for a bad op or missing record, MC_ERR_NOMEM.
 */
int mc_policy_route(const mc_policy_t *p, const char *model, const char *op,
                    const json_t *before, const json_t *after, json_t **deliveries);

/*
 * Whether the caller may perform op ("create", "update", "destroy") on model: after is the
 * record to be created or the record as it will be after the update (before merged with
 * the change); before the stored record (update, destroy); the others NULL. Default deny.
 * Returns 1, or 0 with *reason set ("unknown_model", "no_rule", "unauthenticated",
 * "denied"; for a bad op or a missing record "denied" too).
 */
int mc_policy_can_write(const mc_policy_t *p, const char *model, const char *op,
                        const json_t *claims, const json_t *before, const json_t *after,
                        const char **reason);

/*
 * Appends to sql a parenthesised SQL boolean expression over the model's columns (bare
 * column names, values as bound parameters) true exactly for the rows that some broadcast
 * rule sends to a channel the caller may connect to; "FALSE" when there are none.
 * needed (nneeded names, may be 0) are the columns the query filters or orders by: only
 * rules that send all of them count, so a caller cannot probe an attribute it is not
 * shown. Returns MC_OK, or MC_ERR_NOT_FOUND for an unknown model (nothing appended).
 */
int mc_policy_read_filter(const mc_policy_t *p, const char *model, const json_t *claims,
                          const char *const *needed, size_t nneeded, mc_sql_t *sql);

/*
 * The record as the caller may see it: a new object with the union, over the channels the
 * caller may connect to that would receive the record, of their attribute sets; NULL when
 * no such channel exists (or the model is unknown, or memory ran out).
 */
json_t *mc_policy_visible(const mc_policy_t *p, const char *model, const json_t *claims,
                          const json_t *record);

/*
 * The columns of model the caller may ever see (union over the rules that reach a channel
 * it may connect to, `when` ignored), system columns first, then attributes in schema
 * order: a new array of strings, or NULL when it sees nothing of the model (hide the model
 * from GET /v1/models).
 */
json_t *mc_policy_visible_attributes(const mc_policy_t *p, const char *model,
                                     const json_t *claims);

/*
 * The columns every record of model the caller may read shows (mc_policy_visible() of each
 * row the read predicate admits, whatever the row and the query's needed columns), when
 * the policy proves them the same for all: as mc_policy_visible_attributes()' array, which
 * it then equals. NULL when it cannot tell ("not uniform": the set may depend on the
 * record), when the caller sees nothing of the model, or on allocation failure.
 * Conservative - uniform only when
 *  - an unconditional rule to a class channel the caller connects to sends the union of
 *    all the rules that might reach the caller, and every rule to that channel sends at
 *    least that; or
 *  - every rule that might reach the caller is unconditional, sends that same set, every
 *    rule sharing one of its channels sends at least that, and its instance targets are
 *    number attributes (or string attributes the caller reaches through listed ids).
 * "Might reach": a class channel that admits the caller, an instance channel whose rule
 * holds with each instance test true when its claim holds some id (a teams claim [] holds
 * none).
 */
json_t *mc_policy_uniform_attributes(const mc_policy_t *p, const char *model,
                                     const json_t *claims);

#endif
