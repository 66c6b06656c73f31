// Losing the pusher: the client reconnects by itself (backoff, a fresh token from getToken),
// resumes every channel from its last position (no refetch, nothing lost), refetches when
// the position is gone from Kafka (resync), and close() leaves nothing running.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Stack, clientOf, tag, user, waitFor, REPO } from '../stack.js';

const stack = Stack.fromEnv();
const clients = [];
after(() => clients.forEach((c) => c.close()));

/** A client whose list and channel requests are counted. */
async function counted(opts = {}) {
  const calls = { lists: 0, channels: 0 };
  const c = await clientOf(stack, {
    fetch: (url, init) => {
      const u = new URL(url);
      if (u.pathname === '/v1/channels') calls.channels++;
      else if (/^\/v1\/[A-Z][A-Za-z0-9_]*$/.test(u.pathname) && (init?.method ?? 'GET') === 'GET') calls.lists++;
      return fetch(url, init);
    },
    ...opts,
  });
  const states = [];
  c.on('state', (s) => states.push(s));
  clients.push(c);
  return { c, calls, states };
}

const truth = await clientOf(stack, { token: user(7, [3]) }); // uncounted: what the server holds
clients.push(truth);
const key = (records) => records.map((r) => `${r.id}@${r.version}`).join(' ');

/** Waits until coll holds what the server returns for query (asked by the uncounted client). */
async function converges(coll, query, what) {
  const asked = Object.assign(Object.create(Object.getPrototypeOf(query)), query, { client: truth });
  let want = '';
  await waitFor(async () => {
    want = key(await asked.all());
    return key(coll.records) === want;
  }, `${what}: ${key(coll.records)} != ${want}`, 60000, 100);
}

async function restartPushers() {
  await stack.up(...stack.pusherNames);
}

test('every pusher killed: the client reconnects by itself and resumes from its positions, nothing lost, no refetch', async (t) => {
  const T = tag('kill');
  const reasons = [];
  const { c, calls, states } = await counted({ getToken: (r) => { reasons.push(r); return user(7, [3]); } });
  const words = c.model('Dictionary').where({ word: { gte: T, lt: `${T}~` } }).order('word');
  const todos = c.model('Todo').where({ title: { gte: T, lt: `${T}~` } }).order('title');
  const lw = words.live();
  const lt = todos.live();
  await Promise.all([lw.ready, lt.ready]);
  await c.model('Dictionary').create({ word: `${T}-before` });
  await waitFor(() => lw.count === 1, 'live before the kill');
  const lists = calls.lists;
  t.after(() => stack.up(...stack.pusherNames)); // also when an assertion fails first
  for (const name of stack.pusherNames) await stack.kill9(name);
  await waitFor(() => c.state === 'reconnecting', `the client notices (state ${c.state})`);
  // Changes while no pusher runs: through the API and in SQL.
  const made = await c.model('Dictionary').create({ word: `${T}-during`, pronunciation: 'x' });
  await c.model('Todo').create({ title: `${T}-todo`, owner_id: 7, notes: 'n' });
  await stack.psqlAsync(`UPDATE dictionary SET definition = 'from sql' WHERE id = ${made.id}`);
  await stack.psqlAsync(`INSERT INTO dictionary (word) VALUES ('${T}-sql')`);
  await restartPushers();
  await waitFor(() => c.state === 'open', `reconnected (state ${c.state})`, 60000);
  await converges(lw, words, 'words after the restart');
  await converges(lt, todos, 'todos after the restart');
  assert.equal(lw.records.find((r) => r.id === made.id).definition, 'from sql');
  assert.equal(calls.lists, lists, 'resumed from positions: no list fetched again');
  assert.ok(calls.channels >= 2, 'channels asked again on reconnect');
  assert.ok(reasons.includes('reconnect'), `getToken on reconnect: ${reasons}`);
  assert.deepEqual([...new Set(states)].slice(0, 3), ['connecting', 'open', 'reconnecting']);
});

