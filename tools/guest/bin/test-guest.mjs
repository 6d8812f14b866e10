#!/usr/bin/env node
// `pnpm test:guest [--platform bookworm|trixie|all] [--device NAME] [--only SUBSTRING] [--verbose]`: the real-guest
// tests, per platform (default all: Debian 12's QEMU and kernel, then the trixie root's). --device runs one
// device's tests (blk, platform, test-device); --only the tests whose name contains the substring.
// Disk backends of the blk matrix from env VMV_GUEST_BACKEND=qsd|vmv|both|builtin (default: vmv when its
// dist/cjs/bin.js exists, else qsd). Writes tools/guest/.guest-results.json, prints a line per test, exits 1 on
// any failure. A platform that cannot be prepared fails as one test whose details say what is missing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CASES, PACKAGE_DIR, defaultMatrix, detectAccel, ensureGuestImage, ensureHostDeps, platformNames, qsdAvailable, runGuestCase,
  selectedBackends, selfCheckLostWrites, vmvAvailable, VMV_DAEMON_BIN, workersCheck,
} from '../lib/guest.mjs';
import { genericBlkCheck, genericRngCheck, genericUnboundCheck, interruptCheck, modulesCheck, toolsCheck } from '../lib/checks.mjs';
import { rngRateCheck, rngReadCheck } from '../lib/rng-checks.mjs';
import { inputCheck, inputOverflowCheck, inputRateCheck } from '../lib/input.mjs';
import { consoleCheck } from '../lib/console.mjs';
import { vsockGroupCheck, vsockStreamCheck } from '../lib/vsock.mjs';
import { vsockSeqpacketCheck } from '../lib/vsock-seqpacket.mjs';
import { scsiLunsCheck } from '../lib/scsi.mjs';
import { scsiCommandsCheck } from '../lib/scsi-commands.mjs';
import { scsiDiskCheck } from '../lib/scsi-disk.mjs';
import { scsiHotplugCheck } from '../lib/scsi-hotplug.mjs';
import { soundOracleCheck, soundPcmCheck, soundStreamsCheck } from '../lib/sound.mjs';
import { i2cDevicesCheck } from '../lib/i2c.mjs';
import { gpioLinesCheck } from '../lib/gpio.mjs';
import { canFramesCheck, canGroupCheck } from '../lib/can.mjs';
import { vfioUserBarCheck, vfioUserBlkCheck, vfioUserConsoleCheck, vfioUserFsCheck, vfioUserGpioCheck, vfioUserRngCheck } from '../lib/vfio-user.mjs';
import { spiDevicesCheck } from '../lib/spi.mjs';

