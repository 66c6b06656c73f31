// A typed use of @modelcast/client with the types modelcast-codegen wrote for the example
// models (examples/models.d.ts). Checked by `tsc --noEmit` (test/types.test.js): it must
// compile, and each @ts-expect-error line must be an error.
import { connect, ConflictError, ModelcastError } from '@modelcast/client';
import type { Models, Dictionary, Todo } from '../../../examples/models.js';
import { schema } from '../../../examples/models.js';

const mc = connect<Models>({ url: 'http://127.0.0.1:8700', schema, getToken: async (reason) => (reason === 'expired' ? null : 'token') });
const words = mc.model('Dictionary');

async function usage(): Promise<void> {
  const w: Dictionary = await words.create({ word: 'petrichor', definition: 'rain smell', pronunciation: null });
  const again: Dictionary = await words.update(w, { pronunciation: 'PET-ri-kor' });
  await words.update(again.id, { definition: null }, { version: again.version });
  const found: Dictionary = await words.find(w.id);
  const list: Dictionary[] = await words.where({ word: { gte: 'a', lt: 'm' }, definition: null }).scope('defined').order('-created_at', 'word').limit(10).all();
  const since: Dictionary[] = await words.where({ created_at: { gt: new Date(0) } }).all();
  const n: number = await words.scope('defined').count();
  const first: Dictionary | null = await words.first();
  const page = await words.page({ size: 20 });
  const next: string | null = page.nextCursor;
  const live = words.order('word').live((records: Dictionary[], _c, reason: 'load' | 'change') => {
    records.map((r) => r.word.toUpperCase() + reason);
  });
  await live.ready;
  const count = words.scope('defined').liveCount((c: number) => c + 1);
  live.close();
  count.close();
  const todos = mc.model('Todo');
  const t: Todo = await todos.create({ title: 'water plants', owner_id: 7, team_id: 3, notes: 'mine' });
  const open: Todo[] = await todos.where({ done: { ne: true }, owner_id: 7, id: { in: [1, 2] } }).all();
  try {
    await todos.destroy(t);
  } catch (e) {
    if (e instanceof ConflictError) console.log(e.current, e.currentVersion);
    else if (e instanceof ModelcastError) console.log(e.status, e.code, e.details, e.error.message);
  }
  const off = mc.on('state', (s) => s === 'open' || s === 'reconnecting');
  off();
  mc.on('change', (f) => f.op === 'remove' && f.position);
  mc.close();
  console.log(found, list, since, n, first, next, open);

  // @ts-expect-error: no such model
  mc.model('Nope');
  // @ts-expect-error: word is required on create
  await words.create({ definition: 'x' });
  // @ts-expect-error: word is a string
  await words.where({ word: 5 }).all();
  // @ts-expect-error: no such scope
  words.scope('undefined_scope');
  // @ts-expect-error: cannot order by an unknown attribute
  words.order('-nope');
  // @ts-expect-error: done is a boolean
  await todos.update(t, { done: 'yes' });
}
void usage;

// Without generated types every model name and attribute is accepted.
async function untyped(): Promise<void> {
  const any = connect({ url: 'http://127.0.0.1:8700', token: null });
  const rows = await any.model('Whatever').where({ anything: 1, other: { in: ['a'] } }).order('-anything').all();
  rows.map((r) => r.id + r.version);
  const rec = await any.model('Whatever').create({ anything: true });
  await any.model('Whatever').destroy(rec);
}
void untyped;
