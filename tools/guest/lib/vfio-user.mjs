// The @vmv/vfio-user real-guest test (trixie: QEMU 11.1's vfio-user-pci, q35): our server, in this process, serves
// a plain PCI function (a conventional config space with a made-up vendor and device id, one 4 KiB memory BAR of
// three registers) on a unix socket, and QEMU plugs it into the guest.
//   vfio-user/bar  the kernel enumerates the function (vendor and device in sysfs), assigns BAR0 its 4 KiB; the
//                  guest reads the magic word through /dev/mem, writes the scratch register and reads it back, and
//                  reads the server's count of BAR reads; the server saw QEMU's DMA windows (guest RAM, mapped from
//                  its memfd, and the ROMs, which have no fd). A write to the DMA register makes the device read the
//                  last 64 bytes of every window without an fd through DMA_READ messages (and of the RAM windows
//                  directly): the BIOS window's bytes equal the end of the SeaBIOS image QEMU loaded.
// The daemon vmv-vfio-user (packages/vfio-user-daemon, built) serving @vmv virtio devices as virtio-pci functions:
//   vfio-user/blk  virtio-blk over a raw image, 2 queues: virtio_pci binds with MSI-X (a vector per queue in /proc/interrupts),
//                  virtio_blk's disk runs guest/tests/blk.sh (checked on the host, as the vhost-user blk case), then
//                  virtio_pci is unbound (a device reset) and bound again and the disk reads back; a 32 MiB O_DIRECT
//                  read's rate is reported (notifications travel as REGION_WRITE messages)
//   vfio-user/fs   ext4 with 120 files on the same disk (guest/tests/fs.sh; the host checks with e2fsck and debugfs)
//   vfio-user/rng  virtio-rng: virtio_rng binds and /dev/hwrng reads bytes
//   vfio-user/console  virtio-console with a named port, the ports on TCP (--backend network): virtio_console binds
//                  with an MSI-X vector per queue that has a callback; hvc0 (raw through Debian's stty) and the named
//                  port each carry 1 MiB both ways through Debian's socat, sha256-checked on both sides; then
//                  virtio_pci is unbound and bound again and the named port carries another 1 MiB both ways
//   vfio-user/gpio virtio-gpio, a simulated chip of 8 named lines driven over the daemon's control socket: gpio-virtio
//                  binds with a vector per queue (request, event), then the whole gpio/lines scenario (lib/gpio.mjs:
//                  gpiod's tools, 1,000 edges through gpiomon, level interrupts) over PCI
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PciRegion } from '@vmv/vfio-user';
import { VfioUserServer } from '@vmv/vfio-user/node';
import { createHash, randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { CASES, prepareBlk, verifyBlk } from './cases.mjs';
import { runCheck } from './checks.mjs';
import { freePorts } from './console.mjs';
import { GPIO_CHIP_ARGS, gpioLinesScenario } from './gpio.mjs';
import { REPO_ROOT } from './image.mjs';

/** The built vmv-vfio-user. */
export const VFIO_USER_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vfio-user-daemon', 'dist', 'cjs', 'bin.js');

const VENDOR = 0x5a5a;
const DEVICE = 0x0001;
const MAGIC = 0x76666d76;

/** Bits of config space the guest may write: command (I/O, memory, bus master), BAR0 above its 4 KiB, interrupt line. */
const WRITABLE = new Uint8Array(256);
WRITABLE[0x04] = 0x07;
WRITABLE.set([0x00, 0xf0, 0xff, 0xff], 0x10);
WRITABLE[0x3c] = 0xff;

/**
 * A plain PCI function: config space; BAR0 = magic (0), scratch (4), BAR reads served (8), DMA probe (12: a write
 * starts it), DMA status (16: 0 running or idle, 1 done, 2 failed); no interrupts.
 */
export class PlainPciFunction {
  configSize = 256;
  bars = [{ size: 0x1000 }];
  irqCounts = [0, 0, 0, 0, 0];
  config = new Uint8Array(256);
  scratch = 0;
  barReads = 0;
  barWrites = 0;
  /** DMA windows QEMU mapped: {address, size, fd}. */
  windows = [];
  /** What the probe read: {address, fd, bytes}, or the error. */
  probes = [];
  dmaStatus = 0;
  ctx = null;

  constructor() {
    const v = new DataView(this.config.buffer);
    v.setUint16(0x00, VENDOR, true);
    v.setUint16(0x02, DEVICE, true);
    v.setUint32(0x08, 0xff000001, true); // revision 1, class ff (unassigned)
    v.setUint16(0x2c, VENDOR, true);
    v.setUint16(0x2e, DEVICE, true);
  }

  read(region, offset, data) {
    if (region === PciRegion.CONFIG) return data.set(this.config.subarray(offset, offset + data.length));
    this.barReads++;
    const regs = new Uint8Array(0x1000);
    const v = new DataView(regs.buffer);
    v.setUint32(0, MAGIC, true);
    v.setUint32(4, this.scratch, true);
    v.setUint32(8, this.barReads, true);
    v.setUint32(16, this.dmaStatus, true);
    data.set(regs.subarray(offset, offset + data.length));
  }

  write(region, offset, data) {
    if (region === PciRegion.CONFIG) {
      data.forEach((b, i) => {
        const m = WRITABLE[offset + i];
        this.config[offset + i] = (this.config[offset + i] & ~m) | (b & m);
      });
      return;
    }
    this.barWrites++;
    if (offset === 4 && data.length === 4) this.scratch = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
    if (offset === 12) this.probeDma();
  }

  attach(ctx) {
    this.ctx = ctx;
  }

  detach() {
    this.ctx = null;
  }

  /** Reads the last 64 bytes of every window through the device's DMA view (messages where there is no fd). */
  probeDma() {
    this.dmaStatus = 0;
    const dma = this.ctx.dma;
    (async () => {
      for (const w of this.windows) {
        const address = w.address + w.size - 64n;
        this.probes.push({ address, fd: w.fd, size: w.size, bytes: await dma.read(address, 64) });
      }
    })().then(() => (this.dmaStatus = 1), (e) => {
      this.probes.push({ error: e });
      this.dmaStatus = 2;
    });
  }

  reset() {
    this.config.fill(0, 0x04, 0x06);
    this.config.fill(0, 0x10, 0x14);
    this.scratch = 0;
  }
}

/**
 * vfio-user/bar: see the header.
 * @param {object} img  a guest image (ensureGuestImage), trixie
 * @param {object} hooks  log, onConsoleLine
 */
export function vfioUserBarCheck(img, hooks = {}) {
  const name = `${img.platform.name}/vfio-user/bar`;
  if (img.platform.name !== 'trixie') return Promise.resolve({ name, ok: false, seconds: 0, details: 'needs QEMU 11.1 (vfio-user-pci): --platform trixie' });
  const dir = mkdtempSync(join(tmpdir(), 'vmv-vfio-user-'));
  const socket = join(dir, 'vfio-user.sock');
  const device = new PlainPciFunction();
  const seen = { windows: 0, fdWindows: 0, failed: [], commands: new Set() };
  const server = new VfioUserServer(device, {
    onEvent: (e) => {
      if (e.type === 'dma-mapped') {
        seen.windows++;
        if (e.fd) seen.fdWindows++;
        device.windows.push({ address: e.address, size: e.size, fd: e.fd });
      }
      if (e.type === 'command-failed') seen.failed.push(`${e.command}: ${e.error.message.split('\n')[0]}`);
    },
  });
  server.listen(socket);
  return runCheck(name, img, {
    ...hooks,
    tests: ['vfio-user'],
    cmdline: [`vfu.vendor=0x${VENDOR.toString(16).padStart(4, '0')}`, `vfu.device=0x${DEVICE.toString(16).padStart(4, '0')}`],
    qemuArgs: ['-device', JSON.stringify({ driver: 'vfio-user-pci', socket: { type: 'unix', path: socket } })],
    verify: (r) => {
      const errors = [];
      const want = { 'vfu.function': '0x5a5a:0x0001', 'vfu.bar0-size': '4096', 'vfu.magic': String(MAGIC), 'vfu.scratch': String(0x12345678) };
      for (const [k, v] of Object.entries(want)) if (r.values[k] !== v) errors.push(`${k}: ${r.values[k]}, expected ${v}`);
      if (!(Number(r.values['vfu.reads']) >= 3)) errors.push(`the server counted ${r.values['vfu.reads']} BAR reads at the third`);
      if (device.scratch !== 0x12345678) errors.push(`the server's scratch register holds 0x${device.scratch.toString(16)}`);
      if (seen.fdWindows === 0) errors.push('QEMU mapped no guest RAM with an fd');
      if (r.values['vfu.dma'] !== '1') errors.push(`DMA probe status ${r.values['vfu.dma']}: ${device.probes.find((p) => p.error)?.error?.message ?? ''} (errno ${device.probes.find((p) => p.error)?.error?.errno})`);
      const bios = readFileSync(join(img.platform.root, 'usr', 'share', 'seabios', 'bios-256k.bin'));
      const tail = bios.subarray(bios.length - 64);
      const viaMessages = device.probes.filter((p) => p.bytes && !p.fd);
      if (!viaMessages.some((p) => Buffer.from(p.bytes).equals(tail))) errors.push('no window without an fd read as the end of the BIOS image');
      return errors;
    },
    summary: () => `BAR reads ${device.barReads}, writes ${device.barWrites}; DMA windows ${seen.windows} (${seen.fdWindows} with an fd), `
      + `${device.probes.filter((p) => p.bytes && !p.fd).length} without an fd probed; refused: ${seen.failed.join(', ') || 'none'}`,
    cleanup: () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/**
 * Starts vmv-vfio-user with `args` on a socket in `dir`; resolves once it listens.
 * @returns {Promise<{socket: string, log: () => string, stop: () => Promise<number|null>}>}
 */
async function startDaemon(dir, args) {
  const socket = join(dir, 'vfio-user.sock');
  const child = spawn(process.execPath, [VFIO_USER_DAEMON_BIN, '--socket', socket, '--verbose', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  for (let i = 0; !log.includes('listening on'); i++) {
    if (child.exitCode !== null) throw new Error(`vmv-vfio-user exited (${child.exitCode}):\n${log}`);
    if (i > 600) throw new Error(`vmv-vfio-user did not listen within 60 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!statSync(socket).isSocket()) throw new Error(`${socket} is not a socket`);
  let stopped = null;
  return {
    socket,
    log: () => log,
    stop: () => {
      stopped ??= child.exitCode !== null ? exited : (child.kill('SIGTERM'), exited);
      return stopped;
    },
  };
}

/** The daemon's log lines worth a summary: refused commands, device errors. */
const complaints = (log) => log.split('\n').filter((l) => / (warn|error): /.test(l));

/**
 * A vmv-vfio-user case: the daemon started before QEMU, stopped (image flushed) before `verify`.
 * @param {object} img  the trixie guest image
 * @param {string} name  the case name (after vfio-user/)
 * @param {object} o  args (the daemon's device flags), tests, cmdline, verify(r, d), summary(r, d), before (run in the dir),
 *   started (run once the daemon listens), modules, packages and programs (Debian's), data (in the guest), timeoutMs,
 *   onConsoleLine (instead of the hook's), settle (awaited before the daemon is stopped)
 */
function daemonCheck(img, name, hooks, o) {
  const full = `${img.platform.name}/vfio-user/${name}`;
  if (img.platform.name !== 'trixie') return Promise.resolve({ name: full, ok: false, seconds: 0, details: 'needs QEMU 11.1 (vfio-user-pci): --platform trixie' });
  if (!existsSync(VFIO_USER_DAEMON_BIN)) return Promise.resolve({ name: full, ok: false, seconds: 0, details: `${VFIO_USER_DAEMON_BIN} missing: pnpm turbo run build --filter=@vmv/vfio-user-daemon...` });
  const dir = mkdtempSync(join(tmpdir(), 'vmv-vfu-'));
  const t0 = performance.now();
  return (async () => {
    const st = (await o.before?.(dir)) ?? {};
    const d = await startDaemon(dir, o.args(dir, st));
    o.started?.(st);
    return runCheck(full, img, {
      ...hooks,
      tests: o.tests,
      modules: o.modules,
      packages: o.packages,
      programs: o.programs,
      data: o.data,
      timeoutMs: o.timeoutMs,
      onConsoleLine: o.onConsoleLine ?? hooks.onConsoleLine,
      cmdline: o.cmdline(st),
      qemuArgs: ['-device', JSON.stringify({ driver: 'vfio-user-pci', socket: { type: 'unix', path: d.socket } })],
      verify: async (r) => {
        await o.settle?.();
        const code = await d.stop();
        const errors = code === 0 ? [] : [`vmv-vfio-user exited ${code}: ${d.log().split('\n').slice(-5).join(' | ')}`];
        const bad = complaints(d.log());
        if (bad.length > 0) errors.push(`daemon warnings: ${bad.slice(0, 5).join(' | ')}`);
        return [...errors, ...(await o.verify(r, st, dir))];
      },
      summary: (r) => o.summary(r, d.log()),
      cleanup: () => {
        o.cleanup?.(st);
        void d.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    });
  })().catch((e) => {
    rmSync(dir, { recursive: true, force: true });
    return { name: full, ok: false, seconds: (performance.now() - t0) / 1000, details: `harness: ${e.stack ?? e.message}` };
  });
}

/** The checks of vfio-virtio.sh: virtio_pci bound, the virtio driver too, MSI-X with a line per queue and config. */
function functionErrors(v, driver, queues) {
  const e = [];
  if (v['vfu.pci-driver'] !== 'virtio-pci') e.push(`the function's driver is ${v['vfu.pci-driver']}, not virtio-pci`);
  if (v['vfu.virtio-driver'] !== driver) e.push(`the virtio device's driver is ${v['vfu.virtio-driver']}, not ${driver}`);
  if (!(Number(v['vfu.msi-irqs']) >= queues + 1)) e.push(`${v['vfu.msi-irqs']} MSI-X vectors allocated, expected ${queues + 1} (config + a vector per queue)`);
  if (v['vfu.queue-irq-lines'] !== String(queues)) e.push(`/proc/interrupts has ${v['vfu.queue-irq-lines']} MSI-X lines for queues, expected ${queues}`);
  return e;
}

const MiB = 1 << 20;

/** vfio-user/blk: see the header. */
export function vfioUserBlkCheck(img, hooks = {}) {
  const size = 64 * MiB;
  return daemonCheck(img, 'blk', hooks, {
    before: (dir) => prepareBlk(join(dir, 'disk.img'), size),
    args: (dir) => ['--device', 'blk', '--image', join(dir, 'disk.img'), '--queues', '2'],
    tests: ['vfio-virtio', 'blk', 'vfio-rebind'],
    cmdline: (st) => [`blk.size=${st.size}`, 'vfu.device=0x1042', 'vfu.driver=virtio_blk'],
    verify: (r, st, dir) => {
      const v = r.values;
      const e = [...functionErrors(v, 'virtio_blk', 2), ...verifyBlk(r, join(dir, 'disk.img'), st)];
      if (v['vfu.unbound'] !== '1') e.push('the disk did not go away at the unbind');
      if (v['vfu.rebind-md5'] !== v['vfu.rebind-expected'] || !v['vfu.rebind-md5']) e.push(`after the rebind [4M,8M) reads ${v['vfu.rebind-md5']}, blk.sh wrote ${v['vfu.rebind-expected']}`);
      if (v['vfu.rebind-queue-irq-lines'] !== '2') e.push(`after the rebind /proc/interrupts has ${v['vfu.rebind-queue-irq-lines']} queue lines`);
      if (!(Number(v['vfu.rebind-queue-interrupts']) > 0)) e.push('no queue interrupt counted after the rebind');
      return e;
    },
    summary: (r, log) => `MSI-X vectors ${r.values['vfu.msi-irqs']}; O_DIRECT 1 MiB reads ${r.values['vfu.dd-read-mbs']} MiB/s; `
      + `queue interrupts after the rebind ${r.values['vfu.rebind-queue-interrupts']}; resets ${(log.match(/device reset/g) ?? []).length}`,
  });
}

/** Files vfio-user/fs writes: fs.sh's six and more (fs.many=). */
const FS_FILES = 120;

/** vfio-user/fs: see the header. */
export function vfioUserFsCheck(img, hooks = {}) {
  const size = 128 * MiB;
  return daemonCheck(img, 'fs', hooks, {
    before: (dir) => CASES.fs.prepare(join(dir, 'disk.img'), size),
    args: (dir) => ['--device', 'blk', '--image', join(dir, 'disk.img')],
    tests: ['vfio-virtio', 'fs'],
    cmdline: () => ['vfu.device=0x1042', 'vfu.driver=virtio_blk', `fs.many=${FS_FILES - 6}`],
    verify: async (r, _st, dir) => [...functionErrors(r.values, 'virtio_blk', 1), ...(await CASES.fs.verify(r, join(dir, 'disk.img'), { files: FS_FILES }))],
    summary: () => `ext4: ${FS_FILES} files verified in the guest after a remount and on the host (e2fsck -fn, debugfs)`,
  });
}

/** vfio-user/rng: see the header. */
export function vfioUserRngCheck(img, hooks = {}) {
  const bytes = 65536;
  return daemonCheck(img, 'rng', hooks, {
    args: () => ['--device', 'rng'],
    tests: ['vfio-virtio', 'vfio-rng'],
    cmdline: () => ['vfu.device=0x1044', 'vfu.driver=virtio_rng', `rng.bytes=${bytes}`],
    verify: (r) => {
      const v = r.values;
      const e = functionErrors(v, 'virtio_rng', 1);
      if (v['vfu.rng-read'] !== String(bytes)) e.push(`read ${v['vfu.rng-read']} bytes of ${bytes} from /dev/hwrng`);
      if (!(Number(v['vfu.rng-distinct']) >= 250)) e.push(`only ${v['vfu.rng-distinct']} distinct byte values in ${bytes} random bytes`);
      if (!(Number(v['vfu.rng-interrupts']) > 0)) e.push('no interrupt on the request queue');
      return e;
    },
    summary: (r) => `${r.values['vfu.rng-read']} bytes from /dev/hwrng, ${r.values['vfu.rng-distinct']} distinct values, ${r.values['vfu.rng-interrupts']} queue interrupts`,
  });
}

const CONSOLE_PORT = 'org.vmv.vfu.0';
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/**
 * vfio-user/console: see the header. The host end of each port is a TCP connection (port 0 on the first TCP port,
 * the named port on the next); the host sends round r's bytes once the guest's bytes of round r arrive (the guest
 * has the port open then), so nothing waits on a time.
 */
export function vfioUserConsoleCheck(img, hooks = {}) {
  const bytes = MiB;
  // tag, port, rounds (hvc0 in round 1 only: it is a tty the rebind replaces)
  const ports = [{ tag: 'hvc', k: 0, rounds: 1 }, { tag: 'port', k: 1, rounds: 2 }];
  return daemonCheck(img, 'console', hooks, {
    before: async () => ({ sockets: [], streams: ports.map(() => ({ sent: [], got: [], gotBytes: 0 })), base: await freePorts(ports.length) }),
    args: (_dir, st) => ['--device', 'console', '--backend', 'network', '--tcp-port', String(st.base), '--ports', CONSOLE_PORT],
    started: (st) => ports.forEach((p, i) => {
      const s = createConnection(st.base + p.k, '127.0.0.1');
      const io = st.streams[i];
      st.sockets.push(s);
      s.on('error', (e) => (io.error = e.message));
      s.on('data', (d) => {
        io.got.push(d);
        io.gotBytes += d.length;
        while (io.sent.length < p.rounds && io.gotBytes > io.sent.length * bytes) {
          const data = randomBytes(bytes);
          io.sent.push(data);
          s.write(data);
        }
      });
    }),
    packages: ['socat'],
    programs: ['socat', 'stty', 'sha256sum'],
    timeoutMs: 600_000,
    tests: ['vfio-virtio', 'vfio-console'],
    cmdline: () => ['vfu.device=0x1043', 'vfu.driver=virtio_console', `vfu.console-bytes=${bytes}`, `vfu.console-name=${CONSOLE_PORT}`],
    verify: (r, st) => {
      const v = r.values;
      // virtio_console gives every queue a callback but control-o: 2 + 1 + 2 of the 6 queues have vectors
      const e = functionErrors(v, 'virtio_console', 5);
      ports.forEach((p, i) => {
        const io = st.streams[i];
        const up = Buffer.concat(io.got);
        if (io.error) e.push(`${p.tag}: TCP ${io.error}`);
        for (let round = 0; round < p.rounds; round++) {
          const tag = round === 0 ? p.tag : `${p.tag}${round + 1}`;
          const got = up.subarray(round * bytes, (round + 1) * bytes);
          if (got.length !== bytes || sha256(got) !== v[`vfu.console.${tag}.up`]) e.push(`${tag}: the host got ${got.length} bytes, sha256 ${sha256(got)}; the guest sent ${v[`vfu.console.${tag}.up`]}`);
          const sent = io.sent[round];
          if (!sent || v[`vfu.console.${tag}.down`] !== sha256(sent)) e.push(`${tag}: the guest read sha256 ${v[`vfu.console.${tag}.down`]}, the host sent ${sent ? sha256(sent) : 'nothing'}`);
        }
        if (up.length !== p.rounds * bytes) e.push(`${p.tag}: the host got ${up.length} bytes in all, expected ${p.rounds * bytes}`);
      });
      if (!/-icanon/.test(v['vfu.console.hvc-stty'] ?? '') || !/-echo/.test(v['vfu.console.hvc-stty'] ?? '')) e.push(`hvc0 not raw: ${v['vfu.console.hvc-stty']}`);
      if (v['vfu.unbound'] !== '1') e.push('the ports did not go away at the unbind');
      if (v['vfu.rebind-queue-irq-lines'] !== '5') e.push(`after the rebind /proc/interrupts has ${v['vfu.rebind-queue-irq-lines']} queue lines, expected 5`);
      if (!(Number(v['vfu.console.input-interrupts']) > 0)) e.push('no interrupt on the input queues');
      if (!(Number(v['vfu.console.rebind-input-interrupts']) > 0)) e.push('no interrupt on the input queues after the rebind');
      return e;
    },
    summary: (r, log) => `MSI-X vectors ${r.values['vfu.msi-irqs']}; hvc0 and ${r.values['vfu.console.port-dev']} 1 MiB each way sha256-checked, `
      + `the port again after the rebind; input interrupts ${r.values['vfu.console.input-interrupts']}, after the rebind ${r.values['vfu.console.rebind-input-interrupts']}; `
      + `resets ${(log.match(/device reset/g) ?? []).length}`,
    cleanup: (st) => st.sockets.forEach((s) => s.destroy()),
  });
}

/** vfio-user/gpio: see the header. */
export async function vfioUserGpioCheck(img, hooks = {}) {
  if (img.platform.name !== 'trixie') return daemonCheck(img, 'gpio', hooks, {});
  const { st, check } = await gpioLinesScenario(img, hooks);
  return daemonCheck(img, 'gpio', hooks, {
    ...check,
    args: (dir) => ['--device', 'gpio', ...GPIO_CHIP_ARGS, '--control-socket', (st.ctl = join(dir, 'gpio.ctl'))],
    tests: ['vfio-virtio', ...check.tests],
    cmdline: () => ['vfu.device=0x1069', 'vfu.driver=gpio_virtio', ...check.cmdline],
    // the host's last control requests are answered before the daemon stops
    settle: () => st.chain,
    verify: async (r) => [...functionErrors(r.values, 'gpio_virtio', 2), ...(await check.verify(r))],
    summary: (r) => `MSI-X vectors ${r.values['vfu.msi-irqs']}; ${check.summary(r)}`,
  });
}
