// console: virtio-console through vmv-vhost-user-console (QEMU 11.1's vhost-user-test-device-pci, virtio-id=3) and
// the kernel's own virtio_console: hvc0 (console=hvc0 beside ttyS0) carrying a kernel message and a shell driven
// over TCP (typed after QEMU's `stop` and `cont` on its monitor: every ring stopped with GET_VRING_BASE and started
// again, the guest's receive buffers and ports kept), four named ports found by name each carrying a checksummed
// stream both ways, a port closed and reopened by the guest seen by the daemon, and the rate through one port.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootGuest } from './boot.mjs';
import { guestInitrd } from './image.mjs';
import { qmp } from './qmp.mjs';
import { REPO_ROOT } from './util.mjs';

export const CONSOLE_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-console', 'dist', 'cjs', 'bin.js');
const NAMES = ['org.vmv.test.0', 'org.vmv.test.1', 'org.vmv.test.2', 'org.vmv.test.3'];
const BYTES = 1 << 20;
const RATE_BYTES = 16 << 20;
const md5 = (b) => createHash('md5').update(b).digest('hex');

/** The first of `count` consecutive free TCP ports on 127.0.0.1 from a pid-derived start. */
export async function freePorts(count) {
  const tryListen = (port) => new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
  for (let base = 20000 + ((process.pid * 37) % 30000), n = 0; n < 200; n++, base += count) {
    let ok = true;
    for (let k = 0; k < count && ok; k++) ok = await tryListen(base + k);
    if (ok) return base;
  }
  throw new Error('no free TCP ports');
}

