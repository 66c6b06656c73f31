// query.js - model('Todo'): queries built step by step (where, scope, order, limit), read
// over REST or kept live; and the writes (create, update with If-Match, destroy).
import { ConflictError, ModelcastError } from './errors.js';
import { LiveCollection, LiveCount } from './live.js';

const OPS = new Set(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'null']);
const MAX_PAGE = 500; // model-api's MC_LIST_LIMIT_MAX default; a lower server cap just means more pages

const isPlain = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
const scalar = (v) => (v instanceof Date ? v.toISOString() : v);

/** {attr: value | null | Date | {op: value}} → {attr: {op: value}} (the condition language). */
export function normalizeFilters(filters) {
  if (!isPlain(filters)) throw new TypeError('where() takes an object: {attribute: value or {operator: value}}');
  const out = {};
  for (const [attr, v] of Object.entries(filters)) {
    if (v === undefined) continue;
    if (v === null) out[attr] = { null: true };
    else if (isPlain(v)) {
      const ops = {};
      for (const [op, val] of Object.entries(v)) {
        if (!OPS.has(op)) throw new TypeError(`where(): ${attr}.${op}: unknown operator (eq, ne, gt, gte, lt, lte, in, null)`);
        ops[op] = op === 'in' ? (Array.isArray(val) ? val.map(scalar) : val) : scalar(val);
      }
      out[attr] = ops;
    } else out[attr] = { eq: scalar(v) };
  }
  return out;
}

function text(v, attr, op) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new TypeError(`where(): ${attr}.${op}: ${JSON.stringify(v)} cannot be sent as a filter value`);
}

/** The REST query parameters of filters (docs/rest.md "Lists"), as [name, value] pairs. */
export function filterParams(filters) {
  const out = [];
  for (const [attr, ops] of Object.entries(filters)) {
    for (const [op, v] of Object.entries(ops)) {
      if (op === 'in') {
        if (!Array.isArray(v) || v.length === 0) throw new TypeError(`where(): ${attr}.in takes a non-empty array`);
        const parts = v.map((x) => text(x, attr, op));
        if (parts.some((p) => p.includes(','))) {
          throw new TypeError(`where(): ${attr}.in: values containing ',' cannot be sent (the API splits the list on commas)`);
        }
        out.push([`${attr}[in]`, parts.join(',')]);
      } else if (op === 'null') {
        out.push([`${attr}[null]`, v ? 'true' : 'false']);
      } else {
        out.push([op === 'eq' ? attr : `${attr}[${op}]`, text(v, attr, op)]);
      }
    }
  }
  return out;
}

function mergeFilters(a, b) {
  const out = { ...a };
  for (const [attr, ops] of Object.entries(b)) {
    const cur = { ...(out[attr] || {}) };
    for (const [op, v] of Object.entries(ops)) {
      if (op in cur) throw new TypeError(`where(): ${attr}.${op} given twice`);
      cur[op] = v;
    }
    out[attr] = cur;
  }
  return out;
}

/** A query on one model; every step returns a new query. */
export class Query {
  constructor(client, modelName, spec = {}) {
    this.client = client;
    this.modelName = modelName;
    this.spec = { filters: {}, scopes: [], order: null, limit: null, ...spec };
  }

  _with(change) {
    return new Query(this.client, this.modelName, { ...this.spec, ...change });
  }

  /** Filters, AND-ed with the ones already given: {done: false, title: {ne: 'x'}, id: {in: [1, 2]}}. */
  where(filters) {
    return this._with({ filters: mergeFilters(this.spec.filters, normalizeFilters(filters)) });
  }

  /** Named scopes of the model (models.json), AND-ed. */
  scope(...names) {
    return this._with({ scopes: [...this.spec.scopes, ...names.flat()] });
  }

  /** Order keys, '-' for descending: order('-created_at', 'word'). Then id. */
  order(...keys) {
    return this._with({ order: keys.flat().map(String) });
  }

  /** At most n records (all(), live()). */
  limit(n) {
    if (!Number.isInteger(n) || n < 1) throw new TypeError('limit() takes a positive integer');
    return this._with({ limit: n });
  }