const args = process.argv.slice(2);
const opt = (k) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
const only = opt('--only') ?? null;
const verbose = args.includes('--verbose') || process.env.VMV_GUEST_VERBOSE === '1';
const resultsFile = join(PACKAGE_DIR, '.guest-results.json');
const tests = [];
const record = (name, ok, seconds, details) => {
  tests.push({ name, status: ok ? 'passed' : 'failed', seconds: Number(seconds.toFixed(2)), details });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name.padEnd(38)} ${seconds.toFixed(1).padStart(5)} s  ${ok ? details : ''}`);
  if (!ok) console.log(details.replace(/^/gm, '     '));
};
const finish = () => {
  const numFailedTests = tests.filter((t) => t.status === 'failed').length;
  writeFileSync(resultsFile, `${JSON.stringify({ numPassedTests: tests.length - numFailedTests, numFailedTests, tests }, null, 2)}\n`);
  console.log(`guest tests: ${tests.length - numFailedTests} passed, ${numFailedTests} failed (${resultsFile})`);
  process.exit(numFailedTests === 0 ? 0 : 1);
};

/**
 * The guest tests per device: each entry runs on the platforms it names and yields its tests, each a thunk
 * resolving to {name, ok, seconds, details} (names start with the platform).
 */
const SUITES = [
  {
    device: 'blk',
    platforms: ['bookworm', 'trixie'],
    tests(img, hooks) {
      const p = img.platform.name;
      const out = [];
      const sel = selectedBackends();
      if (sel.note) console.log(`guest: ${sel.note}`);
      for (const backend of sel.names) {
        if (backend === 'vmv' && !vmvAvailable()) {
          out.push([`${p}/vmv/daemon-built`, async () => ({ ok: false, seconds: 0, details: `VMV_GUEST_BACKEND asks for our daemon but ${VMV_DAEMON_BIN} does not exist (build packages/vhost-user-blk, or set VMV_GUEST_VMV_CMD)` })]);
          continue;
        }
        for (const c of defaultMatrix()) {
          if (CASES[c.kind].backends && !CASES[c.kind].backends.includes(backend)) continue;
          const name = `${p}/${backend}/${c.machine}/${c.kind}${c.queues > 1 ? `-q${c.queues}` : ''}`;
          out.push([name, () => runGuestCase(c.kind, { ...c, backend, guestImage: img, ...hooks })]);
        }
        // --workers 2: each queue in its own worker thread
        if (backend === 'vmv') out.push([`${p}/vmv-workers/q35/mq-q2`, () => workersCheck({ guestImage: img, ...hooks })]);
      }
      // the harness must be able to fail: a backend whose writes never reach the checked file must be caught
      if (qsdAvailable(img.platform)) {
        out.push([`${p}/harness/detects-lost-writes`, () => selfCheckLostWrites({ guestImage: img })]);
        out.push([`${p}/harness/interrupt`, () => interruptCheck(img)]);
      }
      return out;
    },
  },
  {
    device: 'platform',
    platforms: ['bookworm', 'trixie'],
    tests(img, hooks) {
      const p = img.platform.name;
      return [
        [`${p}/platform/tools`, () => toolsCheck(img, hooks)],
        ...(p === 'trixie' ? [[`${p}/platform/modules`, () => modulesCheck(img, hooks)]] : []),
      ];
    },
  },
  {
    device: 'input',
    platforms: ['bookworm', 'trixie'],
    tests: (img, hooks) => [
      [`${img.platform.name}/input/evtest`, () => inputCheck(img, hooks)],
      [`${img.platform.name}/input/overflow`, () => inputOverflowCheck(img, hooks)],
      [`${img.platform.name}/input/rate`, () => inputRateCheck(img, hooks)],
    ],
  },
  {
    device: 'test-device',
    platforms: ['trixie'],
    tests: (img, hooks) => [
      [`${img.platform.name}/test-device/blk`, () => genericBlkCheck(img, hooks)],
      [`${img.platform.name}/test-device/rng`, () => genericRngCheck(img, hooks)],
      [`${img.platform.name}/test-device/unbound`, () => genericUnboundCheck(img, hooks)],
    ],
  },
  {
    // vmv-vhost-user-rng behind vhost-user-rng-pci: the full set on trixie, a smoke test (256 KiB read) on bookworm
    device: 'rng',
    platforms: ['bookworm', 'trixie'],
    tests: (img, hooks) => (img.platform.name === 'trixie'
      ? [[`trixie/rng/read`, () => rngReadCheck(img, hooks)], [`trixie/rng/rate`, () => rngRateCheck(img, hooks)]]
      : [[`${img.platform.name}/rng/read`, () => rngReadCheck(img, hooks, 256 << 10)]]),
  },
  {
    // virtio-console: QEMU 7.2 (bookworm) has no frontend for a vhost-user console, so trixie only.
    device: 'console',
    platforms: ['trixie'],
    tests: (img, hooks) => [[`${img.platform.name}/console/multiport`, () => consoleCheck(img, hooks)]],
  },
  {
    // virtio-vsock through vmv-vhost-user-vsock behind vhost-user-vsock-pci: the full set on trixie, a smoke on bookworm
    device: 'vsock',
    platforms: ['bookworm', 'trixie'],
    tests: (img, hooks) => (img.platform.name === 'trixie'
      ? [[`trixie/vsock/stream`, () => vsockStreamCheck(img, hooks)], [`trixie/vsock/seqpacket`, () => vsockSeqpacketCheck(img, hooks)],
        [`trixie/vsock/group`, () => vsockGroupCheck(img, hooks)]]
      : [[`${img.platform.name}/vsock/stream`, () => vsockStreamCheck(img, hooks, { bytes: 1 << 20, conns: 4, each: 256 << 10 })]]),
  },
  {
    // virtio-scsi through vmv-vhost-user-scsi behind vhost-user-scsi-pci (QEMU 7.2 and 11.1): two LUNs (one read-only) checked with sg3-utils
    // (luns); the commands sg3-utils asks about, UNMAP/WRITE SAME holes, MODE SELECT, LU reset (commands); blk.sh and ext4 on two LUNs at
    // once with blkdiscard and fstrim (disk); a LUN added, grown and removed through the control socket while the guest runs (hotplug).
    // All four on both platforms: about 55 s per platform under TCG
    device: 'scsi',
    platforms: ['bookworm', 'trixie'],
    tests: (img, hooks) => [[`${img.platform.name}/scsi/luns`, () => scsiLunsCheck(img, hooks)],
      [`${img.platform.name}/scsi/commands`, () => scsiCommandsCheck(img, hooks)],
      [`${img.platform.name}/scsi/disk`, () => scsiDiskCheck(img, hooks)],
      [`${img.platform.name}/scsi/hotplug`, () => scsiHotplugCheck(img, hooks)]],
  },
  {
    // virtio-snd (trixie: Debian 12 has no virtio_snd): QEMU's own virtio-sound-pci with a wav audiodev (the oracle), and
    // vmv-vhost-user-sound behind vhost-user-snd-pci: playback and capture byte for byte
    device: 'sound',
    platforms: ['trixie'],
    tests: (img, hooks) => [[`${img.platform.name}/sound/oracle`, () => soundOracleCheck(img, hooks)],
      [`${img.platform.name}/sound/pcm`, () => soundPcmCheck(img, hooks)],
      [`${img.platform.name}/sound/streams`, () => soundStreamsCheck(img, hooks)]],
  },
  {
    // virtio-i2c (trixie: the out-of-tree i2c-virtio driver): vmv-vhost-user-i2c's EEPROMs and LM75 under i2c-tools, at24 and lm75
    device: 'i2c',
    platforms: ['trixie'],
    tests: (img, hooks) => [[`${img.platform.name}/i2c/devices`, () => i2cDevicesCheck(img, hooks)]],
  },
  {
    // virtio-gpio (trixie: the out-of-tree gpio-virtio driver): vmv-vhost-user-gpio's simulated chip under gpiod 2.x
    device: 'gpio',
    platforms: ['trixie'],
    tests: (img, hooks) => [[`${img.platform.name}/gpio/lines`, () => gpioLinesCheck(img, hooks)]],
  },
  {
    // virtio-can (trixie: QEMU 11.1's generic vhost-user-test-device-pci, the out-of-tree virtio_can driver): vmv-vhost-user-can's
    // bus under can-utils, a host program on its frame socket; two guests at once on one bus
    device: 'can',
    platforms: ['trixie'],
    tests: (img, hooks) => [[`${img.platform.name}/can/frames`, () => canFramesCheck(img, hooks)], [`${img.platform.name}/can/group`, () => canGroupCheck(img, hooks)]],
  },
  {
    // vfio-user (trixie: QEMU 11.1's vfio-user-pci): a plain PCI function served by @vmv/vfio-user, its BAR and DMA;
    // vmv-vfio-user serving virtio-blk (blk.sh, unbind and bind, ext4), virtio-rng, virtio-console (hvc0 and a named
    // port through socat, unbind and bind) and virtio-gpio (the gpio/lines scenario) to the guest's virtio_pci
    device: 'vfio-user',
    platforms: ['trixie'],
    tests: (img, hooks) => [[`${img.platform.name}/vfio-user/bar`, () => vfioUserBarCheck(img, hooks)],
      [`${img.platform.name}/vfio-user/blk`, () => vfioUserBlkCheck(img, hooks)],
      [`${img.platform.name}/vfio-user/rng`, () => vfioUserRngCheck(img, hooks)],
      [`${img.platform.name}/vfio-user/console`, () => vfioUserConsoleCheck(img, hooks)],
      [`${img.platform.name}/vfio-user/gpio`, () => vfioUserGpioCheck(img, hooks)],
      [`${img.platform.name}/vfio-user/fs`, () => vfioUserFsCheck(img, hooks)]],
  },
  {
    // virtio-spi (trixie: the out-of-tree spi-virtio driver): vmv-vhost-user-spi's W25Q32 flash under spi-nor and
    // mtd-utils, its loopback under spidev and spi-tools
    device: 'spi',
    platforms: ['trixie'],
    tests: (img, hooks) => [[`${img.platform.name}/spi/devices`, () => spiDevicesCheck(img, hooks)]],
  },
];

let platforms;
let device = opt('--device');
try {
  platforms = platformNames(opt('--platform') ?? 'all');
  if (device !== undefined && !SUITES.some((s) => s.device === device)) throw new TypeError(`unknown --device ${device} (${SUITES.map((s) => s.device).join(', ')})`);
} catch (e) {
  console.error(`test-guest: ${e.message}`);
  process.exit(2);
}
const suites = SUITES.filter((s) => device === undefined || s.device === device);
platforms = platforms.filter((p) => suites.some((s) => s.platforms.includes(p)));

const t0 = performance.now();
// fio: the blk suite's crash cases (kill, kill-qemu) boot the fio initramfs (bookworm's takes the host's fio)
const deps = ensureHostDeps({ quiet: true, platforms, fio: suites.some((s) => s.device === 'blk') });
if (!deps.ok) {
  record('host-deps', false, (performance.now() - t0) / 1000, `${deps.output}\n(set VMV_SKIP_GUEST=1 to skip the real-guest tests)`);
  finish();
}
const { accel, reason } = detectAccel();
const hooks = {
  log: (l) => console.log(l),
  onConsoleLine: verbose ? (l, s) => console.log(`  [${s.toFixed(2).padStart(6)}] ${l}`) : undefined,
};
for (const p of platforms) {
  const ti = performance.now();
  let img;
  try {
    img = await ensureGuestImage({ platform: p, log: (l) => console.log(l) });
  } catch (err) {
    record(`${p}/platform-setup`, false, (performance.now() - ti) / 1000, `${err.message}\n(use --platform to run another platform, or VMV_SKIP_GUEST=1 to skip the real-guest tests)`);
    continue;
  }
  console.log(`guest ${p}: ${img.platform.title}; kernel ${img.kver} (${img.kernelPackage}), accel ${accel} (${reason})`
    + `${img.built.length ? `, built ${img.built.join(' + ')}` : ''}; ready in ${img.seconds.toFixed(1)} s`);
  for (const s of suites) {
    if (!s.platforms.includes(p)) continue;
    let list;
    try {
      list = s.tests(img, hooks);
    } catch (err) {
      record(`${p}/${s.device}`, false, 0, err.message);
      continue;
    }
    for (const [name, run] of list) {
      if (only && !name.includes(only)) continue;
      const tt = performance.now();
      let r;
      try {
        r = await run();
      } catch (err) {
        r = { ok: false, details: `harness: ${err.stack ?? err.message}` };
      }
      record(name, r.ok, r.seconds ?? (performance.now() - tt) / 1000, r.details);
    }
  }
}
finish();
