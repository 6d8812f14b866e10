/** The driver model (`@vmv/transport-mmio/driver`): its failure paths and helpers. */
import { describe, expect, it } from '@jest/globals';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import type { MutDeviceMmio } from '@vmv/bus';
import { ConfigSpace } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, MmioRegister as R, VirtioMmioTransport, isTransportMmioError } from '@vmv/transport-mmio';
import type { MmioDiagnostic } from '@vmv/transport-mmio';
import { DriverProbeError, LINUX_6_1_TRANSPORT_FEATURES, VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import type { MmioAccess } from '@vmv/transport-mmio/driver';
import { TestDevice, VERSION_1 } from './helpers/devices';
import type { TestDeviceOptions } from './helpers/devices';

const BASE = 0xd000_0000;

function rig(deviceOptions: TestDeviceOptions = {}, ringSize = 0x10_0000, transportFeatures?: readonly number[]) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x20_0000) }]);
  const device = new TestDevice(deviceOptions);
  const diagnostics: MmioDiagnostic[] = [];
  const transport = new VirtioMmioTransport(device, { memory, interrupt: new InMemoryInterruptController().createLegacyGroup(5, 1, 'level'), onDiagnostic: (d) => diagnostics.push(d) });
  const io = new IoManager();
  io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), transport);
  const log: MmioAccess[] = [];
  const driver = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0x10_0000, size: ringSize }, onAccess: (a) => log.push(a), ...(transportFeatures ? { transportFeatures } : {}) });
  return { memory, device, transport, io, driver, log, diagnostics };
}

/** A bus with one fake register file answering `regs(offset)`. */
function fakeBus(regs: (offset: number) => number) {
  const io = new IoManager();
  const dev: MutDeviceMmio = {
    mmioRead: (_b, off, data) => new DataView(data.buffer, data.byteOffset).setUint32(0, regs(off), true),
    mmioWrite: () => undefined,
  };
  io.registerMmio(new MmioRange(BASE, 0x200), dev);
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x1000) }]);
  return new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0, size: 0x1000 } });
}

function probeError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isTransportMmioError(e, 'TransportMmio.DriverProbeError')).toBe(true);
    return (e as DriverProbeError).code;
  }
  throw new Error('no error');
}

describe('probe failures, as Linux reports them', () => {
  it('BAD_MAGIC, BAD_VERSION, and NO_DEVICE without touching anything else', () => {
    expect(probeError(() => fakeBus(() => 0).probe())).toBe('BAD_MAGIC');
    expect(probeError(() => fakeBus((o) => (o === 0 ? 0x74726976 : 1)).probe())).toBe('BAD_VERSION');
    const r = rig({ deviceId: 0 });
    expect(probeError(() => r.driver.probe())).toBe('NO_DEVICE');
    expect(r.log.map((a) => a.offset)).toEqual([R.MAGIC_VALUE, R.VERSION, R.DEVICE_ID]);
  });

  it('RESET_TIMEOUT when Status never reads 0', () => {
    const d = fakeBus((o) => (o === 0 ? 0x74726976 : o === 4 ? 2 : o === 8 ? 4 : o === 0x70 ? 1 : 0));
    expect(probeError(() => d.probe())).toBe('RESET_TIMEOUT');
  });

  it('FEATURES_REFUSED when FEATURES_OK does not stick; the driver then sets FAILED', () => {
    const r = rig({ validateFeatures: () => false });
    r.driver.probe();
    expect(probeError(() => r.driver.negotiate([]))).toBe('FEATURES_REFUSED');
    expect(r.transport.status).toBe(0x83);
  });

  it('NO_VERSION_1 when the transport features kept exclude VERSION_1', () => {
    const r = rig({}, 0x10_0000, [28, 29]);
    r.driver.probe();
    expect(probeError(() => r.driver.negotiate([]))).toBe('NO_VERSION_1');
    expect(r.transport.status & 0x80).toBe(0x80);
  });

  it('QUEUE_IN_USE and QUEUE_UNAVAILABLE, with vm_setup_vq\'s clean-up write', () => {
    const r = rig();
    r.driver.probe();
    r.driver.negotiate([]);
    r.driver.setupQueue(0);
    expect(probeError(() => r.driver.setupQueue(0))).toBe('QUEUE_IN_USE');
    r.log.length = 0;
    expect(probeError(() => r.driver.setupQueue(3))).toBe('QUEUE_UNAVAILABLE');
    expect(r.log.map((a) => `${a.write ? 'W' : 'R'}${a.offset.toString(16)}`)).toEqual(['W30', 'R44', 'R34', 'W44', 'R44']);
  });
});

