#!/usr/bin/env node
// run.js - runs the JavaScript tests against one real stack: starts it (stack.js), runs each
// test file with node's test runner one after the other (some stop and kill components),
// prints each file's time, and stops the stack whatever happens.
//
//   node tests/js/run.js [client|browser|FILE...]     (make client-test, make browser)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Stack, REPO } from './stack.js';

const HERE = join(REPO, 'tests/js');
const args = process.argv.slice(2);
const suites = { client: join(HERE, 'client'), browser: join(HERE, 'browser') };

let files = [];
for (const a of args.length ? args : ['client', 'browser']) {
  if (suites[a]) files.push(...readdirSync(suites[a]).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(suites[a], f)));
  else files.push(a);
}

function runFile(file, env) {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', file], { env, stdio: 'inherit' });
    child.on('exit', (code, signal) => res(code ?? (signal ? 1 : 0)));
  });
}

const t0 = Date.now();
let stack = null;
let stopping = false;
const stop = async () => {
  if (stopping || !stack) return;
  stopping = true;
  process.stdout.write('js tests: stopping the stack\n');
  await stack.stop();
};
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stop().finally(() => process.exit(130)));

let failed = 0;
const times = [];
try {
  process.stdout.write(`js tests: starting a stack (services from ${process.env.MC_BUILD_DIR || 'build'})\n`);
  stack = await Stack.start();
  process.stdout.write(`js tests: stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s, edge ${stack.edgeUrl}\n`);
  const env = { ...process.env, MC_TEST_STACK: JSON.stringify(stack) };
  for (const f of files) {
    await stack.up(); // whatever a failed file left stopped (a killed pusher) runs again
    const t = Date.now();
    const code = await runFile(f, env);
    times.push([relative(REPO, f), (Date.now() - t) / 1000, code]);
    if (code !== 0) failed++;
  }
} catch (e) {
  process.stderr.write(`js tests: ${e.stack || e}\n`);
  failed++;
} finally {
  await stop();
}
process.stdout.write('\njs tests: time per file\n');
for (const [f, s, code] of times) process.stdout.write(`  ${code === 0 ? 'ok  ' : 'FAIL'} ${s.toFixed(1).padStart(6)} s  ${f}\n`);
process.stdout.write(`js tests: ${failed ? `${failed} failed` : 'all passed'} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
process.exit(failed ? 1 : 0);
