/** What the tests share: a function on a PciBus over an IoManager with recorded interrupts, raw access helpers, and the driver model wired to it. */
import { IoManager } from '@vmv/bus';
import type { MsiConfig } from '@vmv/bus';
import type { VirtioDevice } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { CommonCfg as C, PciBus, VirtioBarOffset as B, VirtioPciFunction } from '@vmv/transport-pci';
import type { PciDiagnostic, VirtioPciFunctionOptions } from '@vmv/transport-pci';
import { VirtioPciDriver } from '@vmv/transport-pci/driver';
import type { VirtioPciDriverOptions } from '@vmv/transport-pci/driver';

export const DEVICE = 3;

/** A function on its own, with recorded interrupts and little-endian access helpers. */
export function bare(device: VirtioDevice, options: Partial<VirtioPciFunctionOptions> = {}) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x20_0000) }]);
  const msix: { vector: number; message: MsiConfig }[] = [];
  const intx: boolean[] = [];
  const diagnostics: PciDiagnostic[] = [];
  const fn = new VirtioPciFunction(device, {
    memory,
    interrupts: { msix: (vector, message) => msix.push({ vector, message }), intx: (level) => intx.push(level) },
    onDiagnostic: (d) => diagnostics.push(d),
    ...options,
  });
  const le = (value: number | bigint, width: number) => {
    const d = new Uint8Array(width);
    let v = BigInt(value);
    for (let i = 0; i < width; i++, v >>= 8n) d[i] = Number(v & 0xffn);
    return d;
  };
  const num = (d: Uint8Array) => d.reduceRight((acc, b) => acc * 256 + b, 0);
  const cfgRead = (offset: number, width = 4) => {
    const d = new Uint8Array(width);
    fn.configRead(offset, d);
    return num(d);
  };
  const cfgWrite = (offset: number, value: number, width = 4) => fn.configWrite(offset, le(value, width));
  const barRead = (bar: number, offset: number, width: number) => {
    const d = new Uint8Array(width);
    fn.barRead(bar, offset, d);
    return num(d);
  };
  const barWrite = (bar: number, offset: number, value: number | bigint, width: number) => fn.barWrite(bar, offset, le(value, width));
  /** Common configuration, by field offset and width. */
  const rd = (field: number, width: number) => barRead(0, B.COMMON + field, width);
  const wr = (field: number, value: number, width: number) => barWrite(0, B.COMMON + field, value, width);
  const kinds = () => diagnostics.map((d) => d.kind);
  /** Linux's order up to FEATURES_OK, accepting `features`. */
  const toFeaturesOk = (features: bigint = fn.offeredFeatures) => {
    wr(C.DEVICE_STATUS, 0, 1);
    wr(C.DEVICE_STATUS, 1, 1);
    wr(C.DEVICE_STATUS, 3, 1);
    wr(C.DRIVER_FEATURE_SELECT, 0, 4);
    wr(C.DRIVER_FEATURE, Number(features & 0xffff_ffffn), 4);
    wr(C.DRIVER_FEATURE_SELECT, 1, 4);
    wr(C.DRIVER_FEATURE, Number(features >> 32n), 4);
    wr(C.DEVICE_STATUS, 0xb, 1);
  };
  /** Queue `i` with a split ring at `base` (size `size`), enabled. */
  const setupQueue = (i: number, base: number, size = 16) => {
    wr(C.QUEUE_SELECT, i, 2);
    wr(C.QUEUE_SIZE, size, 2);
    barWrite(0, B.COMMON + C.QUEUE_DESC, base, 8);
    barWrite(0, B.COMMON + C.QUEUE_DRIVER, base + 16 * size, 8);
    barWrite(0, B.COMMON + C.QUEUE_DEVICE, base + 0x1000, 8);
    wr(C.QUEUE_ENABLE, 1, 2);
  };
  const toLive = (features?: bigint) => {
    toFeaturesOk(features);
    for (let i = 0; i < device.queueMaxSizes.length; i++) setupQueue(i, 0x1_0000 * (i + 1));
    wr(C.DEVICE_STATUS, 0xf, 1);
  };
  return { fn, memory, msix, intx, diagnostics, kinds, cfgRead, cfgWrite, barRead, barWrite, rd, wr, toFeaturesOk, setupQueue, toLive };
}

/**
 * A machine: the function at 00:03.0 on a PciBus whose BARs map onto an IoManager, and the driver
 * model; interrupts are queued and handed to the driver by `service()` (as a CPU takes them).
 */
export function machine(device: VirtioDevice, options: Partial<VirtioPciFunctionOptions> = {}, driverOptions: Partial<VirtioPciDriverOptions> = {}) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(8 << 20) }]);
  const io = new IoManager();
  const bus = new PciBus({ mmio: io });
  const messages: MsiConfig[] = [];
  let line = false;
  let delivered = 0;
  const diagnostics: PciDiagnostic[] = [];
  const fn = new VirtioPciFunction(device, {
    memory,
    interrupts: {
      msix: (_v, message) => {
        messages.push(message);
        queueMicrotask(service);
      },
      intx: (level) => {
        line = level;
        if (level) queueMicrotask(service);
      },
    },
    onDiagnostic: (d) => diagnostics.push(d),
    ...options,
  });
  bus.attach(DEVICE, 0, fn);
  let configChanges = 0;
  const driver = new VirtioPciDriver({
    pci: bus,
    mmio: io,
    device: DEVICE,
    memory,
    ringMemory: { base: 0x10_0000, size: 0x10_0000 },
    barWindow: { base: 0xe000_0000, size: 0x100_0000 },
    onConfigChange: () => configChanges++,
    ...driverOptions,
  });
  /** Delivers what the function raised (as a CPU takes interrupts, after the current access): each MSI-X message, or the INTx line while it is up. */
  function service() {
    while (messages.length > 0) {
      delivered++;
      driver.msi(messages.shift()!);
    }
    for (let i = 0; line && i < 4; i++) {
      delivered++;
      driver.intx();
    }
  }
  return { memory, io, bus, fn, driver, diagnostics, service, messages, line: () => line, delivered: () => delivered, configChanges: () => configChanges };
}
