// `pnpm bench guest [--vs=qsd|self|scsi|qemu-scsi|vfio-user] [--platform=bookworm|trixie] [--json] [--rounds=N] [--slices=N] [--pairs=N] [--runtime=S]
//                   [--size=MiB] [--cache=writeback|direct] [--mode=interleaved|separate] [--machine=microvm|q35]
//                   [--cases=randread4k/qd1,...] [--fio-cpu=N|any] [--irq-cpu=N|any] [--aa] [--vmv-flags="FLAGS"] [--no-build]`:
// fio inside a real Linux guest (libaio, direct=1: 4k randread and 1 MiB sequential read at QD1 and QD32, 1 MiB
// sequential write at QD1 and QD32 on request) on two disks, a baseline and a candidate. Prints the paired ratios
// candidate/baseline (higher is better).
//   --vs=qsd (default): vhost-user-blk disks served by our daemon (vmv-vhost-user-blk, the candidate "vmv") and by
//     qemu-storage-daemon (the baseline "qsd"); microvm by default; cases by default the four reads.
//   --vs=scsi: our vmv-vhost-user-scsi (the candidate "scsi": a virtio-scsi LUN, /dev/sdX in the guest through
//     virtio_scsi and sd_mod) against our vmv-vhost-user-blk (the baseline "blk"), each with its defaults and one
//     request queue. q35 by default, so both are PCI: QEMU's vhost-user-scsi-pci and vhost-user-blk-pci
//     (--machine=microvm: vhost-user-scsi and vhost-user-blk over virtio-mmio). Cases by default the four reads and
//     seqwrite1m/qd32 (a write keeps off the disk's last MiB, where the marker is). The guest boots the fio
//     initramfs plus the SCSI modules. Issue 19's goal: scsi at least 0.9 of blk's IOPS in every case.
//   --vs=qemu-scsi: the control for --vs=scsi: QEMU's own virtio-scsi-pci with a scsi-hd ("scsi") against QEMU's own
//     virtio-blk-pci ("blk"), no vhost-user, the same images, cases and caching (writeback: cache=writeback,
//     aio=threads; direct: cache=none,aio=native). What it gets is what the guest's SCSI path (sd, the midlayer,
//     virtio_scsi) costs against virtio_blk's on this platform, whoever serves the disks.
//     Env VMV_BENCH_SCSI_CMD (a JSON array, or words split on spaces) replaces `node <repo>/packages/vhost-user-scsi/
//     dist/cjs/bin.js` as the scsi daemon's command (it is given --socket-path, --num-queues, --direct, the image).
//   --vs=vfio-user: the same virtio-blk device of ours over two transports: vmv-vfio-user --device blk (the candidate
//     "vfio": QEMU's vfio-user-pci, each guest access to the function's BARs a REGION_WRITE or REGION_READ message on
//     the socket, interrupts eventfd writes) against vmv-vhost-user-blk (the baseline "blk": vhost-user-blk-pci,
//     kicks and calls eventfds), one request queue each, q35, the cases of --vs=scsi. Trixie only (QEMU 11.1; bookworm's
//     7.2 has no vfio-user-pci), the default platform for it; writeback only (vmv-vfio-user has no O_DIRECT mode).
//     vmv-vfio-user logs its traffic at the stop: the REGION_WRITEs to the notify addresses and the MSI-X interrupts
//     of each boot, divided by the vfio disk's I/Os in it (fio's IOPS x (runtime + 1 s ramp), as irq/io is), are
//     printed as notify/io and msix/io (the whole boot's: the cases together).
//
// Method (default, --mode=interleaved): each round boots ONE guest with TWO disks, one per backend, both over copies
// of the same image (filled with random data, in the host page cache, told apart by a marker in their last 4 KiB).
// For every case fio runs --slices times on each disk, alternating which disk goes first, and the order in which
// the disks are attached alternates between rounds. Both backends thus share the guest, the boot, and the host's
// load from second to second; each (round, slice) gives one paired ratio and the figure reported is the median of
// the paired ratios. --mode=separate is the older design (one boot per backend per round, alternating order),
// which on a shared host mixes the load of different minutes into the ratio.
// --pairs=N asks for at least N paired ratios per case: --slices (default 4 with --pairs) per boot and as many rounds
// (boots) as that takes, so `--pairs=24 --cases=randread4k/qd1,randread4k/qd32` gives 6 boots of 4 slices.
// CPU per I/O (--vs=qsd, the daemons being the disks' backends): at each console line the harness reads both daemons'
// utime + stime from /proc/PID/stat (src/_cpu.mjs); the window of a fio run is from the previous GUEST-FIO line (or,
// for a boot's first run, the console line before it) to its own GUEST-FIO line, and the run's daemon CPU in it over
// its I/Os (IOPS x (runtime + 1 s ramp), as irq/io) is its us/io. The other disk's daemon is idle then but for what
// polling burns, which is charged to nobody. cpuRatio: the median of the paired ratios of us/io, candidate/baseline
// (lower is better).
// --vmv-flags="FLAGS" (--vs=qsd): more flags for our daemon, words split on spaces (`--vmv-flags="--poll off"`: the
// CPU per I/O of our daemon without polling against qsd's); printed in the header and the JSON's vmvFlags.
// --vs=self --vmv-flags="FLAGS": our daemon against itself, in the same guest: the baseline "vmv" with its defaults,
// the candidate "alt" with FLAGS (`--vs=self --vmv-flags="--poll off"`: what polling buys and costs, paired); the
// rest as --vs=qsd (microvm, the four reads, CPU per I/O).
// --aa replaces the candidate by a second baseline (a second qsd through the same command line; with --vs=scsi a
// second vmv-vhost-user-blk): an A/A run, whose ratios show the bench's own noise (ideally 1.00).
//
// --fio-cpu and --irq-cpu: the vCPU fio runs on (default 1; with --vs=scsi and qemu-scsi "irq") and the one every
// measured disk's interrupts go to (default 0), or any (left to the guest), or for --fio-cpu irq: each disk's
// request interrupt's vCPU, wherever the guest put it (fio.sh's fio.cpu and fio.irqcpu). The request vectors of
// virtio_blk and virtio_scsi are managed interrupts, which cannot be moved: in one guest the blk disk's went to
// vCPU 1 (fio's) and the scsi disk's to vCPU 0, which cost scsi a cross-vCPU wake-up per I/O (half the IOPS at QD1
// under TCG). The JSON's limits show where each disk's vectors went.
// Caching: --cache=writeback (default) serves both through the host page cache (qsd: cache.direct=off,aio=threads;
// our daemons: buffered); --cache=direct makes both use O_DIRECT (qsd: cache.direct=on,aio=native; our daemons:
// --direct). --qsd-cache is accepted as the old name of --cache and applies to both backends alike.
// Until a candidate daemon is built it says so and measures the baseline alone.
// --platform (default bookworm) picks the guest platform (tools/guest): bookworm is Debian 12's QEMU 7.2, qsd and
// kernel 6.1; trixie is trixie-backports' QEMU 11.1, its qsd and kernel 7.3 (fio from the trixie root). With
// --vs=qsd the baseline is always the platform's own qemu-storage-daemon.
// Under TCG (no usable KVM) guest CPU emulation dominates: the ratios compare device paths, not absolute speed.
// Never run by CI, never a pass or fail on a time.
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REPO_ROOT, VMV_DAEMON_BIN, bootGuest, createImage, detectAccel, ensureGuestImage, ensureHostDeps, guestInitrd, qsdBackend, vmvAvailable, vmvBackend,
} from '../../guest/lib/guest.mjs';
import { SCSI_DAEMON_BIN } from '../../guest/lib/scsi.mjs';
import { cpuDelta, cpuSample, usPerIo } from './_cpu.mjs';
import { fmt, table } from './_harness.mjs';

