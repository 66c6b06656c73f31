// The client's WebSocket (src/connection.js) against a scripted server (FakeWebSocket):
// auth and subscriptions, resume from positions, resync, token refresh, refused channels,
// busy, backoff, dead-connection detection, close codes (4003 final, protocol violations
// final after a few), close().
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, MAX_PROTOCOL_CLOSES } from '../src/connection.js';
import { Tokens } from '../src/rest.js';
import { FakeWebSocket, until, tick } from './fakes.js';

beforeEach(() => {
  FakeWebSocket.instances = [];
});

function setup({ channels = ['Application', 'User-7'], anyInstance = [], token = undefined, getToken, ...opts } = {}) {
  const events = [];
  const reasons = [];
  const tokens = new Tokens(token, getToken && ((r) => { reasons.push(r); return getToken(r); }));
  const chans = { list: channels, anyInstance };
  const conn = new Connection({
    wsUrl: 'ws://edge/ws',
    rest: { channelAccess: async () => ({ channels: chans.list, anyInstance: chans.anyInstance }) },
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

test('channel names are sent as GET /v1/channels gave them: identity-provider subjects (auth0|…, e-mails) included', async () => {
  const names = ['User-auth0|abc123', 'User-google-oauth2|1234', 'User-jane+todo@example.com'];
  const { conn, got, listener } = setup({ token: 'T1', channels: names });
  conn.attach(listener);
  const ready = conn.whenReady();
  await until(() => FakeWebSocket.last()?.sent.length === 4, 'frames sent');
  const ws = FakeWebSocket.last();
  assert.deepEqual(ws.sent.slice(1), names.map((channel) => ({ type: 'subscribe', channel })));
  subscribedAll(ws);
  await ready;
  ws.frame({ type: 'change', channel: names[0], model: 'Todo', id: 1, op: 'create', version: 1, attributes: {}, position: '0:1' });
  assert.equal(got.length, 1);
  assert.equal(got[0].channel, names[0]);
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

const errorsOf = (events) => events.filter(([e]) => e === 'error').map(([, err]) => err);
const statesOf = (events) => events.filter(([e]) => e === 'state').map(([, st]) => st);

test('close 4003 (origin not allowed) is final: one clear error, state failed, no reconnect', async () => {
  const { conn, events, listener } = setup({ channels: ['Application'] });
  const failed = [];
  conn.attach({ ...listener, onFailed: (e) => failed.push(e) });
  const ready = conn.whenReady();
  await until(() => FakeWebSocket.last()?.sent.length === 1, 'subscribe sent');
  FakeWebSocket.last().drop(4003, 'origin not allowed');
  await assert.rejects(ready, (e) => e.code === 'origin_not_allowed');
  const errors = errorsOf(events);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'origin_not_allowed');
  assert.match(errors[0].message, /origin.*MC_WS_ORIGINS.*not reconnecting/);
  assert.deepEqual(errors[0].details, { close_code: 4003, reason: 'origin not allowed' });
  assert.equal(conn.state, 'failed');
  assert.deepEqual(statesOf(events), ['connecting', 'open', 'failed']);
  assert.deepEqual(failed, [errors[0]], 'the live queries are told');
  assert.equal(conn.timer, null, 'no reconnect scheduled');
  await assert.rejects(conn.whenReady(), (e) => e === errors[0], 'later waits fail alike');
  const off = conn.attach(listener); // a new live query after the failure: no new socket
  off();
  await tick();
  assert.equal(FakeWebSocket.instances.length, 1);
  assert.equal(conn.state, 'failed');
  conn.close();
  assert.equal(conn.state, 'closed');
});

test('busy: not an error; the channel is sent again once another answer frees a place', async () => {
  const { conn, events, listener } = setup({ channels: ['A', 'B', 'C'], minDelayMs: 60000, maxDelayMs: 60000 });
  conn.attach(listener);
  const ready = conn.whenReady();
  await until(() => FakeWebSocket.last()?.sent.length === 3, 'subscribes');
  const ws = FakeWebSocket.last();
  ws.frame({ type: 'error', code: 'busy', message: 'too many subscriptions waiting', channel: 'C' });
  let settled = false;
  ready.then(() => { settled = true; });
  await tick();
  assert.equal(settled, false, 'a busy channel is not settled');
  assert.equal(ws.sent.length, 3, 'not sent again before a place is free');
  ws.frame({ type: 'subscribed', channel: 'A', position: '0:1' });
  assert.deepEqual(ws.sent[3], { type: 'subscribe', channel: 'C' }, 'sent again at the next answer');
  ws.frame({ type: 'subscribed', channel: 'B', position: '0:1' });
  ws.frame({ type: 'subscribed', channel: 'C', position: '0:1' });
  await ready;
  assert.deepEqual(errorsOf(events), []);
  conn.close();
});

test('busy with no other answer coming: sent again after a backoff', async () => {
  const { conn, listener } = setup({ channels: ['A'], minDelayMs: 5, maxDelayMs: 20 });
  conn.attach(listener);
  await until(() => FakeWebSocket.last()?.sent.length === 1, 'subscribe');
  const ws = FakeWebSocket.last();
  ws.frame({ type: 'error', code: 'busy', message: 'the pusher is busy', channel: 'A' });
  await until(() => ws.sent.length === 2, 'retried after a backoff', 5000);
  assert.deepEqual(ws.sent[1], { type: 'subscribe', channel: 'A' });
  ws.frame({ type: 'subscribed', channel: 'A', position: '0:1' });
  await conn.whenReady();
  conn.close();
});

for (const [code, name] of [[1002, 'protocol_error'], [1008, 'policy_violation'], [1009, 'message_too_big']]) {
  test(`close ${code}: reported and reconnected to; ${MAX_PROTOCOL_CLOSES} in a row are final`, async () => {
    const { conn, events, listener } = setup({ channels: ['Application'] });
    conn.attach(listener);
    for (let n = 1; n <= MAX_PROTOCOL_CLOSES; n++) {
      await until(() => FakeWebSocket.instances.length === n && FakeWebSocket.last().sent.length === 1, `connection ${n}`, 5000);
      FakeWebSocket.last().drop(code, 'bad');
    }
    const errors = errorsOf(events);
    assert.deepEqual(errors.map((e) => e.code), Array(MAX_PROTOCOL_CLOSES).fill(name));
    assert.match(errors[0].message, /reconnecting/);
    assert.match(errors.at(-1).message, /3 times in a row; not reconnecting/);
    assert.equal(conn.state, 'failed');
    await tick();
    assert.equal(FakeWebSocket.instances.length, MAX_PROTOCOL_CLOSES);
    conn.close();
  });
}

test('a working connection between protocol closes starts the count again', async () => {
  const { conn, events, listener } = setup({ channels: ['Application'] });
  conn.attach(listener);
  for (let n = 1; n <= MAX_PROTOCOL_CLOSES + 1; n++) {
    await until(() => FakeWebSocket.instances.length === n && FakeWebSocket.last().sent.length === 1, `connection ${n}`, 5000);
    if (n === MAX_PROTOCOL_CLOSES) subscribedAll(FakeWebSocket.last()); // it worked
    FakeWebSocket.last().drop(1002);
  }
  assert.notEqual(conn.state, 'failed');
  assert.equal(errorsOf(events).length, MAX_PROTOCOL_CLOSES + 1);
  conn.close();
});

test('other closes (server error, slow consumer, going away) are reconnected to', async () => {
  const { conn, events, listener } = setup({ channels: ['Application'] });
  conn.attach(listener);
  const codes = [1011, 4008, 1001, 1006, 1011, 4008];
  for (let n = 1; n <= codes.length; n++) {
    await until(() => FakeWebSocket.instances.length === n && FakeWebSocket.last().sent.length === 1, `connection ${n}`, 5000);
    FakeWebSocket.last().drop(codes[n - 1]);
  }
  await until(() => FakeWebSocket.instances.length === codes.length + 1, 'reconnected again', 5000);
  assert.deepEqual(errorsOf(events).map((e) => e.code), ['closed', 'slow_consumer', 'closed', 'slow_consumer']);
  assert.notEqual(conn.state, 'failed');
  conn.close();
});

test('GET /v1/channels\' any_instance is kept (the classes no subscription covers)', async () => {
  const { conn, listener } = setup({ channels: ['Application', 'User-1'], anyInstance: ['Team'] });
  conn.attach(listener);
  await until(() => FakeWebSocket.last()?.sent.length === 2, 'subscribes');
  assert.deepEqual(conn.anyInstance, ['Team']);
  assert.deepEqual(FakeWebSocket.last().sent.map((f) => f.channel), ['Application', 'User-1']);
  conn.close();
});
