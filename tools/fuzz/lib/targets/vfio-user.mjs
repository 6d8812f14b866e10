/**
 * vfio-user sessions (QEMU docs/interop/vfio-user.rst) under a hostile client: each input is one
 * connection carrying a random sequence of commands (mostly the ones QEMU 11.1 sends, with mutated
 * fields, sizes, flags and fds, plus raw bytes), replies to the server's own DMA requests (right,
 * wrong and stray), and the device's DMA and interrupt calls in between. The platform is in memory
 * (fds are numbers standing for memory files and eventfds), so what is checked is the protocol core:
 * only framing errors leave `handleMessage`; every reply is well formed and echoes its command; the
 * device is only called inside its regions; a DMA fails only with a typed error (the mapped windows
 * are bounded buffers: GuestMemory's bounds keep it inside them); every fd is closed exactly once by
 * the time the session ends, and every mapping released.
 */
import { GUEST_MEMORY_ERROR_NAMES } from '@vmv/memory';
import { MapFailedError, VFIO_USER_ERROR_NAMES, VfioUserSession } from '@vmv/vfio-user';

const FRAMING = new Set(['VfioUser.InvalidHeaderError', 'VfioUser.OversizedMessageError', 'VfioUser.PartialMessageError']);
const SIZES = [0x10, 0x100, 0x1000, 0x2000];

class Host {
  constructor() {
    this.files = new Map();
    this.open = new Set();
    this.twice = 0;
    this.sent = [];
    this.mappings = [];
    this.next = 1000;
  }
  file(kind, size = 0) {
    const fd = this.next++;
    this.files.set(fd, { kind, size, count: 0 });
    this.open.add(fd);
    return fd;
  }
  map(fd, offset, size) {
    const f = this.files.get(fd);
    if (!this.open.has(fd) || f?.kind !== 'memory' || offset + size > BigInt(f.size)) throw new MapFailedError({ fd }, 22);
    const m = { released: false };
    this.mappings.push(m);
    return { chunks: [new ArrayBuffer(Number(size))], release: () => void (m.released = true) };
  }
  close(fd) {
    if (!this.open.delete(fd)) this.twice++;
  }
  signal(fd) {
    const f = this.files.get(fd);
    if (!this.open.has(fd) || f?.kind !== 'eventfd') throw new Error('not an eventfd');
    f.count++;
  }
  send(m) {
    this.sent.push(m.slice());
  }
}

class Device {
  constructor(src) {
    this.configSize = 256;
    this.bars = [{ size: 0x1000 }, null, { size: 0x100, writable: false }, null, null, null, { size: 0x800 }];
    this.irqCounts = [1, src.pick([0, 1, 4]), src.pick([0, 3, 64]), 1, 1];
    this.ctx = null;
    this.violations = [];
  }
  size(region) {
    return region === 7 ? 256 : (this.bars[region]?.size ?? 0);
  }
  read(region, offset, data) {
    if (data.length === 0 || offset + data.length > this.size(region)) this.violations.push(`read ${region}+${offset}:${data.length}`);
    data.fill(region);
  }
  write(region, offset, data) {
    if (data.length === 0 || offset + data.length > this.size(region) || region === 2 || region === 6) this.violations.push(`write ${region}+${offset}:${data.length}`);
  }
  reset() {}
  attach(ctx) {
    this.ctx = ctx;
  }
  detach() {
    this.ctx = null;
  }
}

const le = (...f) => {
  const out = new Uint8Array(f.reduce((n, [b]) => n + b, 0));
  const v = new DataView(out.buffer);
  let at = 0;
  for (const [b, x] of f) {
    if (b === 2) v.setUint16(at, Number(x), true);
    else if (b === 4) v.setUint32(at, Number(x) >>> 0, true);
    else v.setBigUint64(at, BigInt.asUintN(64, BigInt(x)), true);
    at += b;
  }
  return out;
};

function message(id, command, payload, flags = 0, sizeDelta = 0) {
  const out = new Uint8Array(16 + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, id, true);
  v.setUint16(2, command, true);
  v.setUint32(4, Math.max(0, out.length + sizeDelta), true);
  v.setUint32(8, flags >>> 0, true);
  out.set(payload, 16);
  return out;
}

