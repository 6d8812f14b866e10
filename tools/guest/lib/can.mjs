// The virtio-can device's real-guest tests (trixie: QEMU 11.1's generic vhost-user-test-device-pci with virtio-id=36,
// the out-of-tree virtio_can driver, Debian's can-utils), on vmv-vhost-user-can; the host program is a client of the
// daemon's frame socket (frames as lines of can-utils text), the host's checks of the controllers' state go through
// its control socket.
//   can/frames  can0 comes up (START seen by the host); cansend's classic, extended, RTR and CAN FD frames reach the
//               host byte for byte and in order, and the host's reach candump; 10,000 frames each way in a burst (cangen
//               with incrementing ids and data; the host as fast as the bus takes them) arrive complete and in order;
//               ip link set can0 down and up are a STOP and a START the host counts, and frames flow again after.
//   can/group   two guests booted at once on one bus (-c 2, --can-devices "can0 can0"): each sees the other's 50 frames
//               in order and its own only once (the kernel's local echo; rx_packets counts the device's deliveries:
//               the other's frames and the host's start frame, none of its own), and the host sees all 100.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootGuest } from './boot.mjs';
import { runCheck } from './checks.mjs';
import { guestInitrd } from './image.mjs';
import { REPO_ROOT, daemonControl } from './util.mjs';

/** The daemon (built: packages/vhost-user-can/dist). */
export const CAN_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-can', 'dist', 'cjs', 'bin.js');

const MODULES = ['virtio_can', 'can-raw'];
const PROGRAMS = ['candump', 'cansend', 'cangen'];
/** QEMU has no vhost-user-can device: the generic one (txq, rxq, controlq; config le16 status). */
const FRONTEND = (c) => `vhost-user-test-device-pci,chardev=${c},virtio-id=36,num_vqs=3,config_size=2,vq_size=256`;
const md5 = (s) => createHash('md5').update(s).digest('hex');
const hex = (bytes) => Buffer.from(bytes).toString('hex').toUpperCase();

/** The guest's cansend frames: each kind of frame virtio-can carries. */
const TX = ['123#DEADBEEF', '7FF#', '1FFFFFFF#0102030405060708', '00000123#11', '321#R', '456#R4', '0AB##0112233',
  `0AC##0${hex(Array.from({ length: 12 }, (_, i) => i))}`, `1ABCDEF0##0${hex(Array.from({ length: 64 }, (_, i) => 255 - i))}`];
