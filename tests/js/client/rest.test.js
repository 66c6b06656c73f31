// @modelcast/client against the real stack (through the edge): every method of a model and
// a query, and every kind of error rejecting with the server's error object.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, ModelcastError, connect } from '@modelcast/client';
import { Stack, clientOf, tag, user, token } from '../stack.js';

const stack = Stack.fromEnv();
const anon = await clientOf(stack);
const alice = await clientOf(stack, { token: user(7, [3]) });
after(() => {
  anon.close();
  alice.close();
});

const rejects = (p, check) => assert.rejects(p, (e) => {
  assert.ok(e instanceof ModelcastError, `not a ModelcastError: ${e}`);
  check(e);
  return true;
});

test('create, find, update (If-Match), destroy; a 412 carries the current record', async () => {
  const D = alice.model('Dictionary');
  const word = tag('word');
  const w = await D.create({ word, definition: 'first', pronunciation: 'one' });
  assert.equal(w.word, word);
  assert.equal(w.version, 1);
  assert.deepEqual(await D.find(w.id), w);
  const w2 = await D.update(w, { definition: 'second' });
  assert.equal(w2.version, 2);
  assert.equal(w2.definition, 'second');
  await assert.rejects(D.update(w, { definition: 'lost update' }), (e) => {
    assert.ok(e instanceof ConflictError);
    assert.equal(e.status, 412);
    assert.equal(e.code, 'version_mismatch');
    assert.deepEqual(e.current, w2);
    assert.equal(e.currentVersion, 2);
    return true;
  });
  const w3 = await D.update(w.id, { pronunciation: null }); // an id: unconditional
  assert.equal(w3.version, 3);
  assert.equal(w3.pronunciation, null);
  const w4 = await D.update(w.id, { pronunciation: 'two' }, { version: 3 });
  assert.equal(w4.version, 4);
  const admin = await clientOf(stack, { token: token({ sub: '1', role: 'admin' }) });
  try {
    await assert.rejects(admin.model('Dictionary').destroy(w3), (e) => e instanceof ConflictError && e.current.version === 4);
    await admin.model('Dictionary').destroy(w4);
    await rejects(D.find(w.id), (e) => assert.equal(e.status, 404) || assert.equal(e.code, 'not_found'));
    const t = await alice.model('Todo').create({ title: tag('todo'), owner_id: 7 });
    await alice.model('Todo').destroy(t.id);
  } finally {
    admin.close();
  }
});

test('where, scope, order, limit, all, first, page, count', async () => {
  const D = anon.model('Dictionary');
  const base = tag('q');
  const made = [];
  for (const [i, def, pron] of [[3, 'c', 'C'], [1, 'a', null], [2, null, 'B'], [5, 'e', 'E'], [4, 'd', 'D']]) {
    made.push(await D.create({ word: `${base}-${i}`, definition: def, pronunciation: pron }));
  }
  const mine = D.where({ word: { gte: `${base}-`, lt: `${base}-~` } });
  assert.deepEqual((await mine.order('word').all()).map((r) => r.word.slice(-1)), ['1', '2', '3', '4', '5']);
  assert.deepEqual((await mine.scope('defined').order('-word').all()).map((r) => r.word.slice(-1)), ['5', '4', '3']);
  assert.deepEqual((await mine.where({ definition: null }).all()).map((r) => r.word.slice(-1)), ['2']);
  assert.deepEqual((await mine.where({ id: { in: [made[0].id, made[3].id] } }).order('id').all()).map((r) => r.id), [made[0].id, made[3].id]);
  assert.deepEqual((await mine.where({ created_at: { gte: new Date(Date.parse(made[0].created_at) - 1000) } }).count()), 5);
  assert.equal((await mine.order('word').limit(2).all()).length, 2);
  assert.equal((await mine.order('-word').first()).word, `${base}-5`);
  assert.equal(await mine.where({ word: 'nothing-like-this' }).first(), null);
  const p1 = await mine.order('word').page({ size: 2 });
  assert.equal(p1.data.length, 2);
  assert.ok(p1.nextCursor);
  const p2 = await mine.order('word').page({ size: 2, cursor: p1.nextCursor });
  assert.deepEqual(p2.data.map((r) => r.word.slice(-1)), ['3', '4']);
  assert.equal(await mine.count(), 5);
  assert.equal(await mine.scope('defined').count(), 3);
  assert.equal(await mine.limit(1).count(), 5, 'limit does not apply to count');
  // More than one page of the server's (limit given: pages of up to 500).
  assert.equal((await mine.limit(4).all()).length, 4);
});

