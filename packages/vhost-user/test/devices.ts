import { Feature, features, type ActivationContext, type DescriptorChain, type VirtioDevice } from '@vmv/device-trait';

/**
 * A tiny test device: each request's readable bytes come back upper-cased in its writable
 * buffers. Config space: bytes 0..3 read-only (0x12345678), bytes 4..7 writable.
 * `mode`: 'sync' completes in queueNotify, 'async' after `delayMs`, 'hold' never.
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
  held: { queue: number; chain: DescriptorChain }[] = [];
  private timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(queues = 1, maxSize = 256) {
    this.queueMaxSizes = Array.from({ length: queues }, () => maxSize);
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
    const ctx = this.ctx;
    const q = ctx?.queues[index];
    if (!ctx || !q) return;
    // VIRTIO 1.2 §2.7.10: drain with notifications off, then re-enable and re-check
    do {
      q.disableNotification();
      for (let c = q.pop(); c !== null; c = q.pop()) this.take(ctx, index, c);
    } while (q.enableNotification());
    if (this.mode === 'sync' && q.needsNotification()) ctx.interrupt.signalUsedBuffer(index);
  }

  private take(ctx: ActivationContext, index: number, chain: DescriptorChain): void {
    this.popped++;
    if (this.mode === 'hold') {
      this.held.push({ queue: index, chain });
      return;
    }
    if (this.mode === 'sync') {
      this.complete(index, chain);
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.ctx === ctx) this.complete(index, chain);
    }, this.delayMs);
    this.timers.add(t);
  }

  /** Completes a chain: upper-cases the readable bytes into the writable ones. */
  complete(index: number, chain: DescriptorChain): void {
    const ctx = this.ctx!;
    const q = ctx.queues[index]!;
    const input = chain.reader().readBytes(chain.readableBytes);
    const out = chain.writer();
    const n = Math.min(out.remaining, input.length);
    const upper = input.subarray(0, n).map((b) => (b >= 0x61 && b <= 0x7a ? b - 32 : b));
    out.write(upper);
    q.addUsed(chain, n);
    this.processed++;
    if (this.mode !== 'sync' && q.needsNotification()) ctx.interrupt.signalUsedBuffer(index);
  }

  reset(): void {
    this.ctx = null;
    this.resets++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.held = [];
  }
}
