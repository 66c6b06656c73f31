// Pages on other origins than the API's, in Debian's chromium: connect({url: <the edge>})
// from the edge's second server (MC_EDGE_XORIGIN_PORT, allowed by MC_CORS_ORIGINS and
// MC_WS_ORIGINS) reads, writes with If-Match, reads ETag and Location through CORS and
// follows live changes; from an origin allowed by neither, REST fails with the client's
// network error; from an origin model-api allows but the pushers do not, the WebSocket is
// refused with 4003 and the client gives up with one clear error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import { REPO, Stack, tag, waitFor } from '../stack.js';
import { launch, openPage, until } from './browser.js';

const stack = Stack.fromEnv();
const API = stack.edgeUrl;
const { xorigin, stranger, restOnly } = stack.origins;
const CLIENT = join(REPO, 'clients/js/src');
let browser;
const servers = [];

/** A bare page (and the client under /client/) on origin: a site the stack knows nothing of. */
function pageServer(origin) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, origin).pathname;
    if (path.startsWith('/client/')) {
      const file = normalize(join(CLIENT, path.slice('/client/'.length)));
      if (file.startsWith(CLIENT) && file.endsWith('.js') && statSync(file, { throwIfNoEntry: false })?.isFile()) {
        res.writeHead(200, { 'Content-Type': 'text/javascript' });
        createReadStream(file).pipe(res);
        return;
      }
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><html><head><link rel="icon" href="data:,"></head><body>elsewhere</body></html>');
  });
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(Number(new URL(origin).port), '127.0.0.1', () => res(server));
  });
}

/** The CORS headers of an answer, for the report. */
const corsOf = (headers) => Object.fromEntries(Object.entries(headers)
  .filter(([k]) => k.startsWith('access-control-') || k === 'vary' || k === 'etag' || k === 'location'));

before(async () => {
  browser = await launch();
  servers.push(await pageServer(stranger), await pageServer(restOnly));
});
after(async () => {
  if (browser) await browser.close();
  for (const s of servers) s.close();
});

test('the API answers preflights and requests of an allowed origin, and refuses others (as seen by a script)', async (t) => {
  const preflight = (origin) => fetch(`${API}/v1/Dictionary/1`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'PATCH', 'Access-Control-Request-Headers': 'content-type,if-match' },
  });
  const ok = await preflight(xorigin);
  t.diagnostic(`preflight from ${xorigin}: ${ok.status} ${JSON.stringify(corsOf(Object.fromEntries(ok.headers)))}`);
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), xorigin);
  assert.equal(ok.headers.get('access-control-allow-methods'), 'GET, PATCH, DELETE');
  const no = await preflight(stranger);
  t.diagnostic(`preflight from ${stranger}: ${no.status} ${JSON.stringify(corsOf(Object.fromEntries(no.headers)))} ${await no.text()}`);
  assert.equal(no.status, 403);
  assert.equal(no.headers.get('access-control-allow-origin'), null);
  // A page with a token preflights GET /v1/channels (Authorization is not a simple header).
  const pre = await fetch(`${API}/v1/channels`, {
    method: 'OPTIONS', headers: { Origin: xorigin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-methods'), 'GET');
  assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
  const chans = await fetch(`${API}/v1/channels`, { headers: { Origin: xorigin } });
  t.diagnostic(`GET /v1/channels from ${xorigin}: ${chans.status} ${JSON.stringify(corsOf(Object.fromEntries(chans.headers)))}`);
  assert.equal(chans.headers.get('access-control-allow-origin'), xorigin, 'the edge routes /v1/channels to model-api');
  assert.deepEqual(await chans.json(), { channels: ['Application'], any_instance: [] });
  const refused = await fetch(`${API}/v1/Dictionary/count`, { headers: { Origin: stranger } });
  t.diagnostic(`GET from ${stranger}: ${refused.status} ${JSON.stringify(corsOf(Object.fromEntries(refused.headers)))}`);
  assert.equal(refused.headers.get('access-control-allow-origin'), null);
  // The WebSocket handshake: 101 for both, then the pusher closes the refused one with 4003.
  const { default: WebSocket } = await import('ws');
  const handshake = (origin) => new Promise((res, rej) => {
    const ws = new WebSocket(`${API.replace(/^http/, 'ws')}/ws`, { origin });
    const got = {};
    ws.on('upgrade', (r) => { got.status = r.statusCode; });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel: 'Application' })));
    ws.on('message', (m) => { got.frame = JSON.parse(m).type; ws.close(1000); });
    ws.on('close', (code, reason) => res({ ...got, close: code, reason: String(reason) }));
    ws.on('error', rej);
  });
  const wsOk = await handshake(xorigin);
  const wsNo = await handshake(restOnly);
  t.diagnostic(`WebSocket from ${xorigin}: ${JSON.stringify(wsOk)}; from ${restOnly}: ${JSON.stringify(wsNo)}`);
  assert.deepEqual(wsOk, { status: 101, frame: 'subscribed', close: 1000, reason: '' });
  assert.deepEqual(wsNo, { status: 101, close: 4003, reason: 'origin not allowed' });
});

