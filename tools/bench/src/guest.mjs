// `pnpm bench guest [--platform=bookworm|trixie] [--json] [--rounds=N] [--slices=N] [--runtime=S] [--size=MiB]
//                   [--cache=writeback|direct] [--mode=interleaved|separate] [--cases=randread4k/qd1,...] [--aa] [--no-build]`:
// fio inside a real Linux guest (libaio, direct=1: 4k randread and 1 MiB sequential read at QD1 and QD32) on a
// vhost-user-blk disk served by our daemon (vmv-vhost-user-blk) and by qemu-storage-daemon (qsd). Prints the
// ratios vmv/qsd (higher is better).
//
// Method (default, --mode=interleaved): each round boots ONE guest with TWO vhost-user-blk disks, one served by
// each backend, both over copies of the same image (filled with random data, in the host page cache, told apart
// by a marker in their last 4 KiB). For every case fio runs --slices times on each disk, alternating which disk
// goes first, and the order in which the disks are attached alternates between rounds. Both backends thus share
// the guest, the boot, and the host's load from second to second; each (round, slice) gives one paired ratio and
// the figure reported is the median of the paired ratios. --mode=separate is the older design (one boot per
// backend per round, alternating order), which on a shared host mixes the load of different minutes into the ratio.
// --aa replaces our daemon by a second qsd (through tools/guest/scripts/qsd-cli.sh): an A/A run, whose ratios
// show the bench's own noise (ideally 1.00).
//
// Caching: --cache=writeback (default) serves both through the host page cache (qsd: cache.direct=off,aio=threads;
// vmv: buffered reads); --cache=direct makes both use O_DIRECT (qsd: cache.direct=on,aio=native; vmv: --direct).
// --qsd-cache is accepted as the old name of --cache and now applies to both backends alike.
// Until our daemon is built it says so and measures qemu-storage-daemon alone.
// --platform (default bookworm) picks the guest platform (tools/guest): bookworm is Debian 12's QEMU 7.2, qsd and
// kernel 6.1; trixie is trixie-backports' QEMU 11.1, its qsd and kernel 7.3 (fio from the trixie root). The baseline
// is always the platform's own qemu-storage-daemon.
// Under TCG (no usable KVM) guest CPU emulation dominates: the ratios compare device paths, not absolute speed.
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REPO_ROOT, VMV_DAEMON_BIN, bootGuest, createImage, detectAccel, ensureGuestImage, ensureHostDeps, qsdBackend, vmvAvailable, vmvBackend,
} from '../../guest/lib/guest.mjs';
import { fmt, table } from './_harness.mjs';

const ALL_CASES = ['randread4k/qd1', 'randread4k/qd32', 'seqread1m/qd1', 'seqread1m/qd32'];
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round3 = (x) => (x === null ? null : Number(x.toFixed(3)));

function option(args, name, def) {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : def;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`bench guest: --${name} must be a positive number`);
  return v;
}

