/** QueueRegisters: the queue table of register-file transports and its rules (§2.6.1, §3.1.1, §4.1.4.3, §4.2.2). */
import { describe, expect, it } from '@jest/globals';
import { DeviceSession, QueueRegisters } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { EchoDevice, FakeTransport, RING_RESET, S, VERSION_1 } from './support/session';

function rig(features = VERSION_1 | RING_RESET, memorySource?: () => GuestMemory) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x10_0000) }]);
  const transport = new FakeTransport();
  const device = new EchoDevice(features, [16, 8]);
  const session = new DeviceSession(device, transport);
  const queues = new QueueRegisters(session, device.queueMaxSizes, memorySource ?? (() => memory), 'Test', 'enabled');
  transport.next = () => queues.activation();
  transport.event = (e) => {
    if (e.type === 'features-ok') queues.featuresOk(e.features);
    if (e.type === 'reset') queues.clear();
  };
  const toFeaturesOk = (f = features) => {
    session.writeStatus(S.ACKNOWLEDGE);
    session.writeStatus(S.ACKNOWLEDGE | S.DRIVER);
    session.writeDriverFeatures(0, Number(f & 0xffff_ffffn));
    session.writeDriverFeatures(1, Number(f >> 32n));
    session.writeStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  };
  const setup = (i: number, base: number) => {
    queues.select = i;
    expect(queues.writeSize(8)).toBeNull();
    expect(queues.writeArea('descTable', false, base)).toBeNull();
    expect(queues.writeArea('driverArea', false, base + 0x100)).toBeNull();
    expect(queues.writeArea('deviceArea', false, base + 0x200)).toBeNull();
    expect(queues.enable()).toBeNull();
  };
  return { session, queues, device, toFeaturesOk, setup };
}

describe('QueueRegisters', () => {
  it('refuses queue fields before FEATURES_OK, for a queue that does not exist, and while enabled', () => {
    const { queues, toFeaturesOk, setup } = rig();
    expect(queues.writeSize(8)?.message).toMatch(/before FEATURES_OK/);
    toFeaturesOk();
    queues.select = 5;
    expect(queues.selected).toBeUndefined();
    expect(queues.writeSize(8)?.message).toMatch(/queue 5 does not exist/);
    setup(0, 0x1000);
    expect(queues.writeSize(4)?.message).toMatch(/while enabled/);
    expect(queues.info(0)).toMatchObject({ size: 8, ready: true, active: false, descTable: 0x1000 });
    expect(() => queues.info(2)).toThrow(RangeError);
  });

  it('records an invalid size or a misaligned area, and the activation then puts the session in DEVICE_NEEDS_RESET', () => {
    const { session, queues, toFeaturesOk } = rig();
    toFeaturesOk();
    expect(queues.writeSize(3)?.kind).toBe('invalid');
    expect(queues.writeArea('descTable', false, 0x1001)?.kind).toBe('invalid');
    expect(queues.enable()).toBeNull();
    session.writeStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    expect(session.status & S.DEVICE_NEEDS_RESET).toBe(S.DEVICE_NEEDS_RESET);
  });

  it.each([0, 1])('memory that cannot be reached at DRIVER_OK (a source that throws, as a vfio-user client with no DMA memory mapped) is DEVICE_NEEDS_RESET, not an exception (%i queues enabled)', (enabled) => {
    const noMemory = Object.assign(new Error('no DMA memory mapped'), { name: 'VfioUser.DmaFaultError' });
    const { session, device, toFeaturesOk, setup } = rig(VERSION_1, () => {
      throw noMemory;
    });
    toFeaturesOk();
    if (enabled) setup(0, 0x1000);
    expect(() => session.writeStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK)).not.toThrow();
    expect(session.status & S.DEVICE_NEEDS_RESET).toBe(S.DEVICE_NEEDS_RESET);
    expect(session.activated).toBe(false);
    expect(device.ctx).toBeNull();
  });

  it('activation hands the device its enabled queues; a queue reset stops one, which is then configured and started again', () => {
    const { session, queues, device, toFeaturesOk, setup } = rig();
    toFeaturesOk();
    setup(0, 0x1000);
    session.writeStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    expect(device.ctx!.queues.map((q) => q !== null)).toEqual([true, false]);
    queues.select = 0;
    expect(queues.writeSize(4)?.message).toMatch(/after DRIVER_OK/);
    expect(queues.resetSelected()).toBeNull();
    expect(queues.info(0)).toMatchObject({ ready: false, active: false, size: 16 });
    setup(0, 0x4000);
    expect(queues.info(0)).toMatchObject({ ready: true, active: true, descTable: 0x4000 });
    expect(queues.disable()).toBeNull();
    expect(queues.info(0).active).toBe(false);
    session.writeStatus(0);
    expect(queues.select).toBe(0);
    expect(queues.info(0)).toMatchObject({ ready: false, size: 16 });
  });

  it('a queue reset needs VIRTIO_F_RING_RESET', () => {
    const { queues, toFeaturesOk } = rig(VERSION_1);
    toFeaturesOk();
    expect(queues.resetSelected()?.message).toMatch(/without VIRTIO_F_RING_RESET/);
    expect(() => new QueueRegisters(rig().session, [3], () => GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(16) }]), 'T')).toThrow(/T: device.queueMaxSizes\[0\]/);
  });
});
