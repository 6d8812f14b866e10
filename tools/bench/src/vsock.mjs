// `pnpm bench vsock [--platform=trixie|bookworm] [--json] [--rounds=N] [--bytes=MiB] [--trips=N] [--tx-buffer-size=B] [--no-build]`:
// virtio-vsock stream throughput and latency in a real Linux guest on vmv-vhost-user-vsock (packages/vhost-user-vsock)
// behind QEMU's vhost-user-vsock-pci, against the guest kernel's own vsock_loopback transport (CID 1) in the same boot.
//
// One guest (q35, 2 vCPUs) runs tools/guest/guest/tests/vsock-bench.sh. Throughput: socat with 64 KiB reads and
// writes moves --bytes MiB host to guest and guest to host, over one connection and over eight at once (the same bytes
// split evenly), timed on the guest's clock around the guest's socat(s); the vmv far end is this program on the
// hybrid unix socket (64 KiB writes), the loopback far end a second guest socat. Each round runs every case on both
// transports (which goes first alternates); round 0 is a warm-up in which every receiver counts its bytes (checked
// here). The figure is the median over --rounds of the paired ratio vmv/loopback (higher is better). The daemon's CPU
// time (utime+stime from /proc/<pid>/stat) is read before and after each vmv case: ms of host CPU per MB moved.
// Latency: 1-byte round trips timed here (host clock) through the hybrid socket, --trips per round each to a guest
// echo (socat PIPE on vmv port 6200) and to a guest relay that forwards over vsock_loopback to an echo (port 6201);
// relayed minus direct estimates one in-guest loopback round trip (plus a socat relay hop): the latency baseline.
// Under TCG (no usable KVM) the guest's CPU emulation dominates; the ratios compare transports in the same guest.
// --tx-buffer-size is passed to the daemon (its guest-to-host credit per connection; default the daemon's). MB is 10^6 bytes.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootGuest, detectAccel, ensureGuestImage, ensureHostDeps, guestInitrd } from '../../guest/lib/guest.mjs';
import { MODULES, VSOCK_DAEMON_BIN } from '../../guest/lib/vsock.mjs';
import { fmt, now, table } from './_harness.mjs';

const CONNS = 8;
const CHUNK = 64 << 10;
const CASES = [
  { id: 'h2g1', label: 'host->guest, 1 conn' },
  { id: `h2g${CONNS}`, label: `host->guest, ${CONNS} conns` },
  { id: 'g2h1', label: 'guest->host, 1 conn' },
  { id: `g2h${CONNS}`, label: `guest->host, ${CONNS} conns` },
];
const PORT = { sink: 5000, source1: 5001, sourceN: 5002, echo: 6200, relay: 6201 };
const WARMUP_TRIPS = 50;
const LAT_BLOCK = 100;

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
const round3 = (x) => (x === null ? null : Number(x.toFixed(3)));

function option(args, name, def) {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : def;
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`bench vsock: --${name} must be a positive integer`);
  return v;
}

/** The daemon's pid: the process whose command line names our daemon and this run's hybrid socket. */
function findDaemon(uds) {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd;
    try { cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.includes(VSOCK_DAEMON_BIN) && cmd.includes(uds)) return Number(d);
  }
  return null;
}

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat, after the command name). */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/**
 * The host ends of the throughput cases on the hybrid socket. Bytes are booked to `current.key` (the case the guest
 * last announced): `sink` counts what each guest connection sent and closes at its EOF; `source(bytes)` writes `bytes`
 * zeros in 64 KiB writes (waiting for drain) to each guest connection, then ends it.
 */
function hostEnds(uds, bytes) {
  const current = { key: null };
  const book = new Map(); // key -> {conns, bytes, errors}
  const entry = () => {
    const k = current.key ?? 'outside a case';
    if (!book.has(k)) book.set(k, { conns: 0, bytes: 0, errors: [] });
    return book.get(k);
  };
  const chunk = Buffer.alloc(CHUNK);
  const sink = createServer({ allowHalfOpen: true }, (s) => {
    const e = entry();
    let got = 0;
    s.on('data', (d) => { got += d.length; });
    s.on('end', () => { e.conns++; e.bytes += got; s.end(); });
    s.on('error', (err) => e.errors.push(`sink: ${err.message}`));
  });
  const source = (size) => createServer((s) => {
    const e = entry();
    let left = size;
    s.on('error', (err) => e.errors.push(`source: ${err.message}`));
    const pump = () => {
      while (left > 0) {
        const n = Math.min(CHUNK, left);
        left -= n;
        if (!s.write(n === CHUNK ? chunk : chunk.subarray(0, n))) return void s.once('drain', pump);
      }
      s.end(() => { e.conns++; e.bytes += size; });
    };
    pump();
  });
  const servers = [[sink, PORT.sink], [source(bytes), PORT.source1], [source(bytes / CONNS), PORT.sourceN]];
  for (const [srv, port] of servers) srv.listen(`${uds}_${port}`);
  return { current, book, close: () => servers.forEach(([srv]) => srv.close()) };
}

