// Live collections and counts, driven step by step with an in-memory server (fakes.js):
// ordering, stale versions, filters and scopes, several channels, windows, refetches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveCollection, LiveCount } from '../src/live.js';
import { Query } from '../src/query.js';
import { DICT, TODO, FakeServer, fakeClient, tick, until } from './fakes.js';

const words = (c) => c.records.map((r) => r.word);

function live(server, build = (q) => q, options) {
  const client = fakeClient(server);
  const q = build(new Query(client, server.model.name));
  const seen = [];
  const coll = new LiveCollection(client, q, (records) => seen.push(records.map((r) => ({ ...r }))), options);
  return { client, coll, seen };
}

const rec = (id, word, extra = {}) => ({ id, version: 1, word, definition: 'd', pronunciation: 'p', ...extra });

test('loads in order and applies create, update and destroy in place', async () => {
  const server = new FakeServer(DICT, [rec(1, 'cherry'), rec(2, 'apple')]);
  const { client, coll } = live(server, (q) => q.order('word'));
  await coll.ready;
  assert.deepEqual(words(coll), ['apple', 'cherry']);
  client.push({ channel: 'Application', model: 'Dictionary', id: 3, op: 'create', version: 1, attributes: rec(3, 'banana') });
  await tick();
  assert.deepEqual(words(coll), ['apple', 'banana', 'cherry']);
  client.push({ channel: 'Application', model: 'Dictionary', id: 2, op: 'update', version: 2, attributes: rec(2, 'date', { version: 2 }) });
  await tick();
  assert.deepEqual(words(coll), ['banana', 'cherry', 'date']);
  client.push({ channel: 'Application', model: 'Dictionary', id: 1, op: 'destroy', version: 1, attributes: rec(1, 'cherry') });
  await tick();
  assert.deepEqual(words(coll), ['banana', 'date']);
  assert.equal(coll.count, 2);
});

test('a change older than the version held is ignored, and nothing comes back after a destroy', async () => {
  const server = new FakeServer(DICT, [rec(1, 'apple', { version: 3 })]);
  const { client, coll } = live(server, (q) => q.order('word'));
  await coll.ready;
  client.push({ channel: 'Application', model: 'Dictionary', id: 1, op: 'update', version: 2, attributes: rec(1, 'stale', { version: 2 }) });
  await tick();
  assert.deepEqual(words(coll), ['apple']);
  client.push({ channel: 'Application', model: 'Dictionary', id: 1, op: 'destroy', version: 3, attributes: rec(1, 'apple') });
  client.push({ channel: 'Application', model: 'Dictionary', id: 1, op: 'update', version: 3, attributes: rec(1, 'late', { version: 3 }) });
  await tick();
  assert.deepEqual(words(coll), []);
  client.resync(); // the server still lists it (a read before the destroy): the destroy wins
  await until(() => server.calls.length >= 2, 'refetch');
  await tick();
  assert.deepEqual(words(coll), []);
});

test('subscribe first, fetch, then apply what arrived meanwhile by version', async () => {
  const server = new FakeServer(DICT, [rec(1, 'apple'), rec(2, 'banana')]);
  let open;
  server.gate = new Promise((r) => { open = r; });
  const { client, coll, seen } = live(server, (q) => q.order('word'));
  await until(() => server.calls.length === 1, 'the fetch started');
  // While the fetch is on its way: banana changed (v2), cherry created; the fetch answers
  // with its older snapshot.
  client.push({ channel: 'Application', model: 'Dictionary', id: 2, op: 'update', version: 2, attributes: rec(2, 'blueberry', { version: 2 }) });
  client.push({ channel: 'Application', model: 'Dictionary', id: 3, op: 'create', version: 1, attributes: rec(3, 'cherry') });
  assert.equal(seen.length, 0, 'no callback before the first load');
  open();
  await coll.ready;
  assert.deepEqual(words(coll), ['apple', 'blueberry', 'cherry']);
});

