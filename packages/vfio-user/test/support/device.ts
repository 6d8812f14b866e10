/**
 * A minimal PCI function for tests: a config space with a made-up vendor/device id, BAR0 of 4 KiB
 * of scratch registers, a read-only ROM, and interrupt counts as asked; it records every call.
 */
import { PciRegion, type VfioUserDevice, type VfioUserDeviceContext } from '@vmv/vfio-user';

export class TestDevice implements VfioUserDevice {
  readonly configSize = 256;
  readonly bars = [{ size: 0x1000 }, null, null, null, null, null, { size: 0x800 }];
  readonly config = new Uint8Array(256);
  readonly bar0 = new Uint8Array(0x1000);
  readonly calls: string[] = [];
  ctx: VfioUserDeviceContext | null = null;
  resets = 0;
  resetDelay: Promise<void> | null = null;
  failNext = false;

  constructor(readonly irqCounts: readonly number[] = [1, 1, 8, 1, 1]) {
    this.config.set([0x34, 0x12, 0x78, 0x56]); // vendor 0x1234, device 0x5678
  }

  read(region: number, offset: number, data: Uint8Array): void {
    this.calls.push(`read ${region} ${offset} ${data.length}`);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('device failure');
    }
    const src = region === PciRegion.CONFIG ? this.config : region === PciRegion.BAR0 ? this.bar0 : new Uint8Array(0x800).fill(0xaa);
    data.set(src.subarray(offset, offset + data.length));
  }

  write(region: number, offset: number, data: Uint8Array): void {
    this.calls.push(`write ${region} ${offset} ${data.length}`);
    (region === PciRegion.CONFIG ? this.config : this.bar0).set(data, offset);
  }

  reset(): void | Promise<void> {
    this.resets++;
    return this.resetDelay ?? undefined;
  }

  attach(ctx: VfioUserDeviceContext): void {
    this.ctx = ctx;
    this.calls.push('attach');
  }

  detach(): void {
    this.ctx = null;
    this.calls.push('detach');
  }
}
