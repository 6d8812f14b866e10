// `pnpm bench memory [--json] [--vs-rust [--rounds=N]] [--huge-pages]`: the vm-memory micro-benchmark of
// /work/shared/reference/queue-benchmark.md ("Memory micro-benchmark definition"), run on
// @vmv/memory and on a raw DataView / Uint8Array baseline (no region lookup, no bounds checks
// beyond the engine's own) in the same process, so that ratios are meaningful on a noisy machine.
//
// Memory: 64 MiB, one region at GPA 0, zero-filled and touched in 1 MiB blocks before timing; a private
// anonymous mapping (@vmv/sys mmapAnonymous), as rust-vmm's GuestMemoryMmap makes it; `--huge-pages` advises
// it MADV_HUGEPAGE on both sides (see guestRam in _rust.mjs).
// Addresses: 65 536 per (size, pattern); random = xorshift32 (13/17/5) seeded 0x12345678,
// addr = (x % (0x4000000 / size)) * size; hot = 0x0040_0000. One pass over the addresses is
// repeated to about 400 ms; one warm-up, 7 runs, median.
//
// Without --vs-rust, the rust-vmm column is the fixed reference table of queue-benchmark.md (a loaded
// machine's CPU time: it flatters us). With --vs-rust, rust-vmm runs the same cases in this run: ../rust
// (vm-memory from Debian trixie's librust-vm-memory-dev, release, LTO; built once and cached, see
// _rust.mjs: needs root the first time, for the guest harness's Debian root and cargo in it). Each case
// runs JS, Rust, JS, Rust (--rounds=N times each side, default 2); each figure is the median of all the
// runs of its side, and `--json` gives each case {nsPerOp, rustNsPerOp, ratioToRust, baselineNsPerOp}.
// Without root or the root's packages, --vs-rust says what is missing and exits 1.
import { GuestMemory } from '@vmv/memory';
import { fmt, median, now, table } from './_harness.mjs';
import { guestRam, vsRustOption } from './_rust.mjs';

const MEM_SIZE = 0x400_0000;
const N_ADDR = 65536;
const HOT = 0x40_0000;

/** rust-vmm vm-memory 0.18 figures (ns/op) from queue-benchmark.md. */
const RUST = {
  'read4k/random': 272.9, 'read4k/hot': 49.5,
  'write4k/random': 235.7, 'write4k/hot': 48.1,
  'read16/random': 72.3, 'read16/hot': 27.4,
  'write16/random': 67.2, 'write16/hot': 27.6,
  'readU32/random': 71.4, 'readU32/hot': 27.3,
  'writeU32/random': 71.8, 'writeU32/hot': 27.1,
};

function randomAddresses(size) {
  const out = new Uint32Array(N_ADDR);
  let x = 0x12345678;
  const slots = MEM_SIZE / size;
  for (let i = 0; i < N_ADDR; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = (x % slots) * size;
  }
  return out;
}

const CHECK = {
  4096: [0x1aa5000, 0x24a3000, 0x34c4000, 0x2c98000],
  16: [0x185aa50, 0x1b24a30, 0x20f4c40, 0x33ac980],
  4: [0x2616a94, 0x16c928c, 0x83d310, 0x2ceb260],
};

// Each timed loop is compiled separately (new Function) so every case has its own type feedback:
// one case's shapes cannot make another's call sites polymorphic.
const OPS = {
  read: { vmv: 'mem.read(a, buf); sum += buf[0];', raw: 'buf.set(u8.subarray(a, a + SIZE)); sum += buf[0];' },
  write: { vmv: 'buf[0] = a & 255; mem.write(a, buf);', raw: 'buf[0] = a & 255; u8.set(buf, a);' },
  readU32: { vmv: 'sum += mem.readU32(a);', raw: 'sum += dv.getUint32(a, true);' },
  writeU32: { vmv: 'mem.writeU32(a, a >>> 0);', raw: 'dv.setUint32(a, a >>> 0, true);' },
};
// The raw baseline for 16 B is the fastest plain form measured: reads are four DataView u32
// loads and sixteen byte stores, writes sixteen byte loads and four DataView u32 stores (a byte
// loop, subarray()+set() or set() are all slower for 16 bytes).
const RAW16 = {
  read: `const v0 = dv.getUint32(a, true), v1 = dv.getUint32(a + 4, true), v2 = dv.getUint32(a + 8, true), v3 = dv.getUint32(a + 12, true);
    buf[0] = v0; buf[1] = v0 >>> 8; buf[2] = v0 >>> 16; buf[3] = v0 >>> 24; buf[4] = v1; buf[5] = v1 >>> 8; buf[6] = v1 >>> 16; buf[7] = v1 >>> 24;
    buf[8] = v2; buf[9] = v2 >>> 8; buf[10] = v2 >>> 16; buf[11] = v2 >>> 24; buf[12] = v3; buf[13] = v3 >>> 8; buf[14] = v3 >>> 16; buf[15] = v3 >>> 24;
    sum += buf[0];`,
  write: `buf[0] = a & 255;
    dv.setInt32(a, buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24), true);
    dv.setInt32(a + 4, buf[4] | (buf[5] << 8) | (buf[6] << 16) | (buf[7] << 24), true);
    dv.setInt32(a + 8, buf[8] | (buf[9] << 8) | (buf[10] << 16) | (buf[11] << 24), true);
    dv.setInt32(a + 12, buf[12] | (buf[13] << 8) | (buf[14] << 16) | (buf[15] << 24), true);`,
};

