/**
 * The register file (VIRTIO 1.2 §4.2.2): identity, feature words, access width and alignment
 * rules, read-only / write-only / reserved offsets, the status state machine, configuration space.
 */
import { describe, expect, it } from '@jest/globals';
import { ConfigSpace, DeviceId, Feature, featureBit } from '@vmv/device-trait';
import { MMIO_MAGIC_VALUE, MMIO_UNSUPPORTED_FEATURES, MmioRegister as R, minimumMmioRegionSize } from '@vmv/transport-mmio';
import { VERSION_1 } from './helpers/devices';
import { harness } from './helpers/harness';

describe('identity and feature registers', () => {
  it('presents MagicValue "virt", Version 2, DeviceID and VendorID', () => {
    const h = harness({ deviceId: DeviceId.BLOCK }, { vendorId: 0x554d4551 });
    expect(h.rd(R.MAGIC_VALUE)).toBe(MMIO_MAGIC_VALUE);
    expect(h.rd(R.MAGIC_VALUE)).toBe(0x74726976);
    expect(h.rd(R.VERSION)).toBe(2);
    expect(h.rd(R.DEVICE_ID)).toBe(2);
    expect(h.rd(R.VENDOR_ID)).toBe(0x554d4551);
    expect(h.diagnostics).toEqual([]);
  });

  it('shows the feature word DeviceFeaturesSel selects, and 0 past the offered words', () => {
    const h = harness({ features: VERSION_1 | featureBit(Feature.EVENT_IDX) | 0x5n | (1n << 70n) });
    h.wr(R.DEVICE_FEATURES_SEL, 0);
    expect(h.rd(R.DEVICE_FEATURES)).toBe(0x2000_0005);
    h.wr(R.DEVICE_FEATURES_SEL, 1);
    expect(h.rd(R.DEVICE_FEATURES)).toBe(1);
    h.wr(R.DEVICE_FEATURES_SEL, 2);
    expect(h.rd(R.DEVICE_FEATURES)).toBe(0x40);
    h.wr(R.DEVICE_FEATURES_SEL, 0xffff_ffff);
    expect(h.rd(R.DEVICE_FEATURES)).toBe(0);
  });

  it('never offers the features virtio-mmio cannot carry (SR_IOV, NOTIF_CONFIG_DATA, ADMIN_VQ, SUSPEND)', () => {
    const all = VERSION_1 | (1n << 37n) | (1n << 39n) | (1n << 41n) | (1n << 43n) | featureBit(Feature.RING_RESET);
    const h = harness({ features: all });
    expect(h.t.offeredFeatures).toBe(VERSION_1 | featureBit(Feature.RING_RESET));
    expect(h.t.offeredFeatures & MMIO_UNSUPPORTED_FEATURES).toBe(0n);
    h.wr(R.DEVICE_FEATURES_SEL, 1);
    expect(h.rd(R.DEVICE_FEATURES)).toBe(0x101);
  });

  it('minimumMmioRegionSize covers the registers and the configuration space', () => {
    expect(minimumMmioRegionSize(0)).toBe(0x100);
    expect(minimumMmioRegionSize(57)).toBe(0x13c);
    expect(() => minimumMmioRegionSize(5000)).toThrow(RangeError);
  });
});

