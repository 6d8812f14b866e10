// scsi/hotplug: LUNs added, resized and removed while the guest runs, through vmv-vhost-user-scsi's control socket
// (--control-socket; guest/tests/scsi-hotplug.sh asks for each step on the console, the host acts, the guest polls
// sysfs without rescanning the adapter):
//   add     image 1 (host data at hp.off) becomes LUN 1 (lun-add): the guest's disk appears (TRANSPORT_RESET RESCAN),
//           its size is the image's, the host's data read by the guest (md5), the guest's O_DIRECT write found in
//           the image after the run; image 2 becomes LUN 0 of a new target 1, read-only: its disk appears read-only
//           and holds the host's data
//   resize  image 0 grows by 16 MiB (truncate) and LUN 0 is resized (lun-resize): the guest sees the new capacity
//           (through PARAM_CHANGE when VIRTIO_SCSI_F_CHANGE was negotiated, required then; by a rescan of the disk
//           otherwise) and its write past the old end is in the image
//   remove  LUN 1 and target 1's LUN 0 removed (lun-remove): the guest's disks disappear (TRANSPORT_RESET REMOVED);
//           lun-list then holds LUN 0 alone
// VIRTIO_SCSI_F_HOTPLUG must be negotiated; LUN 0 reads the host's data before and after all of it.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from './checks.mjs';
import { createImage, md5Range } from './image.mjs';
import { SCSI_MODULES, comparer, md5, scsiDaemon } from './scsi.mjs';
import { daemonControl } from './util.mjs';

const MiB = 1 << 20;
const SIZES = [32 * MiB, 16 * MiB, 8 * MiB];
const GROW = 16 * MiB;
const OFF = MiB;
const LEN = MiB;
const HOTPLUG_BIT = 1;
const CHANGE_BIT = 2;

/**
 * scsi/hotplug: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function scsiHotplugCheck(img, hooks = {}) {
  const name = `${img.platform.name}/scsi/hotplug`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-scsi-hp-'));
  const images = SIZES.map((size, i) => join(dir, `lun${i}.img`));
  const data = images.map((p, i) => {
    createImage(p, SIZES[i]);
    const b = randomBytes(LEN);
    const fd = openSync(p, 'r+');
    writeSync(fd, b, 0, LEN, OFF);
    closeSync(fd);
    return md5(b);
  });
  const st = { ctl: null, steps: [], failures: [], chain: Promise.resolve(), lists: {} };
  const daemon = scsiDaemon([images[0]], ['--solid-state']);
  const step = (what, fn) => {
    st.chain = st.chain.then(async () => {
      const t0 = performance.now();
      try {
        await fn();
        st.steps.push(`${what} ${Math.round(performance.now() - t0)} ms`);
      } catch (e) {
        st.failures.push(`${what}: ${e.message}`);
      }
    });
  };
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: SCSI_MODULES,
    devices: [{ ...daemon, argv: (a) => {
      st.ctl = `${a.socket}.ctl`;
      const argv = daemon.argv(a);
      return [...argv.slice(0, -1), '--control-socket', st.ctl, argv.at(-1)];
    } }],
    tests: ['scsi-hotplug'],
    cmdline: [`hp.off=${OFF}`, `hp.len=${LEN}`],
    timeoutMs: 300_000,
    onConsoleLine(line, secs, run) {
      hooks.onConsoleLine?.(line, secs, run);
      const m = /^GUEST-SCSI-HOTPLUG (\w+)/.exec(line);
      if (!m) return;
      if (m[1] === 'add') {
        step('lun-add', async () => {
          st.lists.added = await daemonControl(st.ctl, 'lun-add', { image: images[1], lun: 1 });
          st.lists.target1 = await daemonControl(st.ctl, 'lun-add', { image: images[2], target: 1, 'read-only': true });
        });
      }
      if (m[1] === 'resize') {
        step('lun-resize', async () => {
          truncateSync(images[0], SIZES[0] + GROW);
          st.lists.resized = await daemonControl(st.ctl, 'lun-resize', { lun: 0 });
        });
      }
      if (m[1] === 'remove') {
        step('lun-remove', async () => {
          await daemonControl(st.ctl, 'lun-remove', { lun: 1 });
          await daemonControl(st.ctl, 'lun-remove', { target: 1, lun: 0 });
          st.lists.after = await daemonControl(st.ctl, 'lun-list');
        });
      }
    },
    async verify(r) {
      await st.chain;
      const v = r.values;
      const e = [...st.failures];
      if (v['hp.done'] !== '1') return [...e, 'the guest did not finish'];
      const eq = comparer(e);
      const features = v['hp.features'] ?? '';
      eq('VIRTIO_SCSI_F_HOTPLUG negotiated', features[HOTPLUG_BIT], '1');
      const change = features[CHANGE_BIT] === '1';
      eq('how the guest saw the resize', v['hp.resize.how'], change ? 'event' : 'rescan');
      eq('LUN 0: the host\'s data before (md5)', v['hp.lun0.before'], data[0]);
      eq('lun-add\'s answer', JSON.stringify(st.lists.added), JSON.stringify({ target: 0, lun: 1, image: images[1], blocks: SIZES[1] / 512, readOnly: false, direct: false }));
      eq('LUN 1 added: its size in the guest (sectors)', v['hp.lun1.sectors'], String(SIZES[1] / 512));
      eq('LUN 1 added: the host\'s data read by the guest (md5)', v['hp.lun1.read'], data[1]);
      eq('LUN 1 added: the guest\'s write in the image (md5)', md5Range(images[1], 2 * OFF, LEN), v['hp.lun1.write']);
      eq('lun-add\'s answer for target 1', JSON.stringify(st.lists.target1), JSON.stringify({ target: 1, lun: 0, image: images[2], blocks: SIZES[2] / 512, readOnly: true, direct: false }));
      eq('target 1 LUN 0 added: read-only in the guest', v['hp.t1.ro'], '1');
      eq('target 1 LUN 0 added: the host\'s data read by the guest (md5)', v['hp.t1.read'], data[2]);
      eq('lun-resize\'s answer (blocks)', st.lists.resized?.blocks, (SIZES[0] + GROW) / 512);
      eq('LUN 0 before the resize (sectors)', v['hp.lun0.old'], String(SIZES[0] / 512));
      eq('LUN 0 after the resize (sectors)', v['hp.lun0.new'], String((SIZES[0] + GROW) / 512));
      eq('LUN 0: the guest\'s write past the old end in the image (md5)', md5Range(images[0], SIZES[0], LEN), v['hp.lun0.past']);
      eq('LUN 1 removed: gone from the guest', v['hp.lun1.gone'], '1');
      eq('lun-list after the removal', JSON.stringify(st.lists.after?.map((l) => l.lun)), '[0]');
      eq('LUN 0: the host\'s data after it all (md5)', v['hp.lun0.after'], data[0]);
      summary = `features ${features}; LUN 1 added, ${SIZES[1] / MiB} MiB, data both ways md5-checked; target 1 LUN 0 added read-only, read; LUN 0 grown `
        + `${SIZES[0] / MiB} -> ${(SIZES[0] + GROW) / MiB} MiB, seen by ${v['hp.resize.how']}, written past the old end; both added LUNs removed; `
        + `control steps: ${st.steps.join(', ')}`;
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}