test('a page on an allowed origin reads, writes with If-Match and follows live changes across origins', async (t) => {
  const page = await openPage(browser, `${xorigin}/word-of-the-day/?api=${encodeURIComponent(API)}`);
  const home = await openPage(browser, `${API}/word-of-the-day/`);
  const answers = [];
  page.on('response', (r) => { if (r.url().startsWith(`${API}/v1/`)) answers.push(r); });
  for (const p of [page, home]) {
    await until(p, () => document.querySelector('#status').dataset.state === 'open' && document.querySelector('#total').dataset.count !== undefined, null, 'page ready');
  }
  // Live both ways: a word added across origins reaches the edge's own page, and back.
  const word = tag('xorigin');
  await page.fill('#f-word', word);
  await page.click('#f-save');
  await until(home, (w) => [...document.querySelectorAll('#words li .word')].some((e) => e.textContent === w), word, 'seen on the edge\'s page');
  const back = tag('homeward');
  await home.fill('#f-word', back);
  await home.click('#f-save');
  await until(page, (w) => [...document.querySelectorAll('#words li .word')].some((e) => e.textContent === w), back, 'seen across origins');
  // The client's calls with If-Match, and the headers a script may read through CORS.
  const got = await page.evaluate(async ({ api, w }) => {
    const { connect, ConflictError } = await import('/client/index.js');
    const mc = connect({ url: api });
    const words = mc.model('Dictionary');
    const rec = await words.create({ word: w, definition: 'first' });
    const upd = await words.update(rec, { definition: 'second' });
    let conflict = null;
    try {
      await words.update(rec, { definition: 'lost' }); // rec holds version 1: If-Match "1"
    } catch (e) {
      conflict = { ok: e instanceof ConflictError, status: e.status, current: e.current?.definition };
    }
    const res = await fetch(`${api}/v1/Dictionary`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ word: `${w}-raw` }),
    });
    const seen = { status: res.status, etag: res.headers.get('ETag'), location: res.headers.get('Location') };
    const patched = await fetch(`${api}${seen.location}`, {
      method: 'PATCH', headers: { 'Content-Type': 'application/json', 'If-Match': seen.etag }, body: JSON.stringify({ definition: 'x' }),
    });
    mc.close();
    return { v: [rec.version, upd.version], conflict, seen, patched: [patched.status, patched.headers.get('ETag')] };
  }, { api: API, w: tag('ifmatch') });
  t.diagnostic(`across origins: ${JSON.stringify(got)}`);
  assert.deepEqual(got.v, [1, 2]);
  assert.deepEqual(got.conflict, { ok: true, status: 412, current: 'second' });
  assert.equal(got.seen.status, 201);
  assert.equal(got.seen.etag, '"1"');
  assert.match(got.seen.location, /^\/v1\/Dictionary\/\d+$/);
  assert.deepEqual(got.patched, [200, '"2"']);
  const post = answers.find((r) => r.request().method() === 'POST');
  t.diagnostic(`POST as the browser saw it: ${post.status()} ${JSON.stringify(corsOf(await post.allHeaders()))}`);
  assert.equal((await post.allHeaders())['access-control-allow-origin'], xorigin);
  // The browser logs the 412 of the conflict above; nothing else.
  assert.deepEqual(page.problems.concat(home.problems).filter((p) => !/status of 412/.test(p)), []);
  await page.context().close();
  await home.context().close();
});