  /** The REST parameters of this query without paging: filters, scope, order. */
  params(order = this.spec.order) {
    const p = filterParams(this.spec.filters);
    if (this.spec.scopes.length) p.push(['scope', this.spec.scopes.join(',')]);
    if (order && order.length) p.push(['order', order.join(',')]);
    return p;
  }

  get path() {
    return `/v1/${encodeURIComponent(this.modelName)}`;
  }

  /** One page: {data, nextCursor}. size defaults to the limit (capped at 500), else the server's 50. */
  async page({ cursor = null, size } = {}) {
    const p = this.params();
    const n = size ?? this.spec.limit;
    if (n) p.push(['limit', String(Math.min(n, MAX_PAGE))]);
    if (cursor) p.push(['cursor', cursor]);
    const body = await this.client.rest.get(this.path, p);
    return { data: body.data, nextCursor: body.next_cursor ?? null };
  }

  /** Every record of the query (following cursors), at most limit() of them if given. */
  async all() {
    const out = [];
    const want = this.spec.limit ?? Infinity;
    let cursor = null;
    do {
      const page = await this.page({ cursor, size: Math.min(want - out.length, MAX_PAGE) });
      out.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor && out.length < want);
    return out.length > want ? out.slice(0, want) : out;
  }

  /** The first record of the query, or null. */
  async first() {
    const page = await this.limit(1).page();
    return page.data[0] ?? null;
  }

  /** How many records match (GET /v1/{Model}/count; limit does not apply). */
  async count() {
    const body = await this.client.rest.get(`${this.path}/count`, this.params(null));
    return body.count;
  }

  /**
   * A live collection: loaded, then kept up to date by the pushed changes, in this query's
   * order. callback(records, collection) runs after the first load and after every change.
   */
  live(callback, options) {
    return new LiveCollection(this.client, this, callback, options);
  }

  /** A live count of this query: callback(count) after the first count and every change of it. */
  liveCount(callback, options) {
    return new LiveCount(this.client, this, callback, options);
  }
}

const idOf = (target) => (target !== null && typeof target === 'object' ? target.id : target);

/** model('Todo'): a query on every record of the model, plus find and the writes. */
export class Model extends Query {
  constructor(client, name) {
    super(client, name);
  }

  _recordPath(id) {
    if (id === undefined || id === null || id === '') throw new TypeError(`${this.modelName}: an id is needed`);
    return `${this.path}/${encodeURIComponent(String(id))}`;
  }

  /** The record with this id; rejects with a ModelcastError 404 not_found. */
  async find(id) {
    return (await this.client.rest.call('GET', this._recordPath(id))).body;
  }

  /** Creates a record; resolves with it as stored (id, version 1, timestamps). */
  async create(attributes) {
    return (await this.client.rest.call('POST', this.path, { body: attributes })).body;
  }

  /**
   * Changes the given attributes. target is a record (its version is sent as If-Match) or an
   * id (unconditional unless options.version is given). A version that is no longer current
   * rejects with a ConflictError carrying the current record.
   */
  async update(target, changes, options = {}) {
    const id = idOf(target);
    const version = options.version ?? (typeof target === 'object' ? target?.version : undefined);
    return (await this._conditional('PATCH', id, version, changes)).body;
  }

  /** Destroys a record: a record is destroyed only at its version (If-Match), an id at any. */
  async destroy(target, options = {}) {
    const id = idOf(target);
    const version = options.version ?? (typeof target === 'object' ? target?.version : undefined);
    await this._conditional('DELETE', id, version, undefined);
  }

  async _conditional(method, id, version, body) {
    const headers = version !== undefined && version !== null ? { 'If-Match': String(version) } : undefined;
    try {
      return await this.client.rest.call(method, this._recordPath(id), { body, headers });
    } catch (e) {
      if (!(e instanceof ModelcastError) || e.status !== 412) throw e;
      let current = null;
      try {
        current = await this.find(id);
      } catch (f) {
        if (!(f instanceof ModelcastError) || f.status !== 404) throw f;
      }
      throw new ConflictError(e.status, e.error, current);
    }
  }
}
