// The client's WebSocket (src/connection.js) against a scripted server (FakeWebSocket):
// auth and subscriptions, resume from positions, resync, token refresh, refused channels,
// backoff, dead-connection detection, close().
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '../src/connection.js';
import { Tokens } from '../src/rest.js';
import { FakeWebSocket, until, tick } from './fakes.js';

beforeEach(() => {
  FakeWebSocket.instances = [];
});

function setup({ channels = ['Application', 'User-7'], token = undefined, getToken, ...opts } = {}) {
  const events = [];
  const reasons = [];
  const tokens = new Tokens(token, getToken && ((r) => { reasons.push(r); return getToken(r); }));
  const chans = { list: channels };
  const conn = new Connection({
    wsUrl: 'ws://edge/ws',
    rest: { channels: async () => chans.list },
    tokens,
    WebSocket: FakeWebSocket,
    emit: (e, v) => events.push([e, v]),
    minDelayMs: 5,
    maxDelayMs: 20,
    ...opts,
  });
  const got = [];
  const resyncs = [];
  const listener = { modelName: 'Todo', onChange: (f) => got.push(f), onResync: (names) => resyncs.push(names) };
  return { conn, events, reasons, got, resyncs, listener, chans };
}

const subscribedAll = (ws, positions = {}) => {
  for (const f of ws.sent.filter((x) => x.type === 'subscribe')) {
    ws.frame({ type: 'subscribed', channel: f.channel, position: f.since ?? positions[f.channel] ?? '0:-1' });
  }
};

test('auth comes first, then one subscribe per channel; ready once all are subscribed', async () => {
  const { conn, events, listener } = setup({ token: 'T1' });
  conn.attach(listener);
  const ready = conn.whenReady();
  await until(() => FakeWebSocket.last()?.sent.length === 3, 'frames sent');
  const ws = FakeWebSocket.last();
  assert.deepEqual(ws.sent, [
    { type: 'auth', token: 'T1' },
    { type: 'subscribe', channel: 'Application' },
    { type: 'subscribe', channel: 'User-7' },
  ]);
  subscribedAll(ws);
  await ready;
  assert.deepEqual(events.filter(([e]) => e === 'state').map(([, s]) => s), ['connecting', 'open']);
  conn.close();
});

test('changes go to the live queries of their model; a reconnect resumes every channel from its last position', async () => {
  const { conn, got, reasons, events, listener } = setup({ getToken: (r) => `tok-${r}` });
  const other = { modelName: 'Dictionary', onChange: () => assert.fail('not for Dictionary'), onResync() {} };
  conn.attach(listener);
  conn.attach(other);
  await until(() => FakeWebSocket.last()?.sent.length === 3, 'subscribed');
  let ws = FakeWebSocket.last();
  assert.deepEqual(ws.sent[0], { type: 'auth', token: 'tok-initial' });
  subscribedAll(ws, { Application: '1:10', 'User-7': '3:4' });
  ws.frame({ type: 'change', channel: 'User-7', model: 'Todo', id: 1, op: 'create', version: 1, attributes: {}, position: '3:5' });
  assert.equal(got.length, 1);
  ws.drop(1006);
  await until(() => FakeWebSocket.instances.length === 2 && FakeWebSocket.last().sent.length === 3, 'reconnected');
  ws = FakeWebSocket.last();
  assert.deepEqual(ws.sent, [
    { type: 'auth', token: 'tok-reconnect' },
    { type: 'subscribe', channel: 'Application', since: '1:10' },
    { type: 'subscribe', channel: 'User-7', since: '3:5' },
  ]);
  assert.deepEqual(reasons, ['initial', 'reconnect']);
  assert.ok(events.some(([e, s]) => e === 'state' && s === 'reconnecting'));
  conn.close();
});

test('resync: the live queries reload once the fresh subscription is live', async () => {
  const { conn, resyncs, listener } = setup({ channels: ['Application'] });
  conn.attach(listener);
  await until(() => FakeWebSocket.last()?.sent.length === 1, 'subscribe sent');
  const ws = FakeWebSocket.last();
  subscribedAll(ws, { Application: '2:7' });
  await conn.whenReady();
  ws.frame({ type: 'resync', channel: 'Application' });
  assert.deepEqual(resyncs, [], 'not before the subscription is live again');
  ws.frame({ type: 'subscribed', channel: 'Application', position: '2:90' });
  assert.deepEqual(resyncs, [['Application']]);
  ws.drop();
  await until(() => FakeWebSocket.instances.length === 2 && FakeWebSocket.last().sent.length === 1, 'reconnected');
  assert.deepEqual(FakeWebSocket.last().sent[0], { type: 'subscribe', channel: 'Application', since: '2:90' });
  conn.close();
});

