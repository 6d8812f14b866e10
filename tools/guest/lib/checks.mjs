// The platform checks: what every later device test stands on, shown on each platform with real drivers.
//   platform/tools      the Debian programs device tests use run in the guest (their libraries complete)
//   platform/modules    trixie: the out-of-tree gpio, i2c, spi and can drivers load (vermagic matches), bind
//                       to @vmv test devices behind QEMU's own frontends, and work with Debian's tools
//   test-device/blk     trixie: QEMU's generic vhost-user-test-device-pci (virtio-id 2, 2 queues, 96 config
//                       bytes) on our vmv-vhost-user-blk: virtio_blk binds, data checked both ways
//   test-device/rng     trixie: the same frontend, virtio-id 4, a @vmv test device: virtio-rng reads its bytes
//   test-device/unbound trixie: an ID no Linux driver exists for, 3 queues, 16 config bytes: virtio_pci binds the function;
//                       the guest reads the queue count and our config bytes through the PCI layout
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES } from './cases.mjs';
import { bootGuest } from './boot.mjs';
import { guestInitrd } from './image.mjs';
import { vmvAvailable, vmvCommand } from './backends.mjs';
import { PACKAGE_DIR, guestCacheDir } from './util.mjs';

const TEST_DEVICE_BIN = join(PACKAGE_DIR, 'bin', 'test-device.mjs');

/**
 * A vhost-user device served by the generic @vmv test device (bin/test-device.mjs).
 * @param {string} name
 * @param {{virtioId: number, queues: string[], config?: string, featureBits?: number[], fill?: number, queueSize?: number}} spec
 * @param {(chardev: string) => string} qemuDevice  the QEMU frontend
 * @returns {import('./boot.mjs').VhostUserDeviceSpec}
 * @example testDevice('rng', { virtioId: 4, queues: ['complete'], fill: 165 }, (c) => `vhost-user-rng-pci,chardev=${c}`)
 */
export function testDevice(name, spec, qemuDevice) {
  return {
    name,
    qemuDevice,
    argv: ({ socket }) => [process.execPath, TEST_DEVICE_BIN, '--socket', socket, '--virtio-id', String(spec.virtioId),
      '--queues', spec.queues.join(','), ...(spec.config ? ['--config', spec.config] : []),
      ...(spec.featureBits?.length ? ['--features', spec.featureBits.join(',')] : []),
      ...(spec.fill !== undefined ? ['--fill', String(spec.fill)] : []), ...(spec.queueSize ? ['--queue-size', String(spec.queueSize)] : [])],
  };
}

/** QEMU's generic frontend for any device ID (QEMU 10.2 and later). */
const genericFrontend = (virtioId, numVqs, configSize, vqSize = 64) => (c) =>
  `vhost-user-test-device-pci,chardev=${c},virtio-id=${virtioId},num_vqs=${numVqs},config_size=${configSize},vq_size=${vqSize}`;

/** The TESTDEV-STATS line a test device printed when it stopped, from its log. */
function deviceStats(r, name) {
  const e = r.backendExits.find((x) => x.backend === name);
  if (!e) return null;
  const m = /^TESTDEV-STATS (.*)$/m.exec(readFileSync(e.log, 'utf8'));
  return m ? JSON.parse(m[1]) : null;
}

/** The Debian packages and programs of the guest tools each platform offers device tests. */
export const GUEST_TOOLS = {
  bookworm: [
    { pkg: 'socat', progs: ['socat'] }, { pkg: 'sg3-utils', progs: ['sg_inq', 'sg_readcap'] }, { pkg: 'evtest', progs: ['evtest'] },
  ],
  trixie: [
    { pkg: 'gpiod', progs: ['gpiodetect', 'gpioinfo', 'gpioget', 'gpioset', 'gpiomon'] },
    { pkg: 'i2c-tools', progs: ['i2cdetect', 'i2cget', 'i2cset'] },
    { pkg: 'can-utils', progs: ['cansend', 'candump'] },
    { pkg: 'alsa-utils', progs: ['aplay', 'arecord'] },
    { pkg: 'mtd-utils', progs: ['flash_erase', 'mtd_debug'] },
    { pkg: 'sg3-utils', progs: ['sg_inq', 'sg_readcap'] },
    { pkg: 'socat', progs: ['socat'] },
    { pkg: 'evtest', progs: ['evtest'] },
  ],
};

