// Boots the test guest on qemu-system-x86_64 with its disk served by a vhost-user-blk backend, parses the
// serial console, enforces timeouts and always stops every process it started.
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, closeSync, constants as fsc, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { resolveBackend, qemuOptValue } from './backends.mjs';
import { createImage, ensureGuestImage, supportsODirect } from './image.mjs';

// ---------------------------------------------------------------------------------------------------------
// Every child process this module started, so that nothing outlives the harness (exit, Ctrl-C, a crash).
const live = new Set();
let handlersInstalled = false;
const killAll = () => {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
};
// Work directories of runs in progress that are not to be kept: removed too when a signal ends the harness.
const scratch = new Set();
const onSignal = (sig) => {
  killAll();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  process.exit(sig === 'SIGINT' ? 130 : 143);
};
function track(child) {
  live.add(child);
  if (!handlersInstalled) {
    process.on('exit', killAll);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    handlersInstalled = true;
  }
  const forget = () => {
    live.delete(child);
    if (live.size === 0 && handlersInstalled) {
      process.off('exit', killAll);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      handlersInstalled = false;
    }
  };
  child.once('exit', forget);
  child.on('error', () => { if (child.pid === undefined) forget(); }); // never started
  return child;
}

/** Resolves with {code, signal} when the child exits, or null after ms. */
function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((res) => {
    const t = setTimeout(() => { child.off('exit', onExit); res(null); }, ms);
    const onExit = (code, signal) => { clearTimeout(t); res({ code, signal }); };
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL after graceMs. Resolves with how it ended. */
async function stop(child, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode, killed: false };
  try { child.kill('SIGTERM'); } catch { /* gone */ }
  const r = await waitExit(child, graceMs);
  if (r) return { ...r, killed: false };
  try { child.kill('SIGKILL'); } catch { /* gone */ }
  const k = await waitExit(child, 5000);
  return { code: k?.code ?? null, signal: k?.signal ?? 'SIGKILL', killed: true };
}

// ---------------------------------------------------------------------------------------------------------

/**
 * The accelerator to use: env VMV_GUEST_ACCEL (kvm|tcg), else KVM when /dev/kvm is usable and is not
 * kvm_pvm (PVM's native mode cannot boot the distro kernel), else TCG.
 * @returns {{accel: 'kvm'|'tcg', reason: string}}
 * @example detectAccel().accel
 */
export function detectAccel() {
  const env = process.env.VMV_GUEST_ACCEL;
  if (env === 'kvm' || env === 'tcg') return { accel: env, reason: 'VMV_GUEST_ACCEL' };
  if (existsSync('/sys/module/kvm_pvm')) return { accel: 'tcg', reason: '/dev/kvm is kvm_pvm (cannot boot this kernel)' };
  try {
    accessSync('/dev/kvm', fsc.R_OK | fsc.W_OK);
    return { accel: 'kvm', reason: '/dev/kvm usable' };
  } catch {
    return { accel: 'tcg', reason: 'no usable /dev/kvm' };
  }
}

function tscKhz() {
  try {
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Math.round(Number(m[1]) * 1000) : 0;
  } catch {
    return 0;
  }
}

async function waitForSocket(path, child, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if (statSync(path).isSocket()) return true;
    } catch { /* not yet */ }
    if (child.exitCode !== null || child.signalCode !== null) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

/**
 * Which file is at path (inode and change time: a new file may reuse the inode number), or null when there is none.
 * A restarted backend replaces its stale socket file.
 */
function inodeOf(path) {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.ino}:${s.ctimeNs}`;
  } catch {
    return null;
  }
}

const qemuVersions = new Map();
/**
 * The chardev option making QEMU reconnect to a backend that went away, once a second: `reconnect=1` up to
 * QEMU 9.1, `reconnect-ms=1000` from 9.2 (where `reconnect` was deprecated; QEMU 10 removed it).
 * @param {string} qemuBin
 * @returns {string}
 */
function reconnectOption(qemuBin) {
  if (!qemuVersions.has(qemuBin)) {
    const m = /version (\d+)\.(\d+)/.exec(execFileSync(qemuBin, ['--version'], { encoding: 'utf8' }));
    qemuVersions.set(qemuBin, m ? Number(m[1]) * 100 + Number(m[2]) : 0);
  }
  return qemuVersions.get(qemuBin) >= 902 ? 'reconnect-ms=1000' : 'reconnect=1';
}

const tail = (text, n = 20) => text.split('\n').filter(Boolean).slice(-n).join('\n');

/**
 * @typedef {object} BootResult
 * @property {boolean} ok  marker seen with fail=0, every requested test PASS, QEMU exited by itself, backends sane
 * @property {string[]} errors  why not ok (empty when ok)
 * @property {string} platform
 * @property {string} machine
 * @property {string|null} backend  the first disk's backend
 * @property {number} queues
 * @property {'kvm'|'tcg'} accel
 * @property {Record<string, 'PASS'|'FAIL'>} tests  per guest test
 * @property {Record<string, string>} values  GUEST-VALUE key value lines
 * @property {Array<Record<string, string>>} fio  GUEST-FIO lines as key/value objects
 * @property {{pass: number, fail: number, uptime: number}|null} marker
 * @property {number|null} initSeconds  QEMU start to the guest's /init (kernel boot)
 * @property {number|null} markerSeconds  QEMU start to the end marker (boot + tests)
 * @property {number} totalSeconds  whole call, backend start to everything stopped
 * @property {{code: number|null, signal: string|null}|null} qemuExit
 * @property {{code: number|null, signal: string|null, killed: boolean}|null} backendExit  the first backend's
 * @property {string[]} backends  the backend of each disk, then each device, in order
 * @property {Array<{backend: string, code: number|null, signal: string|null, killed: boolean, log: string}>} backendExits  each backend's
 * @property {string[]} console  the serial console lines
 * @property {string} workDir  logs (console.log, qemu.err, backend*.log, cmdline.txt); removed when ok, or when a signal ends
 *   the harness, unless keepWorkDir
 * @property {string|null} image  the first disk's image
 * @property {number} [frontendRestarts]  how many times the run restarted QEMU (run.restartFrontend)
 */

/**
 * What a host action can act on while the guest runs.
 * @typedef {object} GuestRun
 * @property {Array<{image: string, pid: number|null, log: string|null}>} disks  each disk's image, current backend pid
 *   and backend log file (appended to across restarts)
 * @property {(i: number) => Promise<number>} restartBackend  SIGKILLs disk i's backend and starts it again on the
 *   same socket (the stale socket file left in place for the daemon to replace); resolves with the new pid once it
 *   listens. Only with opts.reconnect (QEMU must reconnect); rejects when the new backend does not come up.
 * @property {number} backendRestarts  how many restarts so far
 * @property {(cmdline?: string[]) => boolean} restartFrontend  SIGKILLs QEMU and starts a new one on the same
 *   backends and images, the guest's kernel command line extended by cmdline (false when the run is ending)
 * @property {number} frontendRestarts  how many so far
 */

/**
 * A vhost-user device other than a disk: its backend process and the QEMU device that connects to it.
 * @typedef {object} VhostUserDeviceSpec
 * @property {string} name  for messages and the backend's log file
 * @property {(a: {socket: string, platform: import('./platform.mjs').Platform}) => string[]} [argv]  the backend's
 *   command line
 * @property {string} [socket]  instead of argv: a socket another process already listens on (one daemon serving
 *   several guests); the run starts and stops nothing for it
 * @property {(chardev: string) => string} [qemuDevice]  the -device value, given the chardev id to connect to
 * @property {(socket: string) => string[]} [qemuArgs]  instead of qemuDevice: the QEMU arguments that plug the device
 *   in, given the socket, and no chardev (a vfio-user-pci device connects to its socket itself)
 * @property {string} [socketFile]  the socket's file name in the run's directory (default `dev<i>.sock`); a daemon that
 *   suffixes its -s path as rust-vmm's do (`-s P` listens on `P0`) gets one ending in 0 and is given the rest
 */

/**
 * Boots the test guest on a platform's QEMU with shared memfd RAM: starts each vhost-user backend on its unix
 * socket, then QEMU with a vhost-user-blk device per disk (virtio-mmio on microvm, PCI on q35) and the other
 * vhost-user devices asked for; runs the guest tests named in `tests`; waits for the power-off; stops the
 * backends. Every process started is stopped before this resolves, whatever happens.
 * @param {object} opts
 * @param {'microvm'|'q35'} [opts.machine='microvm']
 * @param {string|object} [opts.backend='qsd']  'qsd' | 'vmv' | 'builtin' | {name, command} (see resolveBackend)
 * @param {Array<{backend: string|object, image: string, readonly?: boolean}>} [opts.disks]  several disks instead of
 *   backend/image/readonly (or none: []): one backend process (and socket) per disk, attached in this order (vda,
 *   vdb, ... as the guest usually probes them; the benchmark identifies them by content instead). Every disk gets
 *   `queues` queues.
 * @param {VhostUserDeviceSpec[]} [opts.devices=[]]  other vhost-user devices, attached after the disks
 * @param {number} [opts.queues=1]  num-queues of the device (and of the export)
 * @param {string[]} [opts.tests=['smoke']]  guest tests (guest/tests/<name>.sh) in order
 * @param {string} [opts.image]  raw image file the backend serves (default: a fresh sparse 64 MiB file)
 * @param {boolean} [opts.readonly=false]  export read-only
 * @param {boolean} [opts.fio=false]  boot the benchmark initramfs (fio inside; 1 GiB RAM by default)
 * @param {string} [opts.initrd]  another initramfs (from guestInitrd: the base plus a test's modules and programs)
 * @param {string[]} [opts.cmdline=[]]  extra kernel arguments (guest test knobs such as blk.size=N)
 * @param {string[]} [opts.cmdlineFirst=[]]  kernel arguments before console=ttyS0 (another console=: the kernel
 *   writes to both, /dev/console stays ttyS0, the last one)
 * @param {boolean} [opts.reconnect=false]  QEMU reconnects to a disk's backend that went away (chardev reconnect
 *   option), so that the run may restart a backend (`run.restartBackend`) without failing
 * @param {number} [opts.memMiB]  guest RAM (512, or 1024 with fio)
 * @param {number} [opts.cpus=2]
 * @param {number} [opts.timeoutMs]  to the end marker (default 120 s under TCG, 60 s under KVM)
 * @param {(line: string, seconds: number, run: GuestRun) => void} [opts.onConsoleLine]
 *   each console line, seconds since QEMU start, and the run (for a host action the guest asks for)
 * @param {(message: string) => void} [opts.onProgress]  harness steps (backend up, QEMU started, ...)
 * @param {boolean} [opts.keepWorkDir=false]
 * @param {string} [opts.platform='bookworm']  when no guestImage is given
 * @param {import('./image.mjs').GuestImage} [opts.guestImage]  from ensureGuestImage() (its platform's QEMU boots it)
 * @returns {Promise<BootResult>}
 * @throws {Error} only for harness set-up errors (image build failed); guest and backend failures are in the result
 * @example
 * const r = await bootGuest({ machine: 'q35', backend: 'qsd', queues: 2, tests: ['smoke', 'blk'],
 *                             onConsoleLine: (l) => console.log(l) });
 * console.log(r.ok, r.markerSeconds);
 */
export async function bootGuest(opts = {}) {
  const machine = opts.machine ?? 'microvm';
  if (machine !== 'microvm' && machine !== 'q35') throw new TypeError(`bootGuest: machine must be microvm or q35, got ${machine}`);
  const queues = opts.queues ?? 1;
  if (!Number.isInteger(queues) || queues < 1 || queues > 16) throw new RangeError(`bootGuest: queues must be 1..16, got ${queues}`);
  const tests = opts.tests ?? ['smoke'];
  if (opts.disks !== undefined && (!Array.isArray(opts.disks) || opts.disks.some((d) => !d || typeof d.image !== 'string'))) {
    throw new TypeError('bootGuest: disks must be an array of {backend, image, readonly?}');
  }
  const devices = opts.devices ?? [];
  const diskSpecs = opts.disks ?? [{ backend: opts.backend ?? 'qsd', image: opts.image, readonly: opts.readonly }];
  const backends = diskSpecs.map((d) => resolveBackend(d.backend ?? 'qsd'));
  const onProgress = opts.onProgress ?? (() => {});
  const t0 = performance.now();
  const guestImage = opts.guestImage ?? await ensureGuestImage({ platform: opts.platform, fio: Boolean(opts.fio) });
  const platform = guestImage.platform;
  const initrd = opts.initrd ?? (opts.fio ? guestImage.fioInitrd : guestImage.initrd);
  if (!initrd) throw new Error('bootGuest: the fio initramfs was not built (ensureGuestImage({fio: true}))');
  const { accel } = detectAccel();
  const memMiB = opts.memMiB ?? (opts.fio ? 1024 : 512);
  const cpus = opts.cpus ?? 2;
  const timeoutMs = opts.timeoutMs ?? (accel === 'tcg' ? 120_000 : 60_000);
  const workDir = mkdtempSync(join(tmpdir(), 'vmv-guest-'));
  if (!opts.keepWorkDir) scratch.add(workDir);
  // every vhost-user backend: one per disk (unless QEMU's own virtio-blk), one per device
  const endpoints = [];
  const disks = diskSpecs.map((d, i) => {
    const image = d.image ?? join(workDir, i === 0 ? 'disk.raw' : `disk${i}.raw`);
    if (!d.image) createImage(image, 64 << 20);
    const disk = { backend: backends[i], image, readonly: Boolean(d.readonly), direct: supportsODirect(dirname(image)), endpoint: null };
    if (!disk.backend.builtin) {
      const socket = join(workDir, i === 0 ? 'vub.sock' : `vub${i}.sock`);
      disk.endpoint = {
        name: disk.backend.name, socket, log: join(workDir, i === 0 ? 'backend.log' : `backend${i}.log`), proc: null,
        argv: disk.backend.argv({ socket, image, readonly: disk.readonly, queues, direct: disk.direct, platform }),
      };
      endpoints.push(disk.endpoint);
    }
    return disk;
  });
  const deviceEndpoints = devices.map((d, i) => {
    if (d.socket !== undefined) return { name: d.name, socket: d.socket, spec: d }; // served by another process
    const socket = join(workDir, d.socketFile ?? `dev${i}.sock`);
    const e = { name: d.name, socket, log: join(workDir, `device${i}-${d.name.replace(/[^\w.-]/g, '_')}.log`), proc: null, argv: d.argv({ socket, platform }), spec: d };
    endpoints.push(e);
    return e;
  });
  const errors = [];
  const result = {
    ok: false, errors, platform: platform.name, machine, backend: backends[0]?.name ?? null,
    backends: [...backends.map((b) => b.name), ...devices.map((d) => d.name)], queues, accel, tests: {}, values: {},
    fio: [], marker: null, initSeconds: null, markerSeconds: null, totalSeconds: 0, qemuExit: null, backendExit: null,
    backendExits: [], console: [], workDir, image: disks[0]?.image ?? null,
  };
  const logFd = openSync(join(workDir, 'console.log'), 'w');
  let qemu = null;
  try {
    // 1. the backends, each listening on its unix socket
    const startBackend = (ep, flags) => {
      const blog = openSync(ep.log, flags);
      writeSync(blog, `+ ${ep.argv.join(' ')}\n`);
      const proc = track(spawn(ep.argv[0], ep.argv.slice(1), { stdio: ['ignore', blog, blog] }));
      ep.proc = proc;
      closeSync(blog);
      return proc;
    };
    for (const ep of endpoints) {
      const proc = startBackend(ep, 'w');
      let spawnError = null;
      proc.on('error', (e) => { spawnError ??= e; });
      const up = await waitForSocket(ep.socket, proc, 30_000);
      if (!up) {
        errors.push(`backend ${ep.name} did not listen on ${ep.socket}${spawnError ? `: ${spawnError.message}` : ''}`
          + `${proc.exitCode !== null ? ` (exited with code ${proc.exitCode})` : ''}: ${tail(readFileSync(ep.log, 'utf8'), 10)}`);
        return result;
      }
      onProgress(`backend ${ep.name} (pid ${proc.pid}) listening on ${ep.socket}`);
    }

    // 2. QEMU
    const mem = `${memMiB}M`;
    // no_timer_check: the kernel's IO-APIC timer check counts PIT ticks in a busy loop, which a TCG guest on a
    // loaded host can miss ("IO-APIC + timer doesn't work!", a panic at boot, seen in a CI run's neighbour)
    const append = [...(opts.cmdlineFirst ?? []), 'console=ttyS0', 'quiet', 'panic=-1', 'no_timer_check', `rdtest=${tests.join(',')}`, ...(opts.cmdline ?? [])];
    if (accel === 'tcg') {
      const khz = tscKhz();
      if (khz) append.push(`tsc_early_khz=${khz}`); // PVH entry under TCG cannot calibrate the TSC and stalls
    }
    const args = [
      '-M', `${machine},memory-backend=mem`,
      // microvm: qboot, which only loads the kernel. Debian 12 links bios-microvm.bin to it; Debian 13 ships SeaBIOS's
      // microvm build there instead, which drives virtio-mmio disks itself before Linux (with rings a vhost-user
      // backend rejects: "invalid address for buffers") and leaves a PVH kernel unreadable ACPI tables.
      ...(machine === 'microvm' ? ['-bios', 'qboot.rom', '-global', 'virtio-mmio.force-legacy=false'] : []),
      ...(accel === 'kvm' ? ['-enable-kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max']),
      '-m', mem, '-smp', String(cpus), '-nodefaults', '-no-user-config', '-display', 'none',
      '-serial', 'stdio', '-no-reboot', '-name', 'vmv-guest,debug-threads=on',
      '-object', `memory-backend-memfd,id=mem,size=${mem},share=on`,
      '-kernel', guestImage.kernel, '-initrd', initrd, '-append', append.join(' '),
      ...(opts.qemuArgs ?? []),
      // VMV_GUEST_QEMU_TRACE=PATTERN[,PATTERN]: QEMU's trace events (its "log" backend) into qemu-trace.log
      ...(process.env.VMV_GUEST_QEMU_TRACE ? [...process.env.VMV_GUEST_QEMU_TRACE.split(',').flatMap((t) => ['-trace', t]), '-D', join(workDir, 'qemu-trace.log')] : []),
    ];
    const sfx = machine === 'microvm' ? '-device' : '-pci';
    disks.forEach((disk, i) => {
      if (disk.backend.builtin) {
        args.push('-drive', `id=d${i},file=${qemuOptValue(disk.image)},if=none,format=raw,${disk.direct ? 'cache=none,aio=native' : 'cache=writeback,aio=threads'}${disk.readonly ? ',readonly=on' : ''}`,
          '-device', `virtio-blk${sfx},drive=d${i},num-queues=${queues}`);
      } else {
        args.push('-chardev', `socket,id=vub${i},path=${qemuOptValue(disk.endpoint.socket)}${opts.reconnect ? `,${reconnectOption(platform.qemu)}` : ''}`,
          '-device', `${machine === 'microvm' ? 'vhost-user-blk' : 'vhost-user-blk-pci'},chardev=vub${i},num-queues=${queues}`);
      }
    });
    deviceEndpoints.forEach((ep, i) => {
      if (ep.spec.qemuArgs) args.push(...ep.spec.qemuArgs(ep.socket));
      else args.push('-chardev', `socket,id=vud${i},path=${qemuOptValue(ep.socket)}`, '-device', ep.spec.qemuDevice(`vud${i}`));
    });
    const qemuBin = platform.qemu;
    writeFileSync(join(workDir, 'cmdline.txt'), `+ ${qemuBin} ${args.join(' ')}\n`);
    const tq = performance.now();
    const what = [...disks.map((d) => (d.backend.builtin ? 'virtio-blk' : `vhost-user-blk (${d.backend.name})`)), ...devices.map((d) => d.name)];
    let stderr = '';
    let spawnError = null;
    let onLine = null;
    // one QEMU process: its stderr kept, its console parsed line by line
    const spawnQemu = (argv) => {
      const proc = track(spawn(qemuBin, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
      qemu = proc;
      onProgress(`qemu (pid ${proc.pid}) started: ${platform.name}, ${machine}, ${what.join(' + ') || 'no vhost-user device'}, ${queues} queue(s), ${accel}`);
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (d) => { if (stderr.length < 65536) stderr += d; });
      proc.on('error', (e) => { spawnError ??= e; });
      let buf = '';
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      const stdoutDone = new Promise((r) => proc.stdout.once('close', r));
      const exited = new Promise((res) => {
        proc.once('exit', (code, signal) => res({ code, signal }));
        proc.once('error', () => res({ code: null, signal: null }));
      });
      return { exited, rest: async () => {
        await Promise.race([stdoutDone, new Promise((r) => setTimeout(r, 2000))]);
        if (buf) onLine(buf);
        buf = '';
      } };
    };
    let frontend = spawnQemu(args);
    let frontendRestart = null;

    let markerAt = null;
    let kvmError = null;
    let postMarkerTimer = null;
    let killedReason = null;
    const kill = (why) => {
      if (!killedReason) killedReason = why;
      try { qemu.kill('SIGKILL'); } catch { /* gone */ }
    };
    // a backend that dies before the guest finished fails the run at once (the guest would hang on I/O), unless
    // the run restarted it on purpose
    const watchBackend = (ep) => {
      const fn = (code, signal) => {
        if (markerAt === null && !ep.restarting) setTimeout(() => kill(`backend ${ep.name} exited during the run (code ${code}, signal ${signal})`), 1000);
      };
      ep.proc.once('exit', fn);
      ep.unwatch = () => ep.proc.off('exit', fn);
    };
    const run = {
      frontendRestarts: 0,
      restartFrontend(cmdline = []) {
        if (frontendRestart || markerAt !== null || killedReason) return false;
        frontendRestart = cmdline;
        try { qemu.kill('SIGKILL'); } catch { /* gone */ }
        return true;
      },
      disks: disks.map((d) => ({ image: d.image, pid: d.endpoint?.proc?.pid ?? null, log: d.endpoint?.log ?? null })),
      backendRestarts: 0,
      async restartBackend(i) {
        const ep = disks[i]?.endpoint;
        if (!ep) throw new RangeError(`restartBackend: disk ${i} has no backend process`);
        if (!opts.reconnect) throw new Error('restartBackend: bootGuest was not asked to let QEMU reconnect (opts.reconnect)');
        if (ep.restarting) throw new Error(`restartBackend: disk ${i}'s backend is already restarting`);
        ep.restarting = true;
        try {
          ep.unwatch();
          const old = ep.proc;
          const ino = inodeOf(ep.socket);
          try { old.kill('SIGKILL'); } catch { /* gone */ }
          if (!await waitExit(old, 5000)) throw new Error(`backend ${ep.name} (pid ${old.pid}) survived SIGKILL for 5 s`);
          const proc = startBackend(ep, 'a');
          const deadline = Date.now() + 30_000;
          while (inodeOf(ep.socket) === ino || inodeOf(ep.socket) === null) {
            if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`restarted backend ${ep.name} exited (code ${proc.exitCode}): ${tail(readFileSync(ep.log, 'utf8'), 10)}`);
            if (Date.now() > deadline) throw new Error(`restarted backend ${ep.name} did not listen on ${ep.socket} within 30 s`);
            await new Promise((r) => setTimeout(r, 25));
          }
          run.disks[i].pid = proc.pid;
          run.backendRestarts++;
          watchBackend(ep);
          return proc.pid;
        } catch (err) {
          kill(`restartBackend: ${err.message}`);
          throw err;
        } finally {
          ep.restarting = false;
        }
      },
    };
    onLine = (raw) => {
      const line = raw.replace(/\r$/, '');
      const secs = (performance.now() - tq) / 1000;
      result.console.push(line);
      writeSync(logFd, `${line}\n`);
      opts.onConsoleLine?.(line, secs, run);
      let m;
      if (result.initSeconds === null && line.startsWith('GUEST-INIT: start')) result.initSeconds = secs;
      if ((m = /^GUEST-TEST (\S+) (PASS|FAIL)/.exec(line))) result.tests[m[1]] = m[2];
      else if ((m = /^GUEST-VALUE (\S+) ?(.*)$/.exec(line))) result.values[m[1]] = m[2];
      else if (line.startsWith('GUEST-FIO ')) {
        result.fio.push(Object.fromEntries(line.slice(10).trim().split(/\s+/).map((kv) => kv.split('='))));
      } else if ((m = /^GUEST-MARKER: DONE pass=(\d+) fail=(\d+) uptime=([\d.]+)/.exec(line))) {
        result.marker = { pass: Number(m[1]), fail: Number(m[2]), uptime: Number(m[3]) };
        result.markerSeconds = secs;
        markerAt = secs;
        // the guest powers off next; QEMU must exit by itself (a hang here is a real bug: e.g. a missing
        // vhost-user reply during device stop)
        postMarkerTimer = setTimeout(() => kill('QEMU did not exit within 20 s after the guest powered off'), 20_000);
      } else if (line.includes('KVM internal error')) {
        kvmError = line;
        setTimeout(() => kill(`KVM internal error: ${line}`), 500);
      }
    };
    const timeout = setTimeout(() => kill(`no end marker within ${timeoutMs / 1000} s`), timeoutMs);
    for (const ep of endpoints) watchBackend(ep);
    let qexit = await frontend.exited;
    // the run killed QEMU on purpose: a new QEMU on the same backends, the guest booted with more arguments
    while (frontendRestart && !killedReason) {
      await frontend.rest();
      const more = frontendRestart;
      const argv = [...args];
      const ai = argv.indexOf('-append');
      argv[ai + 1] = [argv[ai + 1], ...more].join(' ');
      writeFileSync(join(workDir, `cmdline${run.frontendRestarts + 1}.txt`), `+ ${qemuBin} ${argv.join(' ')}\n`);
      onLine(`HOST: QEMU SIGKILLed, starting a new one (${more.join(' ')})`);
      frontendRestart = null;
      run.frontendRestarts++;
      frontend = spawnQemu(argv);
      qexit = await frontend.exited;
    }
    clearTimeout(timeout);
    clearTimeout(postMarkerTimer);
    for (const ep of endpoints) ep.unwatch();
    await frontend.rest();
    result.frontendRestarts = run.frontendRestarts;
    result.qemuExit = qexit;
    writeFileSync(join(workDir, 'qemu.err'), stderr);
    if (spawnError) errors.push(`cannot start ${qemuBin}: ${spawnError.message}`);
    if (killedReason) errors.push(killedReason);
    if (kvmError && !killedReason) errors.push(kvmError);
    if (!result.marker && !killedReason && !spawnError) {
      errors.push(`QEMU exited before the end marker (code ${qexit.code}, signal ${qexit.signal})`);
    }
    if (result.marker && !killedReason && qexit.code !== 0) errors.push(`QEMU exited with code ${qexit.code} (signal ${qexit.signal})`);
    if (stderr.trim() && (errors.length || qexit.code !== 0)) errors.push(`qemu stderr: ${tail(stderr, 10)}`);
    if (result.marker && result.marker.fail !== 0) errors.push(`guest reported ${result.marker.fail} failed test(s)`);
    for (const t of tests) {
      if (result.tests[t] !== 'PASS') errors.push(`guest test ${t}: ${result.tests[t] ?? 'did not run'}`);
    }
  } finally {
    // 3. stop everything we started, in order: QEMU (if still there), then the backend (after a restart under way)
    for (let i = 0; i < 350 && endpoints.some((ep) => ep.restarting); i++) await new Promise((r) => setTimeout(r, 100));
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) {
      try { qemu.kill('SIGKILL'); } catch { /* gone */ }
      await waitExit(qemu, 5000);
    }
    for (const ep of endpoints) {
      const proc = ep.proc;
      if (!proc) continue;
      const exitedBefore = proc.exitCode !== null || proc.signalCode !== null;
      const r = await stop(proc, 5000);
      result.backendExits.push({ backend: ep.name, ...r, log: ep.log });
      result.backendExit ??= r;
      if (r.killed) errors.push(`backend ${ep.name} ignored SIGTERM for 5 s (SIGKILLed)`);
      else if (exitedBefore && (r.code !== 0 || r.signal)) {
        const note = `backend ${ep.name} exited by itself with code ${r.code}, signal ${r.signal}`;
        if (!errors.some((e) => e.startsWith(`backend ${ep.name} `))) errors.push(note);
      } else if (!exitedBefore && (r.code !== 0 || r.signal)) {
        errors.push(`backend ${ep.name} exited with code ${r.code}, signal ${r.signal} on SIGTERM`);
      }
    }
    if (errors.length) {
      for (const ep of endpoints) {
        try {
          const log = readFileSync(ep.log, 'utf8');
          if (log.split('\n').length > 2) errors.push(`backend${endpoints.length > 1 ? ` ${ep.name}` : ''} log: ${tail(log, 10)}`);
        } catch { /* no log */ }
      }
    }
    closeSync(logFd);
    result.totalSeconds = (performance.now() - t0) / 1000;
    result.ok = errors.length === 0;
    if (result.ok && !opts.keepWorkDir) {
      // the image may live in the work dir: keep it if the caller still needs it (it passed opts.image)
      rmSync(workDir, { recursive: true, force: true });
    }
  }
  scratch.delete(workDir);
  return result;
}