/** QEMU 11.1's VERSION (hw/vfio-user/proxy.c caps_json). */
const QEMU_VERSION = (() => {
  const json = new TextEncoder().encode('{"capabilities":{"migration":{"pgsize":4096,"max_bitmap_size":268435456},"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,"max_dma_maps":65535,"write_multiple":true}}');
  const p = new Uint8Array(4 + json.length + 1);
  p.set(json, 4);
  return [1, p];
})();

/** A command as QEMU 11.1 would send it, with values often off. */
function command(src) {
  const addr = () => BigInt(src.pick([0, 0x1000, 0x2000, 0x10000, 0xfff, 0xfffff000])) + (src.u8() < 16 ? src.u64() : 0n);
  const small = () => (src.u8() < 200 ? src.below(16) : src.u32());
  switch (src.below(12)) {
    case 0: {
      const caps = src.pick(['{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":4096,"pgsizes":4096,"max_dma_maps":8,"migration":{}}}', '{}', '{"capabilities":{"max_data_xfer_size":1}}', '[', '{"capabilities":null}']);
      const json = new TextEncoder().encode(caps);
      const p = new Uint8Array(4 + json.length + 1);
      p.set(le([2, src.u8() < 230 ? 0 : src.u8()], [2, src.below(3)]));
      p.set(json, 4);
      return [1, p];
    }
    case 1:
      return [2, le([4, src.pick([32, 0, 64])], [4, src.pick([3, 1, 2, 7])], [8, src.pick([0n, 0x1000n, src.u64()])], [8, addr()], [8, BigInt(src.pick(SIZES))])];
    case 2:
      return [3, le([4, 24], [4, src.pick([0, 0, 2, 1])], [8, addr()], [8, BigInt(src.pick([...SIZES, 0]))])];
    case 3:
      return [4, le([4, src.pick([16, 8])], [4, 0], [4, 0], [4, 0])];
    case 4:
      return [5, le([4, src.pick([32, 16, 64])], [4, 0], [4, small()], [4, 0], [8, 0], [8, 0])];
    case 5:
      return [7, le([4, 16], [4, 0], [4, small()], [4, 0])];
    case 6: {
      const data = src.pick([1, 2, 4, 32]);
      const flags = src.pick([data, data, 1]) | src.pick([32, 32, 8, 16]);
      const count = small();
      const bools = flags & 2 ? Array.from({ length: Math.min(count, 64) }, () => src.below(3)) : [];
      return [8, new Uint8Array([...le([4, 20 + bools.length], [4, flags], [4, src.below(6)], [4, small()], [4, count]), ...bools])];
    }
    case 7:
      return [9, le([8, src.pick([0, 4, 0xffc, 0x1000, 0xff]) + (src.u8() < 8 ? Number(src.u32()) : 0)], [4, src.pick([0, 2, 6, 7, 1, 9])], [4, src.pick([0, 1, 4, 8, 0x100, 0x2000])])];
    case 8: {
      const n = src.pick([0, 1, 4, 8, 64]);
      return [10, new Uint8Array([...le([8, src.pick([0, 4, 0xffc, 0x100, 0xfe])], [4, src.pick([0, 2, 6, 7, 1])], [4, src.u8() < 240 ? n : src.u32()]), ...src.take(n)])];
    }
    case 9:
      return [13, new Uint8Array(src.u8() < 240 ? 0 : 4)];
    case 10:
      return [src.pick([6, 14, 15, 16, 17, 18, 0, 200]), src.take(src.below(32))];
    default:
      return [src.below(20), src.take(src.below(64))];
  }
}

