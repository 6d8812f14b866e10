/**
 * virtio-gpio (VIRTIO 1.2 §5.18) through GpioDevice: a random chip (1 to 8 lines, named or not,
 * pulled up or down), VIRTIO_GPIO_F_IRQ negotiated or not, both queues on split or packed rings of
 * random size; requestq messages of any type, line and value (mostly near the valid ones) in any
 * layout (header and response cut, short, long, missing); eventq pairs for any line, malformed or
 * not; host input changes between notifies. Nothing may come out but typed queue and memory
 * errors through DEVICE_NEEDS_RESET; the chip's state stays in
 * range (directions and interrupt types the spec defines).
 */
import { DEVICE_ERROR_NAMES, Feature, GUEST_MEMORY_ERROR_NAMES, featureBit } from '@vmv/device-trait';
import { GpioChip, GpioDevice } from '@vmv/gpio';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { GuardedMemory } from '../guarded.mjs';
import { chainLayer, queueAt, resetLikeTransport } from '../requests.mjs';

const DATA = 0x3000;

/**
 * Lays out chains (each a list of pieces {bytes, writable}) on a ring, their buffers in the 4 KiB
 * from `data`, and makes them available; returns how many chains the device may pop from it (those laid, or
 * the ring's size when publishing corrupted it).
 */
export function writeChains(src, g, ring, data, chains) {
  const m = g.memory;
  let next = data;
  const alloc = (len) => {
    const at = next;
    next += len + (src.u8() < 16 ? src.below(16) : 0);
    if (next + 64 >= data + 0x1000) next = data;
    return at;
  };
  const layer = chainLayer(src, g, ring, alloc);
  const laid = [];
  for (const chain of chains) {
    const pieces = chain.map((c) => {
      const addr = src.u8() < 250 ? alloc(c.bytes.length) : g.address(src);
      try {
        m.write(addr, c.bytes);
      } catch {
        // outside guest memory by design
      }
      return { addr, len: c.bytes.length, writable: c.writable };
    });
    if (pieces.length === 0) continue;
    if (!layer.add(pieces)) break;
    laid.push(pieces);
    if (layer.full) break;
  }
  layer.publish(24);
  // a ring whose bytes were corrupted can hand the device up to its size in chains of garbage
  return layer.corrupted > 0 ? ring.size : laid.length;
}

/** `bytes` cut into 1 to 3 pieces, each readable unless the source flips it. */
export function cut(src, bytes, writable) {
  const n = 1 + src.below(3);
  const out = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const end = i === n - 1 ? bytes.length : at + src.below(bytes.length - at + 1);
    out.push({ bytes: bytes.subarray(at, end), writable: src.u8() < 248 ? writable : !writable });
    at = end;
  }
  return out.filter((p) => p.bytes.length > 0 || src.u8() < 8);
}

export const gpioTarget = {
  name: 'gpio',
  description: 'virtio-gpio through GpioDevice: hostile requestq messages and eventq pairs, host input changes',
  maxLen: 1024,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const ngpio = 1 + src.below(8);
    const lines = Array.from({ length: ngpio }, (_, i) => ({ name: src.u8() < 128 ? `l${i}` : '', pull: src.bool() ? 'up' : 'down' }));
    const chip = new GpioChip(lines);
    const device = new GpioDevice({ chip, queueSize: 16 });
    const packed = src.bool();
    const irq = src.bool();
    const features = featureBit(Feature.VERSION_1) | (irq ? 1n : 0n) | (packed ? featureBit(Feature.RING_PACKED) : 0n) | (src.bool() ? featureBit(Feature.EVENT_IDX) : 0n) | (src.bool() ? featureBit(Feature.INDIRECT_DESC) : 0n);
    const queues = [0, 1].map((i) => queueAt(src, g, packed, features, 0x200 * i));
    const line = () => (src.u8() < 230 ? src.below(ngpio + 1) : src.u8() < 128 ? 0xffff : src.below(0x10000));
    const reqs = [];
    for (let i = src.below(10); i > 0; i--) {
      const req = new Uint8Array(src.u8() < 230 ? 8 : src.below(12));
      const dv = new DataView(req.buffer);
      if (req.length >= 2) dv.setUint16(0, src.u8() < 230 ? src.below(8) : src.below(0x10000), true);
      if (req.length >= 4) dv.setUint16(2, line(), true);
      if (req.length >= 8) dv.setUint32(4, src.u8() < 230 ? src.pick([0, 1, 2, 3, 4, 8]) : src.u32(), true);
      const rx = new Uint8Array(src.u8() < 200 ? 2 : src.below(24)).fill(0xee);
      reqs.push([...cut(src, req, false), ...cut(src, rx, true)]);
    }
    writeChains(src, g, queues[0].ring, DATA, reqs);
    const evs = [];
    for (let i = src.below(8); i > 0; i--) {
      const req = new Uint8Array(src.u8() < 220 ? 2 : src.below(4));
      if (req.length >= 2) new DataView(req.buffer).setUint16(0, line(), true);
      evs.push([...cut(src, req, false), ...cut(src, new Uint8Array(src.u8() < 220 ? 1 : src.below(3)).fill(0xee), true)]);
    }
    writeChains(src, g, queues[1].ring, DATA + 0x1000, evs);
    const used = [0, 0];
    const live = queues.map((q) => q.queue);
    device.activate({
      memory: g.memory,
      queues: live,
      features,
      interrupt: { signalUsedBuffer(i) { used[i]++; }, signalConfigChange() {} },
      needsReset(reason) {
        report.feature('needs-reset');
        report.error(reason);
      },
    });
    for (let round = 1 + src.below(4); round > 0; round--) {
      device.queueNotify(src.below(3));
      for (let i = src.below(4); i > 0; i--) void chip.setInput(src.below(ngpio), src.pick([0, 1, null]));
    }
    for (let i = 0; i < ngpio; i++) {
      const l = chip.line(i);
      if (![0, 1, 2].includes(l.direction) || ![0, 1, 2, 3, 4, 8].includes(l.irqType)) throw new Error(`line ${i} out of range: ${JSON.stringify(l)}`);
    }
    for (const [k, v] of Object.entries(device.stats)) if (v > 0) report.feature(`stat:${k}:${Math.min(v, 4)}`);
    resetLikeTransport(device, live);
    return g.check([]);
  },
};
