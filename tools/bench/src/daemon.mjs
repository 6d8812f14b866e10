// `pnpm bench daemon [--json] [--rounds=N] [--runtime=S] [--warmup=S] [--size=MiB] [--qsd-aio=threads|io_uring]
//                    [--cases=read4k/qd1/q1,...] [--vmv-flags="--coalesce off ..."] [--no-build]`:
// vhost-user-blk daemons without a guest: our vhost-user frontend (@vmv/vhost-user/frontend) drives virtio-blk
// split rings in shared memfd memory as fast as the daemon completes them (no QEMU, no TCG), and the bench
// measures IOPS and the daemon's CPU time per I/O of vmv-vhost-user-blk and of qemu-storage-daemon on the same
// raw image in /dev/shm (tmpfs), 4 KiB random reads and writes.
//
// Cases: read4k/qd1/q1, read4k/qd32/q1, read4k/qd128/q1, write4k/qd32/q1 (one queue), read4k/qd32/q2 (two
// queues, QD32 on each, one daemon thread: ours `--queues 2`, qsd num-queues=2 in its main loop) and
// read4k/qd32/q2w (two queues served by worker threads: ours `--queues 2 --workers 2`; qsd 7.2 cannot serve one
// export from two iothreads (that came with QEMU 9.0), so its baseline is num-queues=2 in one iothread).
// Our daemon runs with its default flags ("vmv") and again with `--poll off` ("vmv --poll off", its own row);
// --vmv-flags adds flags (split on spaces) to both, to see what one of them costs (a --poll among them applies
// to the first row only).
// qemu-storage-daemon: /usr/bin's (env VMV_BENCH_QSD replaces it), driver=file, cache.direct=off,
// aio=threads (--qsd-aio=io_uring: Linux io_uring), the export's defaults otherwise.
//
// Method: each (case, daemon) run starts a fresh daemon, connects as QEMU's vhost-user-blk would (features
// VERSION_1, EVENT_IDX, FLUSH, SEG_MAX, BLK_SIZE, MQ, split rings of 512 entries, no indirect descriptors: each
// request a chain of header, data, status), keeps QD requests in flight on every queue (each completion
// reaped on the call eventfd refills its slot at once, one kick per batch), runs --warmup seconds, then
// measures --runtime seconds: completed I/Os over the wall clock, and the CPU the daemon process used (utime +
// stime of /proc/PID/stat, all its threads, src/_cpu.mjs) and the CPU this process (the frontend) used. Each
// round runs vmv, vmv --poll off, qsd, and the next round the reverse order, so the machine's load of the
// moment falls on all alike; figures are medians over --rounds (default 3).
// IOPS ratio: ours/qsd; IOPS-per-core ratio: (IOPS / cores used) ours over qsd's, which is qsd's CPU per I/O
// over ours (higher is better for both).
//
// The data are checked, so a broken daemon cannot look fast: the image is filled with a pattern keyed by
// position (the 32-bit word at byte offset 4w holds w), every write writes that pattern XORed with a fresh
// generation number recorded per 4 KiB block, every read is compared word for word with what the block must
// hold, no two requests in flight touch one block, every status must be OK, and after each write run the whole
// image file is read back and compared. Any mismatch stops the bench with an error.
//
// One process drives every queue; its CPU per I/O and share of a core are printed (frontend us/io, fe core):
// a frontend near a whole core is the bottleneck and the figures are its, not the daemon's.
// Never run by CI, never a pass or fail on a time.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BlockFeature, BlockStatus, RequestType } from '@vmv/block';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature, VhostFeature, protocolFeatureMask } from '@vmv/vhost-user/protocol';
import { VMV_DAEMON_BIN } from '../../guest/lib/backends.mjs';
import { cpuDelta, cpuSample, usPerIo } from './_cpu.mjs';
import { fmt, median, table } from './_harness.mjs';

