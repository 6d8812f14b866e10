/**
 * The campaign engine: inputs are byte strings (a target reads its choices from them through
 * ByteSource), made fresh or by mutating a corpus entry; an input that shows the target something
 * new (an error name or a path feature it reports) joins the corpus. Each input is classified:
 * typed errors (names the target allows) are the expected outcome of hostile input; any other
 * exception is a crash; a run over the time bound, or a loop the target catches running past what
 * the ring allows, is a hang; a guard check that fails is an out-of-bounds access.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ByteSource } from './source.mjs';

/**
 * A synchronous input that took longer than this, in wall time and in CPU time both, is a hang. CPU time
 * too: on a loaded machine an input may wait for a core far longer than it runs (3 inputs of 1 s wall
 * time were counted as hangs at load 10, each under a millisecond when replayed).
 */
export const SYNC_HANG_MS = 1000;
/** An asynchronous input not settled after this is a hang. */
export const ASYNC_HANG_MS = 5000;

/** xorshift128+ over 32-bit halves: fast, seeded, reproducible. */
export class Rng {
  constructor(seed) {
    this.a = (seed ^ 0x9e3779b9) >>> 0 || 1;
    this.b = Math.imul(seed | 0, 0x85ebca6b) >>> 0 || 2;
    this.c = 0x6c078965;
    this.d = 0x12345678 ^ seed;
  }
  u32() {
    let t = this.d;
    const s = this.a;
    this.d = this.c;
    this.c = this.b;
    this.b = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.a = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.a;
  }
  below(n) {
    return n <= 1 ? 0 : this.u32() % n;
  }
}

const INTERESTING_8 = [0, 1, 2, 4, 8, 0x0f, 0x10, 0x7f, 0x80, 0xc0, 0xe0, 0xf0, 0xfe, 0xff];
const INTERESTING_32 = [0, 1, 0x10, 0x200, 0x1000, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

/** Fresh random bytes, length biased towards short inputs. */
export function freshInput(rng, maxLen) {
  const len = rng.below(2) === 0 ? rng.below(Math.min(maxLen, 256) + 1) : rng.below(maxLen + 1);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i += 4) {
    const v = rng.u32();
    out[i] = v;
    if (i + 1 < len) out[i + 1] = v >>> 8;
    if (i + 2 < len) out[i + 2] = v >>> 16;
    if (i + 3 < len) out[i + 3] = v >>> 24;
  }
  return out;
}

/** One to eight libFuzzer-style mutations of `base` (and maybe a splice with `other`). */
export function mutate(rng, base, other, maxLen) {
  let b = Uint8Array.from(base);
  const rounds = 1 + rng.below(8);
  for (let r = 0; r < rounds; r++) {
    const len = b.length;
    switch (rng.below(9)) {
      case 0:
        if (len) b[rng.below(len)] ^= 1 << rng.below(8);
        break;
      case 1:
        if (len) b[rng.below(len)] = rng.u32();
        break;
      case 2:
        if (len) b[rng.below(len)] = INTERESTING_8[rng.below(INTERESTING_8.length)];
        break;
      case 3:
        if (len >= 4) {
          const at = rng.below(len - 3);
          const v = INTERESTING_32[rng.below(INTERESTING_32.length)];
          b[at] = v;
          b[at + 1] = v >>> 8;
          b[at + 2] = v >>> 16;
          b[at + 3] = v >>> 24;
        }
        break;
      case 4: {
        // insert random bytes
        const n = 1 + rng.below(16);
        if (len + n > maxLen) break;
        const at = rng.below(len + 1);
        const nb = new Uint8Array(len + n);
        nb.set(b.subarray(0, at));
        for (let i = 0; i < n; i++) nb[at + i] = rng.u32();
        nb.set(b.subarray(at), at + n);
        b = nb;
        break;
      }
      case 5: {
        // delete a range
        if (!len) break;
        const at = rng.below(len);
        const n = 1 + rng.below(Math.min(16, len - at));
        const nb = new Uint8Array(len - n);
        nb.set(b.subarray(0, at));
        nb.set(b.subarray(at + n), at);
        b = nb;
        break;
      }
      case 6: {
        // copy a range over another place
        if (len < 2) break;
        const from = rng.below(len);
        const to = rng.below(len);
        const n = 1 + rng.below(Math.min(32, len - Math.max(from, to)));
        b.copyWithin(to, from, from + n);
        break;
      }
      case 7: {
        // splice: our head, the other's tail
        if (!other || !other.length) break;
        const at = rng.below(len + 1);
        const from = rng.below(other.length);
        const tail = other.subarray(from, from + Math.max(0, maxLen - at));
        const nb = new Uint8Array(at + tail.length);
        nb.set(b.subarray(0, at));
        nb.set(tail, at);
        b = nb;
        break;
      }
      default:
        // add or subtract a small number from a byte
        if (len) {
          const at = rng.below(len);
          b[at] = b[at] + rng.below(33) - 16;
        }
    }
  }
  return b;
}

