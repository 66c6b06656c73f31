// live.js - live collections and live counts. A live collection subscribes first (the
// client's connection, every channel of the caller), then fetches its query over REST, then
// applies the pushed changes by version: per record, a change older than what it holds is
// ignored; a record that enters or leaves the query's filters and scopes moves in or out,
// evaluated here with the server's condition language; the records stay in the query's order.
//
// Across records, changes do not arrive in commit order (docs/architecture.md,
// "Guarantees"): a collection orders by its own keys, never by arrival.
import { evaluate, conditionColumns } from './condition.js';
import { ModelcastError } from './errors.js';
import { compareRecords, orderKeys } from './schema.js';

const REST = '*'; // "seen through REST": visible through some channel, which one is not known
const DESTROYED = Infinity;

/** The query's condition (filters AND scopes) and whether every scope's condition is known. */
function queryCondition(model, spec) {
  const parts = [];
  if (Object.keys(spec.filters).length) parts.push(spec.filters);
  let known = true;
  for (const name of spec.scopes) {
    if (!(name in model.scopes)) {
      throw new ModelcastError(400, { code: 'bad_query', message: `scope: ${model.name} has no scope '${name}'` });
    }
    const c = model.scopes[name];
    if (c) parts.push(c);
    else known = false;
  }
  return { cond: parts.length ? { and: parts } : null, known };
}

export class LiveCollection {
  constructor(client, query, callback, options = {}) {
    this.client = client;
    this.query = query;
    this.modelName = query.modelName;
    this.callback = typeof callback === 'function' ? callback : () => {};
    this.maxRecords = options.maxRecords ?? 10000;
    // Versions of records outside the query are kept to ignore late copies; a long-lived
    // collection on a busy model forgets the oldest of them past this many.
    this.maxTracked = options.maxTracked ?? 50000;
    this.records = [];
    this.error = null;
    this.closed = false;
    this.loaded = false;
    this.seen = new Map(); // id -> {v: version, chans: Set of channels holding it at v}
    this.members = new Map(); // id -> {rec, dseq: sequence number of the last pushed change}
    this.seq = 0;
    this.complete = false;
    this.boundary = null; // when incomplete: the last record fetched (its order keys)
    this.loading = false;
    this.reloadPending = false;
    this.resyncWhileLoading = false;
    this.recheckIds = new Set();
    this.recheckRunning = false;
    this.notifyQueued = false;
    this.detach = null;
    this.pollTimer = null;
    this.pollMs = options.pollMs ?? client.anyInstancePollMs ?? 15000;
    this.ready = this._start();
    this.ready.catch(() => {}); // reported through callback-less users via .error / client 'error'
  }

  get count() {
    return this.records.length;
  }

  async _start() {
    try {
      this.model = await this.client._model(this.modelName);
      const { cond, known } = queryCondition(this.model, this.query.spec);
      this.cond = cond;
      this.scopesKnown = known;
      this.keys = orderKeys(this.model, this.query.spec.order ?? this.model.order ?? []);
      this.orderParam = this.keys.map((k) => (k.desc ? '-' : '') + k.name);
      this.window = Math.min(this.query.spec.limit ?? this.maxRecords, this.maxRecords);
      if (this.closed) return this;
      this.detach = this.client.connection.attach(this); // subscribe first...
      await this.client.connection.whenReady();
      if (this.closed) return this;
      await this._load(); // ...then fetch; what arrived meanwhile was applied by version
      this.loaded = true;
      this._notify('load');
      if (this.resyncWhileLoading) this._reload(); // the first load may predate a resync
      this.pollTimer = startPolling(this.model, this.pollMs, () => this._reload());
      return this;
    } catch (e) {
      this._fail(e);
      throw e;
    }
  }

  _fail(e) {
    if (this.closed) return;
    this.error = e;
    if (e !== this.client.connection.failure) this.client._emit('error', e); // that one was reported
  }

  /** The connection ended for good (e.g. 4003): no more changes will come. */
  onFailed(e) {
    if (!this.closed) this.error = e;
    clearInterval(this.pollTimer);
  }