export const CASES = ['read4k/qd1/q1', 'read4k/qd32/q1', 'read4k/qd128/q1', 'write4k/qd32/q1', 'read4k/qd32/q2', 'read4k/qd32/q2w'];
const BLOCK = 4096;
const WORDS = BLOCK / 4;
const RING_SIZE = 512; // QD128 chains of three descriptors fit
const RING_BASE = 0x1_0000;
const RING_STRIDE = 0x1_0000;
const HDR_BASE = 0x10_0000; // 32 bytes a slot: header (16), status (at +16)
const DATA_BASE = 0x20_0000; // 4 KiB a slot
const MAX_SLOTS = 2 * 128;
const RAM_SIZE = DATA_BASE + MAX_SLOTS * BLOCK;
const STALL_MS = 10_000;
const VERSION_1 = 32n;
const EVENT_IDX = 29n;
const bit = (n) => 1n << BigInt(n);

/** What a case asks for: its operation, depth per queue, queues, and whether the daemon serves them in worker threads. */
function parseCase(name) {
  const m = /^(read|write)4k\/qd(\d+)\/q(\d+)(w?)$/.exec(name);
  if (!m) throw new RangeError(`bench daemon: unknown case ${name}`);
  return { write: m[1] === 'write', qd: Number(m[2]), queues: Number(m[3]), workers: m[4] === 'w' };
}

function option(args, name, def) {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : def;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`bench daemon: --${name} must be a positive number`);
  return v;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the image and what it must hold

/** The image: word w (at byte 4w) holds w, XOR the generation of its 4 KiB block (0 until the bench writes it). */
class PatternImage {
  constructor(path, blocks) {
    this.path = path;
    this.blocks = blocks;
    this.gen = new Uint32Array(blocks);
    this.busy = new Uint8Array(blocks);
    const chunk = new Uint32Array(256 * WORDS); // 1 MiB
    const fd = openSync(path, 'w');
    try {
      for (let b = 0; b < blocks; b += 256) {
        for (let i = 0; i < chunk.length; i++) chunk[i] = b * WORDS + i;
        writeSync(fd, new Uint8Array(chunk.buffer, 0, Math.min(256, blocks - b) * BLOCK));
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Fills `words` (one block) with what block `b` holds at generation `g`. */
  static fill(words, b, g) {
    const base = b * WORDS;
    for (let i = 0; i < WORDS; i++) words[i] = (base + i) ^ g;
  }

  /** Index of the first word of `words` that is not block b's content, or -1. */
  check(words, b) {
    const base = b * WORDS;
    const g = this.gen[b];
    for (let i = 0; i < WORDS; i++) if (words[i] !== ((base + i) ^ g) >>> 0) return i;
    return -1;
  }

  /** Reads the whole file back and compares every block; throws on the first difference. */
  verifyFile(who) {
    const buf = new Uint32Array(256 * WORDS);
    const bytes = new Uint8Array(buf.buffer);
    const fd = openSync(this.path, 'r');
    try {
      for (let b = 0; b < this.blocks; b += 256) {
        const n = Math.min(256, this.blocks - b);
        if (readSync(fd, bytes, 0, n * BLOCK, b * BLOCK) !== n * BLOCK) throw new Error(`bench daemon: short read of the image at block ${b}`);
        for (let k = 0; k < n; k++) {
          const i = this.check(buf.subarray(k * WORDS, (k + 1) * WORDS), b + k);
          if (i >= 0) throw new Error(`bench daemon: after ${who}'s writes, block ${b + k} of the image is wrong at word ${i}`);
        }
      }
    } finally {
      closeSync(fd);
    }
  }
}

// ---------------------------------------------------------------- the daemons

/** Starts a daemon and resolves once its socket is there. */
async function startDaemon(argv, socket, logPath) {
  const log = openSync(logPath, 'a');
  writeSync(log, `+ ${argv.join(' ')}\n`);
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', log, log] });
  closeSync(log);
  let spawnError = null;
  child.on('error', (e) => (spawnError = e));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError) throw new Error(`bench daemon: ${argv[0]} did not start: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`bench daemon: ${argv[0]} exited (${child.exitCode ?? child.signalCode}); see ${logPath}`);
    try {
      if (statSync(socket).isSocket()) return child;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bench daemon: ${argv[0]} did not listen on ${socket} within 20 s; see ${logPath}`);
    }
    await sleep(10);
  }
}

