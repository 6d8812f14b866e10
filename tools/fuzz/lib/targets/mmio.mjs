/**
 * virtio-mmio register traffic (VIRTIO 1.2 §4.2.2) to a VirtioMmioTransport serving a BlockDevice:
 * a random start (reset, DRIVER, FEATURES_OK, or a live device with a queue set up over hostile
 * requests), then random reads and writes of any offset and width with meaningful or random
 * values, notifies included, and the device's drain awaited. The transport never throws; what it
 * refuses comes out as diagnostics, whose causes must be typed errors.
 */
import { BLOCK_ERROR_NAMES, BlockDevice, MemoryBackend } from '@vmv/block';
import { InMemoryInterruptController } from '@vmv/bus';
import { DEVICE_ERROR_NAMES } from '@vmv/device-trait';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { MmioRegister as R, TRANSPORT_MMIO_ERROR_NAMES, VirtioMmioTransport } from '@vmv/transport-mmio';
import { nameOf } from '../engine.mjs';
import { GuardedMemory } from '../guarded.mjs';
import { writeRequests } from '../requests.mjs';

const DISK_BYTES = 64 << 10;
const REGISTERS = Object.values(R).filter((o) => typeof o === 'number' && o < R.CONFIG);
const MEANINGFUL = [
  [R.STATUS, [0, 1, 3, 0xb, 0xf, 0x8b, 0x4f, 0x83, 0x80]],
  [R.DEVICE_FEATURES_SEL, [0, 1, 2]],
  [R.DRIVER_FEATURES_SEL, [0, 1, 2]],
  [R.DRIVER_FEATURES, [0, 1, 0x7f7f, 0xffffffff, 0x20000000, 0x30000000]],
  [R.QUEUE_SEL, [0, 1, 2]],
  [R.QUEUE_NUM, [1, 2, 4, 8, 16, 3, 0, 17]],
  [R.QUEUE_READY, [0, 1, 2]],
  [R.QUEUE_DESC_LOW, [0, 0x400, 0x1000, 0x8, 0xfff0, 0x20000]],
  [R.QUEUE_DRIVER_LOW, [0x400, 0x401, 0x800]],
  [R.QUEUE_DEVICE_LOW, [0x800, 0x802, 0x400]],
  [R.QUEUE_DESC_HIGH, [0, 1]],
  [R.QUEUE_NOTIFY, [0, 1, 0x10000]],
  [R.INTERRUPT_ACK, [1, 2, 3]],
  [R.QUEUE_RESET, [1, 0]],
  [R.CONFIG + 0x20, [0, 1]],
];
const ALLOWED = new Set([...QUEUE_ERROR_NAMES, ...BLOCK_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...TRANSPORT_MMIO_ERROR_NAMES]);

export const mmioTarget = {
  name: 'mmio',
  description: 'virtio-mmio register traffic to VirtioMmioTransport serving a BlockDevice',
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
    const irqs = new InMemoryInterruptController({ recordLimit: 0 });
    const t = new VirtioMmioTransport(device, {
      memory: g.memory,
      interrupt: irqs.createLegacyGroup(9, 1, 'level'),
      onDiagnostic(d) {
        report.feature(`diag:${d.kind}`);
        if (d.cause !== undefined) report.error(d.cause);
      },
    });
    const word = new Uint8Array(8);
    const access = (write, offset, width, value) => {
      const data = word.subarray(0, width);
      for (let i = 0; i < width; i++) data[i] = i < 4 ? (value >>> (8 * i)) & 0xff : 0;
      try {
        if (write) t.mmioWrite(0n, offset, data);
        else t.mmioRead(0n, offset, data);
      } catch (e) {
        throw new Error(`the transport threw ${nameOf(e)} on a ${write ? 'write' : 'read'} of ${width} at 0x${offset.toString(16)}`, { cause: e });
      }
    };
    const w = (offset, value) => access(true, offset, 4, value);
    const stage = src.below(4);
    const size = 1 << src.below(5);
    const packed = src.u8() < 64;
    if (stage >= 1) {
      w(R.STATUS, 1);
      w(R.STATUS, 3);
    }
    if (stage >= 2) {
      const offered = t.offeredFeatures;
      const accepted = offered & (src.u8() < 128 ? offered : src.u64()) & (packed ? -1n : ~(1n << 34n));
      w(R.DRIVER_FEATURES_SEL, 1);
      w(R.DRIVER_FEATURES, Number((accepted >> 32n) & 0xffffffffn) | 1);
      w(R.DRIVER_FEATURES_SEL, 0);
      w(R.DRIVER_FEATURES, Number(accepted & 0xffffffffn));
      w(R.STATUS, 0xb);
    }
    if (stage >= 3) {
      w(R.QUEUE_SEL, 0);
      w(R.QUEUE_NUM, size);
      w(R.QUEUE_DESC_LOW, 0);
      w(R.QUEUE_DRIVER_LOW, 0x400);
      w(R.QUEUE_DEVICE_LOW, 0x800);
      w(R.QUEUE_READY, 1);
      w(R.STATUS, 0xf);
    }
    const isPacked = (t.negotiatedFeatures & (1n << 34n)) !== 0n;
    const indirect = (t.negotiatedFeatures & (1n << 28n)) !== 0n;
    writeRequests(src, g, { packed: isPacked, size, desc: 0, driver: 0x400, indirect }, DISK_BYTES / 512);
    const ops = src.below(64);
    for (let i = 0; i < ops; i++) {
      const kind = src.u8();
      if (kind < 100) {
        const [offset, values] = src.pick(MEANINGFUL);
        w(offset, src.u8() < 224 ? src.pick(values) : src.u32());
      } else if (kind < 140) {
        w(R.QUEUE_NOTIFY, src.u8() < 200 ? 0 : src.u32());
        if (src.bool()) await device.drain();
      } else {
        const offset = src.u8() < 160 ? src.pick(REGISTERS) : src.u8() < 128 ? R.CONFIG + src.below(0x40) : src.below(0x200);
        const width = src.u8() < 200 ? 4 : src.pick([1, 2, 8, 3]);
        access(src.bool(), offset, width, src.u32());
      }
    }
    await device.drain();
    await new Promise((resolve) => setImmediate(resolve));
    report.feature(`status:${t.status}`);
    if (t.interruptStatus !== 0) report.feature(`isr:${t.interruptStatus}`);
    for (const [k, v] of Object.entries(device.stats)) if (typeof v === 'number' && v > 0) report.feature(`stat:${k}:${Math.min(v, 4)}`);
    w(R.STATUS, 0);
    await device.drain();
    return g.check([disk.data]);
  },
};
