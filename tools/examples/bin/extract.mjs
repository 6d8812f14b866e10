#!/usr/bin/env node
// node tools/examples/bin/extract.mjs --out DIR [--package @vmv/NAME]
// Writes the complete examples of the READMEs and docs pages into DIR (ID.ts, ID.mjs, ID.cjs) and
// DIR/manifest.json: [{ id, package, source, packages, node, browser, esm, cjs, ts }]. Fails, naming
// each block, when a block breaks the convention (see lib/examples.cjs).
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const { extract } = createRequire(import.meta.url)('../lib/examples.cjs');
const args = process.argv.slice(2);
let out = null;
let pkg = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = args[++i] ?? null;
  else if (args[i] === '--package') pkg = args[++i] ?? null;
  else {
    console.error(`extract: unknown argument ${args[i]}\nusage: extract.mjs --out DIR [--package @vmv/NAME]`);
    process.exit(2);
  }
}
if (!out) {
  console.error('usage: extract.mjs --out DIR [--package @vmv/NAME]');
  process.exit(2);
}
try {
  const manifest = extract(resolve(out), pkg);
  console.log(`extract: ${manifest.length} example(s) in ${resolve(out)}`);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
