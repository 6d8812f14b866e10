// `pnpm bench block [--json]`: in-process throughput of @vmv/block on a file in the page cache,
// against plain `fs` reads and writes of the same sizes, offsets and queue depth in the same run.
//
// Cases: 4 KiB random read, 4 KiB random write, 1 MiB sequential read; each at queue depth 1 and
// 32. The device side is a BlockDevice over FileBackend, activated on a split ring (size 256,
// EVENT_IDX, as Linux negotiates it) and driven by @vmv/queue/driver exactly as a guest would:
// header / data / status descriptors, kick when kickPrepare says so, reap in the interrupt
// handler, resubmit to keep the depth constant (closed loop). The baseline keeps the same number
// of fs.read / fs.write calls in flight on the same file descriptor flags, same offsets, each
// callback issuing the next call.
//
// libuv runs file I/O on its thread pool, or on io_uring when UV_USE_IO_URING=1 (Linux): the run
// measures both, each in a child process of its own (the mode is fixed when libuv starts), the
// device against plain fs in the same mode. A mode whose child did not get an io_uring (an old
// kernel, io_uring disabled) is reported as unavailable, not measured under a false name.
//
// Each case: a warm-up, then RUNS timed runs of about RUN_MS, device and fs alternating; the median
// of each is reported. BLOCK_BENCH_FILTER=randread runs only the cases whose key contains that text;
// BLOCK_BENCH_MODES=threadpool (or io_uring) runs one mode; BLOCK_BENCH_DEBUG=1 prints every run's
// figures to stderr (on a busy machine they spread widely: look before trusting a median).
// --json: {"bench":"block","results":{"<case>":{"opsPerSec":N,"ratioToFs":R}, "<case>/io_uring":{...}}},
// the case names without a suffix being the thread pool's (libuv's default).
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, read, readdirSync, readlinkSync, readSync, rmSync, write, writeSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlockDevice } from '@vmv/block';
import { FileBackend } from '@vmv/block/node';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { SplitDriver } from '@vmv/queue/driver';
import { fmt, now, table } from './_harness.mjs';

const FILE_SIZE = 256 << 20;
const RUN_MS = Number(process.env.BLOCK_BENCH_MS ?? 700);
const RUNS = Number(process.env.BLOCK_BENCH_RUNS ?? 5);
const QUEUE_SIZE = 256;
const MAX_QD = 32;
const MEM_SIZE = 64 << 20;
const SLOT = (1 << 20) + 4096; // per request: data (up to 1 MiB), then header and status
const DATA_BASE = 0x10_0000;

const CASES = [
  ['randread4k', 4096, 'read', 'random'],
  ['randwrite4k', 4096, 'write', 'random'],
  ['seqread1m', 1 << 20, 'read', 'seq'],
];

/** Offsets for a case: xorshift32 random block-aligned, or sequential wrapping at the file end. */
function offsets(size, pattern) {
  const n = 1 << 16;
  const out = new Float64Array(n);
  const blocks = FILE_SIZE / size;
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    if (pattern === 'seq') out[i] = (i % blocks) * size;
    else {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      out[i] = (x % blocks) * size;
    }
  }
  return out;
}

const median = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1];

/** Plain fs: `qd` callbacks in flight on the same file, the same offsets. */
function fsRun(fd, size, op, offs, qd) {
  const bufs = Array.from({ length: qd }, () => new Uint8Array(size).fill(op === 'write' ? 0x5a : 0));
  return (ms) =>
    new Promise((resolve, reject) => {
      let ops = 0;
      let next = 0;
      let active = qd;
      const t0 = now();
      const deadline = t0 + ms * 1e6;
      const issue = (slot) => {
        const pos = offs[next++ & 0xffff];
        const cb = (err) => {
          if (err) return reject(err);
          ops++;
          if (now() < deadline) issue(slot);
          else if (--active === 0) resolve((ops * 1e9) / (now() - t0));
        };
        if (op === 'read') read(fd, bufs[slot], 0, size, pos, cb);
        else write(fd, bufs[slot], 0, size, pos, cb);
      };
      for (let s = 0; s < qd; s++) issue(s);
    });
}