test('validation errors carry per-attribute messages', async () => {
  await rejects(anon.model('Dictionary').create({ definition: 5, color: 'red' }), (e) => {
    assert.equal(e.status, 422);
    assert.equal(e.code, 'invalid');
    assert.deepEqual(e.details.word, ['is required']);
    assert.deepEqual(e.details.definition, ['must be a string']);
    assert.deepEqual(e.details.color, ['is not an attribute of this model']);
    assert.equal(e.error.code, 'invalid');
  });
  await rejects(anon.model('Dictionary').create({ word: 'x'.repeat(201) }), (e) => {
    assert.deepEqual(e.details.word, ['is longer than 200 characters']);
  });
});

test('errors: unknown model, not found, bad query, policies (401, 403), refused token, unreachable server', async () => {
  await rejects(anon.model('Nope').all(), (e) => assert.equal(e.code, 'unknown_model'));
  await rejects(anon.model('Todo').all(), (e) => assert.equal(e.code, 'unknown_model')); // anonymous never sees Todo
  await rejects(anon.model('Dictionary').find(999999999), (e) => assert.equal(e.code, 'not_found'));
  await rejects(anon.model('Dictionary').where({ nope: 1 }).all(), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, 'bad_query');
  });
  await rejects(anon.model('Dictionary').order('-nope').all(), (e) => assert.equal(e.code, 'bad_query'));
  const w = await anon.model('Dictionary').create({ word: tag('anon') });
  await rejects(anon.model('Dictionary').destroy(w), (e) => {
    assert.equal(e.status, 401);
    assert.equal(e.code, 'unauthenticated');
    assert.match(e.message, /policies do not allow this destroy/);
  });
  await rejects(alice.model('Todo').create({ title: 'for bob', owner_id: 8 }), (e) => {
    assert.equal(e.status, 403);
    assert.equal(e.code, 'forbidden');
    assert.equal(e.details.reason, 'denied');
  });
  const forged = connect({ url: stack.edgeUrl, token: user(7).replace(/.$/, 'x') });
  await rejects(forged.model('Dictionary').all(), (e) => {
    assert.equal(e.status, 401);
    assert.equal(e.code, 'invalid_token');
    assert.equal(e.details.reason, 'bad_signature');
  });
  const nowhere = connect({ url: 'http://127.0.0.1:1' });
  await rejects(nowhere.model('Dictionary').all(), (e) => {
    assert.equal(e.status, 0);
    assert.equal(e.code, 'network');
  });
  assert.throws(() => anon.model('Dictionary').where({ word: { in: ['a,b'] } }).params(), /containing ','/);
  assert.throws(() => anon.model('Dictionary').where({ word: { like: 'a' } }), /unknown operator/);
});

test('an expired token is refreshed through getToken and the call retried', async () => {
  const reasons = [];
  const c = await clientOf(stack, {
    getToken: (reason) => {
      reasons.push(reason);
      return reason === 'initial' ? user(7, [3], -60) : user(7, [3]);
    },
  });
  try {
    const t = await c.model('Todo').create({ title: tag('refresh'), owner_id: 7 });
    assert.equal(t.owner_id, 7);
    assert.deepEqual(reasons, ['initial', 'expired']);
  } finally {
    c.close();
  }
  const fixed = await clientOf(stack, { token: user(7, [3], -60) });
  await rejects(fixed.model('Todo').all(), (e) => assert.equal(e.details.reason, 'expired'));
});

test('channels and models as the caller may see them', async () => {
  assert.deepEqual(await anon.channels(), ['Application']);
  assert.deepEqual(new Set(await alice.channels()), new Set(['Application', 'User-7', 'Team-3']));
  const models = await alice.models();
  const todo = models.find((m) => m.name === 'Todo');
  assert.ok(todo.attributes.notes, 'Alice sees notes of her own todos');
  assert.deepEqual(models.find((m) => m.name === 'Dictionary').scopes, ['defined']);
  assert.deepEqual(models.find((m) => m.name === 'Dictionary').scope_conditions,
    { defined: { definition: { null: false }, pronunciation: { null: false } } });
  assert.deepEqual(await alice.channelAccess(), { channels: ['Application', 'User-7', 'Team-3'], anyInstance: [] });
  assert.ok(!(await anon.models()).some((m) => m.name === 'Todo'));
});
