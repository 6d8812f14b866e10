// `pnpm bench guest [--json] [--runtime=S] [--rounds=N] [--size=MiB] [--qsd-cache=writeback|direct] [--no-build]`:
// fio inside a real Linux guest (libaio, direct=1: 4k randread and 1 MiB sequential read at QD1 and QD32) on a
// vhost-user-blk disk served by our daemon (vmv-vhost-user-blk) and by qemu-storage-daemon: same filled image,
// same boot recipe, same run, alternating backends each round. Prints the ratios vmv/qsd (higher is better).
// qemu-storage-daemon reads through the host page cache by default (cache.direct=off,aio=threads), as a daemon
// doing ordinary file reads does; --qsd-cache=direct uses O_DIRECT + Linux AIO instead (the recipe's anchor),
// which makes host storage latency part of every qsd request and is not a like-for-like comparison then.
// Until our daemon is built it says so and measures qemu-storage-daemon alone.
// Under TCG (no usable KVM) guest CPU emulation dominates: the ratios compare device paths, not absolute speed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REPO_ROOT, VMV_DAEMON_BIN, bootGuest, createImage, detectAccel, ensureGuestImage, ensureHostDeps, qsdBackend, vmvAvailable,
} from '../../guest/lib/guest.mjs';
import { fmt, table } from './_harness.mjs';

const CASES = ['randread4k/qd1', 'randread4k/qd32', 'seqread1m/qd1', 'seqread1m/qd32'];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function option(args, name, def) {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : def;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`bench guest: --${name} must be a positive number`);
  return v;
}

/** Builds our daemon's package when its sources are there but dist is not current (run.mjs does not know it). */
function buildDaemon(log) {
  const pkgJson = join(REPO_ROOT, 'packages', 'vhost-user-blk', 'package.json');
  if (!existsSync(pkgJson)) return;
  const name = JSON.parse(readFileSync(pkgJson, 'utf8')).name;
  log(`bench guest: building ${name}`);
  try {
    execFileSync('pnpm', ['exec', 'turbo', 'run', 'build', `--filter=${name}...`, '--output-logs=errors-only'], {
      cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
    });
  } catch {
    log(`bench guest: building ${name} failed; using whatever dist/ holds`);
  }
}

export default async function guestBench({ json, args }) {
  const log = (m) => (json ? process.stderr : process.stdout).write(`${m}\n`);
  const runtime = option(args, 'runtime', 5);
  const rounds = option(args, 'rounds', 1);
  const sizeMiB = option(args, 'size', 256);
  const qsdCache = (args.find((a) => a.startsWith('--qsd-cache=')) ?? '--qsd-cache=writeback').slice(12);
  const qsd = qsdBackend({ cache: qsdCache });
  if (!args.includes('--no-build')) buildDaemon(log);
  const deps = ensureHostDeps({ fio: true, quiet: true });
  if (!deps.ok) throw new Error(`bench guest: host packages missing:\n${deps.output}`);
  const img = await ensureGuestImage({ fio: true, log });
  const { accel, reason } = detectAccel();
  const haveVmv = vmvAvailable();
  const backends = haveVmv ? ['qsd', 'vmv'] : ['qsd'];
  if (!haveVmv) {
    log(`bench guest: our daemon is not built (${VMV_DAEMON_BIN} missing): measuring qemu-storage-daemon only; `
      + 'ratios are reported once packages/vhost-user-blk exists');
  }
  log(`bench guest: kernel ${img.kver}, accel ${accel} (${reason}), fio libaio direct=1, ${runtime} s per case + 1 s ramp, `
    + `${sizeMiB} MiB image filled with random data, ${rounds} round(s), backends ${backends.join(' + ')}, qsd cache=${qsdCache}`);

  const dir = mkdtempSync(join(tmpdir(), 'vmv-bench-guest-'));
  const image = join(dir, 'fio.raw');
  const samples = Object.fromEntries(backends.map((b) => [b, Object.fromEntries(CASES.map((c) => [c, []]))]));
  const boots = [];
  try {
    createImage(image, sizeMiB << 20, { fill: 'all' }); // a sparse file reads holes without I/O
    for (let round = 0; round < rounds; round++) {
      for (const backend of round % 2 ? [...backends].reverse() : backends) {
        const r = await bootGuest({
          machine: 'microvm', backend: backend === 'qsd' ? qsd : backend, queues: 1, tests: ['fio'], image, fio: true, guestImage: img,
          cmdline: [`fio.rt=${runtime}`, `fio.jobs=${CASES.join(',')}`],
          timeoutMs: (accel === 'tcg' ? 90_000 : 30_000) + CASES.length * (runtime + 5) * 1000,
        });
        if (!r.ok) {
          throw new Error(`bench guest: the ${backend} run failed: ${r.errors.join('; ')}\n${r.console.slice(-20).join('\n')}`);
        }
        boots.push({ backend, markerSeconds: r.markerSeconds, initSeconds: r.initSeconds });
        for (const f of r.fio) {
          if (samples[backend][f.case]) {
            samples[backend][f.case].push({ iops: Number(f.iops), mibps: Number(f.bw_kibps) / 1024, lat: Number(f.lat_mean_us) });
          }
        }
        log(`bench guest: round ${round + 1} ${backend}: boot to /init ${fmt(r.initSeconds, 2)} s, run ${fmt(r.markerSeconds, 1)} s`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const stat = (b, c, k) => median(samples[b]?.[c]?.map((s) => s[k]) ?? []);
  const results = {};
  const rows = [];
  for (const c of CASES) {
    const q = { iops: stat('qsd', c, 'iops'), mibps: stat('qsd', c, 'mibps'), lat: stat('qsd', c, 'lat') };
    const v = haveVmv ? { iops: stat('vmv', c, 'iops'), mibps: stat('vmv', c, 'mibps'), lat: stat('vmv', c, 'lat') } : null;
    const ratio = v && q.iops ? v.iops / q.iops : null;
    results[c] = {
      iops: v ? Math.round(v.iops) : null,
      ratioToQsd: ratio === null ? null : Number(ratio.toFixed(3)),
      mibps: v ? Number(v.mibps.toFixed(1)) : null,
      latUs: v ? Number(v.lat.toFixed(1)) : null,
      qsdIops: Math.round(q.iops),
      qsdMibps: Number(q.mibps.toFixed(1)),
      qsdLatUs: Number(q.lat.toFixed(1)),
    };
    rows.push({
      case: c, 'qsd IOPS': Math.round(q.iops), 'qsd MiB/s': fmt(q.mibps), 'qsd lat us': fmt(q.lat),
      'vmv IOPS': v ? Math.round(v.iops) : '-', 'vmv MiB/s': v ? fmt(v.mibps) : '-', 'vmv lat us': v ? fmt(v.lat) : '-',
      'vmv/qsd': ratio === null ? '-' : fmt(ratio, 2),
    });
  }
  if (!json) {
    table(rows, ['case', 'qsd IOPS', 'qsd MiB/s', 'qsd lat us', 'vmv IOPS', 'vmv MiB/s', 'vmv lat us', 'vmv/qsd']);
    if (!haveVmv) console.log('vmv: not built; no ratios (qemu-storage-daemon figures only)');
  } else {
    console.log(JSON.stringify({
      bench: 'guest', accel, runtimeSeconds: runtime, rounds, imageMiB: sizeMiB, qsdCache, vmv: haveVmv,
      ...(haveVmv ? {} : { note: `our daemon is not built (${VMV_DAEMON_BIN} missing): qsd figures only` }),
      boots, results,
    }));
  }
}