export const vfioUserTarget = {
  name: 'vfio-user',
  description: 'random vfio-user command sequences, DMA replies and device calls against a VfioUserSession (in-memory host)',
  maxLen: 2048,
  allowed: new Set([...VFIO_USER_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]),
  setup() {
    return {};
  },
  async run(_state, src, report) {
    const host = new Host();
    const device = new Device(src);
    const session = new VfioUserSession(device, host, { maxDataXferSize: 4096, maxDmaMaps: 8, dmaTimeoutMs: 1 });
    const pending = [];
    let framingLost = false;
    for (let step = 0; step < 40 && src.remaining > 0 && !framingLost; step++) {
      const kind = src.below(10);
      if (kind < 6 || step === 0) {
        const [cmd, payload] = step === 0 && src.u8() < 200 ? QEMU_VERSION : command(src);
        const id = src.u16();
        const flags = src.u8() < 220 ? src.pick([0, 0, 0x10]) : src.u32();
        const sizeDelta = src.u8() < 245 ? 0 : src.pick([-20, -1, 1, 100000]);
        const nfds = src.u8() < 200 ? (cmd === 2 || cmd === 8 ? src.below(4) : 0) : src.below(20);
        const fds = Array.from({ length: nfds }, () => (src.bool() ? host.file('eventfd') : host.file('memory', src.pick(SIZES))));
        try {
          const p = session.handleMessage(message(id, cmd, payload, flags, sizeDelta), fds);
          if (p !== undefined) await p;
        } catch (e) {
          if (!(e?.name && FRAMING.has(e.name))) throw e;
          report.error(e);
          framingLost = true;
          if (fds.some((fd) => host.open.has(fd))) throw new Error('a framing error left fds open', { cause: e });
        }
        for (const out of host.sent.splice(0)) {
          const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
          const [rid, rcmd, size, rflags] = [v.getUint16(0, true), v.getUint16(2, true), v.getUint32(4, true), v.getUint32(8, true)];
          if (size !== out.length) throw new Error(`message of ${out.length} bytes says ${size}`);
          if (rflags === 0 && (rcmd === 11 || rcmd === 12)) {
            pending.push(out);
            continue;
          }
          if (rid !== id || rcmd !== cmd || (rflags !== 1 && !(rflags === 0x21 && size === 16))) throw new Error(`bad reply id ${rid} cmd ${rcmd} flags ${rflags} to id ${id} cmd ${cmd}`);
          report.feature(rflags === 1 ? `ok:${cmd}` : `errno:${cmd}:${v.getUint32(12, true)}`);
        }
      } else if (kind < 8 && device.ctx !== null) {
        const dma = device.ctx.dma;
        const address = src.pick([0, 0x1000, 0x10000, 0xff8, 0xfffff000]) + src.below(0x100);
        const op = src.bool() ? dma.read(address, src.pick([1, 8, 0x100, 0x2000])) : dma.write(address, src.take(src.below(64)));
        op.then(() => report.feature('dma:ok'), (e) => report.error(e));
        if (device.ctx.irqs && src.bool()) {
          const index = src.below(5);
          try {
            device.ctx.irqs.trigger(index, src.below(4));
            report.feature(`irq:${index}`);
          } catch (e) {
            if (!(e instanceof RangeError)) throw e;
          }
        }
      } else if (pending.length > 0) {
        const req = pending.splice(src.below(pending.length), 1)[0];
        const v = new DataView(req.buffer, req.byteOffset);
        const count = Number(v.getBigUint64(24, true));
        const reply = req[2] === 11 && src.u8() < 200 ? new Uint8Array(32 + count) : new Uint8Array(16);
        reply.set(req.subarray(0, Math.min(32, reply.length)));
        const rv = new DataView(reply.buffer);
        rv.setUint32(4, reply.length, true);
        rv.setUint32(8, src.u8() < 220 ? 1 : 0x21, true);
        rv.setUint32(12, rv.getUint32(8, true) === 0x21 ? 14 : 0, true);
        if (src.u8() < 20) rv.setUint16(0, src.below(0x10000), true);
        session.handleMessage(src.u8() < 240 ? reply : reply.subarray(0, Math.max(16, reply.length - 1)).map((b, i) => (i === 4 ? Math.max(16, reply.length - 1) & 0xff : b)), []);
      }
    }
    await new Promise((r) => setTimeout(r, 2));
    session.close();
    await new Promise((r) => setImmediate(r));
    if (device.violations.length > 0) throw new Error(`device called outside its regions: ${device.violations.join(', ')}`);
    if (host.open.size > 0) throw new Error(`fds left open: ${[...host.open].join(',')}`);
    if (host.twice > 0) throw new Error(`${host.twice} fds closed twice`);
    if (host.mappings.some((m) => !m.released)) throw new Error('a mapping was not released');
    return null;
  },
};
