#!/usr/bin/env node
/**
 * pnpm fuzz [--seconds N | --inputs N] [--target NAME[,NAME]] [--seed N] [--json] [--write-seeds]
 * pnpm fuzz --replay FILE...
 *
 * Fuzz campaigns over every parser of bytes a guest or a frontend controls, against the built
 * @vmv packages. Prints per target: inputs tried, distinct typed errors seen, crashes, hangs and
 * accesses outside guest memory. A failing input is saved under crashes/ as a replayable case.
 * --seconds is the whole campaign's time, shared evenly between the targets; --inputs bounds each
 * target by count instead (what CI uses, so a result does not depend on machine load).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { replayOne, saveCase, unhex } from '../lib/engine.mjs';
import { TARGETS, loadTarget } from '../lib/targets/index.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
/** A worker whose input count has not moved for this long is stuck in one input: a hang. */
const WATCHDOG_MS = 15000;
const MAX_INPUT = 1 << 16;

function usage(msg) {
  if (msg) console.error(`fuzz: ${msg}`);
  console.error('usage: fuzz [--seconds N | --inputs N] [--target NAME[,NAME...]] [--seed N] [--json] [--write-seeds] | --replay FILE...');
  console.error(`targets: ${Object.keys(TARGETS).join(', ')}`);
  process.exit(2);
}

function parse(argv) {
  const o = { seconds: undefined, inputs: undefined, targets: Object.keys(TARGETS), seed: 1, json: false, writeSeeds: false, replay: null, crashDir: join(ROOT, 'crashes') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    const number = () => {
      const v = Number(value());
      if (!Number.isFinite(v) || v <= 0) usage(`${a} must be a positive number`);
      return v;
    };
    if (a === '--') continue;
    else if (a === '--seconds') o.seconds = number();
    else if (a === '--inputs') o.inputs = Math.floor(number());
    else if (a === '--seed') o.seed = Math.floor(number());
    else if (a === '--target') o.targets = value().split(',');
    else if (a === '--json') o.json = true;
    else if (a === '--write-seeds') o.writeSeeds = true;
    else if (a === '--crash-dir') o.crashDir = resolve(value());
    else if (a === '--replay') o.replay = argv.slice(i + 1);
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
    if (o.replay) break;
  }
  for (const t of o.targets) if (!(t in TARGETS)) usage(`unknown target ${t}`);
  if (o.seconds === undefined && o.inputs === undefined) o.seconds = 60;
  return o;
}

function seedsOf(name) {
  const file = join(ROOT, 'seeds', `${name}.json`);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).inputs : [];
}

/** Runs one target's campaign in a worker, with the watchdog. */
function runTarget(name, o, seconds) {
  return new Promise((resolvePromise, reject) => {
    const shared = new SharedArrayBuffer(8 + MAX_INPUT);
    const control = new Int32Array(shared, 0, 2);
    const worker = new Worker(join(ROOT, 'lib', 'worker.mjs'), {
      workerData: { name, inputs: o.inputs, seconds, seed: o.seed, crashDir: o.crashDir, seeds: seedsOf(name), shared },
    });
    let last = -1;
    let lastMove = Date.now();
    let done = false;
    const timer = setInterval(async () => {
      const n = Atomics.load(control, 0);
      if (n !== last) {
        last = n;
        lastMove = Date.now();
        return;
      }
      if (Date.now() - lastMove < WATCHDOG_MS || done) return;
      done = true;
      clearInterval(timer);
      const input = new Uint8Array(shared, 8, Atomics.load(control, 1)).slice();
      await worker.terminate();
      const target = await loadTarget(name);
      const file = saveCase(o.crashDir, target, input, { kind: 'hang', message: `input ${n} did not return within ${WATCHDOG_MS} ms (watchdog)` });
      resolvePromise({ name, inputs: n, seconds: null, inputsPerSecond: null, distinctErrors: 0, errors: {}, crashes: 0, hangs: 1, oob: 0, corpus: 0, features: 0, saved: [file], seedInputs: [], stoppedByWatchdog: true });
    }, 500);
    worker.on('message', (r) => {
      done = true;
      clearInterval(timer);
      resolvePromise(r);
    });
    worker.on('error', (e) => {
      // an exception the campaign could not catch: the whole target counts as one crash
      done = true;
      clearInterval(timer);
      resolvePromise({ name, inputs: Atomics.load(control, 0), seconds: null, inputsPerSecond: null, distinctErrors: 0, errors: {}, crashes: 1, hangs: 0, oob: 0, corpus: 0, features: 0, saved: [], seedInputs: [], workerError: String(e?.stack ?? e) });
    });
    worker.on('exit', (code) => {
      if (!done) {
        clearInterval(timer);
        reject(new Error(`worker for ${name} exited with code ${code}`));
      }
    });
  });
}

