/** The common configuration structure (§4.1.4.3): every field, its access rules (§4.1.3.1, §4.1.4.3.1/2), queue reset, MSI-X vector mapping (§4.1.5.1.2), notifications (§4.1.5.2). */
import { describe, expect, it } from '@jest/globals';
import { Feature, featureBit } from '@vmv/device-trait';
import { CommonCfg as C, VIRTIO_MSI_NO_VECTOR as NO_VECTOR, VirtioBarOffset as B } from '@vmv/transport-pci';
import { TestDevice, VERSION_1 } from './support/device';
import { bare } from './support/machine';

const RING_RESET = featureBit(Feature.RING_RESET);
const NOTIFICATION_DATA = featureBit(Feature.NOTIFICATION_DATA);

describe('fields', () => {
  it('device_feature by select (0 past word 1), driver_feature shows the valid bits written', () => {
    const h = bare(new TestDevice({ features: VERSION_1 | featureBit(Feature.EVENT_IDX) | 0x5n }));
    h.wr(C.DEVICE_FEATURE_SELECT, 0, 4);
    expect(h.rd(C.DEVICE_FEATURE, 4)).toBe(0x2000_0005);
    h.wr(C.DEVICE_FEATURE_SELECT, 1, 4);
    expect(h.rd(C.DEVICE_FEATURE, 4)).toBe(1);
    h.wr(C.DEVICE_FEATURE_SELECT, 7, 4);
    expect(h.rd(C.DEVICE_FEATURE, 4)).toBe(0);
    expect(h.rd(C.DEVICE_FEATURE_SELECT, 4)).toBe(7);
    h.wr(C.DEVICE_STATUS, 1, 1);
    h.wr(C.DEVICE_STATUS, 3, 1);
    h.wr(C.DRIVER_FEATURE_SELECT, 0, 4);
    h.wr(C.DRIVER_FEATURE, 0xffff_ffff, 4);
    expect(h.rd(C.DRIVER_FEATURE, 4)).toBe(0x2000_0005);
    expect(h.rd(C.NUM_QUEUES, 2)).toBe(1);
  });

  it('device_status: 0 resets and reads 0; config_generation follows device changes', () => {
    const d = new TestDevice();
    const h = bare(d);
    h.toLive();
    expect(h.rd(C.DEVICE_STATUS, 1)).toBe(0xf);
    const gen = h.rd(C.CONFIG_GENERATION, 1);
    const resets = d.resets;
    d.host!.configChanged();
    expect(h.rd(C.CONFIG_GENERATION, 1)).toBe((gen + 1) & 0xff);
    h.wr(C.DEVICE_STATUS, 0, 1);
    expect(h.rd(C.DEVICE_STATUS, 1)).toBe(0);
    expect(d.resets).toBe(resets + 1);
    expect(h.rd(C.QUEUE_ENABLE, 2)).toBe(0); // §4.1.4.3.1: queue_enable 0 on reset
  });

  it('queue fields: size (0 for a queue that does not exist), enable, notify_off, notify_data, addresses as halves or whole', () => {
    const h = bare(new TestDevice({ queueMaxSizes: [256, 64] }));
    h.wr(C.QUEUE_SELECT, 1, 2);
    expect(h.rd(C.QUEUE_SIZE, 2)).toBe(64);
    expect(h.rd(C.QUEUE_NOTIFY_OFF, 2)).toBe(1);
    expect(h.rd(C.QUEUE_NOTIFY_DATA, 2)).toBe(1);
    h.wr(C.QUEUE_SELECT, 2, 2);
    expect(h.rd(C.QUEUE_SIZE, 2)).toBe(0);
    expect(h.rd(C.QUEUE_MSIX_VECTOR, 2)).toBe(NO_VECTOR);
    h.toFeaturesOk();
    h.wr(C.QUEUE_SELECT, 1, 2);
    h.wr(C.QUEUE_SIZE, 32, 2);
    h.wr(C.QUEUE_DESC, 0x2000, 4);
    h.wr(C.QUEUE_DESC + 4, 1, 4);
    h.barWrite(0, B.COMMON + C.QUEUE_DRIVER, 0x3_0000_4000n, 8);
    expect(h.rd(C.QUEUE_SIZE, 2)).toBe(32);
    expect(h.rd(C.QUEUE_DESC, 4)).toBe(0x2000);
    expect(h.rd(C.QUEUE_DESC + 4, 4)).toBe(1);
    expect(h.barRead(0, B.COMMON + C.QUEUE_DRIVER, 8)).toBe(0x3_0000_4000);
    expect(h.fn.queueInfo(1)).toMatchObject({ size: 32, descTable: 0x1_0000_2000, driverArea: 0x3_0000_4000 });
    expect(h.diagnostics).toEqual([]);
  });

  it('admin fields read 0 and are read-only; read-only fields keep their value', () => {
    const h = bare(new TestDevice());
    expect(h.rd(C.ADMIN_QUEUE_INDEX, 2)).toBe(0);
    expect(h.rd(C.ADMIN_QUEUE_NUM, 2)).toBe(0);
    for (const [f, w] of [[C.DEVICE_FEATURE, 4], [C.NUM_QUEUES, 2], [C.CONFIG_GENERATION, 1], [C.QUEUE_NOTIFY_OFF, 2], [C.QUEUE_NOTIFY_DATA, 2], [C.ADMIN_QUEUE_INDEX, 2], [C.ADMIN_QUEUE_NUM, 2]] as const) h.wr(f, 9, w);
    expect(h.kinds()).toEqual(new Array(7).fill('read-only'));
    expect(h.rd(C.NUM_QUEUES, 2)).toBe(1);
    expect(h.fn.offeredFeatures & (featureBit(41) | featureBit(37))).toBe(0n);
  });
});

