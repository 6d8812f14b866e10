/**
 * virtio-spi (VIRTIO 1.4 §5.21) through SpiDevice: a W25Q flash (busy for a few status reads), a
 * loopback, a peripheral that fails at the source's choice and an unwired chip select; config
 * limits of the source's choice (widths, modes, clock, delays, cs_change, n-bit lines); the
 * request queue on a split or packed ring of random size; transfers with any head (mostly valid,
 * sometimes any byte), tx and rx of any length, head and result cut, short, long or missing. Nothing
 * may come out but typed queue and memory errors through DEVICE_NEEDS_RESET; every answer is a
 * known result, and no more errors than answers.
 */
import { DEVICE_ERROR_NAMES, Feature, GUEST_MEMORY_ERROR_NAMES, featureBit } from '@vmv/device-trait';
import { LoopbackPeripheral, SpiDevice, SpiNorFlash } from '@vmv/spi';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { GuardedMemory } from '../guarded.mjs';
import { queueAt, resetLikeTransport } from '../requests.mjs';
import { cut, writeChains } from './gpio.mjs';

const FLASH_OPS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0b, 0x20, 0x35, 0x52, 0x60, 0x9f, 0xc7, 0xd8];

export const spiTarget = {
  name: 'spi',
  description: 'virtio-spi through SpiDevice: hostile transfer heads and buffers against a W25Q flash, a loopback and a failing peripheral',
  maxLen: 1024,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const flash = new SpiNorFlash('w25q80bl', { busyReads: src.below(3) });
    const device = new SpiDevice({
      chipSelects: [flash, new LoopbackPeripheral(), { transfer: () => src.u8() < 200 }, null],
      queueSize: 16,
      csChangeSupported: src.bool(),
      txNbitsSupported: src.below(8),
      rxNbitsSupported: src.below(8),
      bitsPerWordMask: src.bool() ? 0xffff_ffff : (src.u32() | 0x80) >>> 0,
      modeFuncSupported: src.bool() ? 0x7f : (src.below(0x80) | 0x5),
      maxFreqHz: src.bool() ? 0 : src.u32(),
      maxWordDelayNs: src.below(3),
      maxCsSetupNs: src.below(3),
      maxCsHoldNs: src.below(3),
      maxCsInactiveNs: src.below(3),
    });
    const packed = src.bool();
    const features = featureBit(Feature.VERSION_1) | (packed ? featureBit(Feature.RING_PACKED) : 0n) | (src.bool() ? featureBit(Feature.EVENT_IDX) : 0n) | (src.bool() ? featureBit(Feature.INDIRECT_DESC) : 0n);
    const { ring, queue } = queueAt(src, g, packed, features);
    const chains = [];
    for (let i = src.below(12); i > 0; i--) {
      const head = new Uint8Array(src.u8() < 235 ? 32 : src.below(40));
      const dv = new DataView(head.buffer);
      if (src.u8() < 200) {
        const set = (at, v) => { if (at < head.length) head[at] = v; };
        set(0, src.below(5));
        set(1, src.pick([8, 8, 8, 16, 32, src.below(40)]));
        set(2, src.below(3));
        set(3, src.pick([0, 1, 2, 4, 8, src.u8()]));
        set(4, src.pick([0, 1, 2, 4, 8, src.u8()]));
        if (head.length >= 12) dv.setUint32(8, src.u8() < 220 ? src.below(0x20) : src.u32(), true);
        if (head.length >= 16) dv.setUint32(12, src.u8() < 200 ? 0 : src.u32(), true);
        for (let at = 16; at + 4 <= head.length; at += 4) dv.setUint32(at, src.u8() < 220 ? 0 : src.below(4), true);
      } else {
        for (let k = 0; k < head.length; k++) head[k] = src.u8();
      }
      const tx = new Uint8Array(src.u8() < 100 ? 0 : src.u8() < 200 ? src.below(8) : src.below(300));
      for (let k = 0; k < tx.length; k++) tx[k] = k === 0 && src.u8() < 160 ? src.pick(FLASH_OPS) : src.u8();
      const rxLen = src.u8() < 100 ? 0 : src.u8() < 200 ? (tx.length || src.below(8)) : src.below(300);
      const inLen = rxLen + (src.u8() < 240 ? 1 : src.below(3));
      chains.push([...cut(src, Uint8Array.from([...head, ...tx]), false), ...cut(src, new Uint8Array(inLen).fill(0xee), true)]);
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
    if (s.paramErrors + s.transferErrors > s.requests) throw new Error(`counters do not add up: ${JSON.stringify(s)}`);
    for (const [k, v] of Object.entries(s)) if (v > 0) report.feature(`stat:${k}:${Math.min(v, 4)}`);
    for (const [k, v] of Object.entries(flash.counts)) if (v > 0) report.feature(`flash:${k}`);
    resetLikeTransport(device, live);
    return g.check([]);
  },
};
