// The virtio-vsock device's real-guest tests: vmv-vhost-user-vsock (packages/vhost-user-vsock) behind QEMU's own
// vhost-user-vsock-pci (QEMU 7.2 and 11.1), the kernel's vmw_vsock_virtio_transport and Debian's socat
// (guest/tests/vsock.sh). The host side is the hybrid unix socket of Firecracker and vhost-device-vsock: the host
// listens on <uds>_<port> for guest connections and connects to <uds> with `CONNECT <port>\n` to reach the guest.
//   vsock/stream   guest to host and host to guest (64 MiB each way, md5-checked, the reader on each side stalled at
//                  random), 64 connections at once (each md5-checked), half-close (the guest's sending side shut down,
//                  the reply still arrives), a connection to a port nobody listens on refused at once, and the
//                  daemon's resident memory bounded meanwhile (its peak VmHWM against its first sample)
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { bootGuest } from './boot.mjs';
import { runCheck } from './checks.mjs';
import { guestInitrd } from './image.mjs';
import { REPO_ROOT } from './util.mjs';

/** The daemon (built: packages/vhost-user-vsock/dist). */
export const VSOCK_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-vsock', 'dist', 'cjs', 'bin.js');
const GUEST_CID = 3;
/** The guest's vsock modules. */
export const MODULES = ['vsock', 'vmw_vsock_virtio_transport_common', 'vmw_vsock_virtio_transport'];
const md5 = (b) => createHash('md5').update(b).digest('hex');

/** A seeded PRNG in [0, 1) (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A listener on `path` that keeps what each connection sent; `answer(data)` (optional) is written back at its EOF.
 * With `stall` (a PRNG) the reader stops at random: after one chunk in eight it pauses for up to 300 ms.
 */
function collector(path, answer, stall) {
  const got = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    const parts = [];
    s.on('data', (d) => {
      parts.push(d);
      if (stall && stall() < 1 / 8) {
        s.pause();
        setTimeout(() => s.resume(), Math.floor(stall() * 300));
      }
    });
    s.on('end', () => {
      const data = Buffer.concat(parts);
      got.push(data);
      if (answer) s.end(answer(data));
      else s.end();
    });
    s.on('error', () => {});
  });
  server.listen(path);
  return { got, close: () => server.close() };
}

