import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DeviceId, Feature, InterruptReason, Status, featureBit, featureWord, hasFeature, withFeatureWord } from '@vmv/device-trait';

describe('feature words', () => {
  it('golden: reserved feature bits and status values match VIRTIO 1.2', () => {
    expect(Feature).toEqual({
      ANY_LAYOUT: 27, INDIRECT_DESC: 28, EVENT_IDX: 29, VERSION_1: 32, ACCESS_PLATFORM: 33, RING_PACKED: 34, IN_ORDER: 35,
      ORDER_PLATFORM: 36, SR_IOV: 37, NOTIFICATION_DATA: 38, NOTIF_CONFIG_DATA: 39, RING_RESET: 40,
    });
    expect(Status).toEqual({ ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, DEVICE_NEEDS_RESET: 64, FAILED: 128 });
    // VIRTIO 1.2 §5 "Device Types" table, in the spec's order (14 and 15 are unassigned; 37 reserved).
    expect(Object.entries(DeviceId)).toEqual(Object.entries({
      NET: 1, BLOCK: 2, CONSOLE: 3, ENTROPY: 4, BALLOON: 5, IOMEM: 6, RPMSG: 7, SCSI: 8, NINEP: 9, MAC80211_WLAN: 10,
      RPROC_SERIAL: 11, CAIF: 12, MEMORY_BALLOON: 13, GPU: 16, TIMER: 17, INPUT: 18, SOCKET: 19, CRYPTO: 20,
      SIGNAL_DIST: 21, PSTORE: 22, IOMMU: 23, MEMORY: 24, SOUND: 25, FS: 26, PMEM: 27, RPMB: 28, MAC80211_HWSIM: 29,
      VIDEO_ENCODER: 30, VIDEO_DECODER: 31, SCMI: 32, NITRO_SEC_MOD: 33, I2C_ADAPTER: 34, WATCHDOG: 35, CAN: 36,
      PARAM_SERV: 38, AUDIO_POLICY: 39, BT: 40, GPIO: 41, RDMA: 42,
      SPI: 45, // VIRTIO 1.4 §5.21
    }));
    expect(InterruptReason).toEqual({ USED_BUFFER: 1, CONFIG_CHANGE: 2 });
  });

  it('splits and joins words, beyond 64 bits too (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 0xffff_ffff }), (set, sel, v) => {
        const next = withFeatureWord(set, sel, v);
        expect(featureWord(next, sel)).toBe(v);
        for (let other = 0; other < 6; other++) if (other !== sel) expect(featureWord(next, other)).toBe(featureWord(set, other));
        for (let bit = 0; bit < 32; bit++) expect(hasFeature(next, sel * 32 + bit)).toBe(((v >>> bit) & 1) === 1);
      }),
      { numRuns: 200 },
    );
  });

  it('reads words past the end as 0 and refuses bad arguments', () => {
    expect(featureWord(featureBit(40), 1)).toBe(1 << 8);
    expect(featureWord(featureBit(40), 0xffff_ffff)).toBe(0);
    expect(() => featureWord(1n, -1)).toThrow(RangeError);
    expect(() => featureBit(1.5)).toThrow(RangeError);
    expect(() => withFeatureWord(0n, 2048, 0)).toThrow(RangeError);
    expect(() => withFeatureWord(0n, 0, -1)).toThrow(RangeError);
  });
});