  /** Stops following changes; the records stay as they were. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pollTimer);
    if (this.detach) this.detach();
    this.detach = null;
  }

  // ------------------------------------------------------------------ pushed changes

  onChange(f) {
    if (this.closed) return;
    this.seq++;
    if (this.seen.size > this.maxTracked) this._forget();
    const id = f.id, v = f.version, cur = this.seen.get(id);
    if (f.op === 'destroy') {
      if (!cur || v >= cur.v) {
        this.seen.set(id, { v: DESTROYED, chans: new Set() });
        if (this.members.delete(id)) this._changed();
      }
      return;
    }
    if (cur && v < cur.v) return; // stale: an older version than the one held
    if (f.op === 'remove') {
      // This channel no longer shows the record; another one may. The server knows.
      let s = cur;
      if (!s || v > s.v) this.seen.set(id, (s = { v, chans: new Set() }));
      else s.chans.delete(f.channel);
      if (s.chans.size === 0 && this.members.has(id)) this._recheck(id);
      return;
    }
    // create or update: the same version from several channels merges their attributes
    let s = cur;
    if (!s || v > s.v) this.seen.set(id, (s = { v, chans: new Set([f.channel]) }));
    else s.chans.add(f.channel);
    const m = this.members.get(id);
    const rec = { ...(m ? m.rec : {}), ...f.attributes, id, version: v };
    const inFilters = !this.cond || evaluate(this.model, this.cond, rec);
    if (!this.scopesKnown && inFilters && this._inWindow(rec)) {
      // A scope whose condition the client does not have (GET /v1/models gives names only):
      // the server decides whether the record is in; until it answers, a member stays.
      if (m) {
        m.rec = rec;
        m.dseq = this.seq;
        this._changed();
      }
      this._recheck(id);
      return;
    }
    if (inFilters && this._inWindow(rec)) {
      const same = m && Object.keys(rec).every((k) => Object.is(rec[k], m.rec[k]) ||
        JSON.stringify(rec[k]) === JSON.stringify(m.rec[k]));
      this.members.set(id, { rec: same ? m.rec : rec, dseq: this.seq });
      if (!same) this._changed();
    } else if (m) {
      this.members.delete(id);
      this._changed();
    }
  }

  onResync() {
    if (this.closed) return;
    if (this.loaded) this._reload();
    else this.resyncWhileLoading = true;
  }

  // Forgets the versions of the oldest tenth of the records that are not in the collection.
  _forget() {
    let n = Math.ceil(this.maxTracked / 10);
    for (const id of this.seen.keys()) {
      if (n <= 0) break;
      if (!this.members.has(id)) {
        this.seen.delete(id);
        n--;
      }
    }
  }

  _inWindow(rec) {
    return this.complete || !this.boundary || compareRecords(this.keys, rec, this.boundary) <= 0;
  }

  // ------------------------------------------------------------------ REST

  _applyRest(r) {
    const cur = this.seen.get(r.id);
    if (cur && r.version < cur.v) return false; // a newer version (or the destroy) is known
    if (!cur || r.version > cur.v) this.seen.set(r.id, { v: r.version, chans: new Set([REST]) });
    else cur.chans.add(REST);
    const m = this.members.get(r.id);
    // The server's record is the union of what the caller may see: it replaces merged views
    // (an unchanged record keeps its object, so renderers can compare identities).
    const same = m && Object.keys(r).length === Object.keys(m.rec).length && Object.keys(r).every((k) =>
      Object.is(r[k], m.rec[k]) || JSON.stringify(r[k]) === JSON.stringify(m.rec[k]));
    this.members.set(r.id, { rec: same ? m.rec : r, dseq: m ? m.dseq : 0 });
    return true;
  }

  async _fetchAll() {
    const rows = [];
    let cursor = null;
    do {
      const p = this.query.params(this.orderParam);
      p.push(['limit', String(Math.min(this.window - rows.length, 500))]);
      if (cursor) p.push(['cursor', cursor]);
      const body = await this.client.rest.get(this.query.path, p);
      rows.push(...body.data);
      cursor = body.next_cursor ?? null;
    } while (cursor && rows.length < this.window && !this.closed);
    return { rows, more: cursor !== null };
  }

  async _load() {
    const start = this.seq;
    const { rows, more } = await this._fetchAll();
    if (this.closed) return;
    const fetched = new Set();
    for (const r of rows) {
      this._applyRest(r);
      fetched.add(r.id);
    }
    // A record the server no longer returns left the query, unless a change pushed after the
    // fetch began put it there (it committed after the fetch's snapshot).
    for (const [id, m] of this.members) {
      if (!fetched.has(id) && m.dseq <= start) this.members.delete(id);
    }
    this.complete = !more;
    const last = rows[rows.length - 1];
    this.boundary = more && last ? { ...last } : null;
  }

  async _reload() {
    if (this.loading) {
      this.reloadPending = true;
      return;
    }
    this.loading = true;
    try {
      do {
        this.reloadPending = false;
        await this._load();
        this._changed();
      } while (this.reloadPending && !this.closed);
    } catch (e) {
      this._fail(e);
      // Try again after the next resync or change; a failing REST call must not stop pushes.
    } finally {
      this.loading = false;
    }
  }

  _recheck(id) {
    this.recheckIds.add(id);
    if (!this.recheckRunning) {
      this.recheckRunning = true;
      queueMicrotask(() => this._runRecheck());
    }
  }

  async _runRecheck() {
    try {
      while (this.recheckIds.size && !this.closed) {
        const ids = [...this.recheckIds].slice(0, 100);
        for (const id of ids) this.recheckIds.delete(id);
        const start = this.seq;
        const p = this.query.params(this.orderParam);
        const userIn = this.query.spec.filters.id?.in;
        const ask = userIn ? ids.filter((id) => userIn.includes(id)) : ids;
        let rows = [];
        if (ask.length) {
          if (!userIn) p.push(['id[in]', ask.join(',')]);
          p.push(['limit', String(userIn ? 500 : ask.length)]);
          rows = (await this.client.rest.get(this.query.path, p)).data;
        }
        if (this.closed) return;
        const got = new Map(rows.map((r) => [r.id, r]));
        for (const id of ids) {
          const r = got.get(id);
          if (r && this._inWindow(r)) this._applyRest(r);
          else {
            const m = this.members.get(id);
            if (m && m.dseq <= start) this.members.delete(id);
          }
        }
        this._changed();
      }
    } catch (e) {
      this._fail(e);
      this._reload(); // cannot tell which records are in: load the query again
    } finally {
      this.recheckRunning = false;
    }
  }

  // ------------------------------------------------------------------ the view

  _changed() {
    if (!this.loaded || this.notifyQueued || this.closed) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      if (!this.closed) this._notify('change');
    });
  }

  _notify(reason) {
    let list = [];
    for (const [id, m] of this.members) {
      if (this._inWindow(m.rec)) list.push(m.rec);
      else this.members.delete(id);
    }
    list.sort((a, b) => compareRecords(this.keys, a, b));
    if (list.length > this.window) {
      // Over the limit: what falls past it is out of the window, and the window shrinks to fit.
      for (const r of list.slice(this.window)) this.members.delete(r.id);
      list = list.slice(0, this.window);
      this.complete = false;
      this.boundary = { ...list[list.length - 1] };
    } else if (!this.complete && list.length < this.window && !this.loading) {
      // A record left an incomplete window: the next ones are on the server.
      this._reload();
    }
    this.records = list;
    try {
      this.callback(list, this, reason);
    } catch (e) {
      this.client._emit('error', e);
    }
  }
}

/**
 * Records of a model that reach the caller through an instance channel admitted wholesale
 * (model.anyInstance: an admin's every Team) are pushed only for the instances the client is
 * subscribed to (those its claims name): the query is loaded again every ms to see the
 * others. Returns the timer, or null when there is nothing to poll.
 */
function startPolling(model, ms, reload) {
  if (!model.anyInstance || model.anyInstance.length === 0 || !(ms > 0)) return null;
  const t = setInterval(reload, ms);
  if (typeof t.unref === 'function') t.unref();
  return t;
}

/**
 * A live count of a query: counted by the server (GET /count), counted again whenever a
 * pushed change can alter it. Updates that change none of the attributes the query's
 * conditions read do not trigger a count.
 */
export class LiveCount {
  constructor(client, query, callback, options = {}) {
    this.client = client;
    this.query = query;
    this.modelName = query.modelName;
    this.callback = typeof callback === 'function' ? callback : () => {};
    this.value = null;
    this.error = null;
    this.closed = false;
    this.inFlight = false;
    this.dirty = false;
    this.detach = null;
    this.pollTimer = null;
    this.pollMs = options.pollMs ?? client.anyInstancePollMs ?? 15000;
    this.ready = this._start();
    this.ready.catch(() => {});
  }

