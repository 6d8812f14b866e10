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
      // (kernel 7.3's keyboard handler sets each LED off once; 6.1 sends nothing)
      if (kbd.statusAtBind.some((e) => e[0] !== EV.LED || e[2] !== 0)) errors.push(`kbd: status events at bind other than an LED off: ${JSON.stringify(kbd.statusAtBind)}`);
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

const BURST = 100;
const OVERFLOW_CAPACITY = 16;

/** Queries a daemon's counters over its events socket. */
function queryStats(client) {
  return new Promise((resolve) => {
    const on = (t) => {
      const m = /\{"stats":(\{[^\n]*\})\}\n/.exec(t);
      if (m) {
        client.off('data', on);
        resolve(JSON.parse(m[1]));
      }
    };
    client.on('data', on);
    client.write('{"stats":true}\n');
  });
}

/**
 * input/overflow: a burst of BURST one-axis packets ([ABS_X i], SYN_REPORT) in one write, to a touchscreen whose
 * daemon queue holds OVERFLOW_CAPACITY events, faster than the guest returns its 64 eventq buffers; once the
 * daemon's queue is empty, one last packet. The guest must see whole packets, in order, with exactly the packets
 * the daemon counted as dropped missing; SYN_DROPPED itself never reaches a guest reader, because Linux's input
 * core ignores EV_SYN codes other than SYN_REPORT, SYN_CONFIG and SYN_MT_REPORT from a driver
 * (input_get_disposition); the guest sees the gap only.
 */
export function inputOverflowCheck(img, hooks = {}) {
  return inputBurst(img, hooks, { kind: 'overflow', burst: BURST, capacity: OVERFLOW_CAPACITY });
}

/**
 * input/rate: RATE_PACKETS one-axis packets in one write to a daemon whose queue holds them all: every event is
 * delivered (none dropped) and the rate is the events the guest's driver took per second, measured on the host
 * from the write to the daemon's queue being empty (its `{"stats":true}` answers, every 20 ms).
 */
export function inputRateCheck(img, hooks = {}) {
  return inputBurst(img, hooks, { kind: 'rate', burst: RATE_PACKETS, capacity: 65536 });
}

const RATE_PACKETS = 5000;