/** Connects through the hybrid socket to guest port `port`; resolves with the socket once the daemon said OK. */
function connectGuest(uds, port) {
  return new Promise((resolve, reject) => {
    const s = createConnection(uds);
    let line = '';
    const onData = (d) => {
      line += d.toString('latin1');
      if (!line.includes('\n')) return;
      s.off('data', onData);
      if (!/^OK \d+\n$/.test(line)) return reject(new Error(`CONNECT ${port}: the daemon answered ${JSON.stringify(line)}`));
      resolve(s);
    };
    s.on('connect', () => s.write(`CONNECT ${port}\n`));
    s.on('data', onData);
    s.once('error', reject);
  });
}

/** `trips` sequential 1-byte round trips on `s` after `warmup` untimed ones; resolves with each one's microseconds. */
function roundTrips(s, trips, warmup) {
  return new Promise((resolve, reject) => {
    const us = [];
    const byte = Buffer.from('x');
    let i = 0;
    let t0 = 0;
    const next = () => {
      if (i === trips + warmup) {
        s.off('data', onData).off('end', onEnd).off('error', reject);
        return resolve(us);
      }
      t0 = now();
      s.write(byte);
    };
    const onData = (d) => {
      if (d.length !== 1) return reject(new Error(`round trip ${i}: ${d.length} bytes came back for one`));
      if (i >= warmup) us.push((now() - t0) / 1000);
      i++;
      next();
    };
    const onEnd = () => reject(new Error(`the echo closed after ${i} round trips`));
    s.on('data', onData).once('error', reject).once('end', onEnd);
    next();
  });
}

