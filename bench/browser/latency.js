#!/usr/bin/env node
// bench/browser/latency.js - from a write in one page to its appearance in another: two
// pages of examples/word-of-the-day in Debian's chromium, on the edge of a stack of the
// release build (build/, own ports and MC_VAR; or the stack of MC_TEST_STACK). Page A creates
// N words one after the other through the client in the page; page B's live list and live
// count show each. Timestamps are taken in the pages (performance.timeOrigin + now(), one
// machine clock), so Playwright's round trips do not count. Prints p50/p90/p99. With
// --xorigin, page B is served from the edge's other origin (MC_EDGE_XORIGIN_PORT) and reaches
// the API across origins (CORS, MC_WS_ORIGINS).
//
//   node bench/browser/latency.js [-n 100] [--pushers 1] [--xorigin]
import { writeFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '../..');
const { Stack } = await import(join(REPO, 'tests/js/stack.js'));
const { launch, openPage, until } = await import(join(REPO, 'tests/js/browser/browser.js'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
if (args.includes('-h') || args.includes('--help')) {
  process.stdout.write('usage: node bench/browser/latency.js [-n WRITES (100)] [--pushers N (1)] [--xorigin]\n');
  process.exit(0);
}
const N = opt('-n', 100);
const PUSHERS = opt('--pushers', 1);
const XORIGIN = args.includes('--xorigin');

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const summary = (xs) => ({ p50: pct(xs, 50), p90: pct(xs, 90), p99: pct(xs, 99), min: Math.min(...xs), max: Math.max(...xs) });
const fmt = (s) => `p50 ${s.p50.toFixed(1)}  p90 ${s.p90.toFixed(1)}  p99 ${s.p99.toFixed(1)}  min ${s.min.toFixed(1)}  max ${s.max.toFixed(1)} ms`;

const own = !process.env.MC_TEST_STACK;
const loadStart = loadavg()[0];
const stack = own ? await Stack.start({ pushers: PUSHERS, buildDir: process.env.MC_BUILD_DIR || join(REPO, 'build') }) : Stack.fromEnv();
let browser;
const stop = async () => {
  if (browser) await browser.close().catch(() => {});
  if (own) await stack.stop();
};
process.on('SIGINT', () => stop().finally(() => process.exit(130)));
try {
  browser = await launch();
  const url = `${stack.edgeUrl}/word-of-the-day/`;
  if (XORIGIN && !stack.origins?.xorigin) throw new Error('--xorigin: this stack has no other origin (MC_EDGE_XORIGIN_PORT)');
  const a = await openPage(browser, url);
  const b = await openPage(browser, XORIGIN ? `${stack.origins.xorigin}/word-of-the-day/?api=${encodeURIComponent(stack.edgeUrl)}` : url);
  for (const p of [a, b]) {
    await until(p, () => document.querySelector('#status').dataset.state === 'open' && document.querySelector('#total').dataset.count !== undefined, null, 'ready', 60000);
  }
  // In B: resolve when a word shows in the list, and when the count reaches a value.
  await b.evaluate(() => {
    const now = () => performance.timeOrigin + performance.now();
    window.bench = { list: new Map(), count: new Map() };
    const check = () => {
      const t = now();
      for (const el of document.querySelectorAll('#words li .word')) {
        const w = window.bench.list.get(el.textContent);
        if (w && !w.t) { w.t = t; w.resolve(t); }
      }
      const n = Number(document.querySelector('#total').dataset.count);
      const c = window.bench.count.get(n);
      if (c && !c.t) { c.t = t; c.resolve(t); }
    };
    new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    window.bench.waitWord = (word) => new Promise((resolve) => { window.bench.list.set(word, { resolve }); check(); });
    window.bench.waitCount = (n) => new Promise((resolve) => { window.bench.count.set(n, { resolve }); check(); });
  });
  const run = Date.now().toString(36);
  const list = [], count = [], ack = [];
  for (let i = -5; i < N; i++) { // 5 warm-up writes
    const word = `bench-${run}-${String(i + 5).padStart(4, '0')}`;
    const n = Number(await b.$eval('#total', (el) => el.dataset.count));
    const waits = b.evaluate(([w, c]) => Promise.all([window.bench.waitWord(w), window.bench.waitCount(c)]), [word, n + 1]);
    const [t0, t1] = await a.evaluate(async (w) => {
      const t = performance.timeOrigin + performance.now();
      await window.wotd.client.model('Dictionary').create({ word: w, pronunciation: 'p', definition: 'benchmark' });
      return [t, performance.timeOrigin + performance.now()];
    }, word);
    const [tl, tc] = await Promise.race([waits, new Promise((_, rej) => setTimeout(() => rej(new Error(`${word}: not in page B within 15 s`)), 15000))]);
    if (i >= 0) {
      list.push(tl - t0);
      count.push(tc - t0);
      ack.push(t1 - t0);
    }
  }
  const out = [
    `# Browser: a write in one page to its appearance in another (${new Date().toISOString().slice(0, 10)})`,
    '',
    `${N} writes, one after the other; page A: client.model('Dictionary').create(); page B: examples/word-of-the-day`,
    `(live list of every word, live count over the \`defined\` scope)${XORIGIN ? ', served from another origin than the API (CORS, MC_WS_ORIGINS)' : ''}.`,
    `Chromium ${browser.version()}, edge (nginx) →`,
    `model-api / ${PUSHERS} pusher(s), services from ${own ? (process.env.MC_BUILD_DIR || 'build/') : 'MC_TEST_STACK'}.`,
    `${cpus().length} cores shared by the whole stack, the browser and other work; load average (1 min)`,
    `${loadStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end.`,
    '',
    '| from the write in A | to | ms |',
    '|---|---|---|',
    `| create() called | create() resolved in A (REST round trip) | ${fmt(summary(ack))} |`,
    `| create() called | the word in B's live list | ${fmt(summary(list))} |`,
    `| create() called | B's live count shows it | ${fmt(summary(count))} |`,
    '',
  ].join('\n');
  process.stdout.write(`${out}\n`);
  if (own) writeFileSync(join(HERE, `results-${new Date().toISOString().slice(0, 10)}${XORIGIN ? '-xorigin' : ''}.md`), out);
} finally {
  await stop();
}