async function stopDaemon(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

// ---------------------------------------------------------------- the frontend driving the rings

/**
 * Connects to the daemon on `socket`, sets up `queues` rings as QEMU's vhost-user-blk does, and keeps `qd`
 * requests in flight on each. Returns the control of the run.
 */
async function drive(socket, image, c, onError) {
  if (c.qd * c.queues > MAX_SLOTS || c.qd * 3 > RING_SIZE) throw new RangeError(`bench daemon: QD${c.qd} on ${c.queues} queue(s) does not fit the rings`);
  const fe = VhostUserFrontend.connect(socket, { replyTimeoutMs: 20_000 });
  const shared = SharedGuestMemory.create(RAM_SIZE, { name: 'bench-daemon-ram' });
  try {
    return await start(fe, shared, image, c, onError);
  } catch (e) {
    fe.close();
    shared.close();
    throw e;
  }
}

async function start(fe, shared, image, { write, qd, queues }, onError) {
  const mem = shared.memory;
  let failed = null;
  const fail = (e) => {
    if (failed === null) {
      failed = e;
      onError(e);
    }
  };
  const offered = await fe.getFeatures();
  if (((offered >> BigInt(VhostFeature.PROTOCOL_FEATURES)) & 1n) === 0n) throw new Error('bench daemon: the daemon does not offer PROTOCOL_FEATURES');
  await fe.setOwner();
  const protocol = await fe.getProtocolFeatures();
  await fe.setProtocolFeatures(protocol & protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG]));
  const queueNum = await fe.getQueueNum();
  if (queueNum < queues) throw new Error(`bench daemon: the daemon has ${queueNum} queue(s), the case needs ${queues}`);
  const want = bit(VERSION_1) | bit(VhostFeature.PROTOCOL_FEATURES) | bit(EVENT_IDX) | bit(BlockFeature.FLUSH) | bit(BlockFeature.SEG_MAX) | bit(BlockFeature.BLK_SIZE) | bit(BlockFeature.MQ);
  const features = offered & want;
  await fe.setFeatures(features);
  await fe.setMemTable(shared);
  const eventIdx = ((features >> EVENT_IDX) & 1n) === 1n;

  const st = { completed: 0, running: true, inFlight: 0, lastCompletion: Date.now() };
  const rings = [];
  for (let q = 0; q < queues; q++) {
    const slots = [];
    for (let k = 0; k < qd; k++) {
      const id = q * qd + k;
      const hdr = HDR_BASE + id * 32;
      const data = DATA_BASE + id * BLOCK;
      const d8 = mem.view(data, BLOCK);
      slots.push({ hdr, status: hdr + 16, data, words: new Uint32Array(d8.buffer, d8.byteOffset, WORDS), block: -1, gen: 0 });
    }
    const ring = await fe.setupVring(q, {
      memory: shared, size: RING_SIZE, address: RING_BASE + q * RING_STRIDE, eventIdx, enable: false,
      onCall: (r) => {
        try {
          reap(r, slots);
        } catch (e) {
          fail(e);
        }
      },
    });
    rings.push({ ring, slots });
  }

  const submit = (ring, slots, k) => {
    const s = slots[k];
    let b;
    do b = Math.floor(Math.random() * image.blocks); while (image.busy[b]);
    image.busy[b] = 1;
    s.block = b;
    mem.writeU32(s.hdr, write ? RequestType.OUT : RequestType.IN);
    mem.writeU32(s.hdr + 4, 0);
    mem.writeU64(s.hdr + 8, b * (BLOCK / 512));
    mem.writeU8(s.status, 0xff);
    if (write) {
      s.gen = ((Math.random() * 0xffffffff) >>> 0) | 1;
      PatternImage.fill(s.words, b, s.gen);
      if (ring.driver.add([{ addr: s.hdr, len: 16 }, { addr: s.data, len: BLOCK }], [{ addr: s.status, len: 1 }], k) < 0) throw new Error('bench daemon: ring full');
    } else {
      s.words.fill(0xeeeeeeee);
      if (ring.driver.add([{ addr: s.hdr, len: 16 }], [{ addr: s.data, len: BLOCK }, { addr: s.status, len: 1 }], k) < 0) throw new Error('bench daemon: ring full');
    }
    st.inFlight++;
  };

  function reap(ring, slots) {
    let n = 0;
    for (let u = ring.driver.getBuf(); u !== null; u = ring.driver.getBuf()) {
      const s = slots[u.token];
      const status = mem.readU8(s.status);
      if (status !== BlockStatus.OK) throw new Error(`bench daemon: request on block ${s.block} completed with status ${status}`);
      if (write) image.gen[s.block] = s.gen;
      else {
        const i = image.check(s.words, s.block);
        if (i >= 0) throw new Error(`bench daemon: a read of block ${s.block} returned wrong data at word ${i}`);
      }
      image.busy[s.block] = 0;
      st.inFlight--;
      n++;
      if (st.running) submit(ring, slots, u.token);
    }
    if (n > 0) {
      st.completed += n;
      st.lastCompletion = Date.now();
      ring.kick();
    }
  }

  for (let q = 0; q < queues; q++) await fe.setVringEnable(q, true);
  for (const { ring, slots } of rings) {
    for (let k = 0; k < qd; k++) submit(ring, slots, k);
    ring.kick();
  }
  const watchdog = setInterval(() => {
    if (st.inFlight > 0 && Date.now() - st.lastCompletion > STALL_MS) fail(new Error(`bench daemon: no completion for ${STALL_MS / 1000} s with ${st.inFlight} request(s) in flight`));
  }, 1000);
  return {
    st,
    get failed() {
      return failed;
    },
    /** Stops submitting, waits for what is in flight, and closes everything. */
    async stop() {
      st.running = false;
      const deadline = Date.now() + STALL_MS;
      while (st.inFlight > 0 && failed === null && Date.now() < deadline) await sleep(5);
      clearInterval(watchdog);
      const left = st.inFlight;
      fe.close();
      shared.close();
      for (let b = 0; b < image.blocks; b++) image.busy[b] = 0;
      if (left > 0 && failed === null) throw new Error(`bench daemon: ${left} request(s) never completed`);
    },
  };
}

