import { GuestMemory } from '@vmv/memory';
import { QueueConfig, QueueFeature } from '@vmv/queue';

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
  if (o.eventIdx) f |= 1n << BigInt(QueueFeature.EVENT_IDX);
  if (o.indirect) f |= 1n << BigInt(QueueFeature.INDIRECT_DESC);
  if (o.packed) f |= 1n << BigInt(QueueFeature.RING_PACKED);
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
