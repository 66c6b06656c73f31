// examples/word-of-the-day in Debian's chromium: two pages side by side, one writes, the
// other follows (list and count); the defined count follows edits; refused writes show the
// server's message; a restarted pusher is reconnected to without a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, tag, waitFor } from '../stack.js';
import { launch, openPage, until } from './browser.js';

const stack = Stack.fromEnv();
const URL_ = `${stack.edgeUrl}/word-of-the-day/`;
let browser, a, b;

const count = (page) => page.$eval('#total', (el) => Number(el.dataset.count));
const listed = (page, word) => until(page, (w) => [...document.querySelectorAll('#words li .word')].some((e) => e.textContent === w), word, `"${word}" listed`);
const entryOf = (page, word) => page.locator('#words li', { has: page.locator('.word', { hasText: word }) });

before(async () => {
  browser = await launch();
  a = await openPage(browser, URL_);
  b = await openPage(browser, URL_);
  for (const p of [a, b]) {
    await until(p, () => document.querySelector('#status').dataset.state === 'open' && document.querySelector('#total').dataset.count !== undefined, null, 'page ready');
  }
});
after(async () => {
  if (browser) await browser.close();
});

test('a word added in one page appears in the other page\'s list and count', async (t) => {
  const word = tag('petrichor');
  const n = await count(b);
  await a.fill('#f-word', word);
  await a.fill('#f-pronunciation', 'PET-ri-kor');
  await a.fill('#f-definition', 'the smell of rain on dry earth');
  const t0 = Date.now();
  await a.click('#f-save');
  await listed(b, word);
  await until(b, (want) => Number(document.querySelector('#total').dataset.count) === want, n + 1, 'count + 1 in the other page');
  t.diagnostic(`seen in the other page after ${Date.now() - t0} ms (click to list and count)`);
  await listed(a, word);
  assert.equal(await count(a), n + 1);
  assert.match(await entryOf(b, word).innerText(), /PET-ri-kor/);
  assert.deepEqual(a.problems.concat(b.problems), []);
});

test('editing away the pronunciation drops the word out of the defined count on both pages', async () => {
  const word = tag('sonder');
  await a.fill('#f-word', word);
  await a.fill('#f-pronunciation', 'SON-der');
  await a.fill('#f-definition', 'the realization that each passerby has a life as vivid as your own');
  await a.click('#f-save');
  await listed(b, word);
  let n = null;
  await waitFor(async () => {
    n = await count(a);
    return n === (await count(b)) && n > 0;
  }, 'both pages agree on the count');
  await entryOf(b, word).getByRole('button', { name: 'edit' }).click();
  assert.equal(await b.inputValue('#f-pronunciation'), 'SON-der');
  await b.fill('#f-pronunciation', '');
  await b.click('#f-save');
  for (const p of [a, b]) {
    await until(p, (want) => Number(document.querySelector('#total').dataset.count) === want, n - 1, 'defined count - 1');
  }
  await until(a, (w) => [...document.querySelectorAll('#words li')].some((li) => li.querySelector('.word').textContent === w && li.querySelector('.pron').textContent === ''), word, 'pronunciation gone in the other page');
});

test('a refused write shows the server\'s message', async () => {
  const word = tag('ephemeral');
  await a.fill('#f-word', word);
  await a.click('#f-save');
  await listed(a, word);
  await entryOf(a, word).getByRole('button', { name: 'delete' }).click(); // anonymous: only admins delete
  await until(a, () => document.querySelector('#list-error').textContent.length > 0, null, 'error shown');
  assert.equal(await a.textContent('#list-error'), 'the policies do not allow this destroy of a Dictionary');
  await listed(b, word); // still there
  await a.fill('#f-word', 'x'.repeat(201));
  await a.click('#f-save');
  await until(a, () => document.querySelector('#f-error').textContent.length > 0, null, 'validation error shown');
  assert.match(await a.textContent('#f-error'), /word: is longer than 200 characters/);
});

test('an edit over someone else\'s newer version is refused and the form shows theirs', async () => {
  const word = tag('serendipity');
  await a.fill('#f-word', word);
  await a.fill('#f-definition', 'first');
  await a.fill('#f-pronunciation', 'ser-uhn-DIP-i-tee');
  await a.click('#f-save');
  await listed(b, word);
  await entryOf(a, word).getByRole('button', { name: 'edit' }).click();
  await entryOf(b, word).getByRole('button', { name: 'edit' }).click();
  await b.fill('#f-definition', 'a happy accident');
  await b.click('#f-save');
  await until(a, (w) => [...document.querySelectorAll('#words li')].some((li) => li.querySelector('.word').textContent === w && li.querySelector('.def').textContent === 'a happy accident'), word, 'B\'s edit in A');
  await a.fill('#f-definition', 'my lost update');
  await a.click('#f-save');
  await until(a, () => /changed this word meanwhile/.test(document.querySelector('#f-error').textContent), null, 'conflict shown');
  assert.equal(await a.inputValue('#f-definition'), 'a happy accident');
  await a.click('#f-cancel');
});

test('after the pushers restart, the page reconnects by itself and shows what changed meanwhile', async (t) => {
  const word = tag('during-outage');
  const before = await count(b);
  t.after(() => stack.up(...stack.pusherNames)); // also when an assertion fails first
  for (const name of stack.pusherNames) await stack.kill9(name);
  await until(b, () => document.querySelector('#status').dataset.state === 'reconnecting', null, 'page notices');
  // Written while no pusher runs: one word through the API, one straight in SQL.
  await a.fill('#f-word', word);
  await a.fill('#f-pronunciation', 'dur');
  await a.fill('#f-definition', 'written while the pushers were down');
  await a.click('#f-save');
  await stack.psqlAsync(`INSERT INTO dictionary (word, definition, pronunciation) VALUES ('${word}-sql', 'from psql', 'sql')`);
  await stack.up(...stack.pusherNames);
  for (const p of [a, b]) {
    await until(p, () => document.querySelector('#status').dataset.state === 'open', null, 'reconnected', 30000);
    await listed(p, word);
    await listed(p, `${word}-sql`);
    await until(p, (want) => Number(document.querySelector('#total').dataset.count) === want, before + 2, 'count caught up');
  }
  assert.deepEqual(b.problems.filter((x) => !/WebSocket|ERR_|503/.test(x)), []);
});