/** One measured run of a case against one daemon. */
async function runOne(c, image, argv, socket, logPath, { warmup, runtime }) {
  const child = await startDaemon(argv, socket, logPath);
  let error = null;
  let wake = null;
  try {
    const run = await drive(socket, image, c, (e) => {
      error = e;
      wake?.();
    });
    const pause = (s) => new Promise((r) => {
      wake = r;
      setTimeout(r, s * 1000);
    });
    await pause(warmup);
    const a = cpuSample({ daemon: child.pid });
    const n0 = run.st.completed;
    if (error === null) await pause(runtime);
    const b = cpuSample({ daemon: child.pid });
    const ios = run.st.completed - n0;
    await run.stop();
    if (error !== null) throw error;
    const d = cpuDelta(a, b);
    return {
      iops: ios / d.wall, ios, wall: d.wall, daemonCpu: d.procs.daemon, frontendCpu: d.self,
      cpuUsPerIo: usPerIo(d.procs.daemon, ios), frontendUsPerIo: usPerIo(d.self, ios),
      daemonCores: d.procs.daemon === null ? null : d.procs.daemon / d.wall, frontendCores: d.self / d.wall,
    };
  } finally {
    await stopDaemon(child);
  }
}

export default async function daemonBench({ json, args }) {
  const log = (m) => (json ? process.stderr : process.stdout).write(`${m}\n`);
  const rounds = option(args, 'rounds', 3);
  const runtime = option(args, 'runtime', 2);
  const warmup = option(args, 'warmup', 0.5);
  const sizeMiB = option(args, 'size', 256);
  const aioArg = args.find((x) => x.startsWith('--qsd-aio='));
  const aio = aioArg ? aioArg.slice(10) : 'threads';
  if (!['threads', 'io_uring'].includes(aio)) throw new RangeError('bench daemon: --qsd-aio must be threads or io_uring');
  const casesArg = args.find((x) => x.startsWith('--cases='));
  const cases = casesArg ? casesArg.slice(8).split(',').filter(Boolean) : CASES;
  for (const n of cases) if (!CASES.includes(n)) throw new RangeError(`bench daemon: --cases takes a comma list of ${CASES.join(', ')}`);
  if (!existsSync(VMV_DAEMON_BIN)) throw new Error(`bench daemon: vmv-vhost-user-blk is not built (${VMV_DAEMON_BIN} missing)`);
  const qsdBin = process.env.VMV_BENCH_QSD?.trim() || 'qemu-storage-daemon';
  const qv = spawnSync(qsdBin, ['--version'], { encoding: 'utf8' });
  if (qv.status !== 0) throw new Error(`bench daemon: ${qsdBin} does not run (${qv.error?.message ?? qv.stderr})`);
  const qsdVersion = /version (\S+)/.exec(qv.stdout)?.[1] ?? 'unknown';
  const vmvFlagsArg = args.find((x) => x.startsWith('--vmv-flags='));
  const vmvFlags = vmvFlagsArg ? vmvFlagsArg.slice(12).split(/\s+/).filter(Boolean) : [];

  const dir = mkdtempSync(join('/dev/shm', 'vmv-bench-daemon-'));
  const imagePath = join(dir, 'disk.raw');
  const blocks = (sizeMiB << 20) / BLOCK;
  log(`bench daemon: ${sizeMiB} MiB image in ${dir} (tmpfs), ${rounds} round(s) of ${warmup} s warm-up + ${runtime} s per run; `
    + `qemu-storage-daemon ${qsdVersion} (file, cache.direct=off, aio=${aio})${vmvFlags.length ? `, given ${vmvFlags.join(' ')}` : ''}`);
  const qsdArgv = ({ socket, queues, iothread }) => [
    qsdBin,
    ...(iothread ? ['--object', 'iothread,id=iot0'] : []),
    '--blockdev', `driver=file,node-name=file0,filename=${imagePath.replace(/,/g, ',,')},cache.direct=off,aio=${aio}`,
    '--blockdev', 'driver=raw,node-name=disk0,file=file0',
    '--export', `type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=${socket.replace(/,/g, ',,')},writable=on,num-queues=${queues}${iothread ? ',iothread=iot0' : ''}`,
  ];
  const vmvArgv = ({ socket, queues, workers: w }, flags) => [
    process.execPath, VMV_DAEMON_BIN, '--socket-path', socket, '--image', imagePath, '--queues', String(queues), ...(w ? ['--workers', String(queues)] : []), ...flags,
  ];
  // the "--poll off" row: the given flags without their own --poll (the daemon refuses a flag given twice)
  const pollOffFlags = vmvFlags.filter((f, i) => f !== '--poll' && vmvFlags[i - 1] !== '--poll' && !f.startsWith('--poll='));
  const variants = [
    { name: 'vmv', argv: (o) => vmvArgv(o, vmvFlags) },
    { name: 'vmv --poll off', argv: (o) => vmvArgv(o, [...pollOffFlags, '--poll', 'off']) },
    { name: 'qsd', argv: (o) => qsdArgv({ ...o, iothread: o.workers }) },
  ];
  const samples = {};
  let runs = 0;
  try {
    const image = new PatternImage(imagePath, blocks);
    for (const name of cases) {
      const c = parseCase(name);
      samples[name] = Object.fromEntries(variants.map((v) => [v.name, []]));
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? [...variants].reverse() : variants;
        for (const v of order) {
          const socket = join(dir, `d${runs++}.sock`);
          const s = await runOne(c, image, v.argv({ socket, queues: c.queues, workers: c.workers }), socket, join(dir, `${v.name.replace(/\W+/g, '-')}.log`), { warmup, runtime });
          if (c.write) image.verifyFile(v.name);
          samples[name][v.name].push(s);
          log(`bench daemon: ${name} round ${r + 1} ${v.name}: ${Math.round(s.iops)} IOPS, daemon ${fmt(s.cpuUsPerIo)} us/io (${fmt(s.daemonCores, 2)} core), `
            + `frontend ${fmt(s.frontendUsPerIo)} us/io (${fmt(s.frontendCores, 2)} core)`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const med = (list, k) => {
    const xs = list.map((s) => s[k]).filter((x) => typeof x === 'number');
    return xs.length ? median(xs) : null;
  };
  const r3 = (x) => (x === null ? null : Number(x.toFixed(3)));
  const r1 = (x) => (x === null ? null : Number(x.toFixed(1)));
  const figures = (list) => ({
    iops: list.length ? Math.round(med(list, 'iops')) : null, cpuUsPerIo: r1(med(list, 'cpuUsPerIo')),
    daemonCores: r3(med(list, 'daemonCores')), frontendUsPerIo: r1(med(list, 'frontendUsPerIo')), frontendCores: r3(med(list, 'frontendCores')),
  });
  const results = {};
  const rows = [];
  for (const name of cases) {
    const q = figures(samples[name].qsd);
    const vs = (f) => ({
      ratioToQsd: f.iops !== null && q.iops ? r3(f.iops / q.iops) : null,
      iopsPerCoreRatio: f.cpuUsPerIo && q.cpuUsPerIo ? r3(q.cpuUsPerIo / f.cpuUsPerIo) : null,
    });
    const ours = figures(samples[name].vmv);
    const off = figures(samples[name]['vmv --poll off']);
    results[name] = {
      ...ours, ...vs(ours),
      pollOff: { ...off, ...vs(off) },
      qsdIops: q.iops, qsdCpuUsPerIo: q.cpuUsPerIo, qsdCores: q.daemonCores, qsdFrontendCores: q.frontendCores,
      qsd: `${qsdVersion}, aio=${aio}${parseCase(name).workers ? ', num-queues=2 in one iothread' : ''}`,
      rounds: samples[name].qsd.length,
    };
    for (const [label, f] of [['vmv', ours], ['vmv --poll off', off]]) {
      const v = vs(f);
      rows.push({
        case: name, daemon: label,
        IOPS: f.iops, 'us/io': fmt(f.cpuUsPerIo), core: fmt(f.daemonCores, 2),
        'qsd IOPS': q.iops, 'qsd us/io': fmt(q.cpuUsPerIo), 'qsd core': fmt(q.daemonCores, 2),
        'IOPS ratio': v.ratioToQsd === null ? '-' : fmt(v.ratioToQsd, 2), 'IOPS/core ratio': v.iopsPerCoreRatio === null ? '-' : fmt(v.iopsPerCoreRatio, 2),
        'fe us/io': fmt(f.frontendUsPerIo), 'fe core': fmt(f.frontendCores, 2),
      });
    }
  }
  if (!json) {
    table(rows, ['case', 'daemon', 'IOPS', 'us/io', 'core', 'qsd IOPS', 'qsd us/io', 'qsd core', 'IOPS ratio', 'IOPS/core ratio', 'fe us/io', 'fe core']);
    console.log(`medians of ${rounds} run(s) each; us/io: the daemon's CPU (utime+stime, /proc) per I/O; core: its CPU over the wall clock; `
      + 'IOPS ratio: ours/qsd; IOPS/core ratio: qsd us/io over ours; fe: this process, the frontend driving the rings (near 1.00 core: the frontend is the bottleneck)');
    console.log(`qsd: qemu-storage-daemon ${qsdVersion}, aio=${aio}; read4k/qd32/q2w's qsd: num-queues=2 in one iothread (${qsdVersion} cannot spread one export over iothreads)`);
  } else {
    console.log(JSON.stringify({ bench: 'daemon', results }));
  }
}
