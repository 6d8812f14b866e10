/**
 * A virtio-pci function served over vfio-user (`pciFunctionDevice` of @vmv/vfio-user over a
 * VirtioPciFunction of @vmv/transport-pci serving a BlockDevice, VIRTIO 1.2 §4.1) under a hostile
 * client: VERSION, guest RAM mapped with an fd (or without one, or not at all), eventfds for MSI-X
 * and INTx, a random start reached through REGION_WRITEs to the common configuration, hostile
 * requests in the ring, then random REGION_READ / REGION_WRITE of any region, offset and size,
 * notifications, DEVICE_RESET, DMA_UNMAP, INTx unmasks. Every command gets a well-formed reply;
 * none is refused with EIO (the function threw: it must not); diagnostics' causes are typed errors;
 * every fd is closed exactly once when the client leaves.
 */
import { BLOCK_ERROR_NAMES, BlockDevice, MemoryBackend } from '@vmv/block';
import { DEVICE_ERROR_NAMES } from '@vmv/device-trait';
import { GUEST_MEMORY_ERROR_NAMES, GuestMemory } from '@vmv/memory';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { CommonCfg as C, TRANSPORT_PCI_ERROR_NAMES, VirtioBarOffset as B, VirtioPciFunction } from '@vmv/transport-pci';
import { Errno, IrqIndex, IrqSetFlags, VFIO_USER_ERROR_NAMES, VfioUserSession, pciFunctionDevice } from '@vmv/vfio-user';
import { writeRequests } from '../requests.mjs';

const RAM = 0x10000;
const DISK_BYTES = 64 << 10;
const STATUS = [0, 1, 3, 0xb, 0xf, 0x8b, 0x4f, 0x80];
const FIELDS = Object.values(C);