describe('access rules: registers take aligned 32-bit accesses only', () => {
  it('a narrow or wide register read returns zeros and is reported', () => {
    const h = harness();
    for (const width of [1, 2, 8]) {
      const data = new Uint8Array(width).fill(0xee);
      h.t.mmioRead(0n, R.MAGIC_VALUE, data);
      expect([...data]).toEqual(new Array<number>(width).fill(0));
    }
    expect(h.kinds()).toEqual(['bad-access', 'bad-access', 'bad-access']);
    expect(h.diagnostics[0]).toMatchObject({ offset: 0, width: 1, write: false });
  });

  it('an unaligned register read returns zeros', () => {
    const h = harness();
    const data = new Uint8Array(4).fill(0xee);
    h.t.mmioRead(0n, R.MAGIC_VALUE + 1, data);
    expect([...data]).toEqual([0, 0, 0, 0]);
    expect(h.kinds()).toEqual(['bad-access']);
  });

  it('a narrow, wide or unaligned register write is ignored', () => {
    const h = harness();
    h.t.mmioWrite(0n, R.STATUS, Uint8Array.of(1));
    h.t.mmioWrite(0n, R.STATUS, Uint8Array.of(1, 0));
    h.t.mmioWrite(0n, R.STATUS, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0));
    h.t.mmioWrite(0n, R.STATUS + 2, Uint8Array.of(1, 0, 0, 0));
    expect(h.t.status).toBe(0);
    expect(h.kinds()).toEqual(['bad-access', 'bad-access', 'bad-access', 'bad-access']);
    expect(h.diagnostics[3]).toMatchObject({ offset: 0x72, width: 4, write: true });
  });

  it('writes to read-only registers are ignored; reads of write-only registers return 0', () => {
    const h = harness();
    for (const off of [R.MAGIC_VALUE, R.VERSION, R.DEVICE_ID, R.VENDOR_ID, R.DEVICE_FEATURES, R.QUEUE_NUM_MAX, R.INTERRUPT_STATUS, R.SHM_LEN_LOW, R.SHM_LEN_HIGH, R.SHM_BASE_LOW, R.SHM_BASE_HIGH, R.CONFIG_GENERATION]) h.wr(off, 0x1234);
    expect(h.rd(R.MAGIC_VALUE)).toBe(MMIO_MAGIC_VALUE);
    expect(h.rd(R.QUEUE_NUM_MAX)).toBe(256);
    expect(h.kinds()).toEqual(new Array<string>(12).fill('read-only'));
    h.diagnostics.length = 0;
    h.wr(R.QUEUE_SEL, 0);
    h.wr(R.DEVICE_FEATURES_SEL, 1);
    for (const off of [R.DEVICE_FEATURES_SEL, R.DRIVER_FEATURES, R.DRIVER_FEATURES_SEL, R.QUEUE_SEL, R.QUEUE_NUM, R.QUEUE_NOTIFY, R.INTERRUPT_ACK, R.QUEUE_DESC_LOW, R.QUEUE_DESC_HIGH, R.QUEUE_DRIVER_LOW, R.QUEUE_DRIVER_HIGH, R.QUEUE_DEVICE_LOW, R.QUEUE_DEVICE_HIGH, R.SHM_SEL]) {
      expect(h.rd(off)).toBe(0);
    }
    expect(h.kinds()).toEqual(new Array<string>(14).fill('write-only'));
  });

  it('reserved offsets, including the legacy GuestPageSize/QueueAlign/QueuePFN, read 0 and ignore writes', () => {
    const h = harness();
    for (const off of [0x018, 0x01c, 0x028, 0x03c, 0x040, 0x048, 0x054, 0x068, 0x074, 0x088, 0x0a8, 0x0c4, 0x0f8]) {
      h.wr(off, 0xffff_ffff);
      expect(h.rd(off)).toBe(0);
    }
    expect(h.kinds()).toEqual(new Array<string>(26).fill('reserved'));
    expect(h.t.status).toBe(0);
  });
});

describe('status and feature negotiation', () => {
  it('follows Linux: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK read back', () => {
    const h = harness({ features: VERSION_1 | featureBit(Feature.EVENT_IDX) | 1n });
    h.toFeaturesOk(VERSION_1 | 1n);
    expect(h.rd(R.STATUS)).toBe(0xb);
    expect(h.t.negotiatedFeatures).toBe(VERSION_1 | 1n);
    expect(h.diagnostics).toEqual([]);
  });

  it('refuses out-of-order, cleared and reserved status bits', () => {
    const h = harness();
    h.wr(R.STATUS, 2); // DRIVER before ACKNOWLEDGE
    h.wr(R.STATUS, 1);
    h.wr(R.STATUS, 4 | 1); // DRIVER_OK without FEATURES_OK
    h.wr(R.STATUS, 3);
    h.wr(R.STATUS, 1); // clears DRIVER
    h.wr(R.STATUS, 0x43); // the driver cannot set DEVICE_NEEDS_RESET
    h.wr(R.STATUS, 0x13); // SUSPEND is not offered
    h.wr(R.STATUS, 0x103); // not a u8
    expect(h.rd(R.STATUS)).toBe(3);
    expect(h.kinds()).toEqual(['refused', 'refused', 'refused', 'refused', 'refused', 'refused']);
    expect(h.diagnostics.every((d) => d.offset === R.STATUS && d.write)).toBe(true);
  });

  it('after FAILED accepts only a reset', () => {
    const h = harness();
    h.wr(R.STATUS, 1);
    h.wr(R.STATUS, 0x81);
    h.wr(R.STATUS, 0x83);
    expect(h.rd(R.STATUS)).toBe(0x81);
    h.wr(R.STATUS, 0);
    expect(h.rd(R.STATUS)).toBe(0);
    expect(h.kinds()).toEqual(['refused']);
  });

  it('accepts DriverFeatures only between DRIVER and FEATURES_OK', () => {
    const h = harness({ features: VERSION_1 | 3n });
    h.wr(R.DRIVER_FEATURES, 1); // before DRIVER
    h.toFeaturesOk(VERSION_1 | 1n);
    h.wr(R.DRIVER_FEATURES_SEL, 0);
    h.wr(R.DRIVER_FEATURES, 3); // after FEATURES_OK
    expect(h.t.negotiatedFeatures).toBe(VERSION_1 | 1n);
    expect(h.kinds()).toEqual(['refused', 'refused']);
    expect(h.diagnostics[0]!.message).toMatch(/before DRIVER/);
    expect(h.diagnostics[1]!.message).toMatch(/after FEATURES_OK/);
  });

  it('leaves FEATURES_OK clear for features not offered, without VERSION_1, or refused by the device', () => {
    for (const [offered, accepted, validate] of [
      [VERSION_1 | 1n, VERSION_1 | 2n, undefined],
      [VERSION_1 | 1n, 1n, undefined],
      [VERSION_1 | 1n, VERSION_1 | 1n, (f: bigint) => (f & 1n) === 0n],
    ] as const) {
      const h = harness({ features: offered, ...(validate ? { validateFeatures: validate } : {}) });
      h.toFeaturesOk(accepted);
      expect(h.rd(R.STATUS)).toBe(3);
      expect(h.kinds()).toEqual(['features-refused']);
      expect(h.t.negotiatedFeatures).toBe(0n);
      // The driver gives up: FAILED.
      h.wr(R.STATUS, 0x83);
      expect(h.rd(R.STATUS)).toBe(0x83);
    }
  });

  it('requires VERSION_1 from the device (no legacy interface)', () => {
    expect(() => harness({ features: 0n })).toThrow(RangeError);
  });
});

