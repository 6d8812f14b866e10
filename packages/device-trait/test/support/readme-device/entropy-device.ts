import { DeviceId, Feature, featureBit, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, VirtioDevice } from '@vmv/device-trait';

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

  // serveQueue: notifications off while serving, back on and one more look (so no kick is lost),
  // an interrupt only when the driver wants one, a corrupted ring reported as DEVICE_NEEDS_RESET.
  queueNotify(index: number) {
    if (this.ctx) serveQueue(this.ctx, index, this.handle);
  }

  private readonly handle: ChainHandler = (chain, served) => {
    const out = chain.writer();
    const bytes = new Uint8Array(Math.min(out.remaining, 4096));
    this.fill(bytes);
    out.write(bytes);
    served.complete(chain, out.written); // now, or later from asynchronous I/O
  };
}
