import { Feature, features, serveQueue, type ActivationContext, type DescriptorChain, type ServedQueue, type VirtioDevice } from '@vmv/device-trait';

/** A request the device took and has not completed yet. */
export interface HeldRequest {
  readonly queue: number;
  readonly chain: DescriptorChain;
}

/**
 * A tiny test device on `serveQueue`: each request's readable bytes come back upper-cased in its
 * writable buffers. Config space: bytes 0..3 read-only (0x12345678), bytes 4..7 writable.
 * `mode`: 'sync' completes in queueNotify, 'async' after `delayMs`, 'hold' when the test calls
 * `complete` (a device keeps the ServedQueue to complete later, as asynchronous I/O does).
 */
export class UpperDevice implements VirtioDevice {
  readonly deviceId = 0x7ff0;
  readonly deviceFeatures = features(Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC);
  readonly queueMaxSizes: readonly number[];
  readonly configSize = 8;
  readonly config = new Uint8Array([0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]);
  mode: 'sync' | 'async' | 'hold' = 'sync';
  delayMs = 20;
  ctx: ActivationContext | null = null;
  activations = 0;
  resets = 0;
  notifies = 0;
  processed = 0;
  popped = 0;
  held: HeldRequest[] = [];
  /** Per queue, how chains taken from it go back (kept past a reset: late completions are dropped by the queue). */
  private readonly served: (ServedQueue | null)[];
  private timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(queues = 1, maxSize = 256) {
    this.queueMaxSizes = Array.from({ length: queues }, () => maxSize);
    this.served = Array.from({ length: queues }, () => null);
  }

  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.config.subarray(offset, offset + data.length));
  }

  writeConfig(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) if (offset + i >= 4) this.config[offset + i] = data[i]!;
  }

  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
    this.activations++;
  }

  queueNotify(index: number): void {
    this.notifies++;
    if (this.ctx !== null) serveQueue(this.ctx, index, this.handle);
  }

  private readonly handle = (chain: DescriptorChain, served: ServedQueue): void => {
    this.popped++;
    this.served[served.index] = served;
    if (this.mode === 'hold') {
      this.held.push({ queue: served.index, chain });
      return;
    }
    if (this.mode === 'sync') {
      this.complete(served.index, chain);
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.complete(served.index, chain);
    }, this.delayMs);
    this.timers.add(t);
  };

  /** Completes a chain of queue `index`: upper-cases the readable bytes into the writable ones. */
  complete(index: number, chain: DescriptorChain): void {
    const input = chain.reader().readBytes(chain.readableBytes);
    const out = chain.writer();
    const n = Math.min(out.remaining, input.length);
    out.write(input.subarray(0, n).map((b) => (b >= 0x61 && b <= 0x7a ? b - 32 : b)));
    this.served[index]!.complete(chain, n);
    this.processed++;
  }

  reset(): void {
    this.ctx = null;
    this.resets++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.held = [];
  }
}

/** An UpperDevice that also offers VIRTIO_F_RING_PACKED. */
export class PackedUpperDevice extends UpperDevice {
  override readonly deviceFeatures = features(Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC, Feature.RING_PACKED);
}