test('one of two pushers killed: its clients move to the other (least connections) and miss nothing', async (t) => {
  if (stack.pusherNames.length < 2) return t.skip('one pusher');
  const T = tag('one');
  const { default: WebSocket } = await import('ws');
  // After pushers were killed, nginx skips one that refused it for fail_timeout (2 s): wait
  // until new connections reach both again (probes through the edge).
  await waitFor(async () => {
    const before = await stack.pusherConnections();
    const probes = Array.from({ length: 2 }, () => new WebSocket(`${stack.edgeUrl.replace('http', 'ws')}/ws`));
    await Promise.all(probes.map((p) => new Promise((res) => { p.onopen = res; p.onerror = res; })));
    const after = await stack.pusherConnections();
    probes.forEach((p) => p.close());
    await waitFor(async () => (await stack.pusherConnections()).every((n, i) => n <= before[i]), 'probes closed');
    return after.every((n, i) => n > before[i]);
  }, 'both pushers take new connections through the edge');
  const base = await stack.pusherConnections();
  const many = [];
  for (let i = 0; i < 4; i++) many.push(await counted());
  const q = (c) => c.model('Dictionary').where({ word: { gte: T, lt: `${T}~` } }).order('id');
  const colls = many.map(({ c }) => q(c).live());
  await Promise.all(colls.map((l) => l.ready));
  const spread = (await stack.pusherConnections()).map((n, i) => n - base[i]);
  assert.ok(spread.every((n) => n >= 1), `least_conn spreads 4 clients over both pushers: ${spread}`);
  try {
    await stack.kill9(stack.pusherNames[0]);
    const writer = many[0].c.model('Dictionary');
    for (let i = 0; i < 10; i++) await writer.create({ word: `${T}-${i}` });
    for (const l of colls) await converges(l, q(many[0].c), 'after one pusher died');
    const moved = many.filter(({ states }) => states.includes('reconnecting')).length;
    assert.equal(moved, spread[0], 'the clients of the killed pusher reconnected, the others did not notice');
  } finally {
    await stack.up(...stack.pusherNames);
  }
});

test('resync: positions gone from Kafka make the client refetch, and it ends equal to the server', async (t) => {
  const T = tag('resync');
  const { c, calls } = await counted();
  const q = c.model('Dictionary').where({ word: { gte: T, lt: `${T}~` } }).order('word');
  const live = q.live();
  await live.ready;
  const a = await c.model('Dictionary').create({ word: `${T}-a` });
  await waitFor(() => live.count === 1, 'a');
  t.after(() => stack.up(...stack.pusherNames));
  for (const name of stack.pusherNames) await stack.kill9(name);
  await c.model('Dictionary').create({ word: `${T}-b` });
  await stack.psqlAsync(`UPDATE dictionary SET word = '${T}-c' WHERE id = ${a.id}`);
  await stack.deleteDeliveries(); // retention overtakes the client's positions
  const lists = calls.lists;
  await restartPushers();
  await converges(live, q, 'after resync');
  assert.ok(calls.lists > lists, 'refetched over REST');
  assert.deepEqual(live.records.map((r) => r.word.slice(-1)), ['b', 'c']);
  // ... and live again afterwards.
  await c.model('Dictionary').create({ word: `${T}-d` });
  await waitFor(() => live.count === 3, 'live after the resync');
});

test('close() releases everything: a process that used a live collection exits by itself', async (t) => {
  const script = `
    import { connect } from '@modelcast/client';
    import WebSocket from 'ws';
    const t0 = Date.now();
    const c = connect({ url: ${JSON.stringify(stack.edgeUrl)}, WebSocket });
    const live = c.model('Dictionary').limit(5).live();
    const count = c.model('Dictionary').liveCount();
    await Promise.all([live.ready, count.ready]);
    const ready = Date.now() - t0;
    c.close();
    console.log('closed', c.state, live.closed, count.closed, 'ready after', ready, 'ms');
    process.on('exit', () => console.log('exit after', Date.now() - t0, 'ms'));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: `${REPO}/tests/js` });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const code = await new Promise((res) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); res('still running after 20 s'); }, 20000);
    child.on('exit', (c) => { clearTimeout(timer); res(c); });
  });
  assert.equal(code, 0, out);
  assert.match(out, /closed closed true true/);
  t.diagnostic(out.trim().replace(/\n/g, '; '));
});
