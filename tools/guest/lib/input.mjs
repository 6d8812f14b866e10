// input/*: virtio-input on our vmv-vhost-user-input behind QEMU's own vhost-user-input-pci and the kernel's
// virtio_input + evdev. The guest finds each device by name, prints its ids and capabilities from sysfs, runs
// Debian's evtest on it and says INPUT-READY; the host then sends its events over the daemon's --events-socket;
// evtest's lines must be exactly the events sent, in order. The keyboard's CapsLock LED written by the guest to
// its event node must reach the host as exactly two status events (on, off).
import { connect } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootGuest } from './boot.mjs';
import { ensureGuestImage, guestInitrd } from './image.mjs';
import { detectAccel } from './boot.mjs';
import { REPO_ROOT } from './util.mjs';

const BIN = join(REPO_ROOT, 'packages', 'vhost-user-input', 'dist', 'cjs', 'bin.js');
const EV = { SYN: 0, KEY: 1, ABS: 3, LED: 17 };
const syn = [EV.SYN, 0, 0];

// A keyboard from a description file (no EV_REP: the guest's soft autorepeat would add events under a slow TCG guest)
const KBD = { name: 'vmv-kbd', events: { EV_KEY: [...Array(26).keys()].map((i) => 16 + i), EV_LED: [0, 1, 2] } };
const KBD_IDS = { bustype: 6, vendor: 0x1234, product: 0x5678, version: 0x0102 };
// ten keys (KEY_A..), pressed and released: one packet each
const KBD_EVENTS = [30, 31, 32, 33, 34, 35, 36, 37, 38, 39].flatMap((k) => [[EV.KEY, k, 1], syn, [EV.KEY, k, 0], syn]);
// one touch on the touchscreen preset: down, three moves, up; every value new, so the input core filters none
const TOUCH_EVENTS = [
  [EV.ABS, 0x39, 7], [EV.ABS, 0x35, 100], [EV.ABS, 0x36, 200], [EV.KEY, 0x14a, 1], [EV.ABS, 0, 100], [EV.ABS, 1, 200], syn,
  ...[1, 2, 3].flatMap((i) => [[EV.ABS, 0x35, 100 + 10 * i], [EV.ABS, 0x36, 200 + 20 * i], [EV.ABS, 0, 100 + 10 * i], [EV.ABS, 1, 200 + 20 * i], syn]),
  [EV.ABS, 0x39, -1], [EV.KEY, 0x14a, 0], syn,
];
const TOUCH_ABS = [0, 1, 0x2f, 0x35, 0x36, 0x39];

/** A bitmap as sysfs prints it (drivers/input/input.c input_print_bitmap): 64-bit words, highest first, each %lx. */
function sysfsBitmap(bits) {
  let v = 0n;
  for (const b of bits) v |= 1n << BigInt(b);
  const words = [];
  for (let x = v; x > 0n; x >>= 64n) words.push(x & 0xffff_ffff_ffff_ffffn);
  if (words.length === 0) return '0';
  return words.reverse().map((w) => w.toString(16)).join('.');
}

const hex4 = (n) => n.toString(16).padStart(4, '0');
const joinEvents = (evs) => evs.map((e) => e.join(',')).join(';') + ';';

/**
 * input/evtest: the devices above on one guest (bookworm: the keyboard only, a smoke test).
 * @returns {Promise<{name: string, ok: boolean, seconds: number, details: string}>}
 */
