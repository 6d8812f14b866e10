/**
 * A device driven as a guest's driver drives it, for the request/response devices' tests: every
 * queue on a real ring in guest memory (split or packed, direct or indirect, event idx; VIRTIO 1.2
 * §2.7, §2.8), the device activated with an interrupt sink that reaps used chains, `raw` to post
 * any layout and `kick` to notify. A device's harness extends it with the requests its Linux driver
 * lays out, and says what a used chain means in `used`.
 */
import { Feature, featureBit } from '@vmv/device-trait';
import type { ActivationContext, VirtioDevice, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import type { DriverBuffer } from '@vmv/queue/driver';

/** How the rings are laid out. */
export interface RingOptions {
  /** Packed rings (RING_PACKED negotiated); split otherwise. */
  packed?: boolean;
  /** Every chain through one indirect table. */
  indirect?: boolean;
  /** Entries per ring (default 64). */
  queueSize?: number;
}

/** A posted chain: its writable buffers, read back when it is used. */
export interface PostedChain {
  readonly in: DriverBuffer[];
}

const RING_AREA = 0x1_0000;
const RING_STRIDE = 0x4_0000;
/** Where data buffers start: the first `alloc` is here, the next 16 bytes past its end. */
export const DATA_BASE = 0x40_0000;

export abstract class DrivenDevice {
  readonly memory: GuestMemory;
  readonly drivers: (SplitDriver<PostedChain> | PackedDriver<PostedChain>)[] = [];
  readonly queues: Virtqueue[] = [];
  /** What the device reported through `needsReset`. */
  readonly resets: unknown[] = [];
  private next = DATA_BASE;

  /**
   * @param device - the device, activated here with every queue it has
   * @param options - the ring layout
   * @param memorySize - guest RAM in bytes (data buffers from 4 MiB up, reused round robin)
   */
  constructor(readonly device: VirtioDevice, readonly options: RingOptions = {}, private readonly memorySize = 8 << 20) {
    this.memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(memorySize) }]);
    const size = options.queueSize ?? 64;
    const indirect = options.indirect === true;
    device.queueMaxSizes.forEach((_, i) => {
      const base = RING_AREA + i * RING_STRIDE;
      const ring = options.packed ? PackedDriver.layout(size, base) : SplitDriver.layout(size, base);
      const opts = { size, ...ring, eventIdx: true, indirectDesc: indirect, indirectArea: indirect ? { address: base + RING_STRIDE / 2, entriesPerChain: 16 } : undefined };
      const driver = options.packed ? new PackedDriver<PostedChain>(this.memory, opts) : new SplitDriver<PostedChain>(this.memory, opts);
      this.drivers.push(driver);
      this.queues.push(createVirtqueue(this.memory, driver.queueConfig(size)));
    });
    const ctx: ActivationContext = {
      memory: this.memory,
      queues: this.queues,
      features: device.deviceFeatures & ~(options.packed ? 0n : featureBit(Feature.RING_PACKED)),
      interrupt: { signalUsedBuffer: (i) => this.reap(i), signalConfigChange: () => this.configChanged() },
      needsReset: (reason) => void this.resets.push(reason),
    };
    device.activate(ctx);
  }

  /** What a used chain of `queue` brought back: the bytes of its writable buffers and the used length. */
  protected abstract used(queue: number, written: number[], len: number): void;

  /** A configuration change notification (default: ignored). */
  protected configChanged(): void {}

  /** `len` bytes of data area (reused round robin). */
  alloc(len: number): number {
    if (this.next + len + 16 > this.memorySize) this.next = DATA_BASE;
    const a = this.next;
    this.next += len + 16;
    return a;
  }

  /** Adds to `queue` a chain of readable byte pieces and writable lengths (filled 0xee), not kicked. */
  raw(queue: number, out: Uint8Array[], inLens: number[]): void {
    const o = out.map((b) => {
      const addr = this.alloc(b.length);
      this.memory.write(addr, b);
      return { addr, len: b.length };
    });
    const i = inLens.map((len) => {
      const addr = this.alloc(len);
      this.memory.fill(addr, len, 0xee);
      return { addr, len };
    });
    if (this.drivers[queue]!.add(o, i, { in: i }, this.options.indirect) < 0) throw new Error('harness: ring full');
  }

  /** Notifies `queue` when the driver's notification suppression says to. */
  kick(queue = 0): void {
    if (this.drivers[queue]!.kickPrepare()) this.device.queueNotify(queue);
  }

  /** Takes the used chains of `queue` to {@link used}. */
  reap(queue = 0): void {
    const driver = this.drivers[queue]!;
    for (let u = driver.getBuf(); u !== null; u = driver.getBuf()) {
      const bytes: number[] = [];
      for (const p of u.token.in) {
        const b = new Uint8Array(p.len);
        this.memory.read(p.addr, b);
        bytes.push(...b);
      }
      this.used(queue, bytes, u.len);
    }
  }
}

/** `bytes` cut at the given points (taken modulo its length + 1): the pieces of a hostile layout. */
export function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...points, bytes.length]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = Math.max(from, c);
  }
  return out;
}
