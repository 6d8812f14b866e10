// The @vmv/vfio-user real-guest test (trixie: QEMU 11.1's vfio-user-pci, q35): our server, in this process, serves
// a plain PCI function (a conventional config space with a made-up vendor and device id, one 4 KiB memory BAR of
// three registers) on a unix socket, and QEMU plugs it into the guest.
//   vfio-user/bar  the kernel enumerates the function (vendor and device in sysfs), assigns BAR0 its 4 KiB; the
//                  guest reads the magic word through /dev/mem, writes the scratch register and reads it back, and
//                  reads the server's count of BAR reads; the server saw QEMU's DMA windows (guest RAM, mapped from
//                  its memfd, and the ROMs, which have no fd). A write to the DMA register makes the device read the
//                  last 64 bytes of every window without an fd through DMA_READ messages (and of the RAM windows
//                  directly): the BIOS window's bytes equal the end of the SeaBIOS image QEMU loaded.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PciRegion } from '@vmv/vfio-user';
import { VfioUserServer } from '@vmv/vfio-user/node';
import { runCheck } from './checks.mjs';

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