export async function inputCheck(img, hooks = {}) {
  const p = img.platform.name;
  const name = `${p}/input/evtest`;
  const t0 = performance.now();
  if (!existsSync(BIN)) return { name, ok: false, seconds: 0, details: `our daemon is not built (${BIN})` };
  const full = true;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-input-'));
  const kbdFile = join(dir, 'kbd.json');
  writeFileSync(kbdFile, JSON.stringify(KBD));
  const devs = [
    { tag: 'kbd', events: KBD_EVENTS, argv: ['--device', kbdFile, '--vendor', hex4(KBD_IDS.vendor), '--product', hex4(KBD_IDS.product), '--id-version', hex4(KBD_IDS.version)] },
    ...(full ? [{ tag: 'touch', events: TOUCH_EVENTS, argv: ['--device', 'touchscreen', '--name', 'vmv-touch', '--serial', 'T-1'] }] : []),
  ];
  for (const d of devs) Object.assign(d, { status: [], statusAtBind: [], client: null });
  const devices = devs.map((d) => ({
    name: `input-${d.tag}`,
    // -s P listens on P0 (as vhost-device-input): a link P -> P0 lets the harness find and QEMU reach it
    argv: ({ socket }) => ['sh', '-c', `ln -sf "$1"0 "$1" && shift && exec "$@"`, 'sh', socket, process.execPath, BIN, '-s', socket,
      '--events-socket', (d.events_socket = join(dir, `${d.tag}.events`)), ...d.argv],
    qemuDevice: (c) => `vhost-user-input-pci,chardev=${c}`,
  }));
  const errors = [];
  let sentAt = 0;
  let receivedAt = 0;
  const clients = [];
  // Each events socket is joined as soon as its daemon listens, before QEMU starts: status events the guest
  // kernel sends while binding the device are seen too (and reported), not only those after INPUT-READY.
  const join_ = (d) => {
    if (d.client) return;
    const c = (d.client = connect(d.events_socket));
    clients.push(c);
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (t) => {
      buf += t;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (line.status) (sentAt === 0 ? d.statusAtBind : d.status).push([line.status.type, line.status.code, line.status.value]);
        else errors.push(`${d.tag}: the daemon refused a line: ${line.error}`);
      }
    });
    c.on('error', (e) => errors.push(`${d.tag}: events socket: ${e.message}`));
  };
  const send = () => {
    for (const d of devs) {
      // packets alternately as one JSON array and as single-event lines
      const lines = [];
      let packet = [];
      let n = 0;
      for (const e of d.events) {
        packet.push({ type: e[0], code: e[1], value: e[2] });
        if (e[0] === EV.SYN) {
          if (n++ % 2 === 0) lines.push(JSON.stringify(packet));
          else lines.push(...packet.map((x) => JSON.stringify({ ...x, type: x.type === EV.KEY ? 'EV_KEY' : x.type })));
          packet = [];
        }
      }
      d.client.write(`${lines.join('\n')}\n`);
    }
    sentAt = performance.now();
  };
  let r = null;
  let qemuNote = '';
  try {
    const initrd = await guestInitrd(img, { modules: ['evdev', 'virtio_input'], packages: ['evtest'], programs: ['evtest'], log: hooks.log });
    // Debian 12's QEMU 7.2 builds vhost-user-input on backends/vhost-user.c, which refuses to start without KVM
    // ("vhost initialization failed: requires kvm": no ioeventfd under TCG); 9.0 moved it onto vhost-user-base,
    // which has no such check. Without KVM the bookworm kernel (6.1, its virtio_input) runs under trixie's QEMU.
    let guestImage = img;
    if (p === 'bookworm' && detectAccel().accel !== 'kvm') {
      const t = await ensureGuestImage({ platform: 'trixie', log: hooks.log });
      guestImage = { ...img, platform: { ...img.platform, qemu: t.platform.qemu } };
      qemuNote = "QEMU 7.2's vhost-user-input requires KVM; kernel 6.1 under trixie's QEMU 11.1";
    }
    r = await bootGuest({
      guestImage, initrd, machine: 'q35', disks: [], devices, tests: ['input'], keepWorkDir: true,
      cmdline: [`input.devs=${devs.map((d) => `${d.tag}:${d.tag === 'kbd' ? KBD.name : 'vmv-touch'}:${d.events.length}`).join(',')}`, 'input.led=kbd'],
      onConsoleLine: (line, s, run) => {
        hooks.onConsoleLine?.(line, s, run);
        if (line.includes('INPUT-READY') && sentAt === 0) send();
        if (line.includes('INPUT-RECEIVED') && receivedAt === 0) receivedAt = performance.now();
      },
      onProgress: (m) => {
        hooks.onProgress?.(m);
        for (const d of devs) if (m.includes(`backend input-${d.tag} `) && m.includes('listening')) join_(d);
      },
    });
    errors.push(...r.errors);
    if (r.marker) {
      const v = r.values;
      const want = (k, x) => { if (v[k] !== x) errors.push(`${k}: guest saw ${JSON.stringify(v[k])}, expected ${JSON.stringify(x)}`); };
      want('input.kbd.name', KBD.name);
      want('input.kbd.bustype', hex4(KBD_IDS.bustype));
      want('input.kbd.vendor', hex4(KBD_IDS.vendor));
      want('input.kbd.product', hex4(KBD_IDS.product));
      want('input.kbd.version', hex4(KBD_IDS.version));
      want('input.kbd.cap.ev', sysfsBitmap([0, 1, 17]));
      want('input.kbd.cap.key', sysfsBitmap(KBD.events.EV_KEY));
      want('input.kbd.cap.led', sysfsBitmap(KBD.events.EV_LED));
      want('input.kbd.cap.abs', '0');
      want('input.kbd.properties', '0');
      if (full) {
        want('input.touch.name', 'vmv-touch');
        want('input.touch.vendor', '0627');
        want('input.touch.product', '0005');
        want('input.touch.cap.ev', sysfsBitmap([0, 1, 3]));
        want('input.touch.cap.key', sysfsBitmap([0x14a]));
        want('input.touch.cap.abs', sysfsBitmap(TOUCH_ABS));
        want('input.touch.properties', '2');
      }
      for (const d of devs) {
        want(`input.${d.tag}.raw-bytes`, String(d.events.length * 24));
        want(`input.${d.tag}.evtest`, joinEvents(d.events));
      }
      const kbd = devs[0];
      if (JSON.stringify(kbd.status) !== JSON.stringify([[EV.LED, 1, 1], [EV.LED, 1, 0]])) errors.push(`kbd status events: host got ${JSON.stringify(kbd.status)}, expected exactly CapsLock on then off`);
      for (const d of devs.slice(1)) if (d.status.length + d.statusAtBind.length) errors.push(`${d.tag}: unexpected status events ${JSON.stringify([...d.statusAtBind, ...d.status])}`);
      // what the guest kernel sent by itself while binding: LED events only, and every one the daemon counted reached us
      if (kbd.statusAtBind.some((e) => e[0] !== EV.LED)) errors.push(`kbd: status events at bind that are not EV_LED: ${JSON.stringify(kbd.statusAtBind)}`);
      for (const e of r.backendExits) {
        const m = /INPUT-STATS (\{.*\})/.exec(readFileSync(e.log, 'utf8'));
        if (!m) { errors.push(`${e.backend}: no INPUT-STATS line in its log`); continue; }
        const s = JSON.parse(m[1]);
        const d = devs.find((x) => e.backend === `input-${x.tag}`);
        if (d && (s.delivered !== d.events.length || s.droppedEvents !== 0 || s.shortBuffers !== 0)) errors.push(`${e.backend}: stats ${m[1]}`);
        if (d) d.stats = s;
        if (d && s.statusEvents !== d.status.length + d.statusAtBind.length) errors.push(`${e.backend}: the daemon counted ${s.statusEvents} status events, the host got ${d.status.length + d.statusAtBind.length}`);
      }
    }
  } catch (e) {
    errors.push(`harness: ${e.stack ?? e.message}`);
  } finally {
    for (const c of clients) c.destroy();
  }
  const ok = errors.length === 0;
  const total = devs.reduce((s, d) => s + d.events.length, 0);
  const secs = receivedAt > sentAt && sentAt > 0 ? (receivedAt - sentAt) / 1000 : null;
  const rate = secs ? `${total} events delivered in ${secs.toFixed(2)} s (${Math.round(total / secs)} events/s, to the guest's console marker)` : 'no rate';
  let details = ok ? `${qemuNote ? `${qemuNote}; ` : ''}${rate}; status at bind ${JSON.stringify(devs[0].statusAtBind)}, after the guest's writes ${JSON.stringify(devs[0].status)}; stats ${JSON.stringify(devs.map((d) => d.stats))}` : errors.join('; ');
  if (!ok && r) details += `\n--- console (last 30 lines; logs in ${r.workDir}) ---\n${r.console.slice(-30).join('\n')}`;
  if (ok && r) rmSync(r.workDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  return { name, ok, seconds: (performance.now() - t0) / 1000, details };
}
