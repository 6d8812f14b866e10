// `pnpm bench queue [--json] [--vs-rust [--rounds=N]] [--huge-pages]`: workloads A and B of
// /work/shared/reference/queue-benchmark.md (split ring, device side, pop and iter styles, notifications none
// and event idx), and the equivalent packed-ring workloads. Prints ns per chain, device side only: the
// driver-only loop (same rounds) is timed separately and subtracted, as the reference does.
//
// Without --vs-rust, the rust-vmm column is the fixed reference table of queue-benchmark.md (a loaded
// machine's CPU time: it flatters us). With --vs-rust, rust-vmm runs the same split-ring cases in this run:
// ../rust (virtio-queue and vm-memory from Debian trixie's librust-virtio-queue-dev and librust-vm-memory-dev,
// release, LTO; built once and cached, see _rust.mjs: needs root the first time, for the guest harness's
// Debian root and cargo in it). Each case runs JS, Rust, JS, Rust (--rounds=N times each side, default 2);
// each side's figure is the median of all its runs minus the median of all its driver-only runs, and `--json`
// gives each case {nsPerOp, rustNsPerOp, ratioToRust}. virtio-queue has no packed ring: the packed cases
// run on our side only (rustNsPerOp and ratioToRust null). Without root or the root's packages, --vs-rust
// says what is missing and exits 1. Guest memory is a private anonymous mapping on both sides, advised
// MADV_HUGEPAGE on both with `--huge-pages` (guestRam in _rust.mjs).
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue, DescFlags, QueueConfig, Feature } from '@vmv/queue';
import { fmt, measure, median, now, table } from './_harness.mjs';
import { guestRam, vsRustOption } from './_rust.mjs';

const MEM_SIZE = 0x0400_0000;
const DESC = 0x0000;
const AVAIL = 0x1000;
const USED = 0x2000;
const QSIZE = 256;
const { NEXT, WRITE, AVAIL: F_AVAIL, USED: F_USED } = DescFlags;

// rust-vmm virtio-queue 0.18 figures from queue-benchmark.md (ns per chain, device side).
const RUST_VMM = {
  'split/A/pop/none': 80.3,
  'split/A/iter/none': 75.6,
  'split/A/pop/evidx': 88.0,
  'split/A/iter/evidx': 84.3,
  'split/B/pop/none': 170.4,
  'split/B/iter/none': 164.3,
  'split/B/pop/evidx': 176.9,
  'split/B/iter/evidx': 171.9,
};

/** The benchmark's guest memory: {mem, sab}, `sab` being the backing the driver side writes through. */
function makeMemory(ram) {
  const sab = ram.buffer;
  const mem = GuestMemory.fromRegions([{ start: 0, backing: sab }]);
  const block = new Uint8Array(0x100000);
  for (let a = 0; a < MEM_SIZE; a += 0x100000) mem.write(a, block); // touch every page once
  return { mem, sab };
}

/** The chains of a workload: heads in publish order and the descriptors to write. */
function workload(name) {
  const descs = [];
  const heads = [];
  if (name === 'A') {
    for (let i = 0; i < 256; i++) {
      descs.push([i, 0x0010_0000 + i * 0x1000, 4096, WRITE, 0]);
      heads.push(i);
    }
    return { n: 256, perChain: 1, usedLen: 4096, descs, heads };
  }
  for (let c = 0; c < 85; c++) {
    const b = 3 * c;
    descs.push([b, 0x0020_0000 + c * 16, 16, NEXT, b + 1]);
    descs.push([b + 1, 0x0010_0000 + c * 0x1000, 4096, NEXT | WRITE, b + 2]);
    descs.push([b + 2, 0x0030_0000 + c, 1, WRITE, 0]);
    heads.push(b);
  }
  return { n: 85, perChain: 3, usedLen: 4097, descs, heads };
}

// ------------------------------------------------------------------------------ split ring