test('a record enters and leaves the filters, evaluated on the client', async () => {
  const server = new FakeServer(TODO, [{ id: 1, title: 'a', done: false, owner_id: 7 }]);
  const { client, coll } = live(server, (q) => q.where({ done: { ne: true } }).order('title'));
  await coll.ready;
  const push = (id, version, attributes) => client.push({ channel: 'User-7', model: 'Todo', id, op: 'update', version, attributes: { id, version, owner_id: 7, ...attributes } });
  push(1, 2, { title: 'a', done: true });
  await tick();
  assert.deepEqual(coll.records, []);
  push(1, 3, { title: 'a', done: null }); // ne matches NULL
  await tick();
  assert.deepEqual(coll.records.map((r) => r.id), [1]);
  assert.equal(server.calls.length, 1, 'decided on the client, without asking the server');
});

test('a record enters and leaves a scope whose condition the client knows', async () => {
  const server = new FakeServer(DICT, [rec(1, 'apple')]);
  const { client, coll } = live(server, (q) => q.scope('defined').order('word'));
  await coll.ready;
  client.push({ channel: 'Application', model: 'Dictionary', id: 1, op: 'update', version: 2, attributes: rec(1, 'apple', { version: 2, pronunciation: null }) });
  await tick();
  assert.deepEqual(words(coll), []);
  client.push({ channel: 'Application', model: 'Dictionary', id: 1, op: 'update', version: 3, attributes: rec(1, 'apple', { version: 3 }) });
  await tick();
  assert.deepEqual(words(coll), ['apple']);
  assert.equal(server.calls.length, 1);
});

test('a scope without a known condition is decided by the server, batched by id', async () => {
  const model = { ...DICT, scopes: { defined: null } };
  const server = new FakeServer(model, [rec(1, 'apple')]);
  server.hiddenScopes = { defined: DICT.scopes.defined };
  const { client, coll } = live(server, (q) => q.scope('defined').order('word'));
  await coll.ready;
  server.put({ id: 2, word: 'banana', definition: 'd', pronunciation: 'p' });
  server.put({ id: 3, word: 'cherry', definition: null, pronunciation: 'p' });
  client.push({ channel: 'Application', model: 'Dictionary', id: 2, op: 'create', version: 1, attributes: rec(2, 'banana') });
  client.push({ channel: 'Application', model: 'Dictionary', id: 3, op: 'create', version: 1, attributes: rec(3, 'cherry', { definition: null }) });
  await until(() => words(coll).length === 2, 'banana in');
  assert.deepEqual(words(coll), ['apple', 'banana']);
  const recheck = server.calls[1].params;
  assert.equal(recheck['id[in]'], '2,3');
  assert.equal(recheck.scope, 'defined');
  assert.equal(server.calls.length, 2, 'one request for both');
});

test('several channels: one version merges their views; a remove from one is kept while another shows it', async () => {
  // Alice's todo: User-7 sends every attribute, Team-3 all but notes and private.
  const server = new FakeServer(TODO, [{ id: 1, title: 'milk', owner_id: 7, team_id: 3, private: false, notes: '2 l' }]);
  const { client, coll } = live(server, (q) => q.where({ team_id: 3 }).order('title'));
  await coll.ready;
  const team = { id: 1, version: 2, title: 'milk!', owner_id: 7, team_id: 3, done: false };
  client.push({ channel: 'Team-3', model: 'Todo', id: 1, op: 'update', version: 2, attributes: team });
  client.push({ channel: 'User-7', model: 'Todo', id: 1, op: 'update', version: 2, attributes: { ...team, private: false, notes: '3 l' } });
  await tick();
  assert.deepEqual(coll.records, [{ ...team, private: false, notes: '3 l' }]);
  // Alice makes it private: User-7 updates, Team-3 removes (either order).
  client.push({ channel: 'Team-3', model: 'Todo', id: 1, op: 'remove', version: 3, attributes: { id: 1 } });
  client.push({ channel: 'User-7', model: 'Todo', id: 1, op: 'update', version: 3, attributes: { ...team, version: 3, private: true, notes: '3 l' } });
  server.put({ id: 1, version: 3, private: true });
  await until(() => server.calls.length === 2, 'the remove with no other channel asks the server');
  await tick();
  assert.equal(coll.records.length, 1, 'still visible to Alice through User-7');
  assert.equal(coll.records[0].private, true);
  const calls = server.calls.length;
  client.push({ channel: 'User-7', model: 'Todo', id: 1, op: 'update', version: 4, attributes: { ...team, version: 4, private: true } });
  client.push({ channel: 'Team-3', model: 'Todo', id: 1, op: 'remove', version: 4, attributes: { id: 1 } });
  await tick();
  assert.equal(server.calls.length, calls, 'User-7 holds version 4: no need to ask');
  assert.equal(coll.records.length, 1);
});

