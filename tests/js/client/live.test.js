// Live collections and counts against the real stack: concurrent writers through the API and
// straight in SQL, collections started mid-stream, limited windows, scopes, and what
// policies let each user see (a teammate never gets notes).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, clientOf, tag, user, token, waitFor } from '../stack.js';

const stack = Stack.fromEnv();
const clients = [];
const client = async (opts) => {
  const c = await clientOf(stack, opts);
  clients.push(c);
  return c;
};
after(() => clients.forEach((c) => c.close()));

const key = (records) => records.map((r) => `${r.id}@${r.version}`).join(' ');

/** Follows a live collection: every callback's records, and per record the versions seen. */
function follow(query, options) {
  const seen = { calls: 0, versions: new Map(), violations: [], notes: 0 };
  const coll = query.live((records) => {
    seen.calls++;
    for (const r of records) {
      const v = seen.versions.get(r.id) ?? 0;
      if (r.version < v) seen.violations.push(`${r.id}: version ${r.version} after ${v}`);
      seen.versions.set(r.id, r.version);
      if ('notes' in r) seen.notes++;
    }
  }, options);
  return { coll, seen };
}

async function converges(coll, truthQuery, what) {
  let truth = '';
  await waitFor(async () => {
    truth = key(await truthQuery.all());
    return key(coll.records) === truth;
  }, `${what}: ${key(coll.records).slice(0, 200)} != ${truth.slice(0, 200)}`, 60000, 100);
}

test('concurrent writers, through the API and in SQL: every collection ends equal to the server', async () => {
  const T = tag('cw');
  const anon = await client();
  const admin = await client({ token: token({ sub: '1', role: 'admin' }) });
  const mine = (c) => c.model('Dictionary').where({ word: { gte: `${T}-`, lt: `${T}-~` } });
  const all = follow(mine(anon).order('word'));
  const latest = follow(mine(anon).order('-updated_at').limit(7));
  const defined = follow(mine(anon).scope('defined').order('-word'));
  const counts = [];
  const count = mine(anon).scope('defined').liveCount((n) => counts.push(n));
  await Promise.all([all.coll.ready, latest.coll.ready, defined.coll.ready, count.ready]);
  assert.deepEqual(all.coll.records, []);

  const ids = [];
  const restWriter = async (w) => {
    const D = (w === 0 ? admin : anon).model('Dictionary');
    for (let i = 0; i < 30; i++) {
      const r = Math.random();
      if (r < 0.45 || ids.length < 3) {
        const rec = await D.create({ word: `${T}-r${w}-${i}`, definition: i % 3 ? 'def' : null, pronunciation: i % 2 ? 'p' : null });
        ids.push(rec.id);
      } else if (r < 0.9 || w !== 0) {
        const id = ids[Math.floor(Math.random() * ids.length)];
        await D.update(id, { pronunciation: Math.random() < 0.5 ? null : `p${i}`, definition: `d${i}` }).catch((e) => {
          if (e.code !== 'not_found') throw e;
        });
      } else {
        const id = ids.splice(Math.floor(Math.random() * ids.length), 1)[0];
        await D.destroy(id).catch((e) => {
          if (e.code !== 'not_found') throw e;
        });
      }
    }
  };
  const sqlWriter = async () => {
    for (let round = 0; round < 5; round++) {
      await stack.psqlAsync(`INSERT INTO dictionary (word, definition, pronunciation)
        SELECT '${T}-s${round}-' || g, 'sql', CASE WHEN g % 2 = 0 THEN 'sp' END FROM generate_series(1, 8) g`);
      await stack.psqlAsync(`UPDATE dictionary SET pronunciation = CASE WHEN pronunciation IS NULL THEN 'fixed' END,
        definition = coalesce(definition, '') || '+' WHERE word LIKE '${T}-%' AND id % 3 = ${round % 3}`);
      await stack.psqlAsync(`DELETE FROM dictionary WHERE word LIKE '${T}-%' AND id % 11 = ${round}`);
    }
  };
  // A collection that starts while the writers run: subscribe, fetch, apply by version.
  let late = null;
  const starter = (async () => {
    await new Promise((r) => setTimeout(r, 300));
    late = follow(mine(anon).where({ definition: { ne: 'sql' } }).order('id'));
    await late.coll.ready;
  })();
  await Promise.all([restWriter(0), restWriter(1), restWriter(2), sqlWriter(), starter]);

  await converges(all.coll, mine(anon).order('word'), 'all');
  await converges(latest.coll, mine(anon).order('-updated_at').limit(7), 'latest 7');
  await converges(defined.coll, mine(anon).scope('defined').order('-word'), 'defined');
  await converges(late.coll, mine(anon).where({ definition: { ne: 'sql' } }).order('id'), 'started mid-stream');
  const truth = await mine(anon).scope('defined').count();
  await waitFor(() => count.value === truth, `live count ${count.value} != ${truth}`, 60000);
  assert.ok(all.coll.records.length > 40, `only ${all.coll.records.length} records`);
  for (const f of [all, latest, defined, late]) assert.deepEqual(f.seen.violations, [], 'a record went back in version');
});

