// connection.js - the one WebSocket of a client (docs/protocol.md): subscribes to every
// channel the caller may connect to (GET /v1/channels) while a live query needs them, hands
// pushed changes to the live queries, reconnects with backoff and jitter and resumes each
// channel from its last position, asks for a refetch on `resync`, and refreshes the token
// (getToken) on reconnect and when the pusher says the token was refused.
import { ModelcastError } from './errors.js';

const SETTLED = new Set(['subscribed', 'failed', 'retrying']);

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
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  /** Adds a live query ({modelName, onChange(frame), onResync()}); returns its removal. */
  attach(listener) {
    if (this.state === 'closed') throw new ModelcastError(undefined, { code: 'closed', message: 'the client is closed' });
    this.listeners.add(listener);
    if (this.state === 'idle') this._open();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.state !== 'closed') this._idle();
    };
  }

  /** Resolves once every channel is subscribed (or refused); rejects when the client closes. */
  whenReady() {
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
      const names = await this.rest.channels();
      if (gen !== this.gen) return;
      this._updateChannels(names);
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
    this.emit('error', err);
    if (!ch) return;
    if (f.code === 'unavailable') {
      // authz or Kafka did not answer in time: try this channel again later.
      ch.status = 'retrying';
      ch.retries++;
      const delay = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** Math.min(ch.retries, 20));
      ch.retryTimer = setTimeout(() => this._subscribe(ch), delay / 2 + Math.random() * delay / 2);
    } else {
      ch.status = 'failed'; // forbidden, bad_token without getToken, too_many_subscriptions, ...
    }
    this._checkSettled();
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
    if (this.state === 'closed' || this.state === 'idle') return;
    if (ev && ev.code && ev.code !== 1000 && ev.code !== 1001 && ev.code !== 1006) {
      this.emit('error', new ModelcastError(undefined, {
        code: ev.code === 4008 ? 'slow_consumer' : 'closed',
        message: `the WebSocket closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''}); reconnecting`,
      }));
    }
    this._reconnectLater();
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
