/**
 * virtio-can (VIRTIO 1.4 §5.20) through CanDevice on a CanBus with a host endpoint (a small buffer,
 * so the bus fills up and waits) and a second device: the features any subset the device accepts,
 * txq, rxq and controlq on split or packed rings of random size; txq frames near the valid ones
 * (msg_type, length against the sdu, flags, ids and lengths at and past their limits) in any layout
 * (header and result cut, short, long, missing); rxq buffers of any size; START, STOP and other
 * control messages; host frames, receives, bus-off and notifies in any order. Nothing may come out
 * but typed queue and memory errors through DEVICE_NEEDS_RESET; the counters must add up and the
 * bus must never hold a frame for a stopped controller.
 */
import { DEVICE_ERROR_NAMES, Feature, GUEST_MEMORY_ERROR_NAMES, featureBit } from '@vmv/device-trait';
import { CAN_FD_LENGTHS, CanBus, CanDevice } from '@vmv/can';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { GuardedMemory } from '../guarded.mjs';
import { queueAt, resetLikeTransport } from '../requests.mjs';
import { cut, writeChains } from './gpio.mjs';

const DATA = 0x4000;
const MSG_TYPES = [0x0001, 0x0001, 0x0001, 0x0101, 0x0201, 0x0202, 0];
const FLAGS = [0, 0x8000, 0x4000, 0x2000, 0xc000, 0xa000, 0x6000, 0x1000, 0xffffffff];

/** A frame the bus can carry, from the source. */
function hostFrame(src) {
  const extended = src.bool();
  const kind = src.below(3);
  const length = kind === 1 ? src.pick(CAN_FD_LENGTHS) : src.below(9);
  return { id: src.below(extended ? 0x2000_0000 : 0x800), extended, fd: kind === 1, rtr: kind === 2, data: new Uint8Array(length).fill(kind === 2 ? 0 : src.u8()) };
}

export const canTarget = {
  name: 'can',
  description: 'virtio-can through CanDevice: hostile txq frames, rxq buffers and control messages, host frames, bus-off, a bus that fills up',
  maxLen: 1024,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const bus = new CanBus();
    const host = bus.endpoint({ buffer: 1 + src.below(4) });
    new CanDevice({ bus }); // another controller, never activated: a node that takes nothing
    const device = new CanDevice({ bus, queueSize: 16, rxBuffer: 1 + src.below(4), txInFlight: 1 + src.below(8), loopback: src.u8() < 32 });
    const packed = src.bool();
    let can = BigInt(src.below(16));
    if (!device.validateFeatures(can)) can = 1n;
    const features = featureBit(Feature.VERSION_1) | can | (packed ? featureBit(Feature.RING_PACKED) : 0n) | (src.bool() ? featureBit(Feature.EVENT_IDX) : 0n) | (src.bool() ? featureBit(Feature.INDIRECT_DESC) : 0n);
    const queues = [0, 1, 2].map((i) => queueAt(src, g, packed, features, 0x1000 * i));
    const tx = [];
    for (let i = src.below(10); i > 0; i--) {
      const len = src.u8() < 200 ? src.pick(CAN_FD_LENGTHS) : src.below(80);
      const out = new Uint8Array(src.u8() < 235 ? 16 + len : src.below(90));
      const dv = new DataView(out.buffer);
      if (out.length >= 2) dv.setUint16(0, src.pick(MSG_TYPES), true);
      if (out.length >= 4) dv.setUint16(2, src.u8() < 230 ? len : src.below(0x10000), true);
      if (out.length >= 12) dv.setUint32(8, src.pick(FLAGS) >>> 0, true);
      if (out.length >= 16) dv.setUint32(12, src.u8() < 200 ? src.below(0x800) : src.u8() < 128 ? src.below(0x2000_0000) : src.u32(), true);
      for (let k = 16; k < out.length; k++) out[k] = src.u8();
      tx.push([...cut(src, out, false), ...cut(src, new Uint8Array(src.u8() < 230 ? 1 : src.below(3)).fill(0xee), true)]);
    }
    const txMost = writeChains(src, g, queues[0].ring, DATA, tx);
    const rx = [];
    for (let i = src.below(8); i > 0; i--) rx.push(cut(src, new Uint8Array(src.u8() < 200 ? 80 : src.below(90)).fill(0xee), true));
    writeChains(src, g, queues[1].ring, DATA + 0x1000, rx);
    const ctl = [];
    for (let i = src.below(4); i > 0; i--) {
      const out = new Uint8Array(src.u8() < 230 ? 2 : src.below(4));
      if (out.length >= 2) new DataView(out.buffer).setUint16(0, src.u8() < 200 ? src.pick([0x0201, 0x0201, 0x0202]) : src.below(0x10000), true);
      ctl.push([...cut(src, out, false), ...cut(src, new Uint8Array(src.u8() < 230 ? 1 : src.below(3)).fill(0xee), true)]);
    }
    const ctlMost = writeChains(src, g, queues[2].ring, DATA + 0x2000, ctl);
    device.attach({ configChanged() { report.feature('config-changed'); } });
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
    const sends = [];
    for (let round = 1 + src.below(6); round > 0; round--) {
      const what = src.below(8);
      if (what < 4) device.queueNotify(src.pick([2, 2, 0, 1, 3]));
      else if (what === 4) sends.push(host.send(hostFrame(src)));
      else if (what === 5) host.tryReceive();
      else if (what === 6 && device.busOff()) report.feature('bus-off');
      else device.queueNotify(2);
    }
    const s = device.stats;
    if (s.stops > s.starts || s.txFrames + s.txCancelled + s.txRejected + s.unanswerable > txMost + ctlMost) throw new Error(`counters do not add up: ${JSON.stringify(s)}`);
    for (const [k, v] of Object.entries(s)) if (v > 0) report.feature(`stat:${k}:${Math.min(v, 4)}`);
    report.feature(`state:${device.state}`);
    host.close();
    resetLikeTransport(device, live);
    // With every receiver gone or stopped, nothing may wait on the bus any more
    if (bus.stats.waiting !== 0) throw new Error(`the bus holds ${bus.stats.waiting} frames for nobody`);
    await Promise.all(sends);
    return g.check([]);
  },
};
