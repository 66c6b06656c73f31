// connection.js - the one WebSocket of a client (docs/protocol.md): subscribes to every
// channel the caller may connect to (GET /v1/channels) while a live query needs them, hands
// pushed changes to the live queries, reconnects with backoff and jitter and resumes each
// channel from its last position, asks for a refetch on `resync`, and refreshes the token
// (getToken) on reconnect and when the pusher says the token was refused. A close that no
// reconnect can cure (4003: the page's origin is refused) ends it for good: state 'failed'.
import { ModelcastError } from './errors.js';

// A channel waiting for a free place (`busy`) is not settled: it is sent again as soon as
// another subscription is answered.
const SETTLED = new Set(['subscribed', 'failed', 'retrying']);

// Protocol and policy violations (RFC 6455 §7.4.1): the client or something between it and
// the pusher breaks the protocol. Reconnected to, with backoff - a proxy may have been
// replaced - but MAX_PROTOCOL_CLOSES in a row without a working connection are final.
const PROTOCOL_CLOSES = {
  1002: 'protocol_error', 1003: 'unsupported_data', 1007: 'invalid_data',
  1008: 'policy_violation', 1009: 'message_too_big', 1010: 'extension_required',
};
export const MAX_PROTOCOL_CLOSES = 3;

/** Where the page runs, for messages ('' outside a page). */
const pageOrigin = () => (globalThis.location && globalThis.location.origin) || '';