/**
 * Boots one check: builds its initramfs (base + modules + programs), boots, then runs `verify` on the result.
 * @returns {Promise<{name: string, ok: boolean, seconds: number, details: string}>}
 */
export async function runCheck(name, img, o) {
  const t0 = performance.now();
  const errors = [];
  let r = null;
  try {
    const initrd = await guestInitrd(img, { modules: o.modules, packages: o.packages, programs: o.programs, data: o.data, log: o.log });
    r = await bootGuest({
      guestImage: img, initrd, machine: o.machine ?? 'q35', disks: o.disks ?? [], devices: o.devices ?? [], tests: o.tests,
      cmdline: o.cmdline ?? [], timeoutMs: o.timeoutMs, memMiB: o.memMiB, qemuArgs: o.qemuArgs, keepWorkDir: true, onConsoleLine: o.onConsoleLine, onProgress: o.onProgress,
    });
    errors.push(...r.errors);
    if (r.marker) errors.push(...(await o.verify?.(r) ?? []));
  } catch (e) {
    errors.push(`harness: ${e.stack ?? e.message}`);
  }
  const ok = errors.length === 0;
  const timing = r ? `init ${r.initSeconds?.toFixed(1) ?? '-'} s, marker ${r.markerSeconds?.toFixed(1) ?? '-'} s` : '';
  let details = ok ? `${timing}${o.summary && r ? `; ${o.summary(r)}` : ''}` : `${errors.join('; ')}${timing ? ` [${timing}]` : ''}`;
  if (!ok && r) details += `\n--- console (last 30 lines; logs in ${r.workDir}) ---\n${r.console.slice(-30).join('\n')}`;
  if (ok && r) rmSync(r.workDir, { recursive: true, force: true });
  o.cleanup?.();
  return { name, ok, seconds: (performance.now() - t0) / 1000, details };
}

/** platform/tools: every guest program of the platform runs in its guest. */
export function toolsCheck(img, hooks = {}) {
  const tools = GUEST_TOOLS[img.platform.name];
  const progs = tools.flatMap((t) => t.progs);
  return runCheck(`${img.platform.name}/platform/tools`, img, {
    ...hooks, packages: tools.map((t) => t.pkg), programs: progs, tests: ['tools'], cmdline: [`tools.check=${progs.join(',')}`],
    verify: (r) => (r.values['tools.ran'] === String(progs.length) ? [] : [`the guest ran ${r.values['tools.ran']} of ${progs.length} programs`]),
    summary: () => `${progs.length} programs from ${tools.length} packages`,
  });
}

const NGPIO = 8;
// struct virtio_spi_config: 1 chip select, 8-bit words, CPHA=0/CPOL=0 modes, 1 MHz
const SPI_CONFIG = `01000000${'80000000'}${'05000000'}${'40420f00'}${'00'.repeat(16)}`;

