/**
 * virtio-input (VIRTIO 1.2 §5.8) through InputDevice: a random preset, both queues on split or
 * packed rings of random size, hostile eventq buffers (any number of pieces, too short, readable,
 * outside memory, indirect) and statusq buffers (any length and bytes), corrupted ring bytes,
 * config selects of any (select, subsel) at any offset and width, and host events sent between
 * notifies. Nothing may come out but typed queue errors through DEVICE_NEEDS_RESET; every status
 * event must be one the guest wrote; the config's `size` must match the union's bytes.
 */
import { DEVICE_ERROR_NAMES, Feature, featureBit } from '@vmv/device-trait';
import { INPUT_ERROR_NAMES, InputDevice, PRESETS } from '@vmv/input';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { GuardedMemory } from '../guarded.mjs';
import { queueAt, resetLikeTransport } from '../requests.mjs';
import { writeChains } from './gpio.mjs';

const DATA = 0x3000;
const PRESET_NAMES = Object.keys(PRESETS);

/** A buffer cut into 1 to 3 pieces of `len` bytes in all, writable or not (mostly `writable`). */
function pieces(src, len, writable, fill) {
  const n = 1 + src.below(3);
  const out = [];
  let left = len;
  for (let i = 0; i < n; i++) {
    const l = i === n - 1 ? left : src.below(left + 1);
    left -= l;
    const bytes = new Uint8Array(l);
    if (fill) for (let k = 0; k < l; k++) bytes[k] = src.u8();
    out.push({ bytes, writable: src.u8() < 240 ? writable : !writable });
  }
  return out;
}

export const inputTarget = {
  name: 'input',
  description: 'virtio-input through InputDevice: hostile eventq and statusq buffers, config selects, host events',
  maxLen: 1024,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...INPUT_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const status = [];
    const device = new InputDevice({ description: PRESETS[src.pick(PRESET_NAMES)](), queueSize: 16, capacity: 4 + src.below(60), onStatus: (e) => status.push(e) });
    // config: selects of any kind, read at any offset and width
    for (let i = src.below(6); i > 0; i--) {
      const at = src.below(136);
      const data = new Uint8Array(1 + src.below(Math.min(8, 136 - at)));
      data.forEach((_, k) => (data[k] = src.u8() < 200 ? src.pick([1, 2, 3, 0x10, 0x11, 0x12, 0]) : src.u8()));
      device.writeConfig(src.u8() < 200 ? 0 : at, src.u8() < 200 ? data.subarray(0, 2) : data);
      const cfg = new Uint8Array(136);
      device.readConfig(0, cfg);
      if (cfg[2] > 128 || cfg.subarray(8 + cfg[2]).some((b) => b !== 0)) throw new Error(`config size ${cfg[2]} does not match its union`);
    }
    const packed = src.bool();
    const features = featureBit(Feature.VERSION_1) | (packed ? featureBit(Feature.RING_PACKED) : 0n) | (src.bool() ? featureBit(Feature.EVENT_IDX) : 0n) | (src.bool() ? featureBit(Feature.INDIRECT_DESC) : 0n);
    const queues = [0, 1].map((i) => queueAt(src, g, packed, features, 0x200 * i));
    const evq = [];
    for (let i = src.below(8); i > 0; i--) evq.push(pieces(src, src.u8() < 200 ? 8 : src.below(20), true, false));
    writeChains(src, g, queues[0].ring, DATA, evq);
    const sts = [];
    for (let i = src.below(6); i > 0; i--) sts.push(pieces(src, src.u8() < 200 ? 8 : src.below(20), false, true));
    const most = writeChains(src, g, queues[1].ring, DATA + 0x1000, sts);
    const live = queues.map((q) => q.queue);
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
    const codes = [...device.description.events].filter(([t]) => t !== 0x14);
    for (let round = 1 + src.below(4); round > 0; round--) {
      device.queueNotify(src.below(3));
      const packet = [];
      for (let i = src.below(4); i > 0 && codes.length; i--) {
        const [type, list] = src.pick(codes);
        if (list.length) packet.push({ type, code: src.pick(list), value: src.u32() | 0 });
      }
      packet.push({ type: 0, code: 0, value: 0 });
      if (packet.length <= device.maxPacket) device.sendPacket(packet);
    }
    const s = device.stats;
    if (s.statusEvents > most || status.length !== s.statusEvents) throw new Error(`${s.statusEvents} status events (${status.length} seen) from at most ${most} status buffers`);
    for (const [k, v] of Object.entries(s)) if (v > 0) report.feature(`stat:${k}:${Math.min(v, 4)}`);
    resetLikeTransport(device, live);
    return g.check([]);
  },
};