function setupSplit(mem, wl, evidx) {
  mem.fill(0, 0x3000, 0);
  for (const [i, addr, len, flags, next] of wl.descs) {
    mem.writeU64(DESC + 16 * i, addr);
    mem.writeU32(DESC + 16 * i + 8, len);
    mem.writeU16(DESC + 16 * i + 12, flags);
    mem.writeU16(DESC + 16 * i + 14, next);
  }
  if (wl.perChain === 3) {
    for (let c = 0; c < 85; c++) {
      mem.writeU32(0x0020_0000 + c * 16, 0);
      mem.writeU32(0x0020_0000 + c * 16 + 4, 0);
      mem.writeU64(0x0020_0000 + c * 16 + 8, c * 8);
    }
  }
  const cfg = new QueueConfig(QSIZE);
  cfg.setFeatures(evidx ? 1n << BigInt(Feature.EVENT_IDX) : 0n);
  cfg.setSize(QSIZE);
  cfg.setArea('descTable', DESC);
  cfg.setArea('driverArea', AVAIL);
  cfg.setArea('deviceArea', USED);
  cfg.ready = true;
  return createVirtqueue(mem, cfg);
}

/** The driver side of workload rounds, on a u16 view of the avail ring. */
function makeSplitDriver(sab, wl, evidx, queue) {
  const avail = new Uint16Array(sab, AVAIL, 3 + QSIZE);
  const heads = Uint16Array.from(wl.heads);
  const n = wl.n;
  let availIdx = 0;
  return {
    publish() {
      for (let k = 0; k < n; k++) avail[2 + ((availIdx + k) & 255)] = heads[k];
      if (evidx) avail[2 + QSIZE] = (queue.nextUsed + n - 1) & 0xffff; // used_event
      availIdx = (availIdx + n) & 0xffff;
      Atomics.store(avail, 1, availIdx);
    },
  };
}

// ------------------------------------------------------------------------------ packed ring

function setupPacked(mem, wl, evidx) {
  mem.fill(0, 0x3000, 0);
  if (wl.perChain === 3) {
    for (let c = 0; c < 85; c++) {
      mem.writeU32(0x0020_0000 + c * 16, 0);
      mem.writeU32(0x0020_0000 + c * 16 + 4, 0);
      mem.writeU64(0x0020_0000 + c * 16 + 8, c * 8);
    }
  }
  const cfg = new QueueConfig(QSIZE);
  let f = 1n << BigInt(Feature.RING_PACKED);
  if (evidx) f |= 1n << BigInt(Feature.EVENT_IDX);
  cfg.setFeatures(f);
  cfg.setSize(QSIZE);
  cfg.setArea('descTable', DESC);
  cfg.setArea('driverArea', AVAIL); // driver event suppression
  cfg.setArea('deviceArea', USED); // device event suppression
  cfg.ready = true;
  return createVirtqueue(mem, cfg);
}

/**
 * Packed equivalent of the driver publish: the same chains (A: 256 x 1 descriptor, B: 85 x 3),
 * written into the ring at the driver's position with the wrap-counter flags, the first
 * descriptor's flags of each chain last; with event idx, the driver event suppression asks for
 * one interrupt at the last chain of the round.
 */
function makePackedDriver(sab, wl, evidx) {
  const d32 = new Uint32Array(sab, DESC, 4 * QSIZE);
  const d16 = new Uint16Array(sab, DESC, 8 * QSIZE);
  const drv = new Uint16Array(sab, AVAIL, 2);
  const n = wl.n;
  const per = wl.perChain;
  // Per chain: the descriptors' addr/len/flags (without avail/used bits).
  const addr = new Float64Array(n * per);
  const len = new Uint32Array(n * per);
  const flg = new Uint16Array(n * per);
  for (let c = 0; c < n; c++) {
    for (let j = 0; j < per; j++) {
      const [, a, l, f] = wl.descs[c * per + j];
      addr[c * per + j] = a;
      len[c * per + j] = l;
      flg[c * per + j] = f;
    }
  }
  let pos = 0;
  let wrapFlags = F_AVAIL; // avail = 1, used = 0 for wrap counter 1
  if (evidx) drv[1] = 2; // RING_EVENT_FLAGS_DESC
  return {
    publish() {
      let lastPos = 0;
      let lastWrap = 1;
      for (let c = 0; c < n; c++) {
        const head = pos;
        const headWrap = (wrapFlags & F_AVAIL) !== 0 ? 1 : 0;
        const headFlags = flg[c * per] | wrapFlags;
        for (let j = 0; j < per; j++) {
          const k = c * per + j;
          const b = pos << 2;
          d32[b] = addr[k];
          d32[b + 1] = 0;
          d32[b + 2] = len[k];
          d16[8 * pos + 6] = c; // buffer ID
          if (j !== 0) d16[8 * pos + 7] = flg[k] | wrapFlags;
          if (++pos === QSIZE) {
            pos = 0;
            wrapFlags ^= F_AVAIL | F_USED;
          }
        }
        lastPos = head;
        lastWrap = headWrap;
        Atomics.store(d16, 8 * head + 7, headFlags);
      }
      // One used-buffer notification when the device uses the last chain of the round.
      if (evidx) Atomics.store(drv, 0, lastPos | (lastWrap << 15));
    },
  };
}