/** platform/modules: the out-of-tree drivers bind to @vmv devices and work with Debian's tools (trixie). */
export function modulesCheck(img, hooks = {}) {
  const devices = [
    testDevice('gpio', { virtioId: 41, queues: ['complete', 'hold'], config: `${NGPIO.toString(16).padStart(2, '0')}00000000000000` },
      (c) => `vhost-user-gpio-pci,chardev=${c}`),
    testDevice('i2c', { virtioId: 34, queues: ['complete'], featureBits: [0] /* ZERO_LENGTH_REQUEST */ }, (c) => `vhost-user-i2c-pci,chardev=${c}`),
    testDevice('spi', { virtioId: 45, queues: ['complete'], config: SPI_CONFIG }, (c) => `vhost-user-spi-pci,chardev=${c}`),
    // no upstream vhost-user-can frontend: the generic one (tx, rx, control; config le16 status)
    testDevice('can', { virtioId: 36, queues: ['complete', 'hold', 'complete'], config: '0000', featureBits: [0] /* CAN_CLASSIC */ },
      genericFrontend(36, 3, 2)),
  ];
  return runCheck(`${img.platform.name}/platform/modules`, img, {
    ...hooks, devices, tests: ['oot'], cmdline: [`oot.ngpio=${NGPIO}`],
    modules: ['gpio-virtio', 'i2c-virtio', 'i2c-dev', 'spi-virtio', 'virtio_can', 'can-raw'],
    packages: ['gpiod', 'i2c-tools', 'can-utils'], programs: ['gpiodetect', 'gpioinfo', 'i2cdetect', 'i2cget', 'cansend'],
    verify(r) {
      const e = [];
      const s = Object.fromEntries(['gpio', 'i2c', 'spi', 'can'].map((n) => [n, deviceStats(r, n)]));
      for (const [n, st] of Object.entries(s)) if (!st || st.activations < 1) e.push(`${n}: the test device was never activated`);
      if (s.gpio && s.gpio.queues[0].chains < NGPIO) e.push(`gpio: ${s.gpio.queues[0].chains} requests, fewer than one per line`);
      if (s.i2c && s.i2c.queues[0].chains < 1) e.push('i2c: no request reached the device');
      if (s.can && s.can.queues[0].readBytes < 4) e.push('can: no frame on the tx queue');
      if (s.can && s.can.queues[2].chains < 1) e.push('can: no control message (START)');
      return e;
    },
    summary: (r) => `gpio ${deviceStats(r, 'gpio')?.queues[0].chains} requests, i2c ${deviceStats(r, 'i2c')?.queues[0].chains}, can tx ${deviceStats(r, 'can')?.queues[0].chains} / ctrl ${deviceStats(r, 'can')?.queues[2].chains}`,
  });
}

