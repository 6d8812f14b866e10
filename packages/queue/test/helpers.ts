import { GuestMemory } from '@vmv/memory';
import type { RegionBacking } from '@vmv/memory';
import { createVirtqueue, DescFlags, QueueConfig, Feature } from '@vmv/queue';
import type { Virtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';

/** A zeroed guest memory of `size` bytes at GPA 0 (one region). */
export function makeMemory(size = 0x100000): GuestMemory {
  return GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(size) }]);
}

export interface ConfigOptions {
  size?: number;
  maxSize?: number;
  desc?: number;
  driver?: number;
  device?: number;
  eventIdx?: boolean;
  indirect?: boolean;
  packed?: boolean;
}

/** A ready configuration with the given areas (defaults: 0x0000 / 0x1000 / 0x2000, size 8). */
export function makeConfig(o: ConfigOptions = {}): QueueConfig {
  const cfg = new QueueConfig(o.maxSize ?? 256);
  let f = 0n;
  if (o.eventIdx) f |= 1n << BigInt(Feature.EVENT_IDX);
  if (o.indirect) f |= 1n << BigInt(Feature.INDIRECT_DESC);
  if (o.packed) f |= 1n << BigInt(Feature.RING_PACKED);
  cfg.setFeatures(f);
  cfg.setSize(o.size ?? 8);
  cfg.setArea('descTable', o.desc ?? 0);
  cfg.setArea('driverArea', o.driver ?? 0x1000);
  cfg.setArea('deviceArea', o.device ?? 0x2000);
  cfg.ready = true;
  return cfg;
}

/** Writes a split descriptor. */
export function writeSplitDesc(mem: GuestMemory, table: number, i: number, addr: number | bigint, len: number, flags: number, next: number): void {
  mem.writeU64(table + 16 * i, addr);
  mem.writeU32(table + 16 * i + 8, len);
  mem.writeU16(table + 16 * i + 12, flags);
  mem.writeU16(table + 16 * i + 14, next);
}

/** Publishes heads in the avail ring at `avail` (size n), starting at ring index `from`. Returns the new idx. */
export function publish(mem: GuestMemory, avail: number, n: number, from: number, heads: number[]): number {
  let idx = from;
  for (const h of heads) {
    mem.writeU16(avail + 4 + 2 * (idx % n), h);
    idx = (idx + 1) & 0xffff;
  }
  mem.atomicStoreU16(avail + 2, idx);
  return idx;
}

/** Returns the error's name, or 'no error'. */
export function errorName(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).name;
  }
  return 'no error';
}

/**
 * One ring driven from both sides: a driver model (`@vmv/queue/driver`, as Linux) and the device
 * side built from its configuration, in a fresh memory. `renew()` is the driver setting the ring up
 * again after a reset (it zeroes the ring areas); `corrupt()` is a hostile driver breaking the ring
 * at the device's next available position; `rings()` copies the ring areas.
 */
export function drivenRing(format: 'split' | 'packed', size = 8, backing?: RegionBacking) {
  const mem = backing === undefined ? makeMemory() : GuestMemory.fromRegions([{ start: 0, backing }]);
  const layout = format === 'split' ? SplitDriver.layout(size, 0) : PackedDriver.layout(size, 0);
  const options = { size, descTable: layout.descTable, driverArea: layout.driverArea, deviceArea: layout.deviceArea };
  const newDriver = (): SplitDriver<number> | PackedDriver<number> => (format === 'split' ? new SplitDriver<number>(mem, options) : new PackedDriver<number>(mem, options));
  const ring = {
    mem,
    layout,
    driver: newDriver(),
    queue: null as unknown as Virtqueue,
    /** Adds a request (16 readable, 64 writable bytes) with `token`; false when the ring is full. */
    add(token: number): boolean {
      const at = 0x10000 + 0x100 * (token % 0x100);
      return ring.driver.add([{ addr: at, len: 16 }], [{ addr: at + 0x80, len: 64 }], token) >= 0;
    },
    /** The used buffers the driver finds, as [token, len] pairs. */
    used(): [number, number][] {
      const out: [number, number][] = [];
      for (let u = ring.driver.getBuf(); u !== null; u = ring.driver.getBuf()) out.push([u.token, u.len]);
      return out;
    },
    renew(): void {
      ring.driver = newDriver();
    },
    corrupt(): void {
      const q = ring.queue;
      if (format === 'split') {
        // avail.idx 65535 ahead of the next available index (and of any the device reaches)
        mem.atomicStoreU16(layout.driverArea + 2, (q.nextAvail - 1) & 0xffff);
      } else {
        const w = q.saveState().availWrapCounter;
        const at = 16 * q.nextAvail;
        mem.writeU64(at, 0x10000);
        mem.writeU32(at + 8, 16);
        // INDIRECT without VIRTIO_F_INDIRECT_DESC, available for the device's wrap counter
        mem.atomicStoreU16(at + 14, DescFlags.INDIRECT | (w === 1 ? DescFlags.AVAIL : DescFlags.USED));
      }
    },
    rings(): Buffer {
      return Buffer.from(mem.view(0, layout.bytes));
    },
  };
  ring.queue = createVirtqueue(mem, ring.driver.queueConfig());
  return ring;
}
