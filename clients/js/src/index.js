// @modelcast/client - read and write modelcast models over REST and keep queries live over
// the pusher's WebSocket. An ES module with no dependencies: import it in a page as is.
//
//   import { connect } from '@modelcast/client';
//   const mc = connect({ url: location.origin, getToken: async () => myToken() });
//   const words = mc.model('Dictionary').scope('defined').order('word').live((records) => render(records));
//
// docs/client.md is the reference.
import { Connection } from './connection.js';
import { ModelcastError } from './errors.js';
import { Model } from './query.js';
import { Rest, Tokens } from './rest.js';
import { normalizeModel, schemaModels } from './schema.js';

export { ModelcastError, ConflictError } from './errors.js';
export { checkCondition, evaluate, parseTime, ConditionError } from './condition.js';

function defaultUrl() {
  const loc = globalThis.location;
  if (loc && /^https?:$/.test(loc.protocol)) return loc.origin;
  throw new TypeError('connect(): url is required outside a web page');
}

class Client {
  constructor(options = {}) {
    const url = (options.url ?? defaultUrl()).replace(/\/+$/, '');
    const apiUrl = (options.apiUrl ?? url).replace(/\/+$/, '');
    this.url = url;
    this.wsUrl = options.wsUrl ?? `${url.replace(/^http/, 'ws')}/ws`;
    const fetchImpl = options.fetch ?? globalThis.fetch;
    const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    if (typeof fetchImpl !== 'function') throw new TypeError('connect(): no fetch here; pass options.fetch');
    this.tokens = new Tokens(options.token, options.getToken);
    this.rest = new Rest({
      apiUrl,
      channelsUrl: options.channelsUrl ?? `${apiUrl}/v1/channels`,
      tokens: this.tokens,
      fetch: (...args) => fetchImpl(...args),
    });
    this.handlers = new Map();
    // Live queries of a model readable through instance channels admitted wholesale (an
    // admin's every Team) reload this often: no subscription brings those changes.
    this.anyInstancePollMs = options.anyInstancePollMs ?? 15000;
    this.schema = schemaModels(options.schema);
    this.modelCache = new Map();
    this.models_ = new Map();
    this.connection = new Connection({
      wsUrl: this.wsUrl,
      rest: this.rest,
      tokens: this.tokens,
      WebSocket: WebSocketImpl ?? class {
        constructor() {
          throw new TypeError('connect(): no WebSocket here; pass options.WebSocket (e.g. from the ws package)');
        }
      },
      emit: (event, value) => this._emit(event, value),
      ...(options.reconnect || {}),
      ...(options.ping || {}),
    });
  }

  /** 'idle' (no live query), 'connecting', 'open', 'reconnecting' or 'closed'. */
  get state() {
    return this.connection.state;
  }

  /** A model by name: model('Todo').where({done: false}).live(...). */
  model(name) {
    let m = this.models_.get(name);
    if (!m) this.models_.set(name, (m = new Model(this, name)));
    return m;
  }

  /** The channels the caller may connect to (GET /v1/channels). */
  channels() {
    return this.rest.channels();
  }

  /**
   * GET /v1/channels whole: {channels, anyInstance}, anyInstance the instance channel
   * classes the caller may join for any id ("Team" for an admin of every team).
   */
  channelAccess() {
    return this.rest.channelAccess();
  }

  /** The models the caller may see (GET /v1/models), as the server lists them. */
  async models() {
    return (await this.rest.get('/v1/models')).models;
  }

  /**
   * Listens to 'state' (the connection's state), 'error' (a refused subscription, a failed
   * refetch, a WebSocket error frame: a ModelcastError) or 'change' (every pushed change
   * frame). Returns a function that stops listening.
   */
  on(event, handler) {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  _emit(event, value) {
    const set = this.handlers.get(event);
    if (!set || set.size === 0) {
      if (event === 'error' && globalThis.console) console.warn('modelcast:', value?.message ?? value);
      return;
    }
    for (const h of [...set]) {
      try {
        h(value);
      } catch (e) {
        if (event !== 'error') this._emit('error', e);
      }
    }
  }

  /** What the client knows of model name (attribute types, scopes, default order). */
  _model(name) {
    let p = this.modelCache.get(name);
    if (!p) {
      p = (async () => {
        const given = this.schema.get(name);
        const listed = (await this.models()).find((m) => m.name === name);
        if (!listed) throw new ModelcastError(404, { code: 'unknown_model', message: `no model '${name}' (or not visible to this caller)` });
        if (!given) return normalizeModel(name, listed);
        // The schema option brings the default order (and scope conditions, for an older
        // server); the server says which attributes, scopes and channels this caller has.
        const m = normalizeModel(name, given);
        const server = normalizeModel(name, listed);
        for (const [n, cond] of Object.entries(server.scopes)) if (!m.scopes[n]) m.scopes[n] = cond;
        m.anyInstance = server.anyInstance;
        return m;
      })();
      p.catch(() => this.modelCache.delete(name));
      this.modelCache.set(name, p);
    }
    return p;
  }

  /** Closes the WebSocket, stops every live query and all timers. REST calls still work. */
  close() {
    this.connection.close();
  }
}

/**
 * Connects to a modelcast edge (or to the services directly: apiUrl, wsUrl, channelsUrl).
 * token: a JWT, or getToken(reason): called for the first token, on every reconnect, and
 * when the server says the token expired ('initial' | 'reconnect' | 'expired').
 */
export function connect(options) {
  return new Client(options);
}