/** The host's frames to the guest. */
const RX = ['100#', '5A5#A5A5A5A5A5A5A5A5', '1F334455#CAFE', '00000042#R8', '7E8##0' + hex(Array.from({ length: 48 }, (_, i) => i * 5)), '7E9##0AA'];
const BURST = 10000;
/** cangen -I i -D i -L 8: the k-th frame has id k (11 bits) and a little-endian u64 k for data. */
const cangenFrame = (k) => {
  const d = Buffer.alloc(8);
  d.writeBigUInt64LE(BigInt(k));
  return `${(k & 0x7ff).toString(16).toUpperCase().padStart(3, '0')}#${hex(d)}`;
};
/** The host's burst: id k mod 0x800, a big-endian u32 k. */
const hostBurstFrame = (k) => {
  const d = Buffer.alloc(4);
  d.writeUInt32BE(k);
  return `${((k * 7) & 0x7ff).toString(16).toUpperCase().padStart(3, '0')}#${hex(d)}`;
};
/** Linux marks CAN FD frames it receives with CANFD_FDF, which candump prints as the flags digit: not a frame byte. */
const normalize = (line) => line.replace(/##[0-9A-F]/, '##0');

/** A client of the frame socket: the frames it got, and a write that resolves once the socket took the bytes. */
function frameClient(path) {
  const socket = connect(path);
  const lines = [];
  let pending = '';
  let wake = null;
  socket.setEncoding('latin1');
  socket.on('data', (d) => {
    pending += d;
    const parts = pending.split('\n');
    pending = parts.pop();
    lines.push(...parts);
    wake?.();
  });
  socket.on('error', () => {});
  const opened = new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  return {
    lines,
    opened,
    write: (text) => new Promise((resolve) => { if (socket.write(text)) resolve(); else socket.once('drain', resolve); }),
    /** Resolves once `n` lines came, or after `ms` (then the caller reports what is missing). */
    until: (n, ms) => new Promise((resolve) => {
      const t = setTimeout(() => { wake = null; resolve(); }, ms);
      wake = () => { if (lines.length >= n) { clearTimeout(t); wake = null; resolve(); } };
      wake();
    }),
    close: () => socket.destroy(),
  };
}

/** Polls the daemon's status until `cond(sockets)` holds (a hang fails at `ms`). */
async function statusUntil(ctl, cond, ms = 120_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await daemonControl(ctl, 'status');
    if (cond(s.sockets)) return s;
    if (Date.now() > deadline) throw new Error(`status never showed what was waited for: ${JSON.stringify(s.sockets.map((x) => ({ state: x.state, ...x.stats })))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * can/frames: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function canFramesCheck(img, hooks = {}) {
  const name = `${img.platform.name}/can/frames`;
  const st = { ctl: null, frames: null, client: null, chain: Promise.resolve(), failures: [], seen: {} };
  const step = (what, fn) => {
    st.chain = st.chain.then(fn).catch((e) => st.failures.push(`${what}: ${e.message}`));
  };
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: MODULES, packages: ['can-utils'], programs: PROGRAMS,
    devices: [{
      name: 'vmv-can',
      // -s P listens on P0, as vhost-device-can does
      socketFile: 'can.sock0',
      argv: ({ socket }) => {
        st.ctl = `${socket}.ctl`;
        st.frames = `${socket}.frames`;
        return [process.execPath, CAN_DAEMON_BIN, '-s', socket.slice(0, -1), '--can-devices', 'can0', '--frame-socket', st.frames, '--control-socket', st.ctl];
      },
      qemuDevice: FRONTEND,
    }],
    tests: ['can'], cmdline: [`can.tx=${TX.join(',')}`, `can.rx.n=${RX.length}`, `can.burst=${BURST}`],
    timeoutMs: 600_000,
    onConsoleLine(line, secs, run) {
      hooks.onConsoleLine?.(line, secs, run);
      const m = /^GUEST-CAN (\S+)(?: (\S+))?(?: (\d+))?/.exec(line);
      if (!m) return;
      if (m[1] === 'hello') {
        step('hello', async () => {
          st.client = frameClient(st.frames);
          await st.client.opened;
          st.seen.start = (await statusUntil(st.ctl, (s) => s[0].state === 'started')).sockets[0].stats;
          await st.client.write('000#\n');
        });
      } else if (m[1] === 'listening' && m[2] === 'rx') {
        step('frames to the guest', () => st.client.write(`${RX.join('\n')}\n`));
      } else if (m[1] === 'listening' && m[2] === 'burst') {
        step('burst to the guest', async () => {
          for (let k = 0; k < BURST; k += 500) await st.client.write(`${Array.from({ length: Math.min(500, BURST - k) }, (_, i) => hostBurstFrame(k + i)).join('\n')}\n`);
        });
      } else if (m[1] === 'down') {
        step('STOP', async () => void (st.seen.stop = (await statusUntil(st.ctl, (s) => s[0].stats.stops >= 1)).sockets[0]));
      } else if (m[1] === 'up-again') {
        step('START again', async () => {
          st.seen.restart = (await statusUntil(st.ctl, (s) => s[0].stats.starts >= 2 && s[0].state === 'started')).sockets[0];
          await st.client.write('7E0#0102\n');
        });
      }
    },
    async verify(r) {
      await st.chain;
      const v = r.values;
      const e = [...st.failures];
      if (v['can.done'] !== '1') return [...e, 'the guest did not finish'];
      const eq = (what, got, want) => { if (String(got) !== String(want)) e.push(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`); };
      eq('can0 after ip link set up', v['can.up'], 'up mtu=72');
      eq('the host\'s hello frame at the guest', v['can.hello'], '000#');
      const host = st.client?.lines ?? [];
      await st.client?.until(TX.length + BURST, 60_000);
      eq('cansend\'s frames at the host, in order', host.slice(0, TX.length).join(','), TX.join(','));
      eq('the host\'s frames at candump, in order', v['can.rx'].split(',').filter((x) => x).map(normalize).join(','), RX.join(','));
      const burstTx = host.slice(TX.length, TX.length + BURST);
      const firstBad = burstTx.findIndex((l, k) => l !== cangenFrame(k));
      eq('cangen\'s burst at the host: frames', burstTx.length, BURST);
      if (firstBad >= 0) e.push(`cangen's burst at the host: frame ${firstBad} is ${burstTx[firstBad]}, expected ${cangenFrame(firstBad)}`);
      const want = Array.from({ length: BURST }, (_, k) => hostBurstFrame(k));
      eq('the host\'s burst at candump: frames', v['can.burst.count'], BURST);
      eq('the host\'s burst at candump: first, last', `${v['can.burst.first']} ${v['can.burst.last']}`, `${want[0]} ${want[BURST - 1]}`);
      eq('the host\'s burst at candump, in order (md5)', v['can.burst.md5'], md5(`${want.join('\n')}\n`));
      eq('the guest\'s controller when it sent its first frame', st.seen.start && `${st.seen.start.starts} start, ${st.seen.start.stops} stops`, '1 start, 0 stops');
      eq('STOP (ip link set can0 down) at the host', st.seen.stop && `stops=${st.seen.stop.stats.stops}`, 'stops=1');
      eq('START again (ip link set can0 up) at the host', st.seen.restart && `${st.seen.restart.state} starts=${st.seen.restart.stats.starts}`, 'started starts=2');
      eq('the frame after the restart at candump', v['can.after'], '7E0#0102');
      eq('frames at the host beyond the guest\'s (none: the host gets no echo of its own)', host.length, TX.length + BURST);
      const end = await daemonStatsFromLog(r);
      summary = `can0 ${v['can.up']}; ${TX.length} frames cansend -> host and ${RX.length} host -> candump byte for byte; ${BURST} frames each way in a burst, in order; `
        + `STOP and START counted by the host, a frame after; guest ${v['can.stats']}${end ? `; daemon: ${end}` : ''}`;
      return e;
    },
    summary: () => summary,
    cleanup: () => st.client?.close(),
  });
}

