#!/usr/bin/env node
// screenshots.js - pictures of the examples for the docs: a fresh stack with demo tokens, a
// few words and todos, the pages in Debian's chromium. `make screenshots` (docs/img).
//
//   node tests/js/screenshots.js OUTDIR
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Stack, clientOf, user, waitFor } from './stack.js';
import { launch, openPage, until } from './browser/browser.js';

const out = resolve(process.argv[2] || 'docs/img');
mkdirSync(out, { recursive: true });
const stack = process.env.MC_TEST_STACK ? Stack.fromEnv() : await Stack.start({ pushers: 1 });
let browser;
try {
  const anon = await clientOf(stack);
  const D = anon.model('Dictionary');
  for (const [word, pronunciation, definition] of [
    ['petrichor', 'PET-ri-kor', 'the pleasant, earthy smell after rain falls on dry ground'],
    ['serendipity', 'ser-uhn-DIP-i-tee', 'finding something good without looking for it'],
    ['sonder', 'SON-der', 'the realization that each passerby has a life as vivid and complex as your own'],
    ['apricity', 'a-PRIS-i-tee', 'the warmth of the sun in winter'],
    ['hiraeth', 'HEER-eyeth', 'a homesickness for a home you cannot return to'],
    ['limerence', 'LIM-er-ens', null],
  ]) await D.create({ word, pronunciation, definition });
  const alice = await clientOf(stack, { token: user(7, [3]) });
  const bob = await clientOf(stack, { token: user(8, [3]) });
  await alice.model('Todo').create({ title: 'water the plants', owner_id: 7, team_id: 3, notes: 'the fern twice', done: true });
  await alice.model('Todo').create({ title: 'book the team dinner', owner_id: 7, team_id: 3, notes: 'Lina is vegetarian' });
  await alice.model('Todo').create({ title: 'call the dentist', owner_id: 7, team_id: 3, private: true, notes: 'Tuesday after 3' });
  await bob.model('Todo').create({ title: 'review the release notes', owner_id: 8, team_id: 3, notes: 'check section 2' });
  for (const c of [anon, alice, bob]) c.close();

  browser = await launch();
  const wotd = await openPage(browser, `${stack.edgeUrl}/word-of-the-day/`, { width: 1100, height: 860 });
  await until(wotd, () => document.querySelectorAll('#words li[data-id]').length === 6 && document.querySelector('#entry').dataset.id, null, 'words shown');
  await wotd.fill('#f-word', 'eudaimonia');
  await wotd.fill('#f-pronunciation', 'yoo-dy-MOH-nee-uh');
  await wotd.fill('#f-definition', 'a contented state of being happy and healthy');
  await wotd.screenshot({ path: join(out, 'word-of-the-day.png') });
  for (const [who, file] of [['alice', 'todos.png'], ['bob', 'todos-teammate.png']]) {
    const page = await openPage(browser, `${stack.edgeUrl}/todos/?user=${who}`, { width: 1100, height: 760 });
    await until(page, () => document.querySelectorAll('#teams li[data-id]').length >= 3, null, 'todos shown');
    await waitFor(async () => (await page.evaluate(() => document.querySelector('#status').dataset.state)) === 'open', 'open');
    await page.screenshot({ path: join(out, file) });
  }
  process.stdout.write(`screenshots in ${out}\n`);
} finally {
  if (browser) await browser.close();
  if (!process.env.MC_TEST_STACK) await stack.stop();
}
