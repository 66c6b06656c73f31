/* dedupe.c - per-partition windows of recent ce_ids: a ring of ids and a multiset over it. */
#include "dedupe.h"
#include "mc_error.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t partition;
    int64_t end;    /* offset after the last committed event; -1 unknown */
    char **ring;    /* window slots, oldest at head */
    long head, count;
    json_t *ids;    /* id -> number of copies in the ring (jansson's hash table) */
    json_t *staged; /* id -> 1 for the open batch */
} dedupe_part_t;

typedef struct {
    int32_t partition;
    int64_t offset;
    char *id;
} dedupe_staged_t;

struct dedupe {
    long window;
    dedupe_part_t *parts;
    int nparts, capparts;
    dedupe_staged_t *staged;
    long nstaged, capstaged;
};

dedupe_t *dedupe_new(long window)
{
    dedupe_t *d = calloc(1, sizeof *d);
    if (d)
        d->window = window > 0 ? window : 0;
    return d;
}

static void dedupe__empty(dedupe_t *d, dedupe_part_t *p)
{
    for (long i = 0; i < p->count; i++)
        free(p->ring[(p->head + i) % d->window]);
    p->head = p->count = 0;
    json_object_clear(p->ids);
    json_object_clear(p->staged);
}

void dedupe_free(dedupe_t *d)
{
    if (!d)
        return;
    dedupe_rollback(d);
    for (int i = 0; i < d->nparts; i++) {
        dedupe__empty(d, &d->parts[i]);
        free(d->parts[i].ring);
        json_decref(d->parts[i].ids);
        json_decref(d->parts[i].staged);
    }
    free(d->parts);
    free(d->staged);
    free(d);
}

static dedupe_part_t *dedupe__find(const dedupe_t *d, int32_t partition)
{
    for (int i = 0; i < d->nparts; i++)
        if (d->parts[i].partition == partition)
            return &d->parts[i];
    return NULL;
}

static dedupe_part_t *dedupe__part(dedupe_t *d, int32_t partition)
{
    dedupe_part_t *p = dedupe__find(d, partition);
    if (p || d->window == 0)
        return p;
    if (d->nparts == d->capparts) {
        int cap = d->capparts ? d->capparts * 2 : 8;
        dedupe_part_t *more = realloc(d->parts, (size_t)cap * sizeof *more);
        if (!more)
            return NULL;
        d->parts = more;
        d->capparts = cap;
    }
    p = &d->parts[d->nparts];
    memset(p, 0, sizeof *p);
    p->partition = partition;
    p->end = -1;
    p->ring = calloc((size_t)d->window, sizeof *p->ring);
    p->ids = json_object();
    p->staged = json_object();
    if (!p->ring || !p->ids || !p->staged) {
        free(p->ring);
        json_decref(p->ids);
        json_decref(p->staged);
        return NULL;
    }
    d->nparts++;
    return p;
}

int dedupe_seen(const dedupe_t *d, int32_t partition, const char *id)
{
    const dedupe_part_t *p = dedupe__find(d, partition);
    return p && (json_object_get(p->ids, id) || json_object_get(p->staged, id));
}

int dedupe_stage(dedupe_t *d, int32_t partition, int64_t offset, const char *id)
{
    if (d->window == 0)
        return MC_OK;
    dedupe_part_t *p = dedupe__part(d, partition);
    if (!p)
        return MC_ERR_NOMEM;
    if (d->nstaged == d->capstaged) {
        long cap = d->capstaged ? d->capstaged * 2 : 256;
        dedupe_staged_t *more = realloc(d->staged, (size_t)cap * sizeof *more);
        if (!more)
            return MC_ERR_NOMEM;
        d->staged = more;
        d->capstaged = cap;
    }
    char *copy = strdup(id);
    if (!copy || json_object_set_new_nocheck(p->staged, id, json_true()) != 0) {
        free(copy);
        return MC_ERR_NOMEM;
    }
    d->staged[d->nstaged++] = (dedupe_staged_t){partition, offset, copy};
    /* cppcheck-suppress memleak ; copy is kept, as the id of d->staged's new entry */
    return MC_OK;
}

/* Appends id (taking ownership) to p's ring, dropping the oldest id when the ring is full. */
static int dedupe__append(dedupe_t *d, dedupe_part_t *p, char *id)
{
    json_t *n = json_object_get(p->ids, id);
    if (n) {
        json_integer_set(n, json_integer_value(n) + 1);
    } else if (json_object_set_new_nocheck(p->ids, id, json_integer(1)) != 0) {
        free(id);
        return MC_ERR_NOMEM;
    }
    if (p->count == d->window) {
        char *old = p->ring[p->head];
        json_t *c = json_object_get(p->ids, old);
        if (c && json_integer_value(c) > 1)
            json_integer_set(c, json_integer_value(c) - 1);
        else
            json_object_del(p->ids, old);
        free(old);
        p->ring[p->head] = id;
        p->head = (p->head + 1) % d->window;
    } else {
        p->ring[(p->head + p->count) % d->window] = id;
        p->count++;
    }
    return MC_OK;
}

int dedupe_commit(dedupe_t *d)
{
    int rc = MC_OK;
    for (long i = 0; i < d->nstaged; i++) {
        dedupe_staged_t *s = &d->staged[i];
        dedupe_part_t *p = dedupe__find(d, s->partition);
        if (!p) { /* reset between staging and commit: nothing to remember it by */
            free(s->id);
            continue;
        }
        if (dedupe__append(d, p, s->id) != MC_OK)
            rc = MC_ERR_NOMEM;
        if (s->offset + 1 > p->end)
            p->end = s->offset + 1;
    }
    d->nstaged = 0;
    for (int i = 0; i < d->nparts; i++)
        json_object_clear(d->parts[i].staged);
    return rc;
}

void dedupe_rollback(dedupe_t *d)
{
    for (long i = 0; i < d->nstaged; i++) {
        dedupe_part_t *p = dedupe__find(d, d->staged[i].partition);
        if (p)
            json_object_clear(p->staged);
        free(d->staged[i].id);
    }
    d->nstaged = 0;
}

int64_t dedupe_end(const dedupe_t *d, int32_t partition)
{
    const dedupe_part_t *p = dedupe__find(d, partition);
    return p ? p->end : -1;
}

void dedupe_reset(dedupe_t *d, int32_t partition, int64_t end)
{
    dedupe_part_t *p = dedupe__part(d, partition);
    if (!p)
        return;
    long kept = 0;
    for (long i = 0; i < d->nstaged; i++) {
        if (d->staged[i].partition == partition)
            free(d->staged[i].id);
        else
            d->staged[kept++] = d->staged[i];
    }
    d->nstaged = kept;
    dedupe__empty(d, p);
    p->end = end;
}

int dedupe_push(dedupe_t *d, int32_t partition, int64_t offset, const char *id)
{
    if (d->window == 0)
        return MC_OK;
    dedupe_part_t *p = dedupe__part(d, partition);
    char *copy = strdup(id);
    if (!p || !copy) {
        free(copy);
        return MC_ERR_NOMEM;
    }
    int rc = dedupe__append(d, p, copy);
    if (offset + 1 > p->end)
        p->end = offset + 1;
    return rc;
}

long dedupe_count(const dedupe_t *d, int32_t partition)
{
    const dedupe_part_t *p = dedupe__find(d, partition);
    return p ? p->count : 0;
}

long dedupe_window(const dedupe_t *d)
{
    return d->window;
}
