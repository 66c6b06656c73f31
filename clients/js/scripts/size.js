#!/usr/bin/env node
// size.js - the client's size: its source as served (src/*.js), one minified ES module
// (esbuild, pinned in package.json), and that gzipped. `npm run size` in clients/js.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const PKG = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(PKG, 'src');
const files = readdirSync(src).filter((f) => f.endsWith('.js'));
const raw = files.reduce((n, f) => n + statSync(join(src, f)).size, 0);
const rawGz = gzipSync(Buffer.concat(files.map((f) => readFileSync(join(src, f)))), { level: 9 }).length;
const out = await build({ entryPoints: [join(src, 'index.js')], bundle: true, minify: true, format: 'esm', write: false, target: 'es2020' });
const min = out.outputFiles[0].contents;
const minGz = gzipSync(min, { level: 9 }).length;
process.stdout.write([
  `@modelcast/client ${JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')).version}`,
  `  source     ${files.length} files (src/*.js)   ${raw} bytes   gzip ${rawGz} bytes`,
  `  minified   one ES module (esbuild)       ${min.length} bytes   gzip ${minGz} bytes`,
  '',
].join('\n'));