/** The device: a guest driver keeping `qd` requests in flight on one split ring. */
function deviceRun(backend, size, op, offs, qd) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(MEM_SIZE) }]);
  for (let a = 0; a < MEM_SIZE; a += 1 << 20) memory.fill(a, 1 << 20, op === 'write' ? 0x5a : 0);
  const ring = SplitDriver.layout(QUEUE_SIZE, 0);
  const drv = new SplitDriver(memory, { size: QUEUE_SIZE, ...ring, eventIdx: true });
  const device = new BlockDevice({ backend, queueSize: QUEUE_SIZE, maxInflight: 64 });
  const features = device.deviceFeatures;
  const queue = createVirtqueue(memory, drv.queueConfig(QUEUE_SIZE));
  let state = null;
  const slots = Array.from({ length: qd }, (_, i) => {
    const data = DATA_BASE + i * SLOT;
    const hdr = data + (1 << 20);
    const status = hdr + 16;
    const isWrite = op === 'write';
    return {
      i,
      hdr,
      out: isWrite ? [{ addr: hdr, len: 16 }, { addr: data, len: size }] : [{ addr: hdr, len: 16 }],
      in: isWrite ? [{ addr: status, len: 1 }] : [{ addr: data, len: size }, { addr: status, len: 1 }],
      status,
    };
  });
  const submit = (slot) => {
    const sector = offs[state.next++ & 0xffff] / 512;
    memory.writeU32(slot.hdr, op === 'write' ? 1 : 0);
    memory.writeU32(slot.hdr + 4, 0);
    memory.writeU32(slot.hdr + 8, sector >>> 0);
    memory.writeU32(slot.hdr + 12, Math.floor(sector / 4294967296));
    drv.add(slot.out, slot.in, slot);
  };
  const onInterrupt = () => {
    const s = state;
    if (s === null) return;
    let any = false;
    for (let u = drv.getBuf(); u !== null; u = drv.getBuf()) {
      const slot = u.token;
      if (memory.readU8(slot.status) !== 0) s.reject(new Error(`request failed with status ${memory.readU8(slot.status)}`));
      s.ops++;
      if (now() < s.deadline) {
        submit(slot);
        any = true;
      } else if (--s.active === 0) {
        state = null;
        s.resolve((s.ops * 1e9) / (now() - s.t0));
        return;
      }
    }
    if (any && drv.kickPrepare()) device.queueNotify(0);
  };
  device.activate({
    memory,
    queues: [queue],
    features,
    interrupt: { signalUsedBuffer: onInterrupt, signalConfigChange() {} },
    needsReset: (e) => {
      throw e;
    },
  });
  return (ms) =>
    new Promise((resolve, reject) => {
      const t0 = now();
      state = { ops: 0, next: 0, active: qd, t0, deadline: t0 + ms * 1e6, resolve, reject };
      for (const slot of slots) submit(slot);
      if (drv.kickPrepare()) device.queueNotify(0);
    });
}

/** libuv's two ways of running file I/O, as UV_USE_IO_URING selects them. */
const MODES = [
  ['threadpool', '0'],
  ['io_uring', '1'],
];

