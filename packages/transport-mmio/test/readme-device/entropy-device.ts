import { DeviceId, Feature, featureBit, isQueueError } from '@vmv/device-trait';
import type { ActivationContext, VirtioDevice } from '@vmv/device-trait';

export class EntropyDevice implements VirtioDevice {
  readonly deviceId = DeviceId.ENTROPY;
  readonly deviceFeatures = featureBit(Feature.VERSION_1) | featureBit(Feature.EVENT_IDX);
  readonly queueMaxSizes = [256];
  readonly configSize = 0;
  private ctx: ActivationContext | null = null;

  constructor(private readonly fill: (buf: Uint8Array) => void) {}

  readConfig(_offset: number, data: Uint8Array) { data.fill(0); }
  writeConfig() {}
  activate(ctx: ActivationContext) { this.ctx = ctx; }
  reset() { this.ctx = null; }

  queueNotify(index: number) {
    const ctx = this.ctx;
    const queue = ctx?.queues[index];
    if (!ctx || !queue) return;
    try {
      for (let chain = queue.pop(); chain; chain = queue.pop()) {
        const out = chain.writer();
        const bytes = new Uint8Array(Math.min(out.remaining, 4096));
        this.fill(bytes);
        out.write(bytes);
        queue.addUsed(chain, out.written);
      }
      if (queue.needsNotification()) ctx.interrupt.signalUsedBuffer(index);
    } catch (e) {
      if (!isQueueError(e)) throw e;
      ctx.needsReset(e); // the guest corrupted the ring: DEVICE_NEEDS_RESET
    }
  }
}