async function inputBurst(img, hooks, { kind, burst: BURST, capacity: OVERFLOW_CAPACITY }) {
  const p = img.platform.name;
  const name = `${p}/input/${kind}`;
  const t0 = performance.now();
  if (!existsSync(BIN)) return { name, ok: false, seconds: 0, details: `our daemon is not built (${BIN})` };
  const dir = mkdtempSync(join(tmpdir(), 'vmv-input-'));
  const events = join(dir, 'touch.events');
  const errors = [];
  let client = null;
  let stats = null;
  let r = null;
  let sent = false;
  let before = null;
  let drainSeconds = 0;
  const burst = async () => {
    before = await queryStats(client);
    const lines = [];
    for (let i = 1; i <= BURST; i++) lines.push(JSON.stringify([{ type: EV.ABS, code: 0, value: i }, { type: 0, code: 0, value: 0 }]));
    const t = performance.now();
    client.write(`${lines.join('\n')}\n`);
    for (let i = 0; i < 3000; i++) {
      stats = await queryStats(client);
      if (stats.backlog === 0 && stats.queued === 2 * BURST) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    drainSeconds = (performance.now() - t) / 1000;
    client.write(`${JSON.stringify([{ type: EV.ABS, code: 1, value: 12345 }, { type: 0, code: 0, value: 0 }])}\n`);
  };
  try {
    const initrd = await guestInitrd(img, { modules: ['evdev', 'virtio_input'], packages: ['evtest'], programs: ['evtest'], log: hooks.log });
    let guestImage = img;
    if (p === 'bookworm' && detectAccel().accel !== 'kvm') guestImage = { ...img, platform: { ...img.platform, qemu: (await ensureGuestImage({ platform: 'trixie', log: hooks.log })).platform.qemu } };
    r = await bootGuest({
      guestImage, initrd, machine: 'q35', disks: [], tests: ['input-overflow'], keepWorkDir: true, cmdline: ['input.name=vmv-touch'],
      devices: [{
        name: 'input-touch',
        argv: ({ socket }) => ['sh', '-c', `ln -sf "$1"0 "$1" && shift && exec "$@"`, 'sh', socket, process.execPath, BIN, '-s', socket,
          '--events-socket', events, '--device', 'touchscreen', '--name', 'vmv-touch', '--queue-capacity', String(OVERFLOW_CAPACITY)],
        qemuDevice: (c) => `vhost-user-input-pci,chardev=${c}`,
      }],
      onConsoleLine: (line, s, run) => {
        hooks.onConsoleLine?.(line, s, run);
        if (line.includes('INPUT-READY') && !sent) {
          sent = true;
          client = connect(events);
          client.setEncoding('utf8');
          client.on('error', (e) => errors.push(`events socket: ${e.message}`));
          burst().catch((e) => errors.push(`host: ${e.message}`));
        }
      },
      onProgress: hooks.onProgress,
    });
    errors.push(...r.errors);
    if (r.marker && kind === 'rate') {
      const final = r.backendExits.map((e) => /INPUT-STATS (\{.*\})/.exec(readFileSync(e.log, 'utf8'))).find(Boolean);
      const s = final ? JSON.parse(final[1]) : null;
      if (!s || s.droppedEvents !== 0 || s.delivered !== 2 * BURST + 2) errors.push(`stats ${final?.[1]}: expected all ${2 * BURST + 2} events delivered, none dropped`);
      stats = s;
      r.summary = `${2 * BURST} events in one write: the guest's driver took them all in ${drainSeconds.toFixed(2)} s, ${Math.round((2 * BURST) / drainSeconds)} events/s (TCG)`;
    } else if (r.marker) {
      const final = r.backendExits.map((e) => /INPUT-STATS (\{.*\})/.exec(readFileSync(e.log, 'utf8'))).find(Boolean);
      const s = final ? JSON.parse(final[1]) : null;
      if (!s) errors.push('no INPUT-STATS line in the daemon log');
      const seen = (r.values['input.overflow.evtest'] ?? '').split(';').filter(Boolean).map((x) => x.split(',').map(Number));
      // whole packets: [ABS_X v][SYN] ... then [ABS_Y 12345][SYN]
      const xs = [];
      for (let i = 0; i < seen.length; i += 2) {
        const [a, b] = [seen[i], seen[i + 1]];
        if (!b || b.join() !== '0,0,0' || a[0] !== EV.ABS) { errors.push(`not whole packets at event ${i}: ${JSON.stringify(seen.slice(i, i + 4))}`); break; }
        xs.push(a[1] === 1 ? -a[2] : a[2]);
      }
      if (xs.pop() !== -12345) errors.push('the last packet is not ABS_Y 12345');
      if (xs.some((v, i) => v < 1 || v > BURST || (i > 0 && v <= xs[i - 1]))) errors.push(`packets out of order or unknown: ${xs.join(',')}`);
      if (s) {
        if (BURST - xs.length !== s.droppedPackets) errors.push(`the guest misses ${BURST - xs.length} packets, the daemon dropped ${s.droppedPackets}`);
        if (s.synDropped < 1) errors.push('no overflow happened (synDropped 0): the burst did not outrun the guest');
        // each gap in what the guest saw is one SYN_DROPPED the device delivered (a later overflow drops an
        // earlier SYN_DROPPED not yet delivered, with the packets it announced)
        const gaps = xs.filter((v, i) => v !== (i === 0 ? 1 : xs[i - 1] + 1)).length;
        if (s.delivered !== 2 * (xs.length + 1) + gaps) errors.push(`delivered ${s.delivered} != guest events ${2 * (xs.length + 1)} + one SYN_DROPPED per gap (${gaps})`);
        if (gaps < 1 || gaps > s.synDropped) errors.push(`${gaps} gaps for ${s.synDropped} overflows`);
        if (seen.some((e) => e[0] === 0 && e[1] === 3)) errors.push('a SYN_DROPPED reached the guest reader');
        stats = s;
      }
      r.summary = `${BURST} packets in one burst to a ${OVERFLOW_CAPACITY}-event queue: the guest got ${xs.length} whole packets in order (first ${xs.slice(0, 3).join(',')}..., last ${xs.slice(-3).join(',')}); the daemon dropped ${s?.droppedPackets} packets (${s?.droppedEvents} events) in ${s?.synDropped} overflows; SYN_DROPPED delivered once per gap, not passed on by the guest's input core`;
    }
  } catch (e) {
    errors.push(`harness: ${e.stack ?? e.message}`);
  } finally {
    client?.destroy();
  }
  const ok = errors.length === 0;
  let details = ok ? `${r.summary}; stats ${JSON.stringify(stats)}` : `${errors.join('; ')}; before the burst ${JSON.stringify(before)}`;
  if (!ok && r) details += `\n--- console (last 30 lines; logs in ${r.workDir}) ---\n${r.console.slice(-30).join('\n')}`;
  if (ok && r) rmSync(r.workDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  return { name, ok, seconds: (performance.now() - t0) / 1000, details };
}