/** Whether this process holds an io_uring instance (libuv creates its rings lazily, at the first fs call). */
function hasIoUring() {
  try {
    return readdirSync('/proc/self/fd').some((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).includes('io_uring');
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

export default async function ({ json }) {
  if (process.env.VMV_BLOCK_BENCH_CHILD === undefined) return parent(json);
  const results = await measureAll();
  console.log(JSON.stringify({ bench: 'block', mode: process.env.VMV_BLOCK_BENCH_CHILD, ioUring: hasIoUring(), results }));
}

/** Runs each libuv mode in a child process and prints both, side by side. */
function parent(json) {
  const run = join(dirname(fileURLToPath(import.meta.url)), '..', 'run.mjs');
  const wanted = (process.env.BLOCK_BENCH_MODES ?? 'threadpool,io_uring').split(',');
  const results = {};
  const rows = [];
  for (const [mode, uring] of MODES) {
    if (!wanted.includes(mode)) continue;
    const child = spawnSync(process.execPath, [...process.execArgv, run, 'block', '--no-build'], {
      env: { ...process.env, UV_USE_IO_URING: uring, VMV_BLOCK_BENCH_CHILD: mode },
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    });
    const last = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status !== 0 || !last.startsWith('{')) throw new Error(`bench block: the ${mode} child failed (status ${child.status})\n${child.stdout}`);
    const out = JSON.parse(last);
    if (mode === 'io_uring' && !out.ioUring) {
      console.log('io_uring: unavailable here (libuv fell back to its thread pool): not measured');
      continue;
    }
    for (const [key, r] of Object.entries(out.results)) {
      results[mode === 'threadpool' ? key : `${key}/${mode}`] = r;
      rows.push({ case: key, libuv: mode, 'device ops/s': fmt(r.opsPerSec, 0), 'fs ops/s': fmt(r.fsOpsPerSec, 0), 'device MB/s': fmt(r.mbPerSec, 0), 'ratio to fs': fmt(r.ratioToFs, 2) });
    }
  }
  table(rows, ['case', 'libuv', 'device ops/s', 'fs ops/s', 'device MB/s', 'ratio to fs']);
  if (json) {
    for (const r of Object.values(results)) {
      delete r.fsOpsPerSec;
      delete r.mbPerSec;
    }
    console.log(JSON.stringify({ bench: 'block', results }));
  }
}

/** Every case in this process's libuv mode. */
async function measureAll() {
  const dir = mkdtempSync(join(tmpdir(), 'vmv-block-bench-'));
  const path = join(dir, 'disk.img');
  // Fill the file (so every block is allocated) and read it once: it is now in the page cache.
  const fd0 = openSync(path, 'w+');
  const chunk = new Uint8Array(1 << 20).fill(0xa5);
  for (let o = 0; o < FILE_SIZE; o += chunk.length) writeSync(fd0, chunk, 0, chunk.length, o);
  for (let o = 0; o < FILE_SIZE; o += chunk.length) readSync(fd0, chunk, 0, chunk.length, o);
  closeSync(fd0);
  const fd = openSync(path, 'r+');
  const backend = await FileBackend.open(path);
  const filter = process.env.BLOCK_BENCH_FILTER ?? '';
  const results = {};
  try {
    for (const [name, size, op, pattern] of CASES) {
      const offs = offsets(size, pattern);
      for (const qd of [1, MAX_QD]) {
        const key = `${name}/qd${qd}`;
        if (!key.includes(filter)) continue;
        // Alternate the two so that machine noise hits both alike.
        const base = fsRun(fd, size, op, offs, qd);
        const dev = deviceRun(backend, size, op, offs, qd);
        const fsRates = [];
        const devRates = [];
        await base(RUN_MS / 3);
        await dev(RUN_MS / 3);
        for (let r = 0; r < RUNS; r++) {
          fsRates.push(await base(RUN_MS));
          devRates.push(await dev(RUN_MS));
        }
        if (process.env.BLOCK_BENCH_DEBUG) console.error(`${key} (${process.env.VMV_BLOCK_BENCH_CHILD}) ops/s of each run: fs ${fsRates.map(Math.round).join(' ')}; device ${devRates.map(Math.round).join(' ')}`);
        const f = median(fsRates);
        const d = median(devRates);
        results[key] = { opsPerSec: Math.round(d), ratioToFs: Number((d / f).toFixed(3)), fsOpsPerSec: Math.round(f), mbPerSec: Math.round((d * size) / 1e6) };
      }
    }
  } finally {
    await backend.close();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