/** console/multiport on trixie: see the file header. */
export async function consoleCheck(img, hooks = {}) {
  const name = `${img.platform.name}/console/multiport`;
  const t0 = performance.now();
  const errors = [];
  if (!existsSync(CONSOLE_DAEMON_BIN)) return { name, ok: false, seconds: 0, details: `${CONSOLE_DAEMON_BIN} does not exist (build packages/vhost-user-console)` };
  const base = await freePorts(1 + NAMES.length);
  const hvc = { text: '', sentShell: false };
  const ports = NAMES.map(() => ({ sent: null, got: [], gotBytes: 0, rateSent: false }));
  const sockets = [];
  let connected = false;
  const connectAll = () => {
    if (connected) return;
    connected = true;
    const s0 = createConnection(base, '127.0.0.1');
    sockets.push(s0);
    s0.on('data', (d) => {
      hvc.text += d.toString('latin1');
      if (!hvc.sentShell && hvc.text.includes('vmv-console: shell ready')) {
        hvc.sentShell = true;
        // QEMU stops every ring (GET_VRING_BASE) and starts them again: hvc0's receive buffers and port state stay
        qmp(qmpPath, ['stop', 'cont']).then(
          (done) => {
            hvc.stopCont = done.join('/');
            s0.write('echo $((6*7))\nexit\n');
          },
          (e) => {
            errors.push(`QMP stop/cont: ${e.message}`);
            s0.write('echo $((6*7))\nexit\n');
          },
        );
      }
    });
    s0.on('error', () => {});
    NAMES.forEach((_, i) => {
      const p = ports[i];
      const s = createConnection(base + 1 + i, '127.0.0.1');
      sockets.push(s);
      p.sent = createHash('sha256').update(String(i)).digest(); // a seed: the stream below is pseudo-random
      const data = Buffer.alloc(BYTES);
      for (let o = 0; o < BYTES; o += 32) createHash('sha256').update(p.sent).update(String(o)).digest().copy(data, o);
      p.sent = data;
      s.write(data);
      s.on('data', (d) => {
        // the rate phase, guest to host, timed here: from its first byte to its last
        if (i === 0 && p.gotBytes >= BYTES && p.rateStart === undefined) p.rateStart = performance.now();
        if (i === 0 && p.gotBytes < BYTES + RATE_BYTES && p.gotBytes + d.length >= BYTES + RATE_BYTES) p.rateEnd = performance.now();
        if (i === 0 && p.gotBytes >= BYTES + RATE_BYTES) return; // what the guest sends after the rate phase: nothing
        p.got.push(d);
        p.gotBytes += d.length;
        if (i === 0 && !p.rateSent && p.gotBytes >= BYTES + RATE_BYTES) {
          p.rateSent = true;
          s.write(Buffer.alloc(RATE_BYTES));
        }
      });
      s.on('error', () => {});
    });
  };
  let r = null;
  const qmpPath = join(tmpdir(), `vmv-console-qmp-${process.pid}.sock`);
  try {
    const initrd = await guestInitrd(img, { log: hooks.log });
    r = await bootGuest({
      guestImage: img, initrd, machine: 'q35', disks: [], tests: ['console'], keepWorkDir: true,
      qemuArgs: ['-qmp', `unix:${qmpPath},server=on,wait=off`],
      cmdlineFirst: ['console=hvc0'], cmdline: [`console.names=${NAMES.join(',')}`, `console.bytes=${BYTES}`, `console.rate=${RATE_BYTES}`],
      devices: [{
        name: 'console',
        argv: ({ socket }) => {
          // The daemon suffixes its socket (PATH0), as rust-vmm's does: the harness's path links to it.
          rmSync(socket, { force: true });
          symlinkSync(`${socket}0`, socket);
          return [process.execPath, CONSOLE_DAEMON_BIN, '--socket-path', socket, '--backend', 'network', '--tcp-port', String(base), '--ports', NAMES.join(','), '--verbose'];
        },
        qemuDevice: (c) => `vhost-user-test-device-pci,chardev=${c},virtio-id=3,num_vqs=${4 + 2 * NAMES.length},config_size=12`,
      }],
      onConsoleLine: hooks.onConsoleLine,
      onProgress: (m) => {
        hooks.onProgress?.(m);
        if (/backend console .*listening/.test(m)) connectAll();
      },
    });
    errors.push(...r.errors);
    if (r.marker) {
      if (!hvc.text.includes('vmv-console: kernel message on hvc0')) errors.push('the kernel message never reached the host on hvc0');
      if (!/(^|\n|# )42\r?\n/.test(hvc.text)) errors.push(`the shell on hvc0 did not answer 42 after stop/cont: ${JSON.stringify(hvc.text.slice(-300))}`);
      if (hvc.stopCont !== 'stop/cont') errors.push(`QEMU's stop and cont were not both answered: ${hvc.stopCont}`);
      NAMES.forEach((n, i) => {
        const p = ports[i];
        const up = Buffer.concat(p.got);
        if (r.values[`console.down.${n}`] !== md5(p.sent)) errors.push(`${n}: the guest read md5 ${r.values[`console.down.${n}`]}, the host sent ${md5(p.sent)}`);
        if (up.length < BYTES || r.values[`console.up.${n}`] !== md5(up.subarray(0, BYTES))) errors.push(`${n}: the host got ${up.length} bytes, md5 ${md5(up.subarray(0, BYTES))}; the guest sent ${r.values[`console.up.${n}`]}`);
      });
      const log = readFileSync(r.backendExits.find((e) => e.backend === 'console')?.log ?? '/dev/null', 'utf8');
      const opens = [...log.matchAll(/guest (opened|closed) port socket=0 port=1\b/g)].map((m) => (m[1] === 'opened' ? 1 : 0)).join('');
      if (!opens.startsWith('1010')) errors.push(`PORT_OPEN from the guest on port 1: ${opens} (expected 1, 0, then reopened 1, 0)`);
      hvc.opens = opens;
    }
  } catch (e) {
    errors.push(`harness: ${e.stack ?? e.message}`);
  } finally {
    for (const s of sockets) s.destroy();
    rmSync(qmpPath, { force: true });
  }
  const ok = errors.length === 0;
  const timing = r ? `init ${r.initSeconds?.toFixed(1) ?? '-'} s, marker ${r.markerSeconds?.toFixed(1) ?? '-'} s` : '';
  let details = ok
    ? `${timing}; ${NAMES.length} named ports x ${BYTES} B each way md5-checked, hvc0 shell 42 after QEMU stop/cont, PORT_OPEN port 1: ${hvc.opens}; rate port 1 (${RATE_BYTES} B each way): guest to host ${Math.round(RATE_BYTES / ((ports[0].rateEnd - ports[0].rateStart) / 1000))} B/s (timed on the host), host to guest ${r.values['console.rate.down']} B/s (timed in the guest)`
    : `${errors.join('; ')}${timing ? ` [${timing}]` : ''}`;
  if (!ok && r) details += `\n--- console (last 30 lines; logs in ${r.workDir}) ---\n${r.console.slice(-30).join('\n')}`;
  if (ok && r) rmSync(r.workDir, { recursive: true, force: true });
  return { name, ok, seconds: (performance.now() - t0) / 1000, details };
}
