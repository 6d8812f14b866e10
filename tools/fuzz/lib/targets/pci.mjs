/**
 * virtio-pci traffic (VIRTIO 1.2 §4.1) to a VirtioPciFunction serving a BlockDevice: a random
 * start (reset, DRIVER, FEATURES_OK, or a live device with MSI-X programmed and a queue set up over
 * hostile requests), then random configuration space and BAR accesses of any offset and width with
 * meaningful or random values (common configuration fields, notifications, ISR reads, the MSI-X
 * table, capability control, the PCI configuration access window), and the device's drain awaited.
 * The function never throws; what it refuses comes out as diagnostics, whose causes must be typed errors.
 */
import { BLOCK_ERROR_NAMES, BlockDevice, MemoryBackend } from '@vmv/block';
import { DEVICE_ERROR_NAMES } from '@vmv/device-trait';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { CommonCfg as C, MSIX_BAR, PciConfig as P, TRANSPORT_PCI_ERROR_NAMES, VirtioBarOffset as B, VirtioPciFunction } from '@vmv/transport-pci';
import { nameOf } from '../engine.mjs';
import { GuardedMemory } from '../guarded.mjs';
import { writeRequests } from '../requests.mjs';

const DISK_BYTES = 64 << 10;
const COMMON = [
  [C.DEVICE_STATUS, 1, [0, 1, 3, 0xb, 0xf, 0x8b, 0x4f, 0x83, 0x80]],
  [C.DEVICE_FEATURE_SELECT, 4, [0, 1, 2]],
  [C.DRIVER_FEATURE_SELECT, 4, [0, 1, 2]],
  [C.DRIVER_FEATURE, 4, [0, 1, 0x7f7f, 0xffffffff, 0x20000000, 0x30000000]],
  [C.CONFIG_MSIX_VECTOR, 2, [0, 1, 2, 0xffff, 0x800]],
  [C.QUEUE_SELECT, 2, [0, 1, 2]],
  [C.QUEUE_SIZE, 2, [1, 2, 4, 8, 16, 3, 0, 17]],
  [C.QUEUE_MSIX_VECTOR, 2, [0, 1, 2, 0xffff]],
  [C.QUEUE_ENABLE, 2, [0, 1, 2]],
  [C.QUEUE_DESC, 4, [0, 0x400, 0x1000, 0x8, 0xfff0, 0x20000]],
  [C.QUEUE_DRIVER, 4, [0x400, 0x401, 0x800]],
  [C.QUEUE_DEVICE, 4, [0x800, 0x802, 0x400]],
  [C.QUEUE_DESC + 4, 4, [0, 1]],
  [C.QUEUE_RESET, 2, [1, 0]],
];
const FIELDS = Object.values(C);
const ALLOWED = new Set([...QUEUE_ERROR_NAMES, ...BLOCK_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...TRANSPORT_PCI_ERROR_NAMES]);