class Host {
  constructor(ram) {
    this.ram = ram;
    this.open = new Set();
    this.twice = 0;
    this.sent = [];
    this.next = 1000;
    this.kinds = new Map();
  }
  file(kind) {
    const fd = this.next++;
    this.kinds.set(fd, kind);
    this.open.add(fd);
    return fd;
  }
  map(fd, offset, size) {
    if (!this.open.has(fd) || this.kinds.get(fd) !== 'memory' || offset !== 0n || size !== BigInt(RAM)) throw new Error('not the RAM file');
    return { chunks: [this.ram], release: () => {} };
  }
  close(fd) {
    if (!this.open.delete(fd)) this.twice++;
  }
  signal(fd) {
    if (!this.open.has(fd) || this.kinds.get(fd) !== 'eventfd') throw new Error('not an eventfd');
  }
  send(m) {
    this.sent.push(m.slice());
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

let id = 0;
function message(command, payload, flags = 0) {
  const out = new Uint8Array(16 + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, id++ & 0xffff, true);
  v.setUint16(2, command, true);
  v.setUint32(4, out.length, true);
  v.setUint32(8, flags, true);
  out.set(payload, 16);
  return out;
}
const VERSION = (() => {
  const json = new TextEncoder().encode('{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,"max_dma_maps":65535}}');
  const p = new Uint8Array(4 + json.length + 1);
  p.set(json, 4);
  return p;
})();
const regionWrite = (region, offset, data, posted = false) => message(10, new Uint8Array([...le([8, offset], [4, region], [4, data.length]), ...data]), posted ? 0x10 : 0);
const regionRead = (region, offset, count) => message(9, le([8, offset], [4, region], [4, count]));
const bytes = (value, width) => Uint8Array.from({ length: width }, (_, i) => (i < 4 ? (value >>> (8 * i)) & 0xff : 0));

export const vfioUserPciTarget = {
  name: 'vfio-user-pci',
  description: 'a VirtioPciFunction serving a BlockDevice over a vfio-user session (pciFunctionDevice) under a hostile client',
  maxLen: 2048,
  allowed: new Set([...VFIO_USER_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES, ...QUEUE_ERROR_NAMES, ...BLOCK_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...TRANSPORT_PCI_ERROR_NAMES]),
  setup() {
    return { disk: new MemoryBackend(DISK_BYTES) };
  },
  async run(state, src, report) {
    const { disk } = state;
    disk.data.fill(0);
    const ram = new ArrayBuffer(RAM);
    const host = new Host(ram);
    const device = new BlockDevice({ backend: disk, queueSize: 16 });
    const pci = pciFunctionDevice((wiring) => new VirtioPciFunction(device, {
      ...wiring,
      msixVectors: src.below(4),
      onDiagnostic(d) {
        report.feature(`diag:${d.kind}`);
        if (d.cause !== undefined) report.error(d.cause);
      },
    }));
    const session = new VfioUserSession(pci, host, {
      onEvent(e) {
        report.feature(`event:${e.type}`);
        if (e.type === 'command-failed') report.error(e.error);
      },
    });
    const send = async (m, fds = []) => {
      await session.handleMessage(m, fds);
      for (const r of host.sent.splice(0)) {
        const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
        const flags = v.getUint32(8, true);
        if (v.getUint32(4, true) !== r.length || (flags & 0xf) !== 1) throw new Error(`malformed reply to command ${m[2]}: size ${v.getUint32(4, true)} of ${r.length}, flags 0x${flags.toString(16)}`);
        if (flags & 0x20 && v.getUint32(12, true) === Errno.EIO) throw new Error(`command ${m[2]} failed with EIO: the function threw`);
        report.feature(flags & 0x20 ? `errno:${m[2]}:${v.getUint32(12, true)}` : `ok:${m[2]}`);
      }
    };
    await send(message(1, VERSION));
    const mapping = src.below(8);
    if (mapping < 6) await send(message(2, le([4, 32], [4, 3], [8, 0], [8, 0], [8, RAM])), [host.file('memory')]);
    else if (mapping === 6) await send(message(2, le([4, 32], [4, 3], [8, 0], [8, 0], [8, RAM])));
    const trigger = IrqSetFlags.ACTION_TRIGGER | IrqSetFlags.DATA_EVENTFD;
    if (pci.irqCounts[IrqIndex.MSIX] > 0) {
      const n = pci.irqCounts[IrqIndex.MSIX];
      await send(message(8, le([4, 20], [4, trigger], [4, IrqIndex.MSIX], [4, 0], [4, n])), Array.from({ length: n }, () => host.file('eventfd')));
    }
    await send(message(8, le([4, 20], [4, trigger], [4, IrqIndex.INTX], [4, 0], [4, 1])), [host.file('eventfd')]);
    const w = (field, value, width) => send(regionWrite(0, B.COMMON + field, bytes(value, width), src.u8() < 128));
    const stage = src.below(4);
    const size = 1 << src.below(5);
    if (stage >= 1) {
      await w(C.DEVICE_STATUS, 1, 1);
      await w(C.DEVICE_STATUS, 3, 1);
    }
    if (stage >= 2) {
      await w(C.DRIVER_FEATURE_SELECT, 1, 4);
      await w(C.DRIVER_FEATURE, 1, 4);
      await w(C.DRIVER_FEATURE_SELECT, 0, 4);
      await w(C.DRIVER_FEATURE, src.u8() < 128 ? 0 : src.u32(), 4);
      await w(C.DEVICE_STATUS, 0xb, 1);
    }
    if (stage >= 3) {
      if (pci.msixTable !== null) await send(regionWrite(7, 0x40, bytes(0, 1))); // a config write outside the MSI-X capability: harmless
      await w(C.QUEUE_SELECT, 0, 2);
      await w(C.QUEUE_SIZE, size, 2);
      await w(C.QUEUE_MSIX_VECTOR, 1, 2);
      await w(C.QUEUE_DESC, 0, 4);
      await w(C.QUEUE_DRIVER, 0x400, 4);
      await w(C.QUEUE_DEVICE, 0x800, 4);
      await w(C.QUEUE_ENABLE, 1, 2);
      await w(C.DEVICE_STATUS, 0xf, 1);
    }
    if (pci.fn.activated || src.bool()) {
      // The RAM window is a bounded ArrayBuffer: an access past it fails in GuestMemory, never lands elsewhere.
      const g = { memory: GuestMemory.fromRegions([{ start: 0, backing: ram }]), lowSize: RAM, address: (s) => (s.u8() < 200 ? s.below(RAM) : s.pick([RAM - s.below(64), RAM + s.below(RAM), 0xfffff000])) };
      writeRequests(src, g, { packed: false, size, desc: 0, driver: 0x400, indirect: (pci.fn.negotiatedFeatures & (1n << 28n)) !== 0n }, DISK_BYTES / 512);
    }
    const ops = src.below(48);
    for (let i = 0; i < ops && src.remaining > 0; i++) {
      const kind = src.u8();
      if (kind < 80) {
        await w(src.pick(FIELDS), src.u8() < 64 ? src.pick(STATUS) : src.u32(), src.pick([1, 2, 4, 4, 8]));
      } else if (kind < 120) {
        await send(regionWrite(0, B.NOTIFY, bytes(src.u8() < 220 ? 0 : src.u32(), src.pick([2, 2, 4, 1])), src.bool()));
        if (src.bool()) await device.drain();
      } else if (kind < 170) {
        const region = src.pick([0, 0, 2, 7, 7, 1, 6, 8, 3]);
        const offset = src.u8() < 200 ? src.pick([0, 4, 0x10, 0x34, 0x40, 0x1000, 0x2000, 0x3000, 0x800, 0xfc, 0x3ffc]) + src.below(16) : src.u32();
        const n = src.pick([1, 2, 4, 8, 0, 64, 0x100, 0x4001]);
        if (src.bool()) await send(regionRead(region, offset, n));
        else await send(regionWrite(region, offset, src.take(Math.min(n, 64)), src.bool()));
      } else if (kind < 185) {
        await send(message(13, new Uint8Array(0)));
      } else if (kind < 200) {
        await send(message(3, le([4, 24], [4, src.pick([0, 2])], [8, 0], [8, RAM])));
      } else if (kind < 220) {
        await send(message(8, le([4, 20], [4, IrqSetFlags.ACTION_UNMASK | IrqSetFlags.DATA_NONE], [4, IrqIndex.INTX], [4, 0], [4, 1])));
      } else {
        await send(regionRead(0, B.ISR, 1));
      }
    }
    await device.drain();
    report.feature(`status:${pci.fn.status}`);
    session.close();
    await device.drain();
    if (host.open.size !== 0 || host.twice !== 0) throw new Error(`fds: ${host.open.size} left open, ${host.twice} closed twice`);
    if (pci.fn.status !== 0) throw new Error('the function was not reset when the client left');
    return [];
  },
};