test('a teammate drops a record its only channel removes', async () => {
  const server = new FakeServer(TODO, [{ id: 1, title: 'milk', owner_id: 7, team_id: 3, done: false }]);
  server.visible = (r) => !r.private;
  const { client, coll } = live(server, (q) => q.where({ team_id: 3 }));
  await coll.ready;
  server.put({ id: 1, private: true });
  client.push({ channel: 'Team-3', model: 'Todo', id: 1, op: 'remove', version: 2, attributes: { id: 1 } });
  await until(() => coll.records.length === 0, 'removed');
  // A late copy of version 1 from a replay does not bring it back.
  client.push({ channel: 'Team-3', model: 'Todo', id: 1, op: 'update', version: 1, attributes: { id: 1, version: 1, title: 'milk', owner_id: 7, team_id: 3 } });
  await tick();
  assert.equal(coll.records.length, 0);
});

test('a limited window: a record before the boundary pushes the last out, a leaving one is refilled from the server', async () => {
  const server = new FakeServer(DICT, ['b', 'd', 'f', 'h', 'j'].map((w, i) => rec(i + 1, w)));
  const { client, coll } = live(server, (q) => q.order('word').limit(3));
  await coll.ready;
  assert.deepEqual(words(coll), ['b', 'd', 'f']);
  client.push({ channel: 'Application', model: 'Dictionary', id: 9, op: 'create', version: 1, attributes: rec(9, 'a') });
  server.put(rec(9, 'a'));
  client.push({ channel: 'Application', model: 'Dictionary', id: 10, op: 'create', version: 1, attributes: rec(10, 'g') });
  server.put(rec(10, 'g'));
  await tick();
  assert.deepEqual(words(coll), ['a', 'b', 'd'], 'g is past the window');
  const calls = server.calls.length;
  server.rows.delete(2);
  client.push({ channel: 'Application', model: 'Dictionary', id: 2, op: 'destroy', version: 1, attributes: rec(2, 'd') });
  await until(() => server.calls.length > calls && words(coll).length === 3, 'refilled');
  assert.deepEqual(words(coll), ['a', 'b', 'f']);
});

test('order: descending puts NULLs first, ascending last; strings by code point; then id', async () => {
  const server = new FakeServer(DICT, [
    rec(1, 'b', { pronunciation: null }), rec(2, 'a', { pronunciation: 'x' }),
    rec(3, '\u{1F600}', { pronunciation: 'x' }), rec(4, '\uff5e', { pronunciation: null })]);
  const { coll } = live(server, (q) => q.order('-pronunciation', 'word'));
  await coll.ready;
  assert.deepEqual(coll.records.map((r) => r.id), [1, 4, 2, 3]);
  const asc = live(server, (q) => q.order('pronunciation', '-word')).coll;
  await asc.ready;
  assert.deepEqual(asc.records.map((r) => r.id), [3, 2, 4, 1]);
});

