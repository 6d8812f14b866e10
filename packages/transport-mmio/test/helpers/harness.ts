/** A transport on its own with a level interrupt line, and register helpers. */
import { InMemoryInterruptController } from '@vmv/bus';
import type { InterruptSourceGroup } from '@vmv/bus';
import { GuestMemory } from '@vmv/memory';
import { MmioRegister as R, VirtioMmioTransport } from '@vmv/transport-mmio';
import type { MmioDiagnostic, VirtioMmioTransportOptions } from '@vmv/transport-mmio';
import { TestDevice } from './devices';
import type { TestDeviceOptions } from './devices';

export const IRQ = 5;

export function harness(deviceOptions: TestDeviceOptions = {}, options: Partial<VirtioMmioTransportOptions> & { mode?: 'level' | 'edge' | 'msi' } = {}) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x10_0000) }]);
  const irqs = new InMemoryInterruptController();
  let group: InterruptSourceGroup;
  if (options.mode === 'msi') {
    const msi = irqs.createMsiGroup(32, 1);
    msi.update(0, { addressLo: 0xfee0_0000, addressHi: 0, data: 0x41 });
    group = msi;
  } else {
    group = irqs.createLegacyGroup(IRQ, 1, options.mode ?? 'level');
  }
  const device = new TestDevice(deviceOptions);
  const diagnostics: MmioDiagnostic[] = [];
  const t = new VirtioMmioTransport(device, { memory, interrupt: group, onDiagnostic: (d) => diagnostics.push(d), ...options });
  const buf = new Uint8Array(4);
  const rd = (offset: number): number => {
    t.mmioRead(0n, offset, buf);
    return new DataView(buf.buffer).getUint32(0, true);
  };
  const wr = (offset: number, value: number): void => {
    new DataView(buf.buffer).setUint32(0, value >>> 0, true);
    t.mmioWrite(0n, offset, buf);
  };
  const kinds = (): string[] => diagnostics.map((d) => d.kind);
  /** Linux's sequence up to FEATURES_OK, accepting `features`. */
  const toFeaturesOk = (features: bigint = device.deviceFeatures): void => {
    wr(R.STATUS, 0);
    wr(R.STATUS, 1);
    wr(R.STATUS, 3);
    wr(R.DRIVER_FEATURES_SEL, 1);
    wr(R.DRIVER_FEATURES, Number(features >> 32n) >>> 0);
    wr(R.DRIVER_FEATURES_SEL, 0);
    wr(R.DRIVER_FEATURES, Number(features & 0xffff_ffffn));
    wr(R.STATUS, 0xb);
  };
  /** Sets queue `i` up with a split ring at `base` (size `size`). */
  const setupQueue = (i: number, base: number, size = 16): void => {
    wr(R.QUEUE_SEL, i);
    wr(R.QUEUE_NUM, size);
    wr(R.QUEUE_DESC_LOW, base);
    wr(R.QUEUE_DESC_HIGH, 0);
    wr(R.QUEUE_DRIVER_LOW, base + 16 * size);
    wr(R.QUEUE_DRIVER_HIGH, 0);
    wr(R.QUEUE_DEVICE_LOW, base + 0x1000);
    wr(R.QUEUE_DEVICE_HIGH, 0);
    wr(R.QUEUE_READY, 1);
  };
  /** FEATURES_OK, every queue set up at 0x10000 * (i + 1), DRIVER_OK. */
  const toLive = (features?: bigint): void => {
    toFeaturesOk(features);
    for (let i = 0; i < device.queueMaxSizes.length; i++) setupQueue(i, 0x1_0000 * (i + 1));
    wr(R.STATUS, 0xf);
  };
  return { t, device, memory, irqs, group, diagnostics, rd, wr, kinds, toFeaturesOk, setupQueue, toLive, line: () => irqs.isAsserted(IRQ) };
}