export class Connection {
  constructor({ wsUrl, rest, tokens, WebSocket, emit, minDelayMs = 250, maxDelayMs = 10000,
    pingIntervalMs = 25000, pingTimeoutMs = 10000 }) {
    this.wsUrl = wsUrl;
    this.rest = rest;
    this.tokens = tokens;
    this.WebSocket = WebSocket;
    this.emit = emit;
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.pingIntervalMs = pingIntervalMs;
    this.pingTimeoutMs = pingTimeoutMs;
    this.state = 'idle';
    this.ws = null;
    this.gen = 0; // bumped whenever the current attempt is abandoned
    this.attempt = 0;
    this.channels = new Map(); // name -> {name, position, status, refetch, retryTimer, retries}
    this.listeners = new Set();
    this.waiters = [];
    this.timer = null;
    this.pingTimer = null;
    this.lastSeen = 0;
    this.tokenRefused = false; // the pusher refused the token; refresh before reconnecting
    this.refreshedOnce = false; // ... and only once until a connection succeeds
    this.pendingRefetch = false; // a channel was lost: every live query loads again
    this.protocolCloses = 0; // protocol-violation closes since the last working connection
    this.failure = null; // the error that ended the connection for good (state 'failed')
    this.anyInstance = []; // instance channel classes the caller may join for any id
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  /**
   * Adds a live query ({modelName, onChange(frame), onResync(), onFailed(error)?}); returns
   * its removal. After a final failure the query is added but whenReady() rejects.
   */
  attach(listener) {
    if (this.state === 'closed') throw new ModelcastError(undefined, { code: 'closed', message: 'the client is closed' });
    this.listeners.add(listener);
    if (this.state === 'idle') this._open();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.state !== 'closed' && this.state !== 'failed') this._idle();
    };
  }

  /**
   * Resolves once every channel is subscribed (or refused); rejects when the client closes
   * or the connection failed for good (with that error).
   */
  whenReady() {
    if (this.state === 'failed') return Promise.reject(this.failure);
    if (this.state === 'closed') return Promise.reject(new ModelcastError(undefined, { code: 'closed', message: 'the client is closed' }));
    if (this._settled()) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  _settled() {
    if (this.state !== 'open' || !this.ws) return false;
    for (const ch of this.channels.values()) if (!SETTLED.has(ch.status)) return false;
    return true;
  }

  _backoff() {
    const cap = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** Math.min(this.attempt, 20));
    return cap / 2 + Math.random() * (cap / 2); // "equal jitter": never zero, never in step
  }

  async _open() {
    const gen = ++this.gen;
    this._clearTimers();
    this._setState(this.attempt > 0 ? 'reconnecting' : 'connecting');
    try {
      if (this.tokens.canRefresh && (this.attempt > 0 || this.tokenRefused)) {
        await this.tokens.refresh(this.tokenRefused ? 'expired' : 'reconnect');
        this.tokenRefused = false;
      }
      const answer = await this.rest.channelAccess();
      if (gen !== this.gen) return;
      this.anyInstance = answer.anyInstance;
      this._updateChannels(answer.channels);
      const token = await this.tokens.current();
      if (gen !== this.gen) return;
      const ws = new this.WebSocket(this.wsUrl);
      this.ws = ws;
      ws.onopen = () => {
        if (this.ws !== ws) return;
        this.lastSeen = Date.now();
        if (token) ws.send(JSON.stringify({ type: 'auth', token }));
        for (const ch of this.channels.values()) this._subscribe(ch);
        this._setState('open');
        this._startPing(ws);
        this._checkSettled();
      };
      ws.onmessage = (ev) => {
        if (this.ws === ws) this._onMessage(typeof ev.data === 'string' ? ev.data : String(ev.data));
      };
      ws.onclose = (ev) => this._onClose(ws, ev);
      ws.onerror = () => {}; // a close event follows
    } catch (e) {
      if (gen !== this.gen) return;
      this.emit('error', e instanceof ModelcastError ? e : new ModelcastError(0, { code: 'network', message: String(e?.message || e) }, e));
      this._reconnectLater();
    }
  }

  _updateChannels(names) {
    const wanted = new Set(names);
    let lost = false;
    for (const [name, ch] of this.channels) {
      if (!wanted.has(name)) {
        clearTimeout(ch.retryTimer);
        this.channels.delete(name);
        lost = true;
      }
    }
    const resuming = this.channels.size > 0 || lost;
    for (const name of names) {
      let ch = this.channels.get(name);
      if (!ch) {
        // A channel that appears on a reconnect (new claims) may hold records not loaded yet.
        ch = { name, position: null, status: 'pending', refetch: resuming, retryTimer: null, retries: 0 };
        this.channels.set(name, ch);
      }
      ch.status = 'pending';
      clearTimeout(ch.retryTimer);
    }
    if (lost) this.pendingRefetch = true; // records seen through a lost channel may no longer be visible
  }

  _send(frame) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(frame));
  }

  _subscribe(ch) {
    ch.status = 'pending';
    const frame = { type: 'subscribe', channel: ch.name };
    if (ch.position) frame.since = ch.position;
    this._send(frame);
  }

  _onMessage(data) {
    this.lastSeen = Date.now();
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      this.emit('error', new ModelcastError(undefined, { code: 'bad_frame', message: 'the server sent a frame that is not JSON' }));
      return;
    }
    const ch = typeof f.channel === 'string' ? this.channels.get(f.channel) : undefined;
    switch (f.type) {
      case 'subscribed':
        if (!ch) return;
        if (ch.status === 'retrying' && !ch.position) ch.refetch = true;
        ch.status = 'subscribed';
        ch.retries = 0;
        ch.position = f.position ?? ch.position;
        this._retryBusy();
        this._checkSettled();
        return;
      case 'change':
        if (!ch) return;
        for (const l of this.listeners) {
          if (l.modelName === f.model) l.onChange(f);
        }
        if (f.position) ch.position = f.position;
        this.emit('change', f);
        return;
      case 'resync':
        // The position is gone from Kafka: refetch once the fresh subscription is live.
        if (!ch) return;
        ch.position = null;
        ch.refetch = true;
        ch.status = 'pending';
        return;
      case 'error':
        this._onErrorFrame(f, ch);
        return;
      default: // pong, unsubscribed, and whatever a newer server adds
    }
  }

  _onErrorFrame(f, ch) {
    const err = new ModelcastError(undefined, f);
    if (f.code === 'bad_token' && this.tokens.canRefresh && !this.refreshedOnce) {
      // Expired (or otherwise refused): a new token needs a new connection (auth comes first).
      this.refreshedOnce = true;
      this.tokenRefused = true;
      this._abandon();
      this._open();
      return;
    }
    if (ch && f.code === 'busy') {
      // Too many subscriptions of this connection (or of the pusher) wait for an answer: not
      // an error, flow control. Sent again once another one is answered, or after a backoff.
      ch.status = 'busy';
      this._retryLater(ch);
      return;
    }
    this.emit('error', err);
    if (!ch) return;
    if (f.code === 'unavailable') {
      // authz or Kafka did not answer in time: try this channel again later.
      ch.status = 'retrying';
      this._retryLater(ch);
    } else {
      ch.status = 'failed'; // forbidden, bad_token without getToken, too_many_subscriptions, ...
    }
    this._retryBusy();
    this._checkSettled();
  }

  _retryLater(ch) {
    ch.retries++;
    clearTimeout(ch.retryTimer);
    const delay = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** Math.min(ch.retries, 20));
    ch.retryTimer = setTimeout(() => this._subscribe(ch), delay / 2 + Math.random() * delay / 2);
  }

  // An answer freed a place among the subscriptions waiting on the pusher: one `busy`
  // channel takes it at once.
  _retryBusy() {
    for (const ch of this.channels.values()) {
      if (ch.status === 'busy') {
        clearTimeout(ch.retryTimer);
        this._subscribe(ch);
        return;
      }
    }
  }

  _checkSettled() {
    if (!this._settled()) return;
    let all = true;
    const refetch = [];
    for (const ch of this.channels.values()) {
      if (ch.status !== 'subscribed') all = false;
      if (ch.refetch && ch.status === 'subscribed') {
        ch.refetch = false;
        refetch.push(ch.name);
      }
    }
    if (all) {
      this.attempt = 0;
      this.refreshedOnce = false;
      this.protocolCloses = 0;
    }
    if (this.pendingRefetch) {
      this.pendingRefetch = false;
      refetch.push('*');
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
    if (refetch.length) for (const l of [...this.listeners]) l.onResync(refetch);
  }

  _onClose(ws, ev) {
    if (this.ws !== ws) return;
    this.ws = null;
    this._stopPing();
    if (this.state === 'closed' || this.state === 'idle' || this.state === 'failed') return;
    const code = ev && ev.code;
    const closed = `${code}${ev && ev.reason ? ` "${ev.reason}"` : ''}`;
    const details = { close_code: code, reason: (ev && ev.reason) || '' };
    if (code === 4003) {
      // The pusher refuses this page's origin: every reconnect would be refused alike.
      const origin = pageOrigin();
      this._failFinal(new ModelcastError(undefined, {
        code: 'origin_not_allowed',
        message: `the pusher refused this page's origin${origin ? ` (${origin})` : ''} (close ${closed}): ` +
          'it must be listed in the pusher\'s MC_WS_ORIGINS; not reconnecting',
        details,
      }));
      return;
    }
    if (PROTOCOL_CLOSES[code]) {
      this.protocolCloses++;
      const final = this.protocolCloses >= MAX_PROTOCOL_CLOSES;
      const err = new ModelcastError(undefined, {
        code: PROTOCOL_CLOSES[code],
        message: `the WebSocket closed (${closed}): a protocol or policy violation` +
          (final ? `, ${this.protocolCloses} times in a row; not reconnecting` : '; reconnecting'),
        details,
      });
      if (final) {
        this._failFinal(err);
        return;
      }
      this.emit('error', err);
    } else if (code && code !== 1000 && code !== 1001 && code !== 1006) {
      this.emit('error', new ModelcastError(undefined, {
        code: code === 4008 ? 'slow_consumer' : 'closed',
        message: `the WebSocket closed (${closed}); reconnecting`,
        details,
      }));
    }
    this._reconnectLater();
  }

  /** Ends the connection for good with err: no reconnect, waits rejected, queries told. */
  _failFinal(err) {
    this._abandon();
    this._clearTimers();
    for (const ch of this.channels.values()) ch.status = 'failed';
    this.failure = err;
    this._setState('failed');
    this.emit('error', err);
    for (const w of this.waiters.splice(0)) w.reject(err);
    for (const l of [...this.listeners]) if (typeof l.onFailed === 'function') l.onFailed(err);
  }

  _reconnectLater() {
    for (const ch of this.channels.values()) {
      clearTimeout(ch.retryTimer);
      ch.status = 'pending';
    }
    this.attempt++;
    this._setState('reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._open(), this._backoff());
  }

  // Drops the current socket without waiting for its close handshake.
  _abandon() {
    const ws = this.ws;
    this.ws = null;
    this.gen++;
    this._stopPing();
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000);
      } catch { /* already closed */ }
    }
  }

  _startPing(ws) {
    this._stopPing();
    const period = Math.max(50, Math.min(this.pingIntervalMs, this.pingTimeoutMs) / 2);
    let pinged = 0;
    this.pingTimer = setInterval(() => {
      if (this.ws !== ws) return;
      const quiet = Date.now() - this.lastSeen;
      if (pinged && Date.now() - pinged > this.pingTimeoutMs && this.lastSeen < pinged) {
        // No answer to our ping: the connection is dead even if the socket does not know yet.
        this._abandon();
        this._reconnectLater();
      } else if (quiet >= this.pingIntervalMs && (!pinged || this.lastSeen >= pinged)) {
        pinged = Date.now();
        this._send({ type: 'ping' });
      }
    }, period);
    if (typeof this.pingTimer.unref === 'function') this.pingTimer.unref();
  }

  _stopPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  _clearTimers() {
    clearTimeout(this.timer);
    this.timer = null;
    for (const ch of this.channels.values()) clearTimeout(ch.retryTimer);
  }

  /** Drops the socket when no live query needs it; the next one starts afresh. */
  _idle() {
    this._abandon();
    this._clearTimers();
    this.channels.clear();
    this.attempt = 0;
    this._setState('idle');
  }

  /** Closes for good: socket, timers and pending waits. */
  close() {
    if (this.state === 'closed') return;
    this._abandon();
    this._clearTimers();
    this.channels.clear();
    this._setState('closed');
    for (const l of [...this.listeners]) if (typeof l.close === 'function') l.close();
    this.listeners.clear();
    const err = new ModelcastError(undefined, { code: 'closed', message: 'the client is closed' });
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}