test('resync reloads: records gone from the server leave, a record pushed during the reload stays', async () => {
  const server = new FakeServer(DICT, [rec(1, 'apple'), rec(2, 'banana')]);
  const { client, coll } = live(server, (q) => q.order('word'));
  await coll.ready;
  server.rows.delete(1);
  let open;
  server.gate = new Promise((r) => { open = r; });
  client.resync();
  await until(() => server.calls.length === 2, 'reload started');
  client.push({ channel: 'Application', model: 'Dictionary', id: 5, op: 'create', version: 1, attributes: rec(5, 'cherry') });
  open();
  server.gate = null;
  await until(() => words(coll).join() === 'banana,cherry', `reloaded: ${words(coll)}`);
});

test('close() stops following changes', async () => {
  const server = new FakeServer(DICT, [rec(1, 'apple')]);
  const { client, coll } = live(server);
  await coll.ready;
  coll.close();
  assert.equal(client.listeners.size, 0);
  client.push({ channel: 'Application', model: 'Dictionary', id: 2, op: 'create', version: 1, attributes: rec(2, 'b') });
  await tick();
  assert.deepEqual(words(coll), ['apple']);
});

test('a live count counts again on changes that can alter it, and only those', async () => {
  const server = new FakeServer(DICT, [rec(1, 'apple'), rec(2, 'banana', { pronunciation: null })]);
  const client = fakeClient(server);
  const values = [];
  const lc = new LiveCount(client, new Query(client, 'Dictionary').scope('defined'), (n) => values.push(n));
  await lc.ready;
  assert.deepEqual(values, [1]);
  server.put({ id: 2, pronunciation: 'b' });
  client.push({ channel: 'Application', model: 'Dictionary', id: 2, op: 'update', version: 2, changed: ['pronunciation'], attributes: rec(2, 'banana', { version: 2 }) });
  await until(() => values.length === 2, 'recounted');
  assert.deepEqual(values, [1, 2]);
  const calls = server.calls.length;
  client.push({ channel: 'Application', model: 'Dictionary', id: 2, op: 'update', version: 3, changed: ['word'], attributes: rec(2, 'blueberry', { version: 3 }) });
  await tick();
  assert.equal(server.calls.length, calls, 'a change of word cannot change the defined count');
  lc.close();
});

test('a query the server refuses rejects ready and reports the error', async () => {
  const server = new FakeServer(DICT, []);
  const { coll, client } = live(server, (q) => q.scope('nope'));
  await assert.rejects(coll.ready, (e) => e.code === 'bad_query' && /no scope 'nope'/.test(e.message));
  assert.equal(client.errors.length, 1);
});

test('versions of records outside the collection are forgotten past maxTracked, members never', async () => {
  const server = new FakeServer(DICT, [rec(1, 'apple')]);
  const { client, coll } = live(server, (q) => q.where({ word: 'apple' }), { maxTracked: 100 });
  await coll.ready;
  for (let id = 2; id < 400; id++) {
    client.push({ channel: 'Application', model: 'Dictionary', id, op: 'create', version: 1, attributes: rec(id, `w${id}`) });
  }
  await tick();
  assert.ok(coll.seen.size <= 101, `tracked ${coll.seen.size}`);
  assert.ok(coll.seen.has(1), 'the member stays');
  assert.deepEqual(words(coll), ['apple']);
});

test('scope conditions a server lists with its models are used on the client', async () => {
  const { normalizeModel } = await import('../src/schema.js');
  const cond = { pronunciation: { null: false } };
  assert.deepEqual(normalizeModel('D', { attributes: DICT.attributes, scopes: ['a', 'b'], scope_conditions: { a: cond } }).scopes, { a: cond, b: null });
  assert.deepEqual(normalizeModel('D', { attributes: DICT.attributes, scopes: [{ name: 'a', condition: cond }, 'b'] }).scopes, { a: cond, b: null });
  assert.throws(() => normalizeModel('D', { attributes: DICT.attributes, scopes: { a: { nope: { eq: 1 } } } }), /'nope' is not an attribute of D/);
});

