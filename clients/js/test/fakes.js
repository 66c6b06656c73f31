// fakes.js - an in-memory model-api and WebSocket for the client's unit tests: the live
// collection and connection logic, step by step, without a stack.
import { evaluate } from '../src/condition.js';
import { normalizeModel, orderKeys, compareRecords } from '../src/schema.js';

export const DICT = normalizeModel('Dictionary', {
  attributes: {
    word: { type: 'string', required: true },
    definition: { type: 'text' },
    pronunciation: { type: 'string' },
  },
  scopes: { defined: { definition: { null: false }, pronunciation: { null: false } } },
});

export const TODO = normalizeModel('Todo', {
  attributes: {
    title: { type: 'string', required: true }, done: { type: 'boolean' }, private: { type: 'boolean' },
    owner_id: { type: 'bigint', required: true }, team_id: { type: 'bigint' }, notes: { type: 'text' },
  },
});

function typed(attr, text) {
  if (!attr) return text;
  if (['integer', 'bigint', 'reference', 'float'].includes(attr.type)) return Number(text);
  if (attr.type === 'boolean') return text === 'true';
  return text;
}

/** The list query of REST params, evaluated on rows as model-api would (offset cursors). */
export class FakeServer {
  constructor(model, rows = []) {
    this.model = model;
    this.rows = new Map(rows.map((r) => [r.id, { version: 1, ...r }]));
    this.calls = [];
    this.visible = () => true;
    this.gate = null; // a promise list calls wait for (to deliver changes "during the fetch")
  }

  put(rec) {
    const cur = this.rows.get(rec.id);
    const next = { ...(cur || {}), ...rec, version: rec.version ?? (cur ? cur.version + 1 : 1) };
    this.rows.set(rec.id, next);
    return next;
  }

  async get(path, params) {
    this.calls.push({ path, params: Object.fromEntries(params) });
    if (this.gate) await this.gate;
    const p = new Map(params);
    const attrs = { ...this.model.attributes, id: { type: 'bigint' }, version: { type: 'bigint' } };
    const cond = {};
    for (const [k, v] of params) {
      if (['scope', 'order', 'limit', 'cursor'].includes(k)) continue;
      const m = /^([a-z_]+)(?:\[(\w+)\])?$/.exec(k);
      const [name, op = 'eq'] = [m[1], m[2]];
      const a = attrs[name];
      cond[name] = { ...(cond[name] || {}) };
      if (op === 'in') cond[name].in = v.split(',').map((x) => typed(a, x));
      else if (op === 'null') cond[name].null = v === 'true';
      else cond[name][op] = typed(a, v);
    }
    let rows = [...this.rows.values()].filter((r) => this.visible(r));
    if (Object.keys(cond).length) rows = rows.filter((r) => evaluate(this.model, cond, r));
    for (const s of (p.get('scope') || '').split(',').filter(Boolean)) {
      rows = rows.filter((r) => evaluate(this.model, this.model.scopes[s] || this.hiddenScopes[s], r));
    }
    if (path.endsWith('/count')) return { count: rows.length };
    const keys = orderKeys(this.model, (p.get('order') || 'id').split(','));
    rows.sort((a, b) => compareRecords(keys, a, b));
    const from = Number(p.get('cursor') || 0), limit = Number(p.get('limit') || 50);
    const data = rows.slice(from, from + limit).map((r) => ({ ...r }));
    return { data, next_cursor: from + limit < rows.length ? String(from + limit) : null };
  }
}

/** A client with the fake server behind rest.get and a connection the test drives. */
export function fakeClient(server) {
  const listeners = new Set();
  const errors = [];
  const client = {
    rest: { get: (path, params) => server.get(path, params) },
    connection: {
      attach(l) {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      whenReady: async () => {},
    },
    _model: async () => server.model,
    _emit: (event, value) => { if (event === 'error') errors.push(value); },
    errors,
    listeners,
    /** Pushes a change frame to every live query of the model. */
    push(frame) {
      for (const l of listeners) if (l.modelName === frame.model) l.onChange({ type: 'change', changed: [], ...frame });
    },
    resync() {
      for (const l of listeners) l.onResync(['*']);
    },
  };
  return client;
}

export const tick = () => new Promise((r) => setTimeout(r, 0));

/** Waits (a bounded number of turns) until fn() is true. */
export async function until(fn, what, turns = 500) {
  for (let i = 0; i < turns; i++) {
    if (fn()) return;
    await tick();
  }
  throw new Error(`not reached: ${what}`);
}

export class FakeWebSocket {
  static instances = [];

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 0;
    this.closedWith = null;
    FakeWebSocket.instances.push(this);
    queueMicrotask(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      if (this.onopen) this.onopen({});
    });
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  close(code) {
    this.closedWith = code ?? 1005;
    this.readyState = 3;
  }

  /** A frame from the server. */
  frame(obj) {
    if (this.onmessage) this.onmessage({ data: JSON.stringify(obj) });
  }

  /** The server or the network drops the connection. */
  drop(code = 1006, reason = '') {
    this.readyState = 3;
    if (this.onclose) this.onclose({ code, reason });
  }

  static last() {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
  }
}