  async _start() {
    try {
      const model = await this.client._model(this.modelName);
      const { cond, known } = queryCondition(model, this.query.spec);
      this.columns = known ? conditionColumns(cond || {}) : null;
      if (this.closed) return this;
      this.detach = this.client.connection.attach(this);
      await this.client.connection.whenReady();
      if (this.closed) return this;
      await this._refresh();
      this.pollTimer = startPolling(model, this.pollMs, () => this._refresh().catch(() => {}));
      return this;
    } catch (e) {
      if (!this.closed) {
        this.error = e;
        if (e !== this.client.connection.failure) this.client._emit('error', e);
      }
      throw e;
    }
  }

  onFailed(e) {
    if (!this.closed) this.error = e;
    clearInterval(this.pollTimer);
  }

  onChange(f) {
    if (this.closed) return;
    if (f.op === 'update' && this.columns && Array.isArray(f.changed) &&
        !f.changed.some((c) => this.columns.has(c))) return;
    this._refresh().catch(() => {});
  }

  onResync() {
    if (!this.closed) this._refresh().catch(() => {});
  }

  async _refresh() {
    if (this.inFlight) {
      this.dirty = true;
      return;
    }
    this.inFlight = true;
    try {
      let n;
      do {
        this.dirty = false;
        try {
          n = await this.query.count();
        } catch (e) {
          this.error = e;
          this.client._emit('error', e);
          if (this.value === null) throw e;
          return;
        }
      } while (this.dirty && !this.closed);
      if (!this.closed && n !== this.value) {
        this.value = n;
        try {
          this.callback(n, this);
        } catch (e) {
          this.client._emit('error', e);
        }
      }
    } finally {
      this.inFlight = false;
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pollTimer);
    if (this.detach) this.detach();
    this.detach = null;
  }
}