test('a page on an origin allowed by neither: REST fails with the client\'s network error', async (t) => {
  const page = await openPage(browser, `${stranger}/`);
  const got = await page.evaluate(async (api) => {
    const { connect } = await import('/client/index.js');
    const mc = connect({ url: api, reconnect: { minDelayMs: 50, maxDelayMs: 100 } });
    const errors = [];
    mc.on('error', (e) => errors.push(e.code));
    let rest = null;
    try {
      await mc.model('Dictionary').count();
    } catch (e) {
      rest = { code: e.code, status: e.status, message: e.message };
    }
    const live = mc.model('Dictionary').live();
    let liveError = null;
    try {
      await live.ready;
    } catch (e) {
      liveError = e.code;
    }
    const state = mc.state;
    mc.close();
    return { rest, liveError, errors, state };
  }, API);
  t.diagnostic(`refused origin: ${JSON.stringify(got)}`);
  assert.equal(got.rest.code, 'network');
  assert.equal(got.rest.status, 0);
  // A refused CORS request looks like a network failure to a page (the browser hides the
  // 403): a live query fails on its first request (GET /v1/models) with that error.
  assert.equal(got.liveError, 'network');
  assert.deepEqual(got.errors, ['network']);
  assert.equal(got.state, 'idle', 'no WebSocket was opened');
  assert.ok(page.problems.some((p) => /CORS/.test(p)), page.problems.join('\n'));
  await page.context().close();
});

test('a page whose origin model-api allows but the pushers do not: close 4003, one final error', async (t) => {
  const before = (await stack.pusherMetric('modelcast_pusher_origins_refused_total')).reduce((a, b) => a + b, 0);
  const page = await openPage(browser, `${restOnly}/`);
  const sockets = [];
  const closes = [];
  page.on('websocket', (ws) => {
    sockets.push(ws.url());
    ws.on('close', () => closes.push(ws.url()));
  });
  const got = await page.evaluate(async (api) => {
    const { connect } = await import('/client/index.js');
    const mc = connect({ url: api, reconnect: { minDelayMs: 50, maxDelayMs: 100 } });
    const errors = [];
    const states = [];
    mc.on('error', (e) => errors.push({ code: e.code, message: e.message, details: e.details }));
    mc.on('state', (s) => states.push(s));
    const count = await mc.model('Dictionary').count(); // REST is allowed
    const live = mc.model('Dictionary').live();
    let refused = null;
    try {
      await live.ready;
    } catch (e) {
      refused = e.code;
    }
    return { count, refused, errors, states, state: mc.state, timer: mc.connection.timer, liveError: live.error?.code };
  }, API);
  t.diagnostic(`4003 as the client saw it: ${JSON.stringify(got.errors)}`);
  assert.equal(typeof got.count, 'number');
  assert.equal(got.refused, 'origin_not_allowed');
  assert.equal(got.liveError, 'origin_not_allowed');
  assert.equal(got.errors.length, 1, 'one error');
  assert.equal(got.errors[0].details.close_code, 4003);
  assert.match(got.errors[0].message, new RegExp(`refused this page's origin \\(${restOnly}\\).*MC_WS_ORIGINS; not reconnecting`));
  assert.deepEqual(got.states, ['connecting', 'open', 'failed']);
  assert.equal(got.timer, null, 'no reconnect scheduled');
  await waitFor(() => closes.length === 1, 'the WebSocket closed');
  assert.deepEqual(sockets, [`${API.replace(/^http/, 'ws')}/ws`], 'one WebSocket, not reconnected');
  await waitFor(async () => (await stack.pusherMetric('modelcast_pusher_origins_refused_total')).reduce((a, b) => a + b, 0) === before + 1,
    'the pusher counted the refusal');
  const logged = stack.pusherNames.map((n) => stack.log(n)).join('\n');
  assert.match(logged, new RegExp(`refusing a connection from origin ${restOnly.replace(/[.]/g, '\\.')}`));
  await page.context().close();
});