function compile(body, size) {
  const src = `let sum = 0;
for (let it = 0; it < n; it++) {
  for (let i = 0; i < ${N_ADDR}; i++) { const a = addrs[i]; ${body.replaceAll('SIZE', String(size))} }
}
return sum;`;
  const f = new Function('mem', 'u8', 'dv', 'buf', 'addrs', 'n', src);
  return f;
}

/**
 * Times two loops the way queue-benchmark.md asks (calibrate each to about 400 ms per run, one
 * warm-up run, 7 measured runs, median), but interleaves their runs: raw, vmv, raw, vmv, ... so
 * that both see the same load on a shared machine and their ratio stays meaningful. Returns every
 * run's ns per operation of each.
 */
function measurePair(rawFn, vmvFn, { targetMs = 400, runs = 7, calibrate = 4 } = {}) {
  const iters = (fn) => {
    const t0 = now();
    fn(calibrate);
    const dt = Math.max(now() - t0, 1);
    const n = Math.max(1, Math.round((calibrate * targetMs * 1e6) / dt));
    fn(Math.max(1, n >> 2));
    return n;
  };
  const nRaw = iters(rawFn);
  const nVmv = iters(vmvFn);
  const raw = [];
  const vmv = [];
  for (let r = 0; r < runs; r++) {
    let t0 = now();
    rawFn(nRaw);
    raw.push((now() - t0) / (nRaw * N_ADDR));
    t0 = now();
    vmvFn(nVmv);
    vmv.push((now() - t0) / (nVmv * N_ADDR));
  }
  return { raw, vmv };
}

export default async function memoryBench({ json, args = [] }) {
  const vs = await vsRustOption(args);
  if (!vs) return;
  const { rust, rounds } = vs;
  const ram = await guestRam(MEM_SIZE, args);
  const backing = ram.buffer;
  const u8 = new Uint8Array(backing);
  const dv = new DataView(backing);
  // Touch every page (1 MiB blocks) so that no page fault or shared zero page lands in a timing.
  const block = new Uint8Array(1 << 20).fill(1);
  for (let off = 0; off < MEM_SIZE; off += 1 << 20) u8.set(block, off);
  u8.fill(0);
  const mem = GuestMemory.fromRegions([{ start: 0, backing }]);

  for (const [size, want] of Object.entries(CHECK)) {
    const got = Array.from(randomAddresses(Number(size)).slice(0, 4));
    if (got.join() !== want.join()) throw new Error(`address generator mismatch for size ${size}: ${got.map((v) => v.toString(16))}`);
  }

  const cases = [];
  for (const [name, size, op] of [
    ['read16', 16, 'read'], ['write16', 16, 'write'],
    ['read4k', 4096, 'read'], ['write4k', 4096, 'write'],
    ['readU32', 4, 'readU32'], ['writeU32', 4, 'writeU32'],
  ]) {
    for (const pattern of ['random', 'hot']) cases.push({ key: `${name}/${pattern}`, size, op, pattern });
  }

  const results = {};
  const rows = [];
  for (const c of cases) {
    const addrs = c.pattern === 'random' ? randomAddresses(c.size) : new Uint32Array(N_ADDR).fill(HOT);
    const buf = new Uint8Array(c.size);
    const vmvFn = compile(OPS[c.op].vmv, c.size);
    const rawBody = c.size === 16 && RAW16[c.op] ? RAW16[c.op] : OPS[c.op].raw;
    const rawFn = compile(rawBody, c.size);
    const raw = [];
    const vmv = [];
    const rs = [];
    for (let r = 0; r < rounds; r++) {
      const m = measurePair((n) => rawFn(mem, u8, dv, buf, addrs, n), (n) => vmvFn(mem, u8, dv, buf, addrs, n));
      raw.push(...m.raw);
      vmv.push(...m.vmv);
      if (rust) rs.push(...rust.run(['memory', c.op, String(c.size), c.pattern]).samples);
    }
    const ns = median(vmv);
    const rawNs = median(raw);
    const ref = rust ? median(rs) : RUST[c.key];
    results[c.key] = rust
      ? { nsPerOp: round2(ns), rustNsPerOp: round2(ref), ratioToRust: Number((ns / ref).toFixed(3)), baselineNsPerOp: round2(rawNs) }
      : { nsPerOp: round2(ns), baselineNsPerOp: round2(rawNs), rustVmmNsPerOp: RUST[c.key] };
    rows.push({
      case: c.key,
      'ns/op': fmt(ns),
      'raw ns/op': fmt(rawNs),
      'vs raw': fmt(ns / rawNs, 2) + 'x',
      'rust-vmm': fmt(ref),
      'vs rust-vmm': fmt(ns / ref, 2) + 'x',
    });
  }
  if (rust) {
    console.log(`rust-vmm measured in this run: vm-memory ${rust.versions.vmMemory} (Debian), rustc ${rust.versions.rustc}, release + LTO; `
      + `JS and Rust alternating, ${rounds} round(s) each, medians of all runs`);
  } else {
    console.log('rust-vmm: the fixed reference figures of queue-benchmark.md (not this machine, not this run; --vs-rust measures them here)');
  }
  console.log(ram.describe);
  if (rust) console.log(rust.copies);
  table(rows, ['case', 'ns/op', 'raw ns/op', 'vs raw', 'rust-vmm', 'vs rust-vmm']);
  if (json) console.log(JSON.stringify({ bench: 'memory', results }));
}

const round2 = (x) => Number(x.toFixed(2));
