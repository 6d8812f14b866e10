/** A configurable device that records what the transport does to it and answers every chain at once. */
import { ConfigSpace, DeviceId, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, DeviceHost, VirtioDevice } from '@vmv/device-trait';

export const VERSION_1 = 1n << 32n;

export interface TestDeviceOptions {
  deviceId?: number;
  features?: bigint;
  queueMaxSizes?: number[];
  configSize?: number;
}

export class TestDevice implements VirtioDevice {
  readonly deviceId: number;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize: number;
  readonly config: ConfigSpace;
  ctx: ActivationContext | null = null;
  host: DeviceHost | null = null;
  readonly notifies: [number, number | undefined][] = [];
  resets = 0;

  constructor(o: TestDeviceOptions = {}) {
    this.deviceId = o.deviceId ?? DeviceId.ENTROPY;
    this.deviceFeatures = o.features ?? VERSION_1;
    this.queueMaxSizes = o.queueMaxSizes ?? [256];
    this.config = new ConfigSpace(o.configSize ?? 8);
    this.config.allowWrite(0, Math.min(4, this.config.size));
    this.configSize = this.config.size;
  }

  attach(host: DeviceHost) {
    this.host = host;
  }
  readConfig(offset: number, data: Uint8Array) {
    this.config.read(offset, data);
  }
  writeConfig(offset: number, data: Uint8Array) {
    this.config.write(offset, data);
  }
  activate(ctx: ActivationContext) {
    this.ctx = ctx;
  }
  reset() {
    this.ctx = null;
    this.resets++;
  }
  queueNotify(index: number, data?: number) {
    this.notifies.push([index, data]);
    // Fills each writable buffer with its queue index + 0x40.
    if (this.ctx) serveQueue(this.ctx, index, (chain, served) => {
      const w = chain.writer();
      w.fill(w.remaining, 0x40 + index);
      served.complete(chain, w.written);
    });
  }
}