/** test-device/blk: virtio_blk through QEMU's generic frontend on our daemon (2 queues, the 96-byte config). */
export function genericBlkCheck(img, hooks = {}) {
  const name = `${img.platform.name}/test-device/blk`;
  if (!vmvAvailable()) return Promise.resolve({ name, ok: false, seconds: 0, details: 'our daemon is not built (packages/vhost-user-blk/dist)' });
  const dir = mkdtempSync(join(tmpdir(), 'vmv-case-'));
  const image = join(dir, 'disk.raw');
  const c = CASES.mq;
  const st = c.prepare(image, c.size);
  const o = { queues: 2, cpus: 2 };
  const device = {
    name: 'vmv-blk',
    argv: ({ socket }) => [...vmvCommand(), '--socket', socket, '--image', image, '--queues', '2'],
    qemuDevice: genericFrontend(2, 2, 96, 256),
  };
  return runCheck(name, img, {
    ...hooks, devices: [device], tests: c.tests, cmdline: c.cmdline(st, o),
    verify: (r) => c.verify(r, image, st, o),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}

const RNG_FILL = 0xa5;
const RNG_BYTES = 16384;

/** test-device/rng: virtio-rng through the generic frontend reads what the @vmv test device serves. */
export function genericRngCheck(img, hooks = {}) {
  return runCheck(`${img.platform.name}/test-device/rng`, img, {
    ...hooks,
    devices: [testDevice('rng', { virtioId: 4, queues: ['complete'], fill: RNG_FILL }, genericFrontend(4, 1, 0))],
    tests: ['hwrng'], cmdline: [`rng.bytes=${RNG_BYTES}`, `rng.fill=${RNG_FILL}`],
    verify(r) {
      const s = deviceStats(r, 'rng');
      if (!s) return ['the test device printed no stats'];
      return s.queues[0].writtenBytes >= RNG_BYTES ? [] : [`the device served ${s.queues[0].writtenBytes} bytes, the guest read ${RNG_BYTES}`];
    },
    summary: (r) => `${deviceStats(r, 'rng')?.queues[0].writtenBytes} bytes served in ${deviceStats(r, 'rng')?.queues[0].chains} buffers`,
  });
}

// 38, the parameter server: Linux has no driver for it. QEMU's generic frontend takes only the IDs it has a name
// for (it aborts on an unknown one), so an unassigned ID cannot be used.
const UNBOUND_ID = 38;
const UNBOUND_CONFIG = '0123456789abcdeffedcba9876543210';

/** test-device/unbound: an ID with no driver, 3 queues, 16 config bytes, seen through the PCI layout. */
export function genericUnboundCheck(img, hooks = {}) {
  return runCheck(`${img.platform.name}/test-device/unbound`, img, {
    ...hooks,
    devices: [testDevice('unbound', { virtioId: UNBOUND_ID, queues: ['complete', 'complete', 'hold'], config: UNBOUND_CONFIG },
      genericFrontend(UNBOUND_ID, 3, UNBOUND_CONFIG.length / 2))],
    tests: ['testdev'], cmdline: [`td.id=${UNBOUND_ID}`, 'td.queues=3', `td.config=${UNBOUND_CONFIG}`],
    verify(r) {
      const e = [];
      if (r.values['td.pci-device'] !== `0x${(0x1040 + UNBOUND_ID).toString(16)}`) e.push(`PCI device id ${r.values['td.pci-device']}, expected 0x${(0x1040 + UNBOUND_ID).toString(16)}`);
      if (r.values['td.config'] !== UNBOUND_CONFIG) e.push(`config read ${r.values['td.config']}`);
      return e;
    },
  });
}

/**
 * harness/interrupt: the harness stops what it started when it is interrupted. bin/boot.mjs boots a guest on this
 * platform (q35, qemu-storage-daemon); once QEMU runs, the harness process alone gets SIGINT (what a parent's Ctrl-C
 * handler or a CI timeout sends); it must exit 130, and neither QEMU nor the backend may outlive it. Then no mount is
 * left under the cache directory.
 */
export async function interruptCheck(img) {
  const name = `${img.platform.name}/harness/interrupt`;
  const t0 = performance.now();
  const errors = [];
  const workDirs = () => readdirSync(tmpdir()).filter((f) => f.startsWith('vmv-guest-'));
  const before = new Set(workDirs());
  const child = spawn(process.execPath, [join(PACKAGE_DIR, 'bin', 'boot.mjs'), '--platform', img.platform.name, '--machine', 'q35',
    '--backend', 'qsd', '--tests', 'smoke,blk', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pids = [];
  let out = '';
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const started = new Promise((res) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      for (const m of d.matchAll(/\((?:pid )?(\d+)\)? (?:listening|started)/g)) pids.push(Number(m[1]));
      if (/qemu \(pid \d+\) started/.test(out)) res(true);
    });
    child.once('exit', () => res(false));
  });
  const deadline = (ms, what) => new Promise((res) => { const t = setTimeout(() => res(what), ms); t.unref(); });
  if (await Promise.race([started, deadline(120_000, false)]) !== true) errors.push(`QEMU never started: ${out.slice(-1500)}`);
  else {
    child.kill('SIGINT');
    const ex = await Promise.race([exited, deadline(60_000, null)]);
    if (ex === null) errors.push('the harness did not exit within 60 s of SIGINT');
    else if (ex.code !== 130) errors.push(`the harness exited with ${ex.code ?? ex.signal}, expected 130`);
    // the children were sent SIGKILL before the harness exited; wait (generously) for the kernel to finish them
    const alive = (pid) => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 300 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    const left = pids.filter(alive);
    if (pids.length < 2) errors.push(`expected the backend's and QEMU's pids in the output, got ${pids.join(', ')}`);
    if (left.length) errors.push(`still running after the harness exited: ${left.map((p) => `${p} (${readFileSync(`/proc/${p}/comm`, 'utf8').trim()})`).join(', ')}`);
  }
  if (child.exitCode === null) child.kill('SIGKILL');
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(guestCacheDir()));
  if (mounts.length) errors.push(`mounts left under ${guestCacheDir()}: ${mounts.join(' ')}`);
  // its work directory (the 64 MiB disk image among its files) goes with it
  const dirsLeft = workDirs().filter((d) => !before.has(d));
  if (dirsLeft.length) errors.push(`work directory left in ${tmpdir()}: ${dirsLeft.join(' ')}`);
  const ok = errors.length === 0;
  return { name, ok, seconds: (performance.now() - t0) / 1000, details: ok ? `SIGINT after QEMU started: exit 130, pids ${pids.join(', ')} gone, no mounts or work directory left` : errors.join('; ') };
}