describe('access rules', () => {
  it('each field at its natural width only: others read 0 and write nothing', () => {
    const h = bare(new TestDevice());
    expect(h.barRead(0, B.COMMON + C.DEVICE_STATUS, 4)).toBe(0);
    h.barWrite(0, B.COMMON + C.DEVICE_STATUS, 1, 2);
    expect(h.barRead(0, B.COMMON + C.NUM_QUEUES, 4)).toBe(0);
    expect(h.barRead(0, B.COMMON + C.NUM_QUEUES + 1, 1)).toBe(0);
    h.barWrite(0, B.COMMON + C.DEVICE_FEATURE_SELECT, 1, 8);
    expect(h.kinds()).toEqual(['bad-access', 'bad-access', 'bad-access', 'bad-access', 'bad-access']);
    expect(h.fn.status).toBe(0);
  });

  it('nothing outside the structures: reads 0, writes ignored; BARs the function lacks likewise', () => {
    const h = bare(new TestDevice({ configSize: 8 }));
    expect(h.barRead(0, 0x40, 4)).toBe(0);
    expect(h.barRead(0, B.DEVICE + 6, 4)).toBe(0);
    h.barWrite(4, 0, 1, 4);
    expect(h.barRead(1, 0, 4)).toBe(0);
    expect(h.kinds()).toEqual(['reserved', 'reserved', 'reserved', 'reserved']);
  });

  it('queue fields before FEATURES_OK, while enabled or after DRIVER_OK are refused; queue_enable takes 1 only', () => {
    const h = bare(new TestDevice());
    h.wr(C.QUEUE_SIZE, 16, 2);
    expect(h.diagnostics[0]!.message).toMatch(/before FEATURES_OK/);
    h.toFeaturesOk();
    h.setupQueue(0, 0x1_0000);
    h.wr(C.QUEUE_SIZE, 8, 2);
    expect(h.diagnostics[1]!.message).toMatch(/while queue_enable is 1/);
    h.wr(C.QUEUE_ENABLE, 0, 2);
    expect(h.diagnostics[2]!.message).toMatch(/must not write 0 to queue_enable/);
    h.wr(C.DEVICE_STATUS, 0xf, 1);
    h.wr(C.QUEUE_DESC, 0x8000, 4);
    expect(h.diagnostics[3]!.message).toMatch(/after DRIVER_OK/);
    expect(h.kinds()).toEqual(['refused', 'refused', 'refused', 'refused']);
    expect(h.fn.queueInfo(0)).toMatchObject({ size: 16, ready: true, active: true });
  });

  it('a queue_size that is not a power of two is recorded as invalid; DRIVER_OK then needs a reset', () => {
    const h = bare(new TestDevice());
    h.toFeaturesOk();
    h.wr(C.QUEUE_SIZE, 3, 2);
    expect(h.rd(C.QUEUE_SIZE, 2)).toBe(0); // §4.1.4.3.1: 0 or a power of two
    h.wr(C.QUEUE_ENABLE, 1, 2);
    h.wr(C.DEVICE_STATUS, 0xf, 1);
    expect(h.kinds()).toEqual(['invalid-queue-value', 'needs-reset']);
    expect(h.fn.status & 0x40).toBe(0x40);
  });

  it('device configuration: reads any time, writes after FEATURES_OK only', () => {
    const d = new TestDevice({ configSize: 8 });
    d.config.bytes.set([1, 2, 3, 4, 5, 6, 7, 8]);
    const h = bare(d);
    expect(h.barRead(0, B.DEVICE + 4, 4)).toBe(0x0807_0605);
    h.barWrite(0, B.DEVICE, 0xaa, 1);
    expect(h.kinds()).toEqual(['refused']);
    h.toFeaturesOk();
    h.barWrite(0, B.DEVICE, 0xaa, 1);
    expect(d.config.bytes[0]).toBe(0xaa);
  });
});

