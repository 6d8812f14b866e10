#!/usr/bin/env node
// 4 KiB random reads at a fixed queue depth per queue against vmv-vhost-user-blk (the built
// program, dist/cjs/bin.js) on an image in /dev/shm, driven by @vmv/vhost-user's frontend as fast
// as the rings go: one queue in the main thread, two queues in the main thread, and two queues
// with --workers 2. Prints IOPS, the daemon's CPU per I/O (from /proc) and the ratios.
// Usage: node bench/workers.mjs [--seconds S] [--qd N] [--runs R]   (after pnpm build)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRequestHeader, REQUEST_HEADER_SIZE, RequestType } from '@vmv/block';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature, VhostFeature, protocolFeatureMask } from '@vmv/vhost-user/protocol';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : Number(process.argv[i + 1]);
};
const SECONDS = arg('seconds', 4);
const QD = arg('qd', 32);
const RUNS = arg('runs', 3);
const EXTRA = process.argv.includes('--') ? process.argv.slice(process.argv.indexOf('--') + 1) : [];
const IMAGE_SIZE = 256 << 20;
const RAM = 32 << 20;
const RING = 128;
const BIN = join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'cjs', 'bin.js');
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: pnpm --filter @vmv/vhost-user-blk build`);

const dir = mkdtempSync('/dev/shm/vmv-workers-bench-');
const image = join(dir, 'disk.img');
writeFileSync(image, Buffer.alloc(IMAGE_SIZE, 0x5a));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuTicks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
};

/** CPU ticks per thread of `pid`: tid -> [name, ticks]. */
const threadTicks = (pid) => {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.split(') ')[1].split(' ');
      out.set(tid, [tid === String(pid) ? 'main' : name, Number(f[11]) + Number(f[12])]);
    } catch {
      // the thread ended
    }
  }
  return out;
};

async function startDaemon(queues, workers) {
  const socket = join(dir, `s${Date.now()}.sock`);
  const child = spawn(process.execPath, [BIN, '--socket', socket, '--image', image, '--queues', String(queues), '--workers', String(workers), '--log-level', 'warn', ...EXTRA], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 500 && !existsSync(socket); i++) await sleep(10);
  return { child, socket };
}

async function run(queues, workers) {
  const { child, socket } = await startDaemon(queues, workers);
  const fe = VhostUserFrontend.connect(socket, { replyTimeoutMs: 20000 });
  const ram = SharedGuestMemory.create(RAM, { name: 'bench-ram' });
  const offered = await fe.getFeatures();
  const proto = await fe.getProtocolFeatures();
  await fe.setProtocolFeatures(proto & protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG]));
  await fe.setOwner();
  const features = offered & ~(1n << 34n);
  await fe.setFeatures(features);
  await fe.setMemTable(ram);
  const eventIdx = ((features >> 29n) & 1n) === 1n;
  let done = 0;
  let counting = false;
  const sectors = IMAGE_SIZE / 512 - 8;
  const mem = ram.memory;
  const rings = [];
  for (let q = 0; q < queues; q++) {
    const base = 0x10_0000 + q * 0x40_0000;
    const slots = [];
    for (let i = 0; i < QD; i++) {
      const hdr = base + i * 0x2000;
      slots.push({ hdr, data: hdr + 0x1000, status: hdr + 16 });
    }
    const submit = (ring, i) => {
      const s = slots[i];
      mem.write(s.hdr, encodeRequestHeader({ type: RequestType.IN, sector: BigInt(Math.floor(Math.random() * sectors) & ~7) }));
      ring.driver.add([{ addr: s.hdr, len: REQUEST_HEADER_SIZE }], [{ addr: s.data, len: 4096 }, { addr: s.status, len: 1 }], i);
    };
    const ring = await fe.setupVring(q, {
      memory: ram, size: RING, address: 0x1_0000 + q * 0x1_0000, eventIdx, enable: false,
      onCall: (r) => {
        let n = 0;
        for (let u = r.driver.getBuf(); u !== null; u = r.driver.getBuf()) {
          n++;
          submit(r, u.token);
        }
        if (counting) done += n;
        if (n > 0) r.kick();
      },
    });
    rings.push({ ring, submit });
  }
  for (let q = 0; q < queues; q++) await fe.setVringEnable(q, true);
  for (const { ring, submit } of rings) {
    for (let i = 0; i < QD; i++) submit(ring, i);
    ring.kick();
  }
  await sleep(500); // warm up (workers start, JIT)
  const t0 = performance.now();
  const c0 = cpuTicks(child.pid);
  const f0 = process.cpuUsage();
  const t0s = threadTicks(child.pid);
  counting = true;
  await sleep(SECONDS * 1000);
  counting = false;
  const secs = (performance.now() - t0) / 1000;
  const cpu = (cpuTicks(child.pid) - c0) / 100; // CLK_TCK 100
  const f1 = process.cpuUsage(f0);
  const threads = [...threadTicks(child.pid)].map(([tid, [name, t]]) => [name, (t - (t0s.get(tid)?.[1] ?? 0)) / 100 / secs]).filter(([, c]) => c >= 0.01).sort((a, b) => b[1] - a[1]);
  const feCores = (f1.user + f1.system) / 1e6 / secs;
  const ios = done;
  fe.close();
  ram.close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { iops: ios / secs, cpuUsPerIo: (cpu * 1e6) / Math.max(1, ios), cores: cpu / secs, feCores, threads };
}

const cases = [
  ['read4k/qd32/q1', 1, 0],
  ['read4k/qd32/q2', 2, 0],
  ['read4k/qd32/q2w', 2, 2],
  ['read4k/qd32/q1w', 1, 1],
];
const results = {};
try {
  for (let r = 0; r < RUNS; r++) {
    for (const [name, q, w] of cases) {
      const x = await run(q, w);
      (results[name] ??= []).push(x);
      console.log(`run ${r + 1} ${name.padEnd(16)} ${Math.round(x.iops).toString().padStart(7)} IOPS  ${x.cpuUsPerIo.toFixed(1).padStart(6)} µs CPU/IO  ${x.cores.toFixed(2)} cores (frontend ${x.feCores.toFixed(2)}; threads ${x.threads.map(([n, c]) => `${n} ${c.toFixed(2)}`).join(', ')})`);
    }
    const at = (n) => results[n][r].iops;
    console.log(`run ${r + 1} ratios: q2w/q1 ${(at('read4k/qd32/q2w') / at('read4k/qd32/q1')).toFixed(2)}  q2w/q1w ${(at('read4k/qd32/q2w') / at('read4k/qd32/q1w')).toFixed(2)}  q2/q1 ${(at('read4k/qd32/q2') / at('read4k/qd32/q1')).toFixed(2)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
