#!/usr/bin/env node
// `pnpm run docs` at the root (not `pnpm docs`: that is npm's docs command): writes the API reference
// of every @vmv package to site/api (or to --out DIR).
// Exits 1 if TypeDoc reported any warning: an undocumented export, a broken {@link}, a type
// that a public signature uses but no entry point exports.
import { join } from 'node:path';
import { buildApiReference } from './lib/typedoc.mjs';
import { root } from './lib/entries.mjs';

const i = process.argv.indexOf('--out');
const out = i > 0 ? process.argv[i + 1] : join(root, 'site', 'api');
const started = Date.now();
const { problems, dirs } = await buildApiReference(out);
const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`docs: ${problems.length} warning(s) and error(s); the reference in ${out} is incomplete`);
  process.exit(1);
}
console.log(`docs: ${dirs.length} packages documented in ${out} (${seconds} s)`);