describe('MSI-X vectors (§4.1.5.1.2)', () => {
  it('a vector the table has is kept; one it lacks reads NO_VECTOR; a reset unmaps everything', () => {
    const h = bare(new TestDevice({ queueMaxSizes: [16, 16] }));
    h.wr(C.CONFIG_MSIX_VECTOR, 2, 2);
    expect(h.rd(C.CONFIG_MSIX_VECTOR, 2)).toBe(2);
    h.wr(C.QUEUE_SELECT, 1, 2);
    h.wr(C.QUEUE_MSIX_VECTOR, 3, 2);
    expect(h.rd(C.QUEUE_MSIX_VECTOR, 2)).toBe(NO_VECTOR);
    h.wr(C.QUEUE_MSIX_VECTOR, 1, 2);
    expect(h.fn.queueVector(1)).toBe(1);
    expect(h.kinds()).toEqual(['no-vector']);
    h.wr(C.DEVICE_STATUS, 0, 1);
    expect(h.rd(C.CONFIG_MSIX_VECTOR, 2)).toBe(NO_VECTOR);
    expect(h.fn.queueVector(1)).toBe(NO_VECTOR);
  });

  it('without MSI-X every mapping fails', () => {
    const h = bare(new TestDevice(), { msixVectors: 0 });
    h.wr(C.CONFIG_MSIX_VECTOR, 0, 2);
    expect(h.rd(C.CONFIG_MSIX_VECTOR, 2)).toBe(NO_VECTOR);
  });
});

describe('queue_reset (VIRTIO_F_RING_RESET, §2.6.1)', () => {
  it('refused without the feature; with it the queue stops, reads 0 in queue_reset and queue_enable, and can be set up again', () => {
    const d = new TestDevice({ features: VERSION_1 | RING_RESET });
    const h = bare(d);
    h.toLive(VERSION_1);
    h.wr(C.QUEUE_RESET, 1, 2);
    expect(h.kinds()).toEqual(['refused']);
    const h2 = bare(new TestDevice({ features: VERSION_1 | RING_RESET }));
    h2.toLive();
    h2.wr(C.QUEUE_SELECT, 0, 2);
    h2.wr(C.QUEUE_RESET, 1, 2);
    expect(h2.rd(C.QUEUE_RESET, 2)).toBe(0);
    expect(h2.rd(C.QUEUE_ENABLE, 2)).toBe(0);
    expect(h2.fn.queueInfo(0).active).toBe(false);
    h2.setupQueue(0, 0x4_0000, 8);
    expect(h2.fn.queueInfo(0)).toMatchObject({ active: true, size: 8, descTable: 0x4_0000 });
    expect(h2.diagnostics).toEqual([]);
  });
});

describe('notifications (§4.1.5.2)', () => {
  it('a 16-bit write of the queue index at its notify address reaches the device; anything else is refused', () => {
    const d = new TestDevice({ queueMaxSizes: [16, 16] });
    const h = bare(d);
    h.barWrite(0, B.NOTIFY, 0, 2);
    expect(h.diagnostics[0]!.message).toMatch(/before DRIVER_OK/);
    h.toLive();
    h.barWrite(0, B.NOTIFY + 4, 1, 2);
    expect(d.notifies).toEqual([[1, undefined]]);
    h.barWrite(0, B.NOTIFY + 4, 0, 2); // names queue 0 at queue 1's address
    h.barWrite(0, B.NOTIFY, 0, 4); // 32 bits without NOTIFICATION_DATA
    h.barWrite(0, B.NOTIFY + 2, 0, 2); // between two addresses
    expect(h.kinds()).toEqual(['refused', 'refused', 'bad-access', 'bad-access']);
    expect(d.notifies).toHaveLength(1);
  });

  it('with VIRTIO_F_NOTIFICATION_DATA: 32-bit writes carrying the data', () => {
    const d = new TestDevice({ features: VERSION_1 | NOTIFICATION_DATA });
    const h = bare(d);
    h.toLive();
    h.barWrite(0, B.NOTIFY, 0x8005_0000, 4);
    expect(d.notifies).toEqual([[0, 0x8005_0000]]);
    h.barWrite(0, B.NOTIFY, 0, 2);
    expect(h.kinds()).toEqual(['bad-access']);
  });
});