function choice(args, names, allowed, def) {
  for (const name of names) {
    const a = args.find((x) => x.startsWith(`--${name}=`));
    if (!a) continue;
    const v = a.slice(name.length + 3);
    if (!allowed.includes(v)) throw new RangeError(`bench guest: --${name} must be one of ${allowed.join(', ')}`);
    return v;
  }
  return def;
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

/** Writes "VMVBENCH <name>" at the start of the image's last 4 KiB (how the guest tells the disks apart), then fsyncs. */
function markImage(path, size, name) {
  const fd = openSync(path, 'r+');
  try {
    const mark = Buffer.alloc(4096);
    mark.write(`VMVBENCH ${name}\n`);
    writeSync(fd, mark, 0, mark.length, size - 4096);
    fsyncSync(fd); // no writeback of the fresh image during the runs
  } finally {
    closeSync(fd);
  }
}

export default async function guestBench({ json, args }) {
  const log = (m) => (json ? process.stderr : process.stdout).write(`${m}\n`);
  const mode = choice(args, ['mode'], ['interleaved', 'separate'], 'interleaved');
  const rounds = option(args, 'rounds', 3);
  const slices = mode === 'interleaved' ? option(args, 'slices', 2) : 1;
  const runtime = option(args, 'runtime', mode === 'interleaved' ? 3 : 5);
  const sizeMiB = option(args, 'size', 256);
  const cache = choice(args, ['cache', 'qsd-cache'], ['writeback', 'direct'], 'writeback');
  const aa = args.includes('--aa');
  const pi = args.indexOf('--platform');
  const platform = pi >= 0 ? args[pi + 1] : choice(args, ['platform'], ['bookworm', 'trixie'], 'bookworm');
  if (!['bookworm', 'trixie'].includes(platform)) throw new RangeError('bench guest: --platform must be bookworm or trixie');
  const casesArg = args.find((x) => x.startsWith('--cases='));
  const CASES = casesArg ? casesArg.slice(8).split(',').filter(Boolean) : ALL_CASES;
  for (const c of CASES) if (!ALL_CASES.includes(c)) throw new RangeError(`bench guest: --cases takes a comma list of ${ALL_CASES.join(', ')}`);
  if (!args.includes('--no-build') && !aa) buildDaemon(log);
  const deps = ensureHostDeps({ fio: true, quiet: true, platforms: [platform] });
  if (!deps.ok) throw new Error(`bench guest: host packages missing:\n${deps.output}`);
  const img = await ensureGuestImage({ platform, fio: true, log });
  const { accel, reason } = detectAccel();
  const haveVmv = aa || vmvAvailable();
  const impl = {
    qsd: qsdBackend({ cache }),
    // --aa: a second qemu-storage-daemon of the same platform in our daemon's place
    vmv: aa ? { ...qsdBackend({ cache }), name: 'vmv' } : vmvBackend({ cache }),
  };
  const backends = haveVmv ? ['qsd', 'vmv'] : ['qsd'];
  if (!haveVmv) {
    log(`bench guest: our daemon is not built (${VMV_DAEMON_BIN} missing): measuring qemu-storage-daemon only; `
      + 'ratios are reported once packages/vhost-user-blk exists');
  }
  log(`bench guest: platform ${platform} (${img.platform.title}), kernel ${img.kver}, accel ${accel} (${reason}), fio libaio direct=1, ${runtime} s per run + 1 s ramp, `
    + `${sizeMiB} MiB image filled with random data, ${mode} (${rounds} round(s)${mode === 'interleaved' ? ` x ${slices} slice(s)` : ''}), `
    + `backends ${backends.join(' + ')}${aa ? ' (A/A: "vmv" is a second qsd)' : ''}, cache=${cache} for both`);

  const dir = mkdtempSync(join(tmpdir(), 'vmv-bench-guest-'));
  const size = sizeMiB << 20;
  const images = { qsd: join(dir, 'qsd.raw'), vmv: join(dir, 'vmv.raw') };
  // samples[backend][case] = [{round, slice, iops, mibps, lat, irqsPerIo}]
  const samples = Object.fromEntries(backends.map((b) => [b, Object.fromEntries(CASES.map((c) => [c, []]))]));
  const limits = {};
  const boots = [];
  const timeoutMs = (accel === 'tcg' ? 90_000 : 30_000) + CASES.length * slices * backends.length * (runtime + 4) * 1000;
  try {
    // a sparse file reads holes without I/O: fill it; the copies are byte for byte the same but for the marker
    createImage(images.qsd, size, { fill: 'all' });
    if (haveVmv) copyFileSync(images.qsd, images.vmv);
    for (const b of backends) markImage(images[b], size, b);
    const record = (r, round, only) => {
      for (const f of r.fio) {
        const b = only ?? f.disk;
        if (!samples[b]?.[f.case]) continue;
        const iops = Number(f.iops);
        samples[b][f.case].push({
          round, slice: Number(f.slice ?? 1), iops, mibps: Number(f.bw_kibps) / 1024, lat: Number(f.lat_mean_us),
          irqsPerIo: iops > 0 ? Number(f.irqs) / (iops * (runtime + 1)) : null,
        });
      }
      for (const [k, v] of Object.entries(r.values)) if (k.startsWith('fio.limits')) limits[only ?? k.slice(11)] = v;
    };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...backends].reverse() : backends;
      if (mode === 'interleaved') {
        const r = await bootGuest({
          machine: 'microvm', queues: 1, tests: ['fio'], fio: true, guestImage: img, timeoutMs,
          disks: order.map((b) => ({ backend: impl[b], image: images[b] })),
          cmdline: [`fio.rt=${runtime}`, `fio.jobs=${CASES.join(',')}`, 'fio.devs=marked', `fio.want=${backends.length}`, `fio.slices=${slices}`],
        });
        if (!r.ok) throw new Error(`bench guest: round ${round + 1} failed: ${r.errors.join('; ')}\n${r.console.slice(-20).join('\n')}`);
        boots.push({ backends: order, markerSeconds: r.markerSeconds, initSeconds: r.initSeconds });
        record(r, round);
        log(`bench guest: round ${round + 1} (${order.join(', ')}): boot to /init ${fmt(r.initSeconds, 2)} s, run ${fmt(r.markerSeconds, 1)} s`);
      } else {
        for (const b of order) {
          const r = await bootGuest({
            machine: 'microvm', backend: impl[b], queues: 1, tests: ['fio'], image: images[b], fio: true, guestImage: img, timeoutMs,
            cmdline: [`fio.rt=${runtime}`, `fio.jobs=${CASES.join(',')}`],
          });
          if (!r.ok) throw new Error(`bench guest: the ${b} run failed: ${r.errors.join('; ')}\n${r.console.slice(-20).join('\n')}`);
          boots.push({ backend: b, markerSeconds: r.markerSeconds, initSeconds: r.initSeconds });
          record(r, round, b);
          log(`bench guest: round ${round + 1} ${b}: boot to /init ${fmt(r.initSeconds, 2)} s, run ${fmt(r.markerSeconds, 1)} s`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const stat = (b, c, k) => median(samples[b]?.[c]?.map((s) => s[k]) ?? []);
  /** vmv/qsd of each (round, slice) measured by both. */
  const paired = (c) => {
    const out = [];
    for (const v of samples.vmv?.[c] ?? []) {
      const q = samples.qsd[c].find((s) => s.round === v.round && s.slice === v.slice);
      if (q && q.iops > 0) out.push(v.iops / q.iops);
    }
    return out;
  };
  const results = {};
  const rows = [];
  for (const c of CASES) {
    const q = { iops: stat('qsd', c, 'iops'), mibps: stat('qsd', c, 'mibps'), lat: stat('qsd', c, 'lat'), irq: stat('qsd', c, 'irqsPerIo') };
    const v = haveVmv ? { iops: stat('vmv', c, 'iops'), mibps: stat('vmv', c, 'mibps'), lat: stat('vmv', c, 'lat'), irq: stat('vmv', c, 'irqsPerIo') } : null;
    const ratios = haveVmv ? paired(c) : [];
    const ratio = median(ratios);
    results[c] = {
      iops: v ? Math.round(v.iops) : null,
      ratioToQsd: round3(ratio),
      ratioMin: ratios.length ? round3(Math.min(...ratios)) : null,
      ratioMax: ratios.length ? round3(Math.max(...ratios)) : null,
      ratios: ratios.map(round3),
      mibps: v ? Number(v.mibps.toFixed(1)) : null,
      latUs: v ? Number(v.lat.toFixed(1)) : null,
      irqsPerIo: v && v.irq !== null ? round3(v.irq) : null,
      qsdIops: Math.round(q.iops),
      qsdMibps: Number(q.mibps.toFixed(1)),
      qsdLatUs: Number(q.lat.toFixed(1)),
      qsdIrqsPerIo: q.irq === null ? null : round3(q.irq),
      samples: samples.qsd[c].length,
    };
    rows.push({
      case: c, 'qsd IOPS': Math.round(q.iops), 'qsd lat us': fmt(q.lat),
      'vmv IOPS': v ? Math.round(v.iops) : '-', 'vmv lat us': v ? fmt(v.lat) : '-',
      'vmv/qsd': ratio === null ? '-' : fmt(ratio, 2),
      'range': ratios.length ? `${fmt(Math.min(...ratios), 2)}..${fmt(Math.max(...ratios), 2)}` : '-',
      'irq/io q:v': `${q.irq === null ? '-' : fmt(q.irq, 2)}:${v?.irq == null ? '-' : fmt(v.irq, 2)}`,
    });
  }
  if (!json) {
    table(rows, ['case', 'qsd IOPS', 'qsd lat us', 'vmv IOPS', 'vmv lat us', 'vmv/qsd', 'range', 'irq/io q:v']);
    console.log(`vmv/qsd: median of ${results[CASES[0]].ratios.length || '-'} paired ratios per case; range: the lowest and highest of them`);
    if (!haveVmv) console.log('vmv: not built; no ratios (qemu-storage-daemon figures only)');
  } else {
    console.log(JSON.stringify({
      bench: 'guest', platform, kernel: img.kver, accel, mode, runtimeSeconds: runtime, rounds, slices, imageMiB: sizeMiB, cache, aa, vmv: haveVmv,
      ...(haveVmv ? {} : { note: `our daemon is not built (${VMV_DAEMON_BIN} missing): qsd figures only` }),
      limits, boots, results,
    }));
  }
}