export function nameOf(e) {
  if (typeof e === 'object' && e !== null && typeof e.name === 'string') return e.name;
  return `(thrown ${typeof e})`;
}

function withTimeout(p, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ timedOut: true }), ms);
  });
  return Promise.race([p.then((value) => ({ value }), (error) => ({ error })), timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs one input. An unexpected error reported after the input has settled (a device callback
 * firing late) goes to `late(error)`, for the campaign to charge to this input.
 * @returns {Promise<{ names: string[], features: string[], kind: null | 'crash' | 'hang' | 'oob', message?: string, error?: unknown, ms: number }>}
 */
export async function runOne(target, state, input, late = () => {}) {
  const src = new ByteSource(input);
  const names = [];
  const features = [];
  let done = false;
  let unexpected;
  const report = {
    // Never throws: the caller may be the code under test (a diagnostic hook, an event observer).
    error(e) {
      const n = nameOf(e);
      if (target.allowed.has(n)) {
        if (!done) names.push(n);
      } else if (done) late(e);
      else if (unexpected === undefined) unexpected = { error: e };
    },
    feature(k) {
      features.push(k);
    },
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let kind = null;
  let message;
  let error;
  let outcome;
  try {
    outcome = target.run(state, src, report);
    if (outcome !== null && typeof outcome === 'object' && typeof outcome.then === 'function') {
      const settled = await withTimeout(outcome, ASYNC_HANG_MS);
      if (settled.timedOut) {
        kind = 'hang';
        message = `the input did not settle within ${ASYNC_HANG_MS} ms`;
        outcome = null;
      } else if ('error' in settled) throw settled.error;
      else outcome = settled.value;
    }
  } catch (e) {
    outcome = null;
    if (nameOf(e) === 'Fuzz.HangError') {
      kind = 'hang';
      error = e;
    } else if (target.allowed.has(nameOf(e))) {
      names.push(nameOf(e));
    } else {
      kind = 'crash';
      error = e;
    }
  }
  done = true;
  const ms = performance.now() - t0;
  if (kind !== 'hang' && unexpected !== undefined) {
    kind = 'crash';
    error = unexpected.error;
  }
  if (kind === null && typeof outcome === 'string') {
    kind = 'oob';
    message = outcome;
  }
  if (kind === null && ms > SYNC_HANG_MS) {
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    if (cpuMs > SYNC_HANG_MS) {
      kind = 'hang';
      message = `the input took ${Math.round(ms)} ms, ${Math.round(cpuMs)} ms of CPU (bound ${SYNC_HANG_MS} ms)`;
    }
  }
  if (error !== undefined && message === undefined) message = `${nameOf(error)}: ${error instanceof Error ? error.message : String(error)}`;
  return { names, features, kind, message, error, ms };
}

export function hex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

export function unhex(s) {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Saves a failing input as `<dir>/<target>-<hash>.json`, replayable with `fuzz --replay`. */
export function saveCase(dir, target, input, r) {
  mkdirSync(dir, { recursive: true });
  const hash = createHash('sha256').update(input).digest('hex').slice(0, 12);
  const file = join(dir, `${target.name}-${hash}.json`);
  const stack = r.error instanceof Error ? r.error.stack : undefined;
  writeFileSync(file, JSON.stringify({ target: target.name, kind: r.kind, message: r.message, stack, input: hex(input) }, null, 2) + '\n');
  return file;
}

/**
 * Runs a campaign on one target until `inputs` inputs or `seconds` have passed.
 * @param {object} target
 * @param {{ inputs?: number, seconds?: number, seed: number, crashDir: string, seeds?: Uint8Array[], progress?: (input: Uint8Array, done: number) => void }} o
 */
export async function campaign(target, o) {
  const rng = new Rng(o.seed);
  let state = await target.setup();
  const corpus = [];
  const keys = new Set();
  const errors = new Map();
  const saved = new Map();
  const counts = { inputs: 0, crashes: 0, hangs: 0, oob: 0 };
  const seedErrors = [];
  const start = performance.now();
  const deadline = o.seconds !== undefined ? start + 1000 * o.seconds : Infinity;
  const limit = o.inputs ?? Infinity;
  const queue = [...(o.seeds ?? [])];
  // Exceptions after an input settled: a late report, or one no code caught (a callback of the
  // code under test throwing on a timer or in a promise). Charged to the input running, or to the
  // one that reported, as crashes.
  const pendingLate = [];
  let current = null;
  const onAsync = (e) => pendingLate.push({ input: current, error: e });
  process.on('uncaughtException', onAsync);
  process.on('unhandledRejection', onAsync);
  const record = (input, r) => {
    if (r.kind === 'crash') counts.crashes++;
    else if (r.kind === 'hang') counts.hangs++;
    else counts.oob++;
    // one saved case per distinct failure (kind, error name, first stack frame)
    const frame = r.error instanceof Error ? ((r.error.stack ?? '').split('\n')[1] ?? '') : '';
    const sig = `${r.kind}|${r.error !== undefined ? nameOf(r.error) : r.message}|${frame.trim()}`;
    if (!saved.has(sig)) saved.set(sig, saveCase(o.crashDir, target, input, r));
  };
  while (counts.inputs < limit && (counts.inputs & 63 || performance.now() < deadline)) {
    let input;
    if (queue.length > 0) input = queue.shift();
    else if (corpus.length === 0 || rng.below(8) === 0) input = freshInput(rng, target.maxLen);
    else {
      const base = corpus[rng.below(corpus.length)].input;
      const other = rng.below(4) === 0 ? corpus[rng.below(corpus.length)].input : null;
      input = mutate(rng, base, other, target.maxLen);
    }
    o.progress?.(input, counts.inputs);
    current = input;
    const r = await runOne(target, state, input, (e) => pendingLate.push({ input, error: e }));
    counts.inputs++;
    let fresh = [];
    for (const n of r.names) {
      errors.set(n, (errors.get(n) ?? 0) + 1);
      const k = `error:${n}`;
      if (!keys.has(k)) {
        keys.add(k);
        fresh.push(k);
      }
    }
    for (const f of r.features) {
      if (!keys.has(f)) {
        keys.add(f);
        fresh.push(f);
      }
    }
    if (fresh.length > 0) {
      const entry = { input, keys: fresh };
      if (corpus.length < 4096) corpus.push(entry);
      else corpus[rng.below(corpus.length)] = entry;
      if (fresh.some((k) => k.startsWith('error:'))) seedErrors.push(entry);
    }
    let failed = r.kind !== null;
    if (failed) record(input, r);
    while (pendingLate.length > 0) {
      const late = pendingLate.shift();
      record(late.input ?? input, { kind: 'crash', error: late.error, message: `late: ${nameOf(late.error)}: ${late.error instanceof Error ? late.error.message : String(late.error)}` });
      failed = true;
    }
    if (failed) {
      if (target.teardown) await target.teardown(state);
      state = await target.setup();
    }
  }
  process.off('uncaughtException', onAsync);
  process.off('unhandledRejection', onAsync);
  const seconds = (performance.now() - start) / 1000;
  if (target.teardown) await target.teardown(state);
  return {
    name: target.name,
    inputs: counts.inputs,
    seconds: Math.round(seconds * 10) / 10,
    inputsPerSecond: Math.round(counts.inputs / seconds),
    distinctErrors: errors.size,
    errors: Object.fromEntries([...errors].sort((a, b) => b[1] - a[1])),
    crashes: counts.crashes,
    hangs: counts.hangs,
    oob: counts.oob,
    corpus: corpus.length,
    features: keys.size,
    saved: [...saved.values()],
    seedInputs: seedErrors.slice(0, 24).map((e) => hex(e.input)),
  };
}

/**
 * Replays one saved input as a campaign would judge it, late exceptions included (reports after the
 * input settled, and uncaught ones within `graceMs` after it).
 */
export async function replayOne(target, state, input, graceMs = 50) {
  const late = [];
  const onAsync = (e) => late.push(e);
  process.on('uncaughtException', onAsync);
  process.on('unhandledRejection', onAsync);
  try {
    const r = await runOne(target, state, input, onAsync);
    await new Promise((resolve) => setTimeout(resolve, graceMs));
    if (r.kind === null && late.length > 0) return { ...r, kind: 'crash', error: late[0], message: `late: ${nameOf(late[0])}: ${late[0] instanceof Error ? late[0].message : String(late[0])}` };
    return r;
  } finally {
    process.off('uncaughtException', onAsync);
    process.off('unhandledRejection', onAsync);
  }
}