const READ_CASES = ['randread4k/qd1', 'randread4k/qd32', 'seqread1m/qd1', 'seqread1m/qd32'];
const ALL_CASES = [...READ_CASES, 'seqwrite1m/qd1', 'seqwrite1m/qd32'];
/** virtio-scsi in the guest: scsi_mod's dependency first, then the drivers. */
const SCSI_MODULES = ['scsi_common', 'scsi_mod', 'sd_mod', 'virtio_scsi'];
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round3 = (x) => (x === null ? null : Number(x.toFixed(3)));
const cap = (s) => s[0].toUpperCase() + s.slice(1);

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

/** Builds our daemons' packages when their sources are there but dist is not current (run.mjs does not know them). */
function buildDaemons(log, dirs) {
  const names = dirs.map((d) => join(REPO_ROOT, 'packages', d, 'package.json')).filter((p) => existsSync(p)).map((p) => JSON.parse(readFileSync(p, 'utf8')).name);
  if (names.length === 0) return;
  log(`bench guest: building ${names.join(', ')}`);
  try {
    execFileSync('pnpm', ['exec', 'turbo', 'run', 'build', ...names.map((n) => `--filter=${n}...`), '--output-logs=errors-only'], {
      cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
    });
  } catch {
    log(`bench guest: building ${names.join(', ')} failed; using whatever dist/ holds`);
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

/**
 * --vs=scsi: one of our daemons as a vhost-user device of bootGuest (both kinds alike, so that the attach order can
 * alternate), with one request queue.
 * @param {string} name  the backend's name (its log file)
 * @param {'blk'|'scsi'} kind  vmv-vhost-user-blk or vmv-vhost-user-scsi
 * @param {string} image
 * @param {{cache: 'writeback'|'direct', pci: boolean}} o  pci: the -pci frontends (q35), else the virtio-mmio ones
 * @returns {import('../../guest/lib/boot.mjs').VhostUserDeviceSpec}
 */
function ourDevice(name, kind, image, { cache, pci }) {
  const direct = cache === 'direct';
  if (kind === 'blk') {
    const backend = vmvBackend({ cache });
    return {
      name, argv: ({ socket }) => backend.argv({ socket, image, readonly: false, queues: 1, direct }),
      qemuDevice: (c) => `${pci ? 'vhost-user-blk-pci' : 'vhost-user-blk'},chardev=${c},num-queues=1`,
    };
  }
  const env = process.env.VMV_BENCH_SCSI_CMD?.trim();
  const command = env ? (env.startsWith('[') ? JSON.parse(env) : env.split(/\s+/)) : [process.execPath, SCSI_DAEMON_BIN];
  return {
    name, argv: ({ socket }) => [...command, '--socket-path', socket, '--num-queues', '1', ...(direct ? ['--direct'] : []), image],
    // virtqueue_size 1024: rings as deep as blk's (QEMU keeps vhost-user-scsi's seg_max at 126 whatever the size)
    qemuDevice: (c) => `${pci ? 'vhost-user-scsi-pci' : 'vhost-user-scsi'},chardev=${c},num_queues=1,virtqueue_size=1024`,
  };
}

/**
 * --vs=qemu-scsi: QEMU's own virtio-blk, or virtio-scsi with one scsi-hd, over `image` (no vhost-user).
 * @param {string} name  the drive's id
 * @param {'blk'|'scsi'} kind
 * @param {string} image
 * @param {{cache: 'writeback'|'direct', pci: boolean}} o
 * @returns {string[]} QEMU arguments
 */
function qemuDisk(name, kind, image, { cache, pci }) {
  const drive = ['-drive', `id=${name},file=${image.replace(/,/g, ',,')},if=none,format=raw,${cache === 'direct' ? 'cache=none,aio=native' : 'cache=writeback,aio=threads'}`];
  if (kind === 'blk') return [...drive, '-device', `${pci ? 'virtio-blk-pci' : 'virtio-blk-device'},drive=${name},num-queues=1`];
  return [...drive, '-device', `${pci ? 'virtio-scsi-pci' : 'virtio-scsi-device'},id=${name}h,num_queues=1`, '-device', `scsi-hd,drive=${name},bus=${name}h.0`];
}

/**
 * --vs=vfio-user: vmv-vfio-user serving virtio-blk over `image` (one queue), plugged in as QEMU's vfio-user-pci.
 * @param {string} name  the backend's name (its log file: device<i>-<name>.log in the run's directory)
 * @param {string} bin  the built vmv-vfio-user
 * @param {string} image
 * @returns {import('../../guest/lib/boot.mjs').VhostUserDeviceSpec}
 */
function vfioDevice(name, bin, image) {
  return {
    name, argv: ({ socket }) => [process.execPath, bin, '--socket', socket, '--device', 'blk', '--image', image, '--queues', '1'],
    qemuArgs: (socket) => ['-device', JSON.stringify({ driver: 'vfio-user-pci', socket: { type: 'unix', path: socket } })],
  };
}

/** vmv-vfio-user's traffic line at its stop: see VfioUserTraffic in packages/vfio-user-daemon. */
const TRAFFIC = /traffic: region writes notify (\d+), virtio (\d+), other (\d+); region reads (\d+); MSI-X interrupts (\d+)/;

/**
 * What crossed vmv-vfio-user's socket in one boot (kept with keepWorkDir), and the vfio disk's I/Os in it.
 * @returns {{notifyWrites: number, virtioWrites: number, otherWrites: number, reads: number, interrupts: number, ios: number}}
 */
function vfioTraffic(r, cand, runtime) {
  const file = readdirSync(r.workDir).find((f) => f.endsWith(`-${cand}.log`) && f.startsWith('device'));
  const m = file ? TRAFFIC.exec(readFileSync(join(r.workDir, file), 'utf8')) : null;
  if (!m) throw new Error(`bench guest: vmv-vfio-user logged no traffic line (${file ?? 'no log'} in ${r.workDir})`);
  const [notifyWrites, virtioWrites, otherWrites, reads, interrupts] = m.slice(1).map(Number);
  const ios = Math.round(r.fio.filter((f) => f.disk === cand).reduce((n, f) => n + Number(f.iops) * (runtime + 1), 0));
  return { notifyWrites, virtioWrites, otherWrites, reads, interrupts, ios };
}

export default async function guestBench({ json, args }) {
  const log = (m) => (json ? process.stderr : process.stdout).write(`${m}\n`);
  const vs = choice(args, ['vs'], ['qsd', 'self', 'scsi', 'qemu-scsi', 'vfio-user'], 'qsd');
  const self = vs === 'self';
  const builtin = vs === 'qemu-scsi';
  const vfio = vs === 'vfio-user';
  // --vs=vfio-user takes the rest of --vs=scsi's set-up: our daemons as devices, q35, the same cases
  const scsi = vs === 'scsi' || builtin || vfio;
  const mode = choice(args, ['mode'], ['interleaved', 'separate'], 'interleaved');
  const machine = choice(args, ['machine'], ['microvm', 'q35'], scsi ? 'q35' : 'microvm');
  const pairsArg = args.some((x) => x.startsWith('--pairs='));
  const slices = mode === 'interleaved' ? option(args, 'slices', pairsArg ? 4 : 2) : 1;
  const rounds = pairsArg ? Math.ceil(option(args, 'pairs', 24) / slices) : option(args, 'rounds', 3);
  const runtime = option(args, 'runtime', mode === 'interleaved' ? 3 : 5);
  const sizeMiB = option(args, 'size', 256);
  const cache = choice(args, ['cache', 'qsd-cache'], ['writeback', 'direct'], 'writeback');
  const aa = args.includes('--aa');
  const vmvFlags = (args.find((x) => x.startsWith('--vmv-flags='))?.slice(12) ?? '').split(/\s+/).filter(Boolean);
  if (vmvFlags.length > 0 && (scsi || aa)) throw new RangeError('bench guest: --vmv-flags is for --vs=qsd or self without --aa (our daemon is the candidate)');
  if (self && (vmvFlags.length === 0 || aa)) throw new RangeError('bench guest --vs=self: needs --vmv-flags="FLAGS" (the candidate\'s), and no --aa');
  const pi = args.indexOf('--platform');
  const platform = pi >= 0 ? args[pi + 1] : choice(args, ['platform'], ['bookworm', 'trixie'], vfio ? 'trixie' : 'bookworm');
  if (!['bookworm', 'trixie'].includes(platform)) throw new RangeError('bench guest: --platform must be bookworm or trixie');
  if (vfio && platform !== 'trixie') throw new RangeError(`bench guest --vs=vfio-user: trixie only (${platform}'s QEMU has no vfio-user-pci; QEMU 11.1 has)`);
  if (vfio && (machine !== 'q35' || cache !== 'writeback' || aa)) throw new RangeError('bench guest --vs=vfio-user: q35, --cache=writeback and no --aa only (a PCI function; vmv-vfio-user has no O_DIRECT mode)');
  const vfioBin = vfio ? (await import('../../guest/lib/vfio-user.mjs')).VFIO_USER_DAEMON_BIN : null;
  // fio.sh pins fio to vCPU 1 and the disks' interrupts to vCPU 0 unless told otherwise
  const pin = [['fio-cpu', 'fio.cpu'], ['irq-cpu', 'fio.irqcpu']].flatMap(([k, key]) => args.filter((x) => x.startsWith(`--${k}=`)).map((x) => `${key}=${x.slice(k.length + 3)}`));
  // virtio_scsi's and virtio_blk's request vectors are managed interrupts the guest places itself, on different
  // vCPUs for the two disks: fio follows each disk's interrupt, so both complete on the vCPU that submitted
  if (scsi && !args.some((x) => x.startsWith('--fio-cpu='))) pin.push('fio.cpu=irq');
  const casesArg = args.find((x) => x.startsWith('--cases='));
  const CASES = casesArg ? casesArg.slice(8).split(',').filter(Boolean) : scsi ? [...READ_CASES, 'seqwrite1m/qd32'] : READ_CASES;
  for (const c of CASES) if (!ALL_CASES.includes(c)) throw new RangeError(`bench guest: --cases takes a comma list of ${ALL_CASES.join(', ')}`);
  // the baseline and the candidate: names in the guest's marker, the table and the JSON
  const [base, cand] = vfio ? ['blk', 'vfio'] : scsi ? ['blk', 'scsi'] : self ? ['vmv', 'alt'] : ['qsd', 'vmv'];
  const candBin = vfio ? vfioBin : scsi ? SCSI_DAEMON_BIN : VMV_DAEMON_BIN;
  const candPkg = vfio ? 'vfio-user-daemon' : scsi ? 'vhost-user-scsi' : 'vhost-user-blk';
  if (!args.includes('--no-build') && !builtin && (scsi || !aa)) buildDaemons(log, scsi ? ['vhost-user-blk', candPkg] : ['vhost-user-blk']);
  const deps = ensureHostDeps({ fio: true, quiet: true, platforms: [platform] });
  if (!deps.ok) throw new Error(`bench guest: host packages missing:\n${deps.output}`);
  const img = await ensureGuestImage({ platform, fio: true, log });
  const initrd = scsi && !vfio ? await guestInitrd(img, { modules: SCSI_MODULES, fio: true, log }) : undefined;
  const { accel, reason } = detectAccel();
  if (scsi && !builtin && !vmvAvailable()) throw new Error(`bench guest --vs=${vs}: vmv-vhost-user-blk is not built (${VMV_DAEMON_BIN} missing)`);
  const haveCand = aa || builtin || (vfio ? existsSync(vfioBin) : scsi ? Boolean(process.env.VMV_BENCH_SCSI_CMD?.trim()) || existsSync(SCSI_DAEMON_BIN) : vmvAvailable());
  const backends = haveCand ? [base, cand] : [base];
  if (!haveCand) {
    log(`bench guest: the candidate is not built (${candBin} missing): measuring ${base} only; `
      + `ratios are reported once packages/${candPkg} is built`);
  }
  log(`bench guest: platform ${platform} (${img.platform.title}), kernel ${img.kver}, accel ${accel} (${reason}), ${machine}, fio libaio direct=1, `
    + `${runtime} s per run + 1 s ramp, ${sizeMiB} MiB image filled with random data, ${mode} (${rounds} round(s)${mode === 'interleaved' ? ` x ${slices} slice(s)` : ''}), `
    + `backends ${backends.join(' + ')}${builtin ? " (QEMU's own virtio-blk and virtio-scsi)" : vfio ? ' (vhost-user-blk-pci and vfio-user-pci)' : ''}`
    + `${aa ? ` (A/A: "${cand}" is a second ${builtin ? 'QEMU virtio-blk' : scsi ? 'vmv-vhost-user-blk' : 'qsd'})` : ''}, cache=${cache} for both`
    + `${vmvFlags.length > 0 ? `, ${cand} with ${vmvFlags.join(' ')}` : ''}`);

  const dir = mkdtempSync(join(tmpdir(), 'vmv-bench-guest-'));
  const size = sizeMiB << 20;
  const images = { [base]: join(dir, `${base}.raw`), [cand]: join(dir, `${cand}.raw`) };
  /** What bootGuest attaches for these backends, in this order. */
  const attach = (names) => {
    if (builtin) return { disks: [], qemuArgs: names.flatMap((b) => qemuDisk(b, b === cand && !aa ? 'scsi' : 'blk', images[b], { cache, pci: machine === 'q35' })) };
    if (vfio) return { disks: [], devices: names.map((b) => (b === cand ? vfioDevice(b, vfioBin, images[b]) : ourDevice(b, 'blk', images[b], { cache, pci: true }))), keepWorkDir: true };
    if (scsi) return { disks: [], devices: names.map((b) => ourDevice(b, b === cand && !aa ? 'scsi' : 'blk', images[b], { cache, pci: machine === 'q35' })) };
    const impl = self ? { vmv: vmvBackend({ cache }), alt: { ...vmvBackend({ cache, args: vmvFlags }), name: 'alt' } } : {
      qsd: qsdBackend({ cache }),
      // --aa: a second qemu-storage-daemon of the same platform in our daemon's place
      vmv: aa ? { ...qsdBackend({ cache }), name: 'vmv' } : vmvBackend({ cache, args: vmvFlags }),
    };
    return { disks: names.map((b) => ({ backend: impl[b], image: images[b] })) };
  };
  // samples[backend][case] = [{round, slice, iops, mibps, lat, irqsPerIo}]
  const samples = Object.fromEntries(backends.map((b) => [b, Object.fromEntries(CASES.map((c) => [c, []]))]));
  // --vs=qsd: the daemons' CPU over each fio run's window (see the header), one entry per GUEST-FIO line in order
  const cpuWatch = !scsi ? () => {
    const windows = [];
    let line = null;
    let fio = null;
    const onConsoleLine = (text, _secs, run) => {
      const pids = Object.fromEntries(run.disks.map((d, i) => [run.order[i], d.pid]).filter(([, pid]) => pid !== null));
      const now = cpuSample(pids);
      if (text.startsWith('GUEST-FIO ')) {
        windows.push(cpuDelta(fio ?? line ?? now, now));
        fio = now;
      }
      line = now;
    };
    return { windows, onConsoleLine };
  } : null;
  const limits = {};
  const boots = [];
  const timeoutMs = (accel === 'tcg' ? 90_000 : 30_000) + CASES.length * slices * backends.length * (runtime + 4) * 1000;
  try {
    // a sparse file reads holes without I/O: fill it; the copies are byte for byte the same but for the marker
    createImage(images[base], size, { fill: 'all' });
    if (haveCand) copyFileSync(images[base], images[cand]);
    for (const b of backends) markImage(images[b], size, b);
    const record = (r, round, only, cpu) => {
      for (const [i, f] of r.fio.entries()) {
        const b = only ?? f.disk;
        if (!samples[b]?.[f.case]) continue;
        const iops = Number(f.iops);
        const daemonCpu = cpu?.windows[i]?.procs[b] ?? null;
        samples[b][f.case].push({
          round, slice: Number(f.slice ?? 1), iops, mibps: Number(f.bw_kibps) / 1024, lat: Number(f.lat_mean_us),
          irqsPerIo: iops > 0 ? Number(f.irqs) / (iops * (runtime + 1)) : null,
          cpuUsPerIo: usPerIo(daemonCpu, iops * (runtime + 1)),
        });
      }
      for (const [k, v] of Object.entries(r.values)) if (k.startsWith('fio.limits')) limits[only ?? k.slice(11)] = v;
    };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...backends].reverse() : backends;
      if (mode === 'interleaved') {
        const cpu = cpuWatch?.();
        const r = await bootGuest({
          machine, queues: 1, tests: ['fio'], fio: true, initrd, guestImage: img, timeoutMs, ...attach(order),
          ...(cpu ? { onConsoleLine: (l, secs, run) => cpu.onConsoleLine(l, secs, { disks: run.disks, order }) } : {}),
          cmdline: [`fio.rt=${runtime}`, `fio.jobs=${CASES.join(',')}`, 'fio.devs=marked', `fio.want=${backends.length}`, `fio.slices=${slices}`, ...pin],
        });
        if (!r.ok) throw new Error(`bench guest: round ${round + 1} failed: ${r.errors.join('; ')}\n${r.console.slice(-20).join('\n')}`);
        boots.push({ backends: order, markerSeconds: r.markerSeconds, initSeconds: r.initSeconds, ...(vfio ? { vfio: vfioTraffic(r, cand, runtime) } : {}) });
        record(r, round, undefined, cpu);
        if (vfio) rmSync(r.workDir, { recursive: true, force: true });
        log(`bench guest: round ${round + 1} (${order.join(', ')}): boot to /init ${fmt(r.initSeconds, 2)} s, run ${fmt(r.markerSeconds, 1)} s`);
      } else {
        for (const b of order) {
          const cpu = cpuWatch?.();
          const r = await bootGuest({
            machine, queues: 1, tests: ['fio'], fio: true, initrd, guestImage: img, timeoutMs, ...attach([b]),
            ...(cpu ? { onConsoleLine: (l, secs, run) => cpu.onConsoleLine(l, secs, { disks: run.disks, order: [b] }) } : {}),
            cmdline: [`fio.rt=${runtime}`, `fio.jobs=${CASES.join(',')}`, 'fio.devs=marked', 'fio.want=1', ...pin],
          });
          if (!r.ok) throw new Error(`bench guest: the ${b} run failed: ${r.errors.join('; ')}\n${r.console.slice(-20).join('\n')}`);
          boots.push({ backend: b, markerSeconds: r.markerSeconds, initSeconds: r.initSeconds, ...(vfio && b === cand ? { vfio: vfioTraffic(r, cand, runtime) } : {}) });
          if (vfio) rmSync(r.workDir, { recursive: true, force: true });
          record(r, round, b, cpu);
          log(`bench guest: round ${round + 1} ${b}: boot to /init ${fmt(r.initSeconds, 2)} s, run ${fmt(r.markerSeconds, 1)} s`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const stat = (b, c, k) => median(samples[b]?.[c]?.map((s) => s[k]) ?? []);
  /** candidate/baseline of `key` for each (round, slice) measured by both. */
  const paired = (c, key) => {
    const out = [];
    for (const v of samples[cand]?.[c] ?? []) {
      const q = samples[base][c].find((s) => s.round === v.round && s.slice === v.slice);
      if (q && q[key] > 0 && typeof v[key] === 'number') out.push(v[key] / q[key]);
    }
    return out;
  };
  // --vs=vfio-user: the boots' traffic together, per I/O of the vfio disk
  const sum = (k) => boots.reduce((n, b) => n + (b.vfio?.[k] ?? 0), 0);
  const traffic = vfio ? {
    notifyWrites: sum('notifyWrites'), interrupts: sum('interrupts'), reads: sum('reads'), virtioWrites: sum('virtioWrites'), ios: sum('ios'),
    notifyPerIo: sum('ios') > 0 ? round3(sum('notifyWrites') / sum('ios')) : null,
    msixPerIo: sum('ios') > 0 ? round3(sum('interrupts') / sum('ios')) : null,
    readsPerIo: sum('ios') > 0 ? round3(sum('reads') / sum('ios')) : null,
  } : null;
  const results = {};
  const rows = [];
  const B = cap(base);
  for (const c of CASES) {
    const q = { iops: stat(base, c, 'iops'), mibps: stat(base, c, 'mibps'), lat: stat(base, c, 'lat'), irq: stat(base, c, 'irqsPerIo'), cpu: stat(base, c, 'cpuUsPerIo') };
    const v = haveCand ? { iops: stat(cand, c, 'iops'), mibps: stat(cand, c, 'mibps'), lat: stat(cand, c, 'lat'), irq: stat(cand, c, 'irqsPerIo'), cpu: stat(cand, c, 'cpuUsPerIo') } : null;
    const cpuRatio = haveCand && cpuWatch ? median(paired(c, 'cpuUsPerIo')) : null;
    const ratios = haveCand ? paired(c, 'iops') : [];
    const ratio = median(ratios);
    const mibRatio = haveCand ? median(paired(c, 'mibps')) : null;
    results[c] = {
      iops: v ? Math.round(v.iops) : null,
      [`ratioTo${B}`]: round3(ratio),
      ratioMin: ratios.length ? round3(Math.min(...ratios)) : null,
      ratioMax: ratios.length ? round3(Math.max(...ratios)) : null,
      ratios: ratios.map(round3),
      mibpsRatio: round3(mibRatio),
      mibps: v ? Number(v.mibps.toFixed(1)) : null,
      latUs: v ? Number(v.lat.toFixed(1)) : null,
      irqsPerIo: v && v.irq !== null ? round3(v.irq) : null,
      ...(cpuWatch ? {
        cpuUsPerIo: v && v.cpu !== null ? Number(v.cpu.toFixed(1)) : null,
        [`${base}CpuUsPerIo`]: q.cpu === null ? null : Number(q.cpu.toFixed(1)),
        cpuRatio: round3(cpuRatio),
      } : {}),
      [`${base}Iops`]: Math.round(q.iops),
      [`${base}Mibps`]: Number(q.mibps.toFixed(1)),
      [`${base}LatUs`]: Number(q.lat.toFixed(1)),
      [`${base}IrqsPerIo`]: q.irq === null ? null : round3(q.irq),
      samples: samples[base][c].length,
    };
    rows.push({
      case: c, [`${base} IOPS`]: Math.round(q.iops), [`${base} MiB/s`]: fmt(q.mibps), [`${base} lat us`]: fmt(q.lat),
      [`${cand} IOPS`]: v ? Math.round(v.iops) : '-', [`${cand} MiB/s`]: v ? fmt(v.mibps) : '-', [`${cand} lat us`]: v ? fmt(v.lat) : '-',
      [`${cand}/${base}`]: ratio === null ? '-' : fmt(ratio, 2),
      'MiB/s ratio': mibRatio === null ? '-' : fmt(mibRatio, 2),
      'range': ratios.length ? `${fmt(Math.min(...ratios), 2)}..${fmt(Math.max(...ratios), 2)}` : '-',
      [`irq/io ${base[0]}:${cand[0]}`]: `${q.irq === null ? '-' : fmt(q.irq, 2)}:${v?.irq == null ? '-' : fmt(v.irq, 2)}`,
      [`${base} us/io`]: q.cpu === null ? '-' : fmt(q.cpu), [`${cand} us/io`]: v?.cpu == null ? '-' : fmt(v.cpu), 'us/io ratio': cpuRatio === null ? '-' : fmt(cpuRatio, 2),
    });
  }
  if (!json) {
    table(rows, ['case', `${base} IOPS`, `${base} MiB/s`, `${base} lat us`, `${cand} IOPS`, `${cand} MiB/s`, `${cand} lat us`, `${cand}/${base}`, 'MiB/s ratio', 'range',
      `irq/io ${base[0]}:${cand[0]}`, ...(cpuWatch ? [`${base} us/io`, `${cand} us/io`, 'us/io ratio'] : [])]);
    console.log(`${cand}/${base}: median of ${results[CASES[0]].ratios.length || '-'} paired IOPS ratios per case (MiB/s ratio: of the paired MiB/s ratios); `
      + 'range: the lowest and highest IOPS ratio'
      + (cpuWatch ? `; us/io: each daemon's CPU (utime+stime, /proc) per I/O of its fio runs (median); us/io ratio: median of the paired ${cand}/${base} ratios (lower is better)` : ''));
    if (!haveCand) console.log(`${cand}: not built; no ratios (${base} figures only)`);
    if (traffic && haveCand) {
      console.log(`vfio-user traffic (all cases, ${traffic.ios} I/Os): REGION_WRITE to notify ${traffic.notifyWrites} (${fmt(traffic.notifyPerIo, 3)}/io), `
        + `MSI-X eventfd writes ${traffic.interrupts} (${fmt(traffic.msixPerIo, 3)}/io), REGION_READ ${traffic.reads} (${fmt(traffic.readsPerIo, 3)}/io), `
        + `other virtio BAR writes ${traffic.virtioWrites}`);
    }
  } else {
    console.log(JSON.stringify({
      bench: 'guest', vs, baseline: base, candidate: cand, platform, kernel: img.kver, accel, machine, mode, runtimeSeconds: runtime, rounds, slices,
      imageMiB: sizeMiB, cache, aa, [cand]: haveCand, ...(scsi ? {} : { vmvFlags }),
      ...(haveCand ? {} : { note: `the candidate is not built (${candBin} missing): ${base} figures only` }),
      ...(vfio && haveCand ? { vfioTraffic: traffic } : {}),
      limits, boots, results,
    }));
  }
}
