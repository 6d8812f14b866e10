/**
 * virtio-i2c (VIRTIO 1.2 §5.16) through I2cDevice: a bus with a 24C02 and a 24C32 EEPROM, an LM75
 * and a target that NACKs at the source's choice; the request queue on a split or packed ring of
 * random size; requests with any address (mostly the bus's, sometimes 10-bit or malformed), any
 * flags (FAIL_NEXT chains of any shape, M_RD, reserved bits), data and read buffers of any size,
 * header and status cut, short, long or missing. Nothing may come out but typed queue and memory
 * errors through DEVICE_NEEDS_RESET; no more errors than answers, no more malformed requests than errors.
 */
import { DEVICE_ERROR_NAMES, Feature, GUEST_MEMORY_ERROR_NAMES, featureBit } from '@vmv/device-trait';
import { Eeprom, I2cBus, I2cDevice, Lm75, encodeAddress } from '@vmv/i2c';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { GuardedMemory } from '../guarded.mjs';
import { queueAt, resetLikeTransport } from '../requests.mjs';
import { cut, writeChains } from './gpio.mjs';

const ADDRESSES = [0x50, 0x57, 0x48, 0x30, 0x31];

export const i2cTarget = {
  name: 'i2c',
  description: 'virtio-i2c through I2cDevice: hostile requests and FAIL_NEXT groups against EEPROMs, an LM75 and a NACKing target',
  maxLen: 1024,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const bus = new I2cBus();
    bus.attach(0x50, new Eeprom('24c02'));
    bus.attach(0x57, new Eeprom('24c32'));
    bus.attach(0x48, new Lm75({ temperature: src.below(100) }));
    bus.attach(0x30, { start: () => src.u8() < 220, write: () => src.u8() < 220, read: () => src.u8(), stop: () => undefined });
    const device = new I2cDevice({ bus, queueSize: 16 });
    const packed = src.bool();
    const features = featureBit(Feature.VERSION_1) | 1n | (packed ? featureBit(Feature.RING_PACKED) : 0n) | (src.bool() ? featureBit(Feature.EVENT_IDX) : 0n) | (src.bool() ? featureBit(Feature.INDIRECT_DESC) : 0n);
    const { ring, queue } = queueAt(src, g, packed, features);
    const chains = [];
    for (let i = src.below(12); i > 0; i--) {
      const hdr = new Uint8Array(src.u8() < 235 ? 8 : src.below(12));
      const dv = new DataView(hdr.buffer);
      const tenBit = src.u8() < 12;
      const addr = src.u8() < 230 ? encodeAddress(tenBit ? src.below(0x400) : src.pick(ADDRESSES), tenBit) : src.below(0x10000);
      if (hdr.length >= 2) dv.setUint16(0, addr, true);
      if (hdr.length >= 8) dv.setUint32(4, src.u8() < 235 ? src.below(4) : src.u32(), true);
      const read = hdr.length >= 8 && (dv.getUint32(4, true) & 2) !== 0;
      const data = new Uint8Array(src.u8() < 200 ? src.below(8) : src.below(300));
      for (let k = 0; k < data.length; k++) data[k] = src.u8();
      const out = read && src.u8() < 240 ? hdr : Uint8Array.from([...hdr, ...data]);
      const inLen = (read && src.u8() < 240 ? data.length : 0) + (src.u8() < 240 ? 1 : src.below(3));
      chains.push([...cut(src, out, false), ...cut(src, new Uint8Array(inLen).fill(0xee), true)]);
    }
    writeChains(src, g, ring, 0x3000, chains);
    const live = [queue];
    device.activate({
      memory: g.memory,
      queues: live,
      features,
      interrupt: { signalUsedBuffer() {}, signalConfigChange() {} },
      needsReset(reason) {
        report.feature('needs-reset');
        report.error(reason);
      },
    });
    for (let round = 1 + src.below(3); round > 0; round--) device.queueNotify(src.below(2));
    const s = device.stats;
    if (s.errors > s.requests || s.malformed > s.errors + s.unanswerable) throw new Error(`counters do not add up: ${JSON.stringify(s)}`);
    for (const [k, v] of Object.entries(s)) if (v > 0) report.feature(`stat:${k}:${Math.min(v, 4)}`);
    resetLikeTransport(device, live);
    return g.check([]);
  },
};