export const pciTarget = {
  name: 'pci',
  description: 'virtio-pci configuration space and BAR traffic to VirtioPciFunction serving a BlockDevice',
  maxLen: 2048,
  allowed: ALLOWED,
  setup() {
    return { g: new GuardedMemory(), disk: new MemoryBackend(DISK_BYTES) };
  },
  async run(state, src, report) {
    const { g, disk } = state;
    g.clear();
    disk.data.fill(0);
    const device = new BlockDevice({ backend: disk, queueSize: 16 });
    const f = new VirtioPciFunction(device, {
      memory: g.memory,
      msixVectors: src.below(4),
      interrupts: { msix: (v) => report.feature(`msix:${v}`), intx: (level) => report.feature(`intx:${level}`) },
      onDiagnostic(d) {
        report.feature(`diag:${d.kind}`);
        if (d.cause !== undefined) report.error(d.cause);
      },
    });
    const word = new Uint8Array(8);
    const access = (space, write, bar, offset, width, value) => {
      const data = word.subarray(0, width);
      for (let i = 0; i < width; i++) data[i] = i < 4 ? (value >>> (8 * i)) & 0xff : 0;
      try {
        if (space === 'config') {
          if (write) f.configWrite(offset, data);
          else f.configRead(offset, data);
        } else if (write) f.barWrite(bar, offset, data);
        else f.barRead(bar, offset, data);
      } catch (e) {
        throw new Error(`the function threw ${nameOf(e)} on a ${space} ${write ? 'write' : 'read'} of ${width} at ${bar}:0x${offset.toString(16)}`, { cause: e });
      }
    };
    const w = (field, value, width) => access('bar', true, 0, B.COMMON + field, width, value);
    const stage = src.below(4);
    const size = 1 << src.below(5);
    const packed = src.u8() < 64;
    if (stage >= 1) {
      w(C.DEVICE_STATUS, 1, 1);
      w(C.DEVICE_STATUS, 3, 1);
    }
    if (stage >= 2) {
      const offered = f.offeredFeatures;
      const accepted = offered & (src.u8() < 128 ? offered : src.u64()) & (packed ? -1n : ~(1n << 34n));
      w(C.DRIVER_FEATURE_SELECT, 1, 4);
      w(C.DRIVER_FEATURE, Number((accepted >> 32n) & 0xffffffffn) | 1, 4);
      w(C.DRIVER_FEATURE_SELECT, 0, 4);
      w(C.DRIVER_FEATURE, Number(accepted & 0xffffffffn), 4);
      w(C.DEVICE_STATUS, 0xb, 1);
    }
    if (stage >= 3) {
      if (f.msixVectors > 0) {
        const b = new Uint8Array(1);
        let cap = 0;
        for (let pos = (f.configRead(P.CAPABILITIES_POINTER, b), b[0]); pos !== 0 && cap === 0; pos = (f.configRead(pos + 1, b), b[0])) {
          f.configRead(pos, b);
          if (b[0] === 0x11) cap = pos;
        }
        access('config', true, 0, cap + 2, 2, 0x8000); // MSI-X Enable
        for (let v = 0; v < f.msixVectors; v++) access('bar', true, MSIX_BAR, 16 * v + 12, 4, 0);
      }
      w(C.QUEUE_SELECT, 0, 2);
      w(C.QUEUE_SIZE, size, 2);
      w(C.QUEUE_MSIX_VECTOR, 1, 2);
      w(C.QUEUE_DESC, 0, 4);
      w(C.QUEUE_DRIVER, 0x400, 4);
      w(C.QUEUE_DEVICE, 0x800, 4);
      w(C.QUEUE_ENABLE, 1, 2);
      w(C.DEVICE_STATUS, 0xf, 1);
    }
    const isPacked = (f.negotiatedFeatures & (1n << 34n)) !== 0n;
    const indirect = (f.negotiatedFeatures & (1n << 28n)) !== 0n;
    writeRequests(src, g, { packed: isPacked, size, desc: 0, driver: 0x400, indirect }, DISK_BYTES / 512);
    const ops = src.below(64);
    for (let i = 0; i < ops; i++) {
      const kind = src.u8();
      if (kind < 90) {
        const [field, width, values] = src.pick(COMMON);
        w(field, src.u8() < 224 ? src.pick(values) : src.u32(), width);
      } else if (kind < 130) {
        access('bar', true, 0, B.NOTIFY, src.u8() < 220 ? 2 : 4, src.u8() < 200 ? 0 : src.u32());
        if (src.bool()) await device.drain();
      } else if (kind < 145) {
        access('bar', false, 0, B.ISR, src.u8() < 220 ? 1 : 4, 0);
      } else if (kind < 175) {
        const offset = src.u8() < 128 ? src.pick([P.COMMAND, P.BAR0, P.BAR0 + 4, P.BAR0 + 8, P.STATUS, P.INTERRUPT_LINE]) : src.below(0x110);
        access('config', src.bool(), 0, offset, src.pick([1, 2, 4, 4, 0, 3, 8]), src.u8() < 64 ? 0xffffffff : src.u32());
      } else if (kind < 200) {
        access('bar', src.bool(), MSIX_BAR, src.u8() < 200 ? 4 * src.below(16) : src.below(0x1000), src.pick([4, 4, 8, 1, 2]), src.u32());
      } else {
        const offset = src.u8() < 160 ? B.COMMON + src.pick(FIELDS) : src.u8() < 128 ? B.DEVICE + src.below(0x40) : src.below(0x5000);
        access('bar', src.bool(), src.u8() < 240 ? 0 : src.below(8), offset, src.pick([1, 2, 4, 8, 3, 0]), src.u32());
      }
    }
    await device.drain();
    await new Promise((resolve) => setImmediate(resolve));
    report.feature(`status:${f.status}`);
    if (f.interruptStatus !== 0) report.feature(`isr:${f.interruptStatus}`);
    for (const [k, v] of Object.entries(device.stats)) if (typeof v === 'number' && v > 0) report.feature(`stat:${k}:${Math.min(v, 4)}`);
    f.reset();
    await device.drain();
    return g.check([disk.data]);
  },
};