test('a record moves in and out of a scope and a filter as it changes', async () => {
  const T = tag('mv');
  const anon = await client();
  const D = anon.model('Dictionary');
  const defined = D.where({ word: { gte: T, lt: `${T}~` } }).scope('defined').live();
  const noDef = D.where({ word: { gte: T, lt: `${T}~` }, definition: null }).live();
  await Promise.all([defined.ready, noDef.ready]);
  const w = await D.create({ word: `${T}-1`, definition: 'd', pronunciation: 'p' });
  await waitFor(() => defined.count === 1, 'in defined');
  await D.update(w.id, { pronunciation: null });
  await waitFor(() => defined.count === 0, 'out of defined');
  await stack.psqlAsync(`UPDATE dictionary SET definition = NULL WHERE id = ${w.id}`);
  await waitFor(() => noDef.count === 1 && noDef.records[0].version === 3, 'into definition = null (a change in SQL)');
  await D.update(w.id, { definition: 'back', pronunciation: 'again' });
  await waitFor(() => defined.count === 1 && noDef.count === 0, 'back in defined, out of null');
  assert.equal(defined.records[0].version, 4);
});

test('without a schema option, scope conditions come from GET /v1/models: no asking the server per change', async () => {
  const T = tag('sc');
  const urls = [];
  const c = await client({ schema: undefined, fetch: (url, init) => { urls.push(String(url)); return fetch(url, init); } });
  const D = c.model('Dictionary');
  assert.deepEqual((await c._model('Dictionary')).scopes.defined, { definition: { null: false }, pronunciation: { null: false } });
  const defined = D.where({ word: { gte: T, lt: `${T}~` } }).scope('defined').live();
  await defined.ready;
  const w = await D.create({ word: `${T}-1`, definition: 'd', pronunciation: 'p' });
  await waitFor(() => defined.count === 1, 'in defined');
  await D.update(w.id, { pronunciation: null });
  await waitFor(() => defined.count === 0, 'out of defined');
  assert.deepEqual(urls.filter((u) => u.includes('id%5Bin%5D')), [], 'no recheck of scope membership');
});

test('policies: a teammate sees the team list without notes, loses a todo made private, and never gets notes', async () => {
  const T = tag('todo');
  const alice = await client({ token: user(7, [3]) });
  const bob = await client({ token: user(8, [3]) });
  const carol = await client({ token: user(9, [4]) });
  const q = (c, team) => c.model('Todo').where({ team_id: team, title: { gte: T, lt: `${T}~` } }).order('title');
  const a = follow(q(alice, 3));
  const b = follow(q(bob, 3));
  const c4 = follow(q(carol, 4));
  await Promise.all([a.coll.ready, b.coll.ready, c4.coll.ready]);
  const t1 = await alice.model('Todo').create({ title: `${T}-1 milk`, owner_id: 7, team_id: 3, notes: 'secret: 2 litres', private: false });
  const t2 = await alice.model('Todo').create({ title: `${T}-2 diary`, owner_id: 7, team_id: 3, notes: 'very secret', private: true });
  await waitFor(() => a.coll.count === 2 && b.coll.count === 1, 'Alice sees both, Bob the shared one');
  assert.equal(a.coll.records[0].notes, 'secret: 2 litres');
  assert.ok(!('notes' in b.coll.records[0]) && !('private' in b.coll.records[0]), JSON.stringify(b.coll.records[0]));
  await alice.model('Todo').update(t1.id, { notes: 'changed: 3 litres', done: true });
  await waitFor(() => b.coll.records[0]?.done === true, 'Bob sees done');
  await waitFor(() => a.coll.records[0]?.notes === 'changed: 3 litres', 'Alice sees the notes');
  await alice.model('Todo').update(t1.id, { private: true });
  await waitFor(() => b.coll.count === 0, 'made private: gone for Bob');
  await waitFor(() => a.coll.count === 2 && a.coll.records[0].private === true, 'still there for Alice');
  await alice.model('Todo').update(t1.id, { private: false });
  await waitFor(() => b.coll.count === 1, 'shared again: back for Bob');
  // Moved to team 4 in SQL: Bob loses it, Carol gets it (without notes).
  await stack.psqlAsync(`UPDATE todo SET team_id = 4 WHERE id = ${t1.id}`);
  await waitFor(() => b.coll.count === 0 && c4.coll.count === 1, 'moved to team 4');
  assert.equal(c4.coll.records[0].id, t1.id);
  await alice.model('Todo').destroy(t2.id);
  await waitFor(() => a.coll.count === 0, 'Alice: one destroyed, one moved out of team 3');
  assert.equal(b.seen.notes + c4.seen.notes, 0, 'a teammate never got notes');
  await assert.rejects(bob.model('Todo').update(t1.id, { title: 'mine now' }), (e) => e.status === 404 || e.status === 403);
});

test('a limited window stays full and in order while records come and go', async () => {
  const T = tag('win');
  const anon = await client();
  const admin = await client({ token: token({ sub: '1', role: 'admin' }) });
  const D = anon.model('Dictionary');
  for (const w of ['b', 'd', 'f', 'h', 'j', 'l']) await D.create({ word: `${T}-${w}` });
  const mine = D.where({ word: { gte: T, lt: `${T}~` } }).order('word');
  const top = mine.limit(3).live();
  await top.ready;
  const words = () => top.records.map((r) => r.word.slice(-1)).join('');
  assert.equal(words(), 'bdf');
  await D.create({ word: `${T}-a` });
  await waitFor(() => words() === 'abd', `a enters at the top: ${words()}`);
  const [b] = await mine.where({ word: `${T}-b` }).all();
  await admin.model('Dictionary').destroy(b.id);
  await waitFor(() => words() === 'adf', `b leaves, f comes back from the server: ${words()}`);
  await D.update((await mine.where({ word: `${T}-a` }).all())[0].id, { word: `${T}-z` });
  await waitFor(() => words() === 'dfh', `a moves past the window: ${words()}`);
});