/** Connects through the hybrid socket to guest port `port`, sends `data`, ends; resolves with the OK line. */
async function sendToGuest(uds, port, data) {
  // The guest says VSOCK-READY a moment after starting its listener in the background; on a loaded host the
  // listener may not be bound yet, and the guest refuses (the daemon closes before OK). A refused CONNECT sent
  // nothing, so it is tried again, for up to a minute.
  const until = performance.now() + 60_000;
  for (;;) {
    try {
      return await connectAndSend(uds, port, data);
    } catch (e) {
      if (!e.refused || performance.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** One CONNECT through the daemon's hybrid socket; rejects with `refused` set when it closes before OK. */
function connectAndSend(uds, port, data) {
  return new Promise((resolve, reject) => {
    const s = createConnection(uds);
    let line = '';
    s.on('connect', () => s.write(`CONNECT ${port}\n`));
    s.on('data', (d) => {
      if (line.endsWith('\n')) return;
      line += d.toString('latin1');
      if (!line.endsWith('\n')) return;
      if (!/^OK \d+\n$/.test(line)) return reject(new Error(`CONNECT ${port}: the daemon answered ${JSON.stringify(line)}`));
      s.end(data);
    });
    s.on('close', () => (line.endsWith('\n') ? resolve(line.trim()) : reject(Object.assign(new Error(`CONNECT ${port}: closed before OK`), { refused: line === '' }))));
    s.on('error', reject);
  });
}

/**
 * The daemon's peak resident memory (VmHWM, KiB) and its resident memory once it listens (its hybrid socket exists:
 * Node and the packages are loaded), read every 250 ms from /proc while it runs (found by its command line, which
 * names the run's uds path).
 */
function memoryWatch(uds) {
  const m = { first: null, peak: null };
  let pid = null;
  const timer = setInterval(() => {
    try {
      if (pid === null) {
        for (const d of readdirSync('/proc')) {
          if (!/^\d+$/.test(d)) continue;
          let cmd = '';
          try { cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8'); } catch { continue; }
          if (cmd.includes(VSOCK_DAEMON_BIN) && cmd.includes(uds)) { pid = d; break; }
        }
        if (pid === null || !existsSync(uds)) return;
      }
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
      m.first ??= rss;
      m.peak = hwm;
    } catch {
      pid = null; // exited (or not yet started)
    }
  }, 250);
  return { m, stop: () => clearInterval(timer) };
}

/**
 * vsock/stream on one platform.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 * @param {{bytes?: number, conns?: number, each?: number}} [o]  bytes each way, connections at once and bytes on each
 */
export function vsockStreamCheck(img, hooks = {}, { bytes = 64 << 20, conns = 64, each = 1 << 20, memoryBound = 64 << 10 } = {}) {
  const name = `${img.platform.name}/vsock/stream`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-vsock-'));
  const uds = join(dir, 'v.sock');
  const rand = prng(bytes ^ conns);
  const up = collector(`${uds}_5000`, (data) => md5(data), rand);
  const many = collector(`${uds}_5100`, (data) => md5(data), rand);
  const mem = memoryWatch(uds);
  const half = collector(`${uds}_5200`, (data) => md5(data));
  const down = randomBytes(bytes);
  let sent = null;
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: MODULES, packages: ['socat'], programs: ['socat'],
    devices: [{
      name: 'vmv-vsock',
      argv: ({ socket }) => [process.execPath, VSOCK_DAEMON_BIN, '--guest-cid', String(GUEST_CID), '--socket', socket, '--uds-path', uds],
      qemuDevice: (c) => `vhost-user-vsock-pci,chardev=${c}`,
    }],
    tests: ['vsock'], timeoutMs: 600_000, cmdline: [`vsock.bytes=${bytes}`, `vsock.conns=${conns}`, `vsock.each=${each}`],
    onConsoleLine(line, ...rest) {
      hooks.onConsoleLine?.(line, ...rest);
      const m = /^VSOCK-READY (\d+)/.exec(line);
      if (m) sent = sendToGuest(uds, Number(m[1]), down).catch((e) => e);
    },
    async verify(r) {
      const v = r.values;
      const e = [];
      const ok = await sent;
      if (ok instanceof Error || ok === null) e.push(`host to guest: ${ok?.message ?? 'the guest never said VSOCK-READY'}`);
      if (v['vsock.down'] !== md5(down) || v['vsock.down.bytes'] !== String(bytes)) e.push(`host to guest: the guest got ${v['vsock.down.bytes']} bytes, md5 ${v['vsock.down']}; the host sent ${bytes}, ${md5(down)}`);
      const got = up.got[0];
      if (v['vsock.up.reply'] !== v['vsock.up']) e.push(`guest to host: the host's md5 reached the guest as ${v['vsock.up.reply']}, the guest sent ${v['vsock.up']}`);
      if (up.got.length !== 1 || md5(got) !== v['vsock.up']) e.push(`guest to host: ${up.got.length} connections, ${got?.length} bytes, md5 ${got && md5(got)}; the guest sent md5 ${v['vsock.up']}`);
      const want = Array.from({ length: conns }, (_, k) => v[`vsock.many.${k + 1}`]).sort();
      const have = many.got.map((d) => md5(d)).sort();
      const replies = Array.from({ length: conns }, (_, k) => v[`vsock.many.${k + 1}.reply`]).sort();
      if (JSON.stringify(want) !== JSON.stringify(replies)) e.push(`many at once: the host's md5s reached the guest as ${replies.join(',')}`);
      if (JSON.stringify(want) !== JSON.stringify(have)) e.push(`many at once: the host got ${have.length} streams (${have.join(',')}), the guest sent ${want.join(',')}`);
      if (v['vsock.half.reply'] !== v['vsock.half'] || half.got.length !== 1) e.push(`half-close: the guest sent md5 ${v['vsock.half']}, the host's answer after EOF reached the guest as ${v['vsock.half.reply']}`);
      if (v['vsock.refused'] !== 'Connection_reset_by_peer') e.push(`a connection to a port nobody listens on: socat said ${v['vsock.refused']}, not Connection reset by peer`);
      mem.stop();
      const { first, peak } = mem.m;
      if (first === null || peak === null) e.push('the daemon\'s memory was never sampled');
      // less than one stream's worth: 64 MiB sent each way at a stalled reader were never held
      else if (peak - first > memoryBound) e.push(`the daemon's resident memory grew from ${first} KiB to a peak of ${peak} KiB: more than ${memoryBound} KiB for ${bytes} B streams`);
      summary = `${bytes} B each way md5-checked, readers stalled at random (OK line "${ok}"), ${conns} connections of ${each} B at once md5-checked, half-close answered, port 7 refused in ${v['vsock.refused.ms']} ms; daemon RSS ${first} KiB at start, peak ${peak} KiB`;
      return e;
    },
    summary: () => summary,
    cleanup: () => {
      mem.stop();
      for (const c of [up, many, half]) c.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/**
 * vsock/group: two guests (CIDs 3 and 4) booted at once on one daemon that also serves CID 5 (no guest behind it) in
 * another group (`--vm ...,groups=lab` twice and `groups=other`): each guest sends `bytes` to the other through the
 * daemon's guest-to-guest relay, md5-checked both ways; CID 3's connection to CID 5 is refused.
 */
export async function vsockGroupCheck(img, hooks = {}, { bytes = 8 << 20 } = {}) {
  const name = `${img.platform.name}/vsock/group`;
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'vmv-vsock-'));
  const vm = (cid, group) => `guest-cid=${cid},socket=${join(dir, `vhost${cid}.sock`)},uds-path=${join(dir, `vm${cid}.vsock`)},groups=${group}`;
  const errors = [];
  const results = [];
  let daemon = null;
  let log = '';
  try {
    daemon = spawn(process.execPath, [VSOCK_DAEMON_BIN, '--vm', vm(3, 'lab'), '--vm', vm(4, 'lab+spare'), '--vm', vm(5, 'other')], { stdio: ['ignore', 'ignore', 'pipe'] });
    daemon.stderr.on('data', (d) => (log += d));
    for (let i = 0; i < 600 && log.split('listening on').length < 4 && daemon.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50)); // a bound for a hang
    if (log.split('listening on').length < 4) throw new Error(`the daemon did not listen on its three sockets: ${log}`);
    const initrd = await guestInitrd(img, { modules: MODULES, packages: ['socat'], programs: ['socat'], log: hooks.log });
    const boot = (cid, peer) => bootGuest({
      guestImage: img, initrd, machine: 'q35', disks: [], tests: ['vsock-group'], keepWorkDir: true, onConsoleLine: hooks.onConsoleLine,
      cmdline: [`vsock.bytes=${bytes}`, `vsock.peer=${peer}`], timeoutMs: 300_000,
      devices: [{ name: `vmv-vsock-${cid}`, socket: join(dir, `vhost${cid}.sock`), qemuDevice: (c) => `vhost-user-vsock-pci,chardev=${c}` }],
    });
    results.push(...(await Promise.all([boot(3, 4), boot(4, 3)])));
    const [a, b] = results;
    for (const [r, cid] of [[a, 3], [b, 4]]) errors.push(...r.errors.map((e) => `guest ${cid}: ${e}`));
    if (a.marker && b.marker) {
      if (!a.values['vsock.sent'] || a.values['vsock.sent'] !== b.values['vsock.got']) errors.push(`3 to 4: sent md5 ${a.values['vsock.sent']}, received ${b.values['vsock.got']}`);
      if (!b.values['vsock.sent'] || b.values['vsock.sent'] !== a.values['vsock.got']) errors.push(`4 to 3: sent md5 ${b.values['vsock.sent']}, received ${a.values['vsock.got']}`);
      for (const [r, cid] of [[a, 3], [b, 4]]) if (r.values['vsock.reply'] !== r.values['vsock.sent']) errors.push(`${cid}: the peer's md5 came back as ${r.values['vsock.reply']}, ${cid} sent ${r.values['vsock.sent']}`);
      if (a.values['vsock.other'] !== 'Connection_reset_by_peer') errors.push(`3 to 5 (another group): socat said ${a.values['vsock.other']}, not Connection reset by peer`);
    }
  } catch (e) {
    errors.push(`harness: ${e.stack ?? e.message}`);
  } finally {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      const code = await new Promise((r) => daemon.once('exit', (c) => r(c)));
      if (code !== 0) errors.push(`the daemon exited with ${code} on SIGTERM: ${log.split('\n').slice(-5).join(' | ')}`);
    }
  }
  const ok = errors.length === 0;
  let details = ok ? `${bytes} B each way between two guests md5-checked; a guest of another group refused` : errors.join('; ');
  if (!ok) for (const r of results) details += `\n--- console of ${r.workDir} (last 15 lines) ---\n${r.console.slice(-15).join('\n')}`;
  if (ok) for (const r of results) rmSync(r.workDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  return { name, ok, seconds: (performance.now() - t0) / 1000, details };
}