describe('negotiation', () => {
  it('accepts the driver table ∩ the device features, and the ring features Linux 6.1 knows', () => {
    const r = rig({ features: VERSION_1 | 0b1011n | (1n << 28n) | (1n << 29n) | (1n << 34n) | (1n << 35n) | (1n << 38n) | (1n << 40n) });
    r.driver.probe();
    // IN_ORDER (35), NOTIFICATION_DATA (38) and RING_RESET (40) are not in Linux 6.1's vring_transport_features.
    expect(r.driver.negotiate([0, 1, 2])).toBe(VERSION_1 | 0b11n | (1n << 28n) | (1n << 29n) | (1n << 34n));
    expect(r.driver.negotiate.length).toBe(1);
    expect(LINUX_6_1_TRANSPORT_FEATURES).toEqual([28, 29, 32, 33, 34, 36]);
    expect(r.transport.negotiatedFeatures).toBe(r.driver.features);
  });

  it('takes the feature table as a bigint too', () => {
    const r = rig({ features: VERSION_1 | 0b110n });
    r.driver.probe();
    expect(r.driver.negotiate(0b10n)).toBe(VERSION_1 | 0b10n);
  });

  it('rejects bad options and feature bits (embedder misuse)', () => {
    const r = rig();
    expect(() => r.driver.negotiate([64])).toThrow(RangeError);
    expect(() => new VirtioMmioDriver({ bus: r.io, base: BASE, memory: r.memory, ringMemory: { base: 0, size: 0 } })).toThrow(RangeError);
    expect(() => new VirtioMmioDriver({ bus: r.io, base: BASE, memory: r.memory, ringMemory: { base: 0, size: 1 }, transportFeatures: [7] })).toThrow(RangeError);
    expect(() => new VirtioMmioDriver({ bus: {} as IoManager, base: BASE, memory: r.memory, ringMemory: { base: 0, size: 1 } })).toThrow(TypeError);
  });
});

describe('queue setup', () => {
  it('lays a split ring out as vring_size does: descriptors, avail, used at the next page', () => {
    const r = rig({ queueMaxSizes: [256] });
    r.driver.probe();
    r.driver.negotiate([]);
    const q = r.driver.setupQueue(0);
    expect([q.size, q.descTable, q.driverArea, q.deviceArea]).toEqual([256, 0x10_0000, 0x10_1000, 0x10_2000]);
    expect(r.transport.queueInfo(0)).toMatchObject({ size: 256, descTable: 0x10_0000, driverArea: 0x10_1000, deviceArea: 0x10_2000, ready: true });
  });

  it('halves the ring while memory is short (may_reduce_num) and honours maxSize', () => {
    const r = rig({ queueMaxSizes: [1024, 1024] }, 0x3000);
    r.driver.probe();
    r.driver.negotiate([]);
    expect(r.driver.setupQueue(0).size).toBe(256); // 0x3000 bytes hold a 256-entry split ring (0x2806 bytes), not 512
    const s = rig({ queueMaxSizes: [1024] });
    s.driver.probe();
    s.driver.negotiate([]);
    expect(s.driver.setupQueue(0, { maxSize: 100 }).size).toBe(64);
    const t = rig({ queueMaxSizes: [1024] }, 0x100);
    t.driver.probe();
    t.driver.negotiate([]);
    expect(() => t.driver.setupQueue(0)).toThrow(RangeError);
  });

  it('deleteQueues disables each queue and checks QueueReady reads 0', () => {
    const r = rig({ queueMaxSizes: [256, 256] });
    r.driver.probe();
    r.driver.negotiate([]);
    r.driver.setupQueue(0);
    r.driver.setupQueue(1);
    expect(r.driver.deleteQueues()).toEqual([]);
    expect(r.transport.queueInfo(1).ready).toBe(false);
  });
});