// ------------------------------------------------------------------------------ device rounds

// The walk's checksum, in a typed array so that updating it allocates nothing (a module-level
// double would be re-boxed on every update) and walk() returns a plain number.
const checksum = new Float64Array(1);

/** The reference's walk(chain): reads every descriptor (and the B header); returns used_len. */
function walk(chain, mem, hdr, hdrView, isB) {
  let usedLen = 0;
  const count = chain.descriptorCount;
  let first = 0;
  for (let i = 0; i < count; i++) {
    const addr = chain.address(i);
    const len = chain.length(i);
    const flags = chain.flags(i);
    checksum[0] += addr ^ len ^ flags;
    if (i === 0) first = addr;
    if ((flags & WRITE) !== 0) usedLen += len;
  }
  if (isB) {
    mem.read(first, hdr);
    checksum[0] += hdrView.getUint32(0, true) + hdrView.getUint32(8, true) + hdrView.getUint32(12, true) * 4294967296;
  }
  return usedLen;
}

function makeRunner(kind, style, notif, wl, mem, sab) {
  const evidx = notif === 'evidx';
  const q = kind === 'split' ? setupSplit(mem, wl, evidx) : setupPacked(mem, wl, evidx);
  const driver = kind === 'split' ? makeSplitDriver(sab, wl, evidx, q) : makePackedDriver(sab, wl, evidx);
  const isB = wl.perChain === 3;
  const hdr = new Uint8Array(16);
  const hdrView = new DataView(hdr.buffer);
  const scratch = new Array(256).fill(null);
  const lens = new Uint32Array(256);
  const stats = { chains: 0, descriptors: 0, notifies: 0 };
  const round = () => {
    driver.publish();
    if (evidx) q.disableNotification();
    if (style === 'pop') {
      for (let c = q.pop(); c !== null; c = q.pop()) {
        const usedLen = walk(c, mem, hdr, hdrView, isB);
        stats.chains++;
        stats.descriptors += c.descriptorCount;
        q.addUsed(c, usedLen);
        if (evidx && q.needsNotification()) stats.notifies++;
      }
    } else {
      let k = 0;
      for (let c = q.pop(); c !== null; c = q.pop()) {
        const usedLen = walk(c, mem, hdr, hdrView, isB);
        stats.descriptors += c.descriptorCount;
        scratch[k] = c;
        lens[k++] = usedLen;
      }
      stats.chains += k;
      for (let j = 0; j < k; j++) {
        q.addUsed(scratch[j], lens[j]);
        if (evidx && q.needsNotification()) stats.notifies++;
      }
    }
    if (evidx && q.enableNotification()) throw new Error('enableNotification reported more work');
  };
  let roundsRun = 0;
  return {
    run(rounds) {
      for (let r = 0; r < rounds; r++) round();
      roundsRun += rounds;
    },
    get roundsRun() {
      return roundsRun;
    },
    driverOnly(rounds) {
      for (let r = 0; r < rounds; r++) driver.publish();
    },
    check(rounds) {
      const { n, perChain } = wl;
      if (stats.chains !== rounds * n) throw new Error(`chains ${stats.chains} != ${rounds * n}`);
      if (stats.descriptors !== rounds * n * perChain) throw new Error(`descriptors ${stats.descriptors}`);
      const want = evidx ? rounds : 0;
      if (stats.notifies !== want) throw new Error(`notifies ${stats.notifies} != ${want}`);
      if (kind === 'split' && mem.readU16(USED + 2) !== (rounds * n) % 65536) throw new Error('used.idx mismatch');
      if (kind === 'packed' && q.nextUsed !== (rounds * n * perChain) % QSIZE) throw new Error('used position mismatch');
    },
    stats,
  };
}

