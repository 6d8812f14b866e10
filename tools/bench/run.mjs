#!/usr/bin/env node
// `pnpm bench <name> [--json]`: builds the packages, then runs src/<name>.mjs.
// Each benchmark prints a table of ns/op with ratios to a baseline measured in the same run and,
// with --json, one JSON object as its last line. Benchmarks never fail on a time.
// `pnpm bench memory|queue --vs-rust [--rounds=N]` also builds and runs rust-vmm on the same workloads
// (src/_rust.mjs, rust/): see the headers of src/memory.mjs and src/queue.mjs.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(join(here, 'src')).filter((f) => f.endsWith('.mjs') && !f.startsWith('_')).map((f) => f.slice(0, -4));
const args = process.argv.slice(2);
const names = args.filter((a, i) => !a.startsWith('-') && args[i - 1] !== '--platform'); // `--platform NAME` takes a value
const json = args.includes('--json');
if (names.length === 0 || names.some((n) => !available.includes(n))) {
  console.error(`usage: pnpm bench <${available.join('|')}> [--json]  (memory|queue: [--vs-rust [--rounds=N]])`);
  process.exit(2);
}
if (!args.includes('--no-build')) {
  // Build only what the chosen benchmarks import (and what those packages depend on).
  const needs = { memory: ['memory', 'sys'], queue: ['queue', 'sys'], bus: ['bus'], block: ['block'], vsock: ['vhost-user-vsock'], daemon: ['vhost-user', 'vhost-user-blk', 'block'] };
  const filters = names.flatMap((n) => (needs[n] ?? []).map((p) => `--filter=@vmv/${p}...`));
  // --vs-rust loads tools/guest (its Debian root has cargo and rust-vmm's sources): build what it imports.
  if (args.includes('--vs-rust')) filters.push('--filter=@vmv-tools/guest^...');
  if (filters.length === 0) filters.push('--filter=@vmv-tools/bench^...');
  execFileSync('pnpm', ['exec', 'turbo', 'run', 'build', ...filters, '--output-logs=errors-only'], {
    cwd: join(here, '..', '..'),
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
}
for (const name of names) {
  const mod = await import(join(here, 'src', `${name}.mjs`));
  await mod.default({ json, args });
}