test('a refused token: getToken("expired") and a new connection, once; then the error is reported', async () => {
  let n = 0;
  const { conn, reasons, events, listener } = setup({ channels: ['User-7'], getToken: () => `tok${++n}` });
  conn.attach(listener);
  await until(() => FakeWebSocket.last()?.sent.length === 2, 'first connection');
  let ws = FakeWebSocket.last();
  ws.frame({ type: 'error', code: 'bad_token', message: 'the token was refused (expired)', channel: 'User-7' });
  await until(() => FakeWebSocket.instances.length === 2 && FakeWebSocket.last().sent.length === 2, 'second connection');
  ws = FakeWebSocket.last();
  assert.deepEqual(ws.sent[0], { type: 'auth', token: 'tok2' });
  assert.deepEqual(reasons, ['initial', 'expired']);
  ws.frame({ type: 'error', code: 'bad_token', message: 'the token was refused (expired)', channel: 'User-7' });
  await conn.whenReady(); // refused channels count as settled
  const errors = events.filter(([e]) => e === 'error').map(([, err]) => err);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'bad_token');
  assert.equal(errors[0].channel, 'User-7');
  assert.equal(FakeWebSocket.instances.length, 2, 'no loop of reconnects');
  conn.close();
});

test('a forbidden channel is reported and does not hold the others up; unavailable is retried', async () => {
  const { conn, events, listener } = setup({ channels: ['Application', 'Team-9'] });
  conn.attach(listener);
  await until(() => FakeWebSocket.last()?.sent.length === 2, 'subscribes');
  const ws = FakeWebSocket.last();
  ws.frame({ type: 'subscribed', channel: 'Application', position: '0:1' });
  ws.frame({ type: 'error', code: 'unavailable', message: 'authorization unavailable; retry', channel: 'Team-9' });
  await conn.whenReady();
  await until(() => ws.sent.filter((f) => f.channel === 'Team-9').length === 2, 'retried');
  ws.frame({ type: 'error', code: 'forbidden', message: 'not allowed on Team-9 (denied)', channel: 'Team-9' });
  const codes = events.filter(([e]) => e === 'error').map(([, err]) => err.code);
  assert.deepEqual(codes, ['unavailable', 'forbidden']);
  conn.close();
});

test('a channel that appears on reconnect (new claims) makes the live queries reload', async () => {
  const { conn, resyncs, listener, chans } = setup({ channels: ['Application'] });
  conn.attach(listener);
  await until(() => FakeWebSocket.last()?.sent.length === 1, 'subscribe');
  subscribedAll(FakeWebSocket.last());
  await conn.whenReady();
  chans.list = ['Application', 'Team-3'];
  FakeWebSocket.last().drop();
  await until(() => FakeWebSocket.instances.length === 2 && FakeWebSocket.last().sent.length === 2, 'reconnected');
  subscribedAll(FakeWebSocket.last());
  await conn.whenReady();
  assert.deepEqual(resyncs, [['Team-3']]);
  conn.close();
});

test('backoff waits between half and all of min(max, min·2^n), so clients do not reconnect in step', () => {
  const { conn } = setup({ minDelayMs: 100, maxDelayMs: 1000 });
  for (const [attempt, cap] of [[1, 200], [2, 400], [3, 800], [4, 1000], [30, 1000]]) {
    conn.attempt = attempt;
    for (let i = 0; i < 50; i++) {
      const d = conn._backoff();
      assert.ok(d >= cap / 2 && d <= cap, `attempt ${attempt}: ${d} not in [${cap / 2}, ${cap}]`);
    }
  }
});

test('no answer to a ping: the connection is taken for dead and replaced', async () => {
  const { conn, listener } = setup({ channels: ['Application'], pingIntervalMs: 30, pingTimeoutMs: 60 });
  conn.attach(listener);
  await until(() => FakeWebSocket.last()?.sent.length === 1, 'subscribe');
  subscribedAll(FakeWebSocket.last());
  const first = FakeWebSocket.last();
  await until(() => first.sent.some((f) => f.type === 'ping'), 'pinged', 5000);
  await until(() => FakeWebSocket.instances.length === 2, 'replaced', 5000);
  conn.close();
});

test('close() closes the socket, clears every timer and rejects pending waits', async () => {
  const { conn, events, listener } = setup({ channels: ['Application'] });
  const closed = [];
  conn.attach({ ...listener, close: () => closed.push(1) });
  const ready = conn.whenReady();
  await until(() => FakeWebSocket.last()?.sent.length === 1, 'subscribe');
  const ws = FakeWebSocket.last();
  conn.close();
  await assert.rejects(ready, (e) => e.code === 'closed');
  assert.equal(ws.closedWith, 1000);
  assert.equal(conn.ws, null);
  assert.equal(conn.timer, null);
  assert.equal(conn.pingTimer, null);
  assert.deepEqual(closed, [1], 'live queries are closed too');
  assert.equal(events.at(-1)[1], 'closed');
  await tick();
  assert.equal(FakeWebSocket.instances.length, 1);
});

test('the last live query leaving drops the socket; the next one starts afresh', async () => {
  const { conn, listener } = setup({ channels: ['Application'] });
  const off = conn.attach(listener);
  await until(() => FakeWebSocket.last()?.sent.length === 1, 'subscribe');
  subscribedAll(FakeWebSocket.last(), { Application: '0:5' });
  await conn.whenReady();
  off();
  assert.equal(conn.state, 'idle');
  conn.attach(listener);
  await until(() => FakeWebSocket.instances.length === 2 && FakeWebSocket.last().sent.length === 1, 'new socket');
  assert.deepEqual(FakeWebSocket.last().sent[0], { type: 'subscribe', channel: 'Application' });
  conn.close();
});
