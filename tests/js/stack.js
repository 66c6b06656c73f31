// stack.js - the real stack for the JavaScript tests: deploy/local/up on free loopback
// ports in a private MC_VAR (as tests/system/conftest.py does), with two pushers behind the
// edge and the examples also on another origin (MC_EDGE_XORIGIN_PORT) that model-api and the
// pushers allow; plus what tests reach into it with: psql, stopping and killing components,
// tokens, and the origins of pages the API refuses.
import { execFile, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = join(REPO, 'deploy/local');
export const DEV_SECRET = 'modelcast-local-dev-secret'; // deploy/local/lib.sh: MC_JWT_KEY default

function bindable(port) {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** n distinct free ports, and a run of `run` consecutive free ports (the pushers). */
async function freePorts(n, run) {
  const out = new Set();
  while (out.size < n) out.add(await freePort());
  for (let tries = 0; tries < 200; tries++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (let k = 0; k < run && ok; k++) ok = !out.has(base + k) && (await bindable(base + k));
    if (ok) return { ports: [...out], base };
  }
  throw new Error('no run of free ports for the pushers');
}

function script(name, env, args = [], timeoutMs = 600000) {
  return new Promise((res) => {
    execFile(join(DEPLOY, name), args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (err.code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

const b64 = (b) => Buffer.from(b).toString('base64url');

/** An HS256 token for claims, valid ttl seconds (negative: already expired). */
export function token(claims, ttl = 600, secret = DEV_SECRET) {
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + ttl, ...claims }));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export const user = (sub, teams = [], ttl = 600) => token({ sub: String(sub), teams }, ttl);

export class Stack {
  constructor(info) {
    Object.assign(this, info);
  }

  /** Starts a stack; info (ports, MC_VAR) is what Stack.fromEnv() gets back in a test. */
  static async start({ pushers = 2, devTokens = true, buildDir = process.env.MC_BUILD_DIR } = {}) {
    const { ports: [pg, kafka, ctrl, api, authz, edge, xorigin, stranger, restOnly], base } =
      await freePorts(9, pushers);
    // Origins of pages: the edge's second server (allowed by model-api and the pushers), one
    // allowed by neither, one allowed by model-api only (a forgotten MC_WS_ORIGINS). Tests
    // serve pages on the last two themselves.
    const origins = {
      xorigin: `http://127.0.0.1:${xorigin}`,
      stranger: `http://127.0.0.1:${stranger}`,
      restOnly: `http://127.0.0.1:${restOnly}`,
    };
    const varDir = mkdtempSync(join(tmpdir(), 'mc-js-'));
    const env = {
      ...process.env,
      MC_VAR: varDir,
      MC_BUILD_DIR: buildDir || join(REPO, 'build'),
      MC_PG_PORT: String(pg),
      MC_BROKER_PORT: String(kafka),
      MC_BROKER_CONTROLLER_PORT: String(ctrl),
      MC_API_PORT: String(api),
      MC_AUTHZ_PORT: String(authz),
      MC_PUSHER_PORT: String(base),
      MC_PUSHERS: String(pushers),
      MC_EDGE_PORT: String(edge),
      MC_EDGE_XORIGIN_PORT: String(xorigin),
      MC_CORS_ORIGINS: `${origins.xorigin},${origins.restOnly}`,
      MC_WS_ORIGINS: origins.xorigin,
      MC_DEV_TOKENS: devTokens ? '1' : '0',
      MC_LOG_LEVEL: process.env.MC_LOG_LEVEL || 'info',
    };
    const stack = new Stack({
      varDir, env, pushers, origins,
      edgeUrl: `http://127.0.0.1:${edge}`,
      apiUrl: `http://127.0.0.1:${api}`,
      authzUrl: `http://127.0.0.1:${authz}`,
      pusherPorts: Array.from({ length: pushers }, (_, k) => base + k),
      pgConninfo: `host=127.0.0.1 port=${pg} dbname=modelcast user=modelcast`,
    });
    const r = await script('up', env);
    if (r.code !== 0) {
      const logs = stack.logTails();
      await stack.stop();
      throw new Error(`deploy/local/up failed (${r.code}):\n${r.out}\n${logs}`);
    }
    return stack;
  }

  static fromEnv() {
    const raw = process.env.MC_TEST_STACK;
    if (!raw) throw new Error('MC_TEST_STACK is not set: run the JS tests through tests/js/run.js (make client-test / make browser)');
    return new Stack(JSON.parse(raw));
  }

  toJSON() {
    const { varDir, env, pushers, origins, edgeUrl, apiUrl, authzUrl, pusherPorts, pgConninfo } = this;
    return { varDir, env, pushers, origins, edgeUrl, apiUrl, authzUrl, pusherPorts, pgConninfo };
  }

  get pusherNames() {
    return this.pusherPorts.map((_, k) => (k === 0 ? 'pusher' : `pusher-${k + 1}`));
  }

  /** Runs SQL through psql as the modelcast role; returns its unaligned output. */
  psql(sql) {
    const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', this.pgConninfo, '-c', sql],
      { encoding: 'utf8', timeout: 30000 });
    if (r.status !== 0) throw new Error(`psql failed on ${sql}: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** psql without blocking the event loop (live collections keep receiving meanwhile). */
  psqlAsync(sql) {
    return new Promise((res, rej) => {
      execFile('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', this.pgConninfo, '-c', sql], { timeout: 60000 },
        (err, stdout, stderr) => (err ? rej(new Error(`psql failed on ${sql}: ${stderr}`)) : res(stdout.trim())));
    });
  }

  /**
   * Deletes every record of modelcast.deliveries (Kafka's DeleteRecords up to the high
   * watermark): as if retention had overtaken every position a client holds.
   */
  async deleteDeliveries(partitions = Number(this.env.MC_PARTITIONS || 4)) {
    const file = join(this.varDir, 'delete-records.json');
    const parts = Array.from({ length: partitions }, (_, p) => ({ topic: 'modelcast.deliveries', partition: p, offset: -1 }));
    writeFileSync(file, JSON.stringify({ partitions: parts, version: 1 }));
    await new Promise((res, rej) => {
      execFile('java', ['-cp', join(REPO, 'deploy/local/kafka-libs/*'), 'org.apache.kafka.tools.DeleteRecordsCommand',
        '--bootstrap-server', `127.0.0.1:${this.env.MC_BROKER_PORT}`, '--offset-json-file', file], { timeout: 120000 },
      (err, stdout, stderr) => (err ? rej(new Error(`DeleteRecordsCommand failed: ${stderr}${stdout}`)) : res(stdout)));
    });
  }

  async up(...names) {
    const r = await script('up', this.env, names);
    if (r.code !== 0) throw new Error(`deploy/local/up ${names.join(' ')} failed:\n${r.out}\n${this.logTails()}`);
  }

  async down(...names) {
    const r = await script('down', this.env, names, 120000);
    if (r.code !== 0) throw new Error(`deploy/local/down ${names.join(' ')} failed:\n${r.out}`);
  }

  /** Open WebSocket connections of each pusher (its modelcast_pusher_connections gauge), in pusherNames order. */
  async pusherConnections() {
    return this.pusherMetric('modelcast_pusher_connections');
  }

  /** An unlabelled metric of each pusher, in pusherNames order. */
  async pusherMetric(name) {
    return Promise.all(this.pusherPorts.map(async (port) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text);
      if (!m) throw new Error(`pusher :${port} /metrics has no ${name}`);
      return Number(m[1]);
    }));
  }

  pid(name) {
    try {
      const pid = Number(readFileSync(join(this.varDir, 'run', `${name}.pid`), 'utf8').split(/\s+/)[0]);
      return existsSync(`/proc/${pid}`) ? pid : null;
    } catch {
      return null;
    }
  }

  /** SIGKILL to component name; resolves once it is gone (its pid file removed, as conftest does). */
  async kill9(name) {
    const pid = this.pid(name);
    if (!pid) throw new Error(`kill9(${name}): not running`);
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 30000;
    while (alive(pid)) {
      if (Date.now() > deadline) throw new Error(`${name} (pid ${pid}) still alive after SIGKILL`);
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      unlinkSync(join(this.varDir, 'run', `${name}.pid`));
    } catch { /* gone */ }
  }

  log(name) {
    try {
      return readFileSync(join(this.varDir, 'log', `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  logTails(lines = 30) {
    return ['model-api', 'authz', ...this.pusherNames, 'edge'].map((n) => {
      const t = this.log(n).split('\n').slice(-lines).join('\n');
      return `----- ${n}.log (tail) -----\n${t || '(empty)'}`;
    }).join('\n');
  }

  async stop() {
    await script('down', this.env, [], 180000);
    try {
      const pgdata = readFileSync(join(this.varDir, 'run', 'pgdata'), 'utf8').trim();
      if (pgdata.startsWith('/var/tmp/modelcast-pg-')) rmSync(pgdata, { recursive: true, force: true });
    } catch { /* none */ }
    rmSync(this.varDir, { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Polls fn until it returns a truthy value (returned); fails after ms with what. */
export async function waitFor(fn, what, ms = 30000, interval = 20) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
    } catch (e) {
      last = e;
    }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${ms} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A client of the stack's edge (Node: the ws package for WebSocket). */
export async function clientOf(stack, options = {}) {
  const { connect } = await import('@modelcast/client');
  const { default: WebSocket } = await import('ws');
  const { schema } = await import('../../examples/models.js');
  return connect({ url: stack.edgeUrl, WebSocket, schema, reconnect: { minDelayMs: 100, maxDelayMs: 2000 }, ...options });
}

/** A unique tag for this test's records, so tests sharing a stack do not see each other's. */
export const tag = (what = 't') => `${what}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