describe('configuration access', () => {
  function withConfig() {
    const config = new ConfigSpace(16);
    config.setU64(0, 0x1122_3344_5566_7788n);
    config.allowWrite(8, 8);
    return rig({ config });
  }

  it('reads 8/16/32/64-bit fields and bytes; 64-bit and byte runs inside a ConfigGeneration loop', () => {
    const r = withConfig();
    r.driver.probe();
    r.log.length = 0;
    expect(r.driver.cread8(1)).toBe(0x77);
    expect(r.driver.cread16(2)).toBe(0x5566);
    expect(r.driver.cread32(4)).toBe(0x1122_3344);
    expect(r.driver.cread64(0)).toBe(0x1122_3344_5566_7788n);
    expect([...r.driver.creadBytes(0, 3)]).toEqual([0x88, 0x77, 0x66]);
    expect(r.log.map((a) => `${a.offset.toString(16)}/${a.width}`)).toEqual(['101/1', '102/2', '104/4', 'fc/4', '100/4', '104/4', 'fc/4', 'fc/4', '100/1', '101/1', '102/1', 'fc/4']);
  });

  it('reads again when the generation changed underneath', () => {
    const r = withConfig();
    r.driver.probe();
    let bumps = 1;
    const read = r.device.readConfig.bind(r.device);
    r.device.readConfig = (o, d) => {
      read(o, d);
      if (bumps-- > 0) r.device.host!.configChanged();
    };
    r.log.length = 0;
    expect(r.driver.cread64(0)).toBe(0x1122_3344_5566_7788n);
    expect(r.log.filter((a) => a.offset === 0x100)).toHaveLength(2);
    r.device.readConfig = (o, d) => {
      read(o, d);
      r.device.host!.configChanged();
    };
    expect(() => r.driver.cread64(0, 3)).toThrow(RangeError);
    expect(() => r.driver.creadBytes(0, 2, 3)).toThrow(RangeError);
  });

  it('writes 8/16/32-bit fields after FEATURES_OK', () => {
    const r = withConfig();
    r.driver.probe();
    r.driver.negotiate([]);
    r.driver.cwrite8(8, 0xaa);
    r.driver.cwrite16(10, 0xbbcc);
    r.driver.cwrite32(12, 0xdead_beef);
    expect(r.device.config.getU64(8)).toBe(0xdead_beef_bbcc_00aan);
    expect(r.diagnostics).toEqual([]);
  });
});

describe('status helpers', () => {
  it('fail(), needsReset() and reset()', () => {
    const r = rig();
    r.driver.probe();
    r.driver.negotiate([]);
    r.driver.setupQueue(0);
    r.driver.ready();
    expect(r.driver.needsReset()).toBe(false);
    r.device.ctx!.needsReset('broken');
    expect(r.driver.needsReset()).toBe(true);
    r.driver.fail();
    expect(r.driver.getStatus()).toBe(0xcf);
    expect(r.driver.reset()).toBe(0);
    expect(r.driver.queues).toEqual([]);
    expect(r.driver.features).toBe(0n);
    expect(r.driver.identity).toEqual({ version: 2, deviceId: 4, vendorId: 0 });
  });

  it('readRegister / writeRegister reach the device through the bus', () => {
    const r = rig();
    expect(r.driver.readRegister(R.MAGIC_VALUE)).toBe(0x74726976);
    r.driver.writeRegister(R.STATUS, 1);
    expect(r.transport.status).toBe(1);
    expect(new DriverProbeError('BAD_MAGIC', 'x').name).toBe('TransportMmio.DriverProbeError');
  });
});