function bench(kind, wlName, style, notif, shared) {
  const wl = workload(wlName);
  const per = wl.n;
  // Verify the configuration once on a fresh queue: counts and notifications exactly as defined.
  {
    const v = makeRunner(kind, style, notif, wl, shared.mem, shared.sab);
    v.run(300); // crosses the u16 index wrap for A (300 * 256 > 65536)
    v.check(300);
  }
  const r = makeRunner(kind, style, notif, wl, shared.mem, shared.sab);
  const full = measure((rounds) => r.run(rounds), { opsPerIteration: per });
  r.check(r.roundsRun); // counts, notifications and used.idx over every round measured
  const rounds = full.iterations;
  // The driver-only loop on a separate ring state (its own publish counters), same rounds.
  const d = makeRunner(kind, style, notif, wl, shared.mem, shared.sab);
  d.driverOnly(Math.max(1, rounds >> 2));
  const samples = [];
  for (let i = 0; i < 7; i++) {
    const t0 = now();
    d.driverOnly(rounds);
    samples.push((now() - t0) / (rounds * per));
  }
  return { total: full.samples, driver: samples, rounds };
}

export default async function ({ json, args = [] }) {
  const vs = await vsRustOption(args);
  if (!vs) return;
  const { rust, rounds: nRounds } = vs;
  const ram = await guestRam(MEM_SIZE, args);
  const shared = makeMemory(ram);
  const cases = [];
  for (const kind of ['split', 'packed']) {
    for (const wl of ['A', 'B']) {
      for (const style of kind === 'split' ? ['pop', 'iter'] : ['pop']) {
        for (const notif of ['none', 'evidx']) cases.push([kind, wl, style, notif]);
      }
    }
  }
  const results = {};
  const rows = [];
  // QUEUE_BENCH_FILTER=packed/A runs only the cases whose key contains that text.
  const filter = process.env.QUEUE_BENCH_FILTER ?? '';
  for (const [kind, wl, style, notif] of cases) {
    const key = `${kind}/${wl}/${style}/${notif}`;
    if (!key.includes(filter)) continue;
    const js = { total: [], driver: [], rounds: [] };
    const rs = { total: [], driver: [] };
    for (let i = 0; i < nRounds; i++) {
      const m = bench(kind, wl, style, notif, shared);
      js.total.push(...m.total);
      js.driver.push(...m.driver);
      js.rounds.push(m.rounds);
      if (rust && kind === 'split') {
        const r = rust.run(['queue', wl, style, notif]);
        rs.total.push(...r.total);
        rs.driver.push(...r.driver);
      }
    }
    const total = median(js.total);
    const driver = median(js.driver);
    const device = total - driver;
    const ref = rust ? (rs.total.length ? median(rs.total) - median(rs.driver) : undefined) : RUST_VMM[key];
    results[key] = rust
      ? { nsPerOp: round2(device), rustNsPerOp: ref === undefined ? null : round2(ref), ratioToRust: ref === undefined ? null : Number((device / ref).toFixed(3)) }
      : { nsPerOp: round2(device) };
    rows.push({
      case: key,
      'ns/chain (device)': fmt(device),
      'total': fmt(total),
      'driver-only': fmt(driver),
      rounds: js.rounds.join('/'),
      'rust-vmm': ref === undefined ? '-' : fmt(ref),
      'vs rust-vmm': ref === undefined ? '-' : `${fmt(device / ref, 2)}x`,
    });
  }
  if (rust) {
    console.log(`rust-vmm measured in this run: virtio-queue ${rust.versions.virtioQueue}, vm-memory ${rust.versions.vmMemory} (Debian), rustc ${rust.versions.rustc}, `
      + `release + LTO; JS and Rust alternating, ${nRounds} round(s) each, medians of all runs; no packed ring in virtio-queue`);
  } else {
    console.log('rust-vmm: the fixed reference figures of queue-benchmark.md (not this machine, not this run; --vs-rust measures them here)');
  }
  console.log(ram.describe);
  if (rust) console.log(rust.copies);
  table(rows, ['case', 'ns/chain (device)', 'total', 'driver-only', 'rounds', 'rust-vmm', 'vs rust-vmm']);
  if (!Number.isFinite(checksum[0])) throw new Error('checksum');
  if (json) console.log(JSON.stringify({ bench: 'queue', results }));
}

const round2 = (x) => Number(x.toFixed(2));