describe('configuration space (0x100+): any width and alignment', () => {
  function withConfig() {
    const config = new ConfigSpace(12);
    config.setU16(0, 0x1234);
    config.setU32(4, 0xdead_beef);
    config.allowWrite(8, 4);
    return harness({ config });
  }

  it('reads fields at any width and alignment, little-endian', () => {
    const h = withConfig();
    const one = new Uint8Array(1);
    h.t.mmioRead(0n, 0x101, one);
    expect(one[0]).toBe(0x12);
    const two = new Uint8Array(2);
    h.t.mmioRead(0n, 0x105, two);
    expect([...two]).toEqual([0xbe, 0xad]);
    const eight = new Uint8Array(8);
    h.t.mmioRead(0n, 0x100, eight);
    expect([...eight]).toEqual([0x34, 0x12, 0, 0, 0xef, 0xbe, 0xad, 0xde]);
    expect(h.diagnostics).toEqual([]);
  });

  it('is readable before FEATURES_OK (VIRTIO 1.2 §2.5.1)', () => {
    const h = withConfig();
    expect(h.rd(0x104)).toBe(0xdead_beef);
  });

  it('reads beyond the configuration space return zeros, writes there are ignored', () => {
    const h = withConfig();
    const data = new Uint8Array(4).fill(0xee);
    h.t.mmioRead(0n, 0x10a, data); // straddles the end (12 bytes)
    expect([...data]).toEqual([0, 0, 0, 0]);
    h.t.mmioRead(0n, 0x1fc, data);
    h.toFeaturesOk();
    h.t.mmioWrite(0n, 0x10c, Uint8Array.of(1));
    expect(h.kinds()).toEqual(['config-range', 'config-range', 'config-range']);
    expect(h.device.configWrites).toEqual([]);
  });

  it('refuses configuration writes before FEATURES_OK (§3.1.1 step 4) and after FAILED', () => {
    const h = withConfig();
    h.wr(R.STATUS, 1);
    h.wr(R.STATUS, 3);
    h.wr(0x108, 7);
    expect(h.kinds()).toEqual(['refused']);
    h.toFeaturesOk();
    h.wr(0x108, 7);
    expect(h.rd(0x108)).toBe(7);
    h.wr(R.STATUS, 0x8b);
    h.wr(0x108, 9);
    expect(h.rd(0x108)).toBe(7);
    expect(h.kinds()).toEqual(['refused', 'refused']);
  });

  it('hands writes to the device, which ignores read-only fields', () => {
    const h = withConfig();
    h.toFeaturesOk();
    h.t.mmioWrite(0n, 0x109, Uint8Array.of(0x55));
    h.wr(0x104, 0);
    expect(h.device.configWrites).toEqual([[9, [0x55]], [4, [0, 0, 0, 0]]]);
    expect(h.rd(0x108)).toBe(0x5500);
    expect(h.rd(0x104)).toBe(0xdead_beef);
  });

  it('a device-side change bumps ConfigGeneration; only a live driver gets an interrupt', () => {
    const h = withConfig();
    const g0 = h.rd(R.CONFIG_GENERATION);
    h.device.host!.configChanged();
    expect(h.rd(R.CONFIG_GENERATION)).toBe(g0 + 1);
    expect(h.t.interruptStatus).toBe(0);
    expect(h.line()).toBe(false);
    h.toLive();
    h.device.host!.configChanged();
    expect(h.rd(R.CONFIG_GENERATION)).toBe(g0 + 2);
    expect(h.rd(R.INTERRUPT_STATUS)).toBe(2);
    expect(h.line()).toBe(true);
    // The generation survives a reset (it only moves forward).
    h.wr(R.STATUS, 0);
    expect(h.rd(R.CONFIG_GENERATION)).toBe(g0 + 2);
  });
});