export default async function vsockBench({ json, args }) {
  const log = (m) => (json ? process.stderr : process.stdout).write(`${m}\n`);
  const rounds = option(args, 'rounds', 3);
  const mib = option(args, 'bytes', 64);
  const trips = option(args, 'trips', 1000);
  const txBuffer = args.some((x) => x.startsWith('--tx-buffer-size=')) ? option(args, 'tx-buffer-size', 0) : null;
  const pi = args.indexOf('--platform');
  const pa = args.find((x) => x.startsWith('--platform='));
  const platform = pi >= 0 ? args[pi + 1] : pa ? pa.slice(11) : 'trixie';
  if (!['bookworm', 'trixie'].includes(platform)) throw new RangeError('bench vsock: --platform must be bookworm or trixie');
  const bytes = mib << 20;
  if (!existsSync(VSOCK_DAEMON_BIN)) throw new Error(`bench vsock: the daemon is not built (${VSOCK_DAEMON_BIN} missing)`);
  const deps = ensureHostDeps({ quiet: true, platforms: [platform] });
  if (!deps.ok) throw new Error(`bench vsock: host packages missing:\n${deps.output}`);
  const img = await ensureGuestImage({ platform, log });
  const initrd = await guestInitrd(img, { modules: [...MODULES, 'vsock_loopback'], packages: ['socat'], programs: ['socat'], log });
  const { accel, reason } = detectAccel();
  const tck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  log(`bench vsock: platform ${platform} (${img.platform.title}), kernel ${img.kver}, accel ${accel} (${reason})`
    + `${accel === 'tcg' ? ': UNDER TCG, the guest CPU is emulated; absolute figures are TCG figures, the ratios compare transports in one guest' : ''}; `
    + `${mib} MiB per case, ${rounds} timed round(s) + a counted warm-up, ${trips} round trips per path per round`
    + `${txBuffer ? `, daemon --tx-buffer-size ${txBuffer}` : ''}`);

  const dir = mkdtempSync(join(tmpdir(), 'vmv-bench-vsock-'));
  const uds = join(dir, 'v.sock');
  const ends = hostEnds(uds, bytes);
  let pid = null;
  const cpu = new Map(); // "path case round" -> ticks at BEGIN, then used ticks
  const secs = new Map(); // "path case round" -> guest seconds
  const lat = []; // {round, direct: us[], relayed: us[], ticks}
  const hostErrors = [];
  const clock = []; // [guest uptime, host seconds] of END lines: the guest clock's rate against the host's
  const latency = async (round) => {
    const t = pid ? cpuTicks(pid) : null;
    const opened = []; // ended whatever happens: the guest waits for its echoes to see EOF
    try {
      const direct = await connectGuest(uds, PORT.echo);
      opened.push(direct);
      const relay = await connectGuest(uds, PORT.relay);
      opened.push(relay);
      const r = { round, direct: [], relayed: [] };
      // alternate which path goes first, in blocks of 100 round trips
      for (let b = 0; b < Math.ceil(trips / LAT_BLOCK); b++) {
        const order = (b + round) % 2 ? [['relayed', relay], ['direct', direct]] : [['direct', direct], ['relayed', relay]];
        const n = Math.min(LAT_BLOCK, trips - b * LAT_BLOCK);
        for (const [k, s] of order) r[k].push(...await roundTrips(s, n, b === 0 ? WARMUP_TRIPS : 0));
      }
      r.ticks = t === null ? null : cpuTicks(pid) - t;
      lat.push(r);
    } finally {
      for (const s of opened) s.end();
    }
  };
  let r;
  try {
    const timeoutMs = 600_000 + (rounds + 1) * mib * 8 * 2 * 1000 / 4 + rounds * trips * 8; // a hang bound, never a gate
    r = await bootGuest({
      guestImage: img, initrd, machine: 'q35', tests: ['vsock-bench'], timeoutMs, keepWorkDir: true,
      cmdline: [`vb.bytes=${bytes}`, `vb.conns=${CONNS}`, `vb.rounds=${rounds}`],
      devices: [{
        name: 'vmv-vsock',
        argv: ({ socket }) => [process.execPath, VSOCK_DAEMON_BIN, '--guest-cid', '3', '--socket', socket, '--uds-path', uds,
          ...(txBuffer ? ['--tx-buffer-size', String(txBuffer)] : [])],
        qemuDevice: (c) => `vhost-user-vsock-pci,chardev=${c}`,
      }],
      onConsoleLine(line, seconds) {
        let m = /^VBENCH-BEGIN (\S+) (\S+) (\d+)$/.exec(line);
        if (m) {
          pid ??= findDaemon(uds);
          const key = `${m[1]} ${m[2]} ${m[3]}`;
          ends.current.key = key;
          if (m[1] === 'vmv' && pid) cpu.set(key, cpuTicks(pid));
          return;
        }
        m = /^VBENCH-END (\S+) (\S+) (\d+) ([\d.]+) ([\d.]+)$/.exec(line);
        if (m) {
          const key = `${m[1]} ${m[2]} ${m[3]}`;
          if (m[1] === 'vmv' && pid && cpu.has(key)) cpu.set(key, cpuTicks(pid) - cpu.get(key));
          secs.set(key, Number(m[5]) - Number(m[4]));
          clock.push([Number(m[5]), seconds]);
          ends.current.key = null;
          return;
        }
        m = /^VBENCH-LAT (\d+)$/.exec(line);
        if (m) latency(Number(m[1])).catch((e) => hostErrors.push(`latency round ${m[1]}: ${e.message}`));
      },
    });
  } finally {
    ends.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const errors = [...r.errors, ...hostErrors];
  if (pid === null) errors.push('the daemon\'s process was never found in /proc');
  // the warm-up's counts, and every vmv case's bytes at the host end
  for (const c of CASES) {
    const k = Number(c.id.slice(3));
    const size = bytes / k;
    for (let j = 1; j <= k; j++) {
      for (const tag of [c.id.startsWith('h2g') ? `vmv.${c.id}.${j}` : null, `lo.${c.id}.${j}`]) {
        if (tag && r.values[`vb.count.${tag}`] !== String(size)) errors.push(`warm-up ${tag}: the guest received ${r.values[`vb.count.${tag}`]} bytes, not ${size}`);
      }
    }
    for (let round = 0; round <= rounds; round++) {
      const e = ends.book.get(`vmv ${c.id} ${round}`);
      if (!e || e.conns !== k || e.bytes !== bytes || e.errors.length) {
        errors.push(`vmv ${c.id} round ${round}: the host end saw ${e?.conns ?? 0} connection(s), ${e?.bytes ?? 0} bytes${e?.errors.length ? `, ${e.errors.join(', ')}` : ''}; expected ${k}, ${bytes}`);
      }
    }
  }
  if (ends.book.has('outside a case')) errors.push('a connection reached the host outside a case');
  if (r.values['vb.done'] !== String(rounds)) errors.push(`the guest script did not finish (vb.done=${r.values['vb.done']})`);
  if (lat.length !== rounds) errors.push(`${lat.length} latency rounds of ${rounds} completed`);
  if (errors.length) {
    throw new Error(`bench vsock: ${errors.join('; ')}\n--- console (last 30 lines; logs in ${r.workDir}) ---\n${r.console.slice(-30).join('\n')}`);
  }
  rmSync(r.workDir, { recursive: true, force: true });

  const mbps = (path, id, round) => bytes / 1e6 / secs.get(`${path} ${id} ${round}`);
  const results = {};
  const rows = [];
  for (const c of CASES) {
    const roundsList = Array.from({ length: rounds }, (_, i) => i + 1);
    const vmv = roundsList.map((i) => mbps('vmv', c.id, i));
    const lo = roundsList.map((i) => mbps('loopback', c.id, i));
    const ratios = roundsList.map((_, i) => vmv[i] / lo[i]);
    const cpuMsPerMB = median(roundsList.map((i) => (cpu.get(`vmv ${c.id} ${i}`) / tck) * 1000 / (bytes / 1e6)));
    const ratio = median(ratios);
    results[c.id] = {
      vmvMBps: Number(median(vmv).toFixed(1)), loopbackMBps: Number(median(lo).toFixed(1)), ratioToLoopback: round3(ratio),
      ratios: ratios.map(round3), daemonCpuMsPerMB: round3(cpuMsPerMB),
    };
    rows.push({
      case: c.label, 'vmv MB/s': fmt(median(vmv)), 'loopback MB/s': fmt(median(lo)), 'vmv/loopback': fmt(ratio, 2),
      range: `${fmt(Math.min(...ratios), 2)}..${fmt(Math.max(...ratios), 2)}`, 'daemon CPU ms/MB': fmt(cpuMsPerMB, 2),
    });
  }
  const direct = lat.flatMap((x) => x.direct);
  const relayed = lat.flatMap((x) => x.relayed);
  const dMed = median(direct);
  const rMed = median(relayed);
  const loopEst = rMed - dMed;
  const cpuUsPerTrip = median(lat.map((x) => (x.ticks / tck) * 1e6 / (x.direct.length + x.relayed.length)));
  results.latency = {
    trips: direct.length, directMedianUs: round3(dMed), directP99Us: round3(quantile(direct, 0.99)),
    relayedMedianUs: round3(rMed), relayedP99Us: round3(quantile(relayed, 0.99)), loopbackEstimateUs: round3(loopEst),
    ratioToLoopback: round3(dMed / loopEst), daemonCpuUsPerTrip: round3(cpuUsPerTrip),
  };
  // the guest clock's rate against the host's, from the first and last END lines (1.00: the guest's seconds are host seconds)
  const clockRate = clock.length > 1 ? (clock.at(-1)[0] - clock[0][0]) / (clock.at(-1)[1] - clock[0][1]) : null;
  if (!json) {
    table(rows, ['case', 'vmv MB/s', 'loopback MB/s', 'vmv/loopback', 'range', 'daemon CPU ms/MB']);
    console.log(`vmv/loopback: median of ${rounds} paired ratios (higher is better); range: the lowest and highest; MB = 10^6 bytes, guest clock`);
    console.log();
    table([{
      path: 'vmv (host echo trip)', 'median us': fmt(dMed), 'p99 us': fmt(quantile(direct, 0.99)),
    }, {
      path: 'vmv + relay over loopback', 'median us': fmt(rMed), 'p99 us': fmt(quantile(relayed, 0.99)),
    }, {
      path: 'loopback (relayed - vmv)', 'median us': fmt(loopEst), 'p99 us': '-',
    }], ['path', 'median us', 'p99 us']);
    console.log(`1-byte round trips, host clock, ${direct.length} per path; vmv/loopback latency ${fmt(dMed / loopEst, 2)} (lower is better); `
      + `daemon CPU ${fmt(cpuUsPerTrip, 1)} us per round trip`);
    console.log(`guest clock rate against the host's: ${clockRate === null ? '-' : fmt(clockRate, 3)}; platform ${platform}, kernel ${img.kver}, accel ${accel}`);
  } else {
    console.log(JSON.stringify({
      bench: 'vsock', platform, kernel: img.kver, accel, rounds, txBufferSize: txBuffer, bytesPerCase: bytes, conns: CONNS, writeBytes: CHUNK, tripsPerPath: direct.length,
      guestClockRate: round3(clockRate), results,
    }));
  }
}
