// examples/todos in Debian's chromium: Alice and Bob share team 3. Bob's page shows Alice's
// shared todo without its notes - never, at any moment, the notes text - and loses it when
// she makes it private; Carol (team 4) never sees it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, tag } from '../stack.js';
import { launch, openPage, until } from './browser.js';

const stack = Stack.fromEnv();
let browser, alice, bob, carol;
const NOTES = tag('secret-notes');

const ready = (page) => until(page, () => document.querySelector('#status').dataset.state === 'open' &&
  window.todos?.lives?.length > 0, null, 'signed in and live');

/** Records, from the first moment, whether the notes text ever reaches the page's DOM. */
async function watchFor(page, text) {
  await page.evaluate((t) => {
    window.sawSecret = document.body.innerText.includes(t);
    new MutationObserver(() => { if (document.body.innerText.includes(t)) window.sawSecret = true; })
      .observe(document.body, { subtree: true, childList: true, characterData: true });
  }, text);
}

const teamList = (page, team) => page.locator(`#teams section[data-team="${team}"] li`);
const inTeam = (page, team, title) => until(page, ([t, w]) => [...document.querySelectorAll(`#teams section[data-team="${t}"] li .title`)].some((e) => e.textContent === w), [team, title], `"${title}" in team ${team}`);
const notInTeam = (page, team, title) => until(page, ([t, w]) => ![...document.querySelectorAll(`#teams section[data-team="${t}"] li .title`)].some((e) => e.textContent === w), [team, title], `"${title}" gone from team ${team}`);

before(async () => {
  browser = await launch();
  const base = `${stack.edgeUrl}/todos/`;
  const signIn = await openPage(browser, base);
  await until(signIn, () => document.querySelectorAll('#users button').length >= 3, null, 'the sign-in screen lists the demo users');
  await signIn.click('#users button[data-user="bob"]');
  bob = signIn;
  alice = await openPage(browser, `${base}?user=alice`);
  carol = await openPage(browser, `${base}?user=carol`);
  for (const p of [alice, bob, carol]) await ready(p);
  await watchFor(bob, NOTES);
  await watchFor(carol, NOTES);
});
after(async () => {
  if (browser) await browser.close();
});

test('a teammate sees a shared todo without its notes; its owner sees them', async () => {
  const title = tag('buy milk');
  await alice.fill('#t-title', title);
  await alice.fill('#t-notes', NOTES);
  await alice.selectOption('#t-team', '3');
  await alice.click('#todo-form button[type=submit]');
  await until(alice, (n) => document.querySelector('#mine').innerText.includes(n), NOTES, 'Alice sees her notes');
  await inTeam(bob, 3, title);
  const item = teamList(bob, 3).filter({ hasText: title });
  assert.match(await item.innerText(), /notes not shared with you/);
  assert.match(await item.innerText(), /Alice/);
  assert.equal(await bob.evaluate(() => window.sawSecret), false, 'the notes never reached Bob\'s page');
  const records = await bob.evaluate(() => window.todos.lives.flatMap((l) => l.records));
  assert.ok(records.length > 0 && records.every((r) => !('notes' in r) || String(r.owner_id) === '8'), JSON.stringify(records));
});

test('made private, it leaves the teammate\'s page; shared again, it comes back; Carol never sees it', async () => {
  const title = tag('diary');
  await alice.fill('#t-title', title);
  await alice.fill('#t-notes', NOTES);
  await alice.selectOption('#t-team', '3');
  await alice.click('#todo-form button[type=submit]');
  await inTeam(bob, 3, title);
  const mine = alice.locator('#mine li', { hasText: title });
  await mine.getByRole('button', { name: 'make private' }).click();
  await notInTeam(bob, 3, title);
  await until(alice, (t) => [...document.querySelectorAll('#mine li')].some((li) => li.innerText.includes(t) && li.innerText.includes('private')), title, 'still Alice\'s, private');
  await mine.getByRole('button', { name: 'share' }).click();
  await inTeam(bob, 3, title);
  // Bob cannot change Alice's todo: the page does not offer it, and the API refuses it.
  assert.equal(await teamList(bob, 3).filter({ hasText: title }).locator('input[type=checkbox]').isDisabled(), true);
  assert.equal(await bob.evaluate(() => window.sawSecret), false);
  assert.equal(await carol.evaluate(() => window.sawSecret), false);
  assert.equal(await carol.locator('#teams section[data-team="3"]').count(), 0, 'Carol has no team 3 list');
  assert.deepEqual([...alice.problems, ...bob.problems, ...carol.problems], []);
});