function commit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function replay(files) {
  let failed = 0;
  for (const file of files) {
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    const target = await loadTarget(saved.target);
    const inputs = saved.inputs ?? [saved.input];
    const state = await target.setup();
    for (const [i, h] of inputs.entries()) {
      const r = await replayOne(target, state, unhex(h));
      const what = r.kind === null ? `ok (${r.names.length ? r.names.join(', ') : 'no error'})` : `${r.kind.toUpperCase()}: ${r.message}`;
      console.log(`${file}${inputs.length > 1 ? `#${i}` : ''}: ${what}`);
      if (r.kind !== null) {
        failed++;
        if (r.error instanceof Error && r.error.stack) console.log(r.error.stack);
      }
    }
    if (target.teardown) await target.teardown(state);
  }
  console.log(`${files.length} files, ${failed} failing inputs`);
  process.exit(failed === 0 ? 0 : 1);
}

const o = parse(process.argv.slice(2));
if (o.replay) await replay(o.replay);
else {
  const started = new Date();
  const startCommit = commit(); // the code the campaign runs, even if HEAD moves meanwhile
  const perTarget = o.seconds !== undefined ? o.seconds / o.targets.length : undefined;
  const results = [];
  for (const name of o.targets) {
    const r = await runTarget(name, o, perTarget);
    results.push(r);
    if (!o.json) {
      const errs = Object.keys(r.errors);
      console.log(
        `${name.padEnd(20)} inputs ${String(r.inputs).padStart(10)}  ${String(r.inputsPerSecond ?? '-').padStart(7)}/s  typed errors ${String(r.distinctErrors).padStart(2)}  crashes ${r.crashes}  hangs ${r.hangs}  out-of-bounds ${r.oob}  corpus ${r.corpus}`,
      );
      if (errs.length) console.log(`${''.padEnd(20)} ${errs.join(', ')}`);
      for (const f of r.saved) console.log(`${''.padEnd(20)} saved ${f}`);
    }
    if (o.writeSeeds && r.seedInputs.length > 0) {
      writeFileSync(join(ROOT, 'seeds', `${name}.json`), JSON.stringify({ target: name, inputs: r.seedInputs }, null, 1) + '\n');
    }
  }
  const totals = results.reduce((t, r) => ({ inputs: t.inputs + r.inputs, crashes: t.crashes + r.crashes, hangs: t.hangs + r.hangs, oob: t.oob + r.oob }), { inputs: 0, crashes: 0, hangs: 0, oob: 0 });
  const out = { date: started.toISOString(), commit: startCommit, node: process.version, seed: o.seed, seconds: o.seconds ?? null, inputsPerTarget: o.inputs ?? null, targets: results.map((r) => ({ ...r, seedInputs: undefined })), totals };
  if (o.json) console.log(JSON.stringify(out, null, 2));
  else console.log(`total: ${totals.inputs} inputs, ${totals.crashes} crashes, ${totals.hangs} hangs, ${totals.oob} out-of-bounds`);
  process.exit(totals.crashes + totals.hangs + totals.oob === 0 ? 0 : 1);
}