/** The daemon's closing line for its one socket (frames sent and received), from its log. */
async function daemonStatsFromLog(r) {
  const { readFileSync } = await import('node:fs');
  const e = r.backendExits?.find((x) => x.backend === 'vmv-can');
  if (!e) return null;
  return /sent \d+ frames .*received \d+ \(\d+ dropped\)/.exec(readFileSync(e.log, 'utf8'))?.[0] ?? null;
}

/**
 * can/group: two guests on one bus; see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 * @param {{n?: number}} [o]  frames each guest sends
 */
export async function canGroupCheck(img, hooks = {}, { n = 50 } = {}) {
  const name = `${img.platform.name}/can/group`;
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'vmv-can-'));
  const sock = join(dir, 'can.sock');
  const ctl = join(dir, 'can.ctl');
  const framesPath = join(dir, 'can.frames');
  const errors = [];
  const results = [];
  let daemon = null;
  let client = null;
  let log = '';
  const ready = new Set();
  let go = null;
  try {
    daemon = spawn(process.execPath, [CAN_DAEMON_BIN, '-s', sock, '-c', '2', '--can-devices', 'can0 can0', '--frame-socket', framesPath, '--control-socket', ctl], { stdio: ['ignore', 'ignore', 'pipe'] });
    daemon.stderr.on('data', (d) => (log += d));
    for (let i = 0; i < 600 && !/control socket: listening/.test(log) && daemon.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50)); // a bound for a hang
    if (!/control socket: listening/.test(log)) throw new Error(`the daemon did not come up: ${log}`);
    client = frameClient(framesPath);
    await client.opened;
    const initrd = await guestInitrd(img, { modules: MODULES, packages: ['can-utils'], programs: PROGRAMS, log: hooks.log });
    const boot = (me, other) => bootGuest({
      guestImage: img, initrd, machine: 'q35', disks: [], tests: ['can-group'], keepWorkDir: true, timeoutMs: 600_000,
      cmdline: [`can.me=${me}`, `can.other=${other}`, `can.n=${n}`],
      onConsoleLine: (line, secs, run) => {
        hooks.onConsoleLine?.(`[${me}] ${line}`, secs, run);
        if (!/^GUEST-CAN-GROUP ready/.test(line)) return;
        ready.add(me);
        // both listening and both controllers started: the start frame
        if (ready.size === 2) go = statusUntil(ctl, (s) => s.every((x) => x.state === 'started')).then(() => client.write('700#00\n')).catch((e) => errors.push(`the start frame: ${e.message}`));
      },
      devices: [{ name: `vmv-can-${me}`, socket: `${sock}${me - 1}`, qemuDevice: FRONTEND }],
    });
    results.push(...(await Promise.all([boot(1, 2), boot(2, 1)])));
    await go;
    const [a, b] = results;
    for (const [r, me] of [[a, 1], [b, 2]]) errors.push(...r.errors.map((e) => `guest ${me}: ${e}`));
    const sent = (me) => Array.from({ length: n }, (_, j) => `${me}${j.toString(16).toUpperCase().padStart(2, '0')}#${me.toString(16).padStart(2, '0')}${j.toString(16).toUpperCase().padStart(2, '0')}`);
    if (a.marker && b.marker) {
      for (const [r, me, other] of [[a, 1, 2], [b, 2, 1]]) {
        const v = r.values;
        if (v['can.group.other'] !== md5(`${sent(other).join('\n')}\n`)) errors.push(`guest ${me}: guest ${other}'s ${n} frames arrived as md5 ${v['can.group.other']} (${v['can.group.other.count']} of them), not in order or not whole`);
        if (v['can.group.mine'] !== String(n)) errors.push(`guest ${me}: its own frames appear ${v['can.group.mine']} times in its candump, expected ${n} (the kernel's local echo, once each): the device echoed them`);
        if (v['can.group.rx'] !== String(n + 1)) errors.push(`guest ${me}: rx_packets ${v['can.group.rx']}, expected ${n + 1} (the other's ${n} and the start frame)`);
      }
      await client.until(2 * n, 60_000);
      for (const me of [1, 2]) {
        const got = client.lines.filter((l) => l.startsWith(`${me}`) && l.length === 8);
        if (got.join(',') !== sent(me).join(',')) errors.push(`the host got guest ${me}'s frames as ${got.slice(0, 5).join(',')}... (${got.length}), expected ${n} in order`);
      }
      if (client.lines.length !== 2 * n) errors.push(`the host got ${client.lines.length} frames, the guests sent ${2 * n}`);
    }
  } catch (e) {
    errors.push(`harness: ${e.stack ?? e.message}`);
  } finally {
    client?.close();
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      const code = await new Promise((r) => daemon.once('exit', (c) => r(c)));
      if (code !== 0) errors.push(`the daemon exited with ${code} on SIGTERM: ${log.split('\n').slice(-5).join(' | ')}`);
    }
  }
  const ok = errors.length === 0;
  let details = ok ? `two guests, ${n} frames each: each got the other's in order and none of its own from the device (rx_packets ${n + 1}); the host got all ${2 * n}` : errors.join('; ');
  if (!ok) for (const r of results) details += `\n--- console of ${r.workDir} (last 15 lines) ---\n${r.console.slice(-15).join('\n')}`;
  if (ok) for (const r of results) rmSync(r.workDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  return { name, ok, seconds: (performance.now() - t0) / 1000, details };
}
