// modelcast-codegen: types and schema from models.json and from GET /v1/models; the files it
// wrote for examples/ are current; the declarations compile with a typed usage (tsc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const PKG = join(HERE, '..');
const REPO = join(PKG, '../..');
const BIN = join(PKG, 'bin/modelcast-codegen.js');
const run = promisify(execFile);

function codegen(args, opts = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: REPO, ...opts });
}

test('examples/models.{js,d.ts} are what codegen makes of config/models.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'codegen-'));
  try {
    const r = codegen(['config/models.json', '--out', join(dir, 'models')]);
    assert.equal(r.status, 0, r.stderr);
    for (const ext of ['js', 'd.ts']) {
      assert.equal(readFileSync(join(dir, `models.${ext}`), 'utf8'), readFileSync(join(REPO, `examples/models.${ext}`), 'utf8'),
        `examples/models.${ext} is stale: run  node clients/js/bin/modelcast-codegen.js config/models.json --out examples/models`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('types: required attributes, optional nullable ones, enums, json, scopes, and no server_only model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'codegen-'));
  try {
    const models = {
      models: {
        Item: {
          attributes: {
            name: { type: 'string', required: true },
            kind: { type: 'string', enum: ['a', 'b'] },
            qty: { type: 'integer', required: true, min: 0 },
            meta: { type: 'json' },
            at: { type: 'timestamp' },
            parent: { type: 'reference', references: 'Item' },
          },
          scopes: { big: { qty: { gt: 10 } }, recent: { at: { gt: '2026-01-01T00:00:00Z' } } },
          order: '-at,name',
        },
        Secret: { server_only: true, attributes: { x: { type: 'text' } } },
      },
    };
    writeFileSync(join(dir, 'm.json'), JSON.stringify(models));
    const r = codegen([join(dir, 'm.json')]);
    assert.equal(r.status, 0, r.stderr);
    const dts = r.stdout;
    for (const line of ['  name: string;', '  kind?: "a" | "b" | null;', '  qty: number;', '  meta?: unknown | null;',
      '  at?: string | null;', '  parent?: number | null;', 'export type ItemScope = "big" | "recent";',
      '  Item: { record: Item; input: ItemInput; scope: ItemScope };']) {
      assert.ok(dts.includes(line), `missing: ${line}\n${dts}`);
    }
    assert.ok(!dts.includes('Secret'), 'server_only models are not served');
    const out = join(dir, 'gen');
    assert.equal(codegen([join(dir, 'm.json'), '--out', out]).status, 0);
    const { schema } = await import(`${out}.js`);
    assert.deepEqual(schema.models.Item.scopes.big, { qty: { gt: 10 } });
    assert.equal(schema.models.Item.order, '-at,name');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('from a running API: GET /v1/models with the token, scopes with their conditions', async () => {
  let auth = null;
  const server = createServer((req, res) => {
    auth = req.headers.authorization;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ models: [{
      name: 'Dictionary', attributes: { word: { type: 'string', required: true }, definition: { type: 'text' } },
      scopes: ['defined', 'old'], scope_conditions: { defined: { definition: { null: false } } }, any_instance: [],
    }] }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${server.address().port}`;
    const { stdout } = await run(process.execPath, [BIN, url, '--token', 'T'], { timeout: 30000 });
    assert.equal(auth, 'Bearer T');
    assert.ok(stdout.includes('export type DictionaryScope = "defined" | "old";'), stdout);
    const dir = mkdtempSync(join(tmpdir(), 'codegen-'));
    const out = join(dir, 'models');
    await run(process.execPath, [BIN, url, '--token', 'T', '--out', out], { timeout: 30000 });
    const { schema } = await import(pathToFileURL(`${out}.js`).href);
    assert.deepEqual(schema.models.Dictionary.scopes, { defined: { definition: { null: false } }, old: null });
    rmSync(dir, { recursive: true, force: true });
    assert.ok(stdout.includes(`from ${url}/v1/models`), 'names its source');
  } finally {
    server.close();
  }
});

test('bad input: usage on wrong arguments, a message on a bad file', () => {
  assert.equal(codegen([]).status, 2);
  assert.equal(codegen(['--help']).status, 0);
  const r = codegen(['package.json'], { cwd: PKG });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a models\.json/);
});

test('the declarations compile with a typed usage, and misuse does not (tsc --noEmit)', () => {
  const tsc = join(PKG, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(HERE, 'tsconfig.json')], { encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