test('a resync during the first load loads again afterwards', async () => {
  const server = new FakeServer(DICT, [rec(1, 'apple')]);
  let open;
  server.gate = new Promise((r) => { open = r; });
  const { client, coll } = live(server, (q) => q.order('word'));
  await until(() => server.calls.length === 1, 'first load started');
  server.put(rec(2, 'banana')); // committed before the fresh position, never pushed
  client.resync();
  open();
  server.gate = null;
  await coll.ready;
  await until(() => words(coll).join() === 'apple,banana', `reloaded: ${words(coll)}`);
  assert.equal(server.calls.length, 2);
});

test('a model readable through an instance class admitted wholesale is polled; others are not', async () => {
  const admin = { ...TODO, anyInstance: ['Team'] };
  const server = new FakeServer(admin, [{ id: 1, title: 'a', owner_id: 7, team_id: 9 }]);
  const { coll } = live(server, (q) => q.order('title'), { pollMs: 5 });
  await coll.ready;
  assert.ok(coll.pollTimer, 'polling');
  // A todo of team 9, which the admin reads but no subscription of it carries: no push.
  server.put({ id: 2, title: 'b', owner_id: 8, team_id: 9 });
  await until(() => coll.records.length === 2, 'seen by polling', 5000);
  const count = new LiveCount(fakeClient(server), new Query(fakeClient(server), 'Todo'), null, { pollMs: 5 });
  await count.ready;
  server.put({ id: 3, title: 'c', owner_id: 8, team_id: 9 });
  await until(() => count.value === 3, 'counted by polling', 5000);
  coll.close();
  count.close();
  assert.equal(coll.pollTimer._destroyed ?? true, true);
  const plain = live(new FakeServer(TODO, []), (q) => q, { pollMs: 5 }).coll;
  await plain.ready;
  assert.equal(plain.pollTimer, null, 'no polling without any_instance');
  const off = live(server, (q) => q, { pollMs: 0 }).coll;
  await off.ready;
  assert.equal(off.pollTimer, null, 'pollMs: 0 turns it off');
  plain.close();
  off.close();
});

test('a connection failed for good: the collection and the count hold its error, reported once', async () => {
  const server = new FakeServer(DICT, [rec(1, 'apple')]);
  const failure = new Error('origin refused');
  const client = fakeClient(server);
  client.connection.failure = failure;
  client.connection.whenReady = async () => { throw failure; };
  const coll = new LiveCollection(client, new Query(client, 'Dictionary'), null);
  const count = new LiveCount(client, new Query(client, 'Dictionary'), null);
  await assert.rejects(coll.ready, (e) => e === failure);
  await assert.rejects(count.ready, (e) => e === failure);
  assert.equal(coll.error, failure);
  assert.equal(count.error, failure);
  assert.deepEqual(client.errors, [], 'the connection reported it; the queries do not again');
  const other = live(server, (q) => q).coll; // and a collection loaded before the failure
  await other.ready;
  other.onFailed(failure);
  assert.equal(other.error, failure);
  other.close();
});

test('with a schema option, the server still says which scopes and instance classes this caller has', async () => {
  const { connect } = await import('../src/index.js');
  const listed = {
    models: [{
      name: 'Todo', attributes: TODO.attributes, scopes: ['open', 'fresh'],
      scope_conditions: { open: { done: { ne: true } }, fresh: { title: { ne: 'x' } } }, any_instance: ['Team'],
    }],
  };
  const fetch = async () => new Response(JSON.stringify(listed), { status: 200, headers: { 'Content-Type': 'application/json' } });
  const mc = connect({
    url: 'http://api.example', fetch,
    schema: { models: { Todo: { attributes: TODO.attributes, order: 'title', scopes: { open: null, mine: { owner_id: { eq: 7 } } } } } },
  });
  const m = await mc._model('Todo');
  assert.deepEqual(m.scopes, { open: { done: { ne: true } }, mine: { owner_id: { eq: 7 } }, fresh: { title: { ne: 'x' } } });
  assert.deepEqual(m.anyInstance, ['Team']);
  assert.deepEqual(m.order, ['title']);
  mc.close();
});
