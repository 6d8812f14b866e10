/**
 * virtio-snd (VIRTIO 1.2 §5.14) through SoundDevice: a random accepted feature set, split or packed
 * rings of random size for the four queues, holding hostile chains (lib/requests.mjs's chainLayer:
 * pieces in any size, indirect tables, corrupted ring bytes). Control requests are mostly the
 * lifecycle in Linux's order for a random stream with random parameters, item queries with random
 * ranges and sizes, JACK_REMAP and CTL_* with random fields, or random bytes, with responses of any
 * size; I/O messages carry any stream id, frames of any length and a status part of any size, on
 * the right queue or the wrong one; event buffers of any length. Between notifies the fake clock
 * moves, a jack is plugged, a control set, and the backend answers at once or a turn later, or
 * fails. Ring corruption must come out as DEVICE_NEEDS_RESET with a typed reason; after the reset
 * nothing may stay held and no timer may stay armed.
 */
import { DEVICE_ERROR_NAMES, Feature, GUEST_MEMORY_ERROR_NAMES, featureBit } from '@vmv/device-trait';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { Request, SOUND_ERROR_NAMES, SoundDevice } from '@vmv/sound';
import { GuardedMemory } from '../guarded.mjs';
import { chainLayer, queueAt, resetLikeTransport } from '../requests.mjs';

const DATA = 0x4000; // buffers from here up (the four rings sit below)
const CODES = Object.values(Request);
const LIFECYCLE = [Request.PCM_SET_PARAMS, Request.PCM_PREPARE, Request.PCM_START, Request.PCM_STOP, Request.PCM_RELEASE];

/** A clock that moves only when the target says so. */
class FuzzClock {
  time = 0;
  timers = new Set();
  now() {
    return this.time;
  }
  setTimer(ms, fn) {
    const t = { at: this.time + Math.max(0, ms), fn };
    this.timers.add(t);
    return () => this.timers.delete(t);
  }
  advance(ms) {
    const end = this.time + ms;
    for (let n = 0; n < 10_000; n++) {
      let next = null;
      for (const t of this.timers) if (t.at <= end && (next === null || t.at < next.at)) next = t;
      if (next === null) break;
      this.timers.delete(next);
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = end;
  }
}

function u32s(...values) {
  const b = new Uint8Array(values.length * 4);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setUint32(4 * i, x >>> 0, true));
  return b;
}

export const soundTarget = {
  name: 'sound',
  description: 'virtio-snd through SoundDevice: hostile control, I/O and event chains, the lifecycle in and out of order, time and jacks moving meanwhile',
  maxLen: 4096,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...SOUND_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const packed = (src.u8() & 1) !== 0;
    const clock = new FuzzClock();
    const later = [];
    const answer = (done) => {
      const how = src.u8();
      if (how < 160) done();
      else if (how < 250) later.push(done);
      else done(new Error('backend failed'));
    };
    const device = new SoundDevice({
      clock,
      queueSize: 16,
      eventCapacity: 4,
      layout: { jacks: [{ remap: true }, {}], chmaps: [{ direction: 'output', positions: ['FL', 'FR'] }, { direction: 'input', positions: ['MONO'] }] },
      backend: { write: (_s, _f, done) => answer(done), read: (_s, into, done) => (into.fill(src.u8()), answer(done)) },
      onError: (e) => report.feature(`backend-error:${e.name}`),
    });
    let features = featureBit(Feature.VERSION_1) | (packed ? featureBit(Feature.RING_PACKED) : 0n);
    for (let bit = 0n; bit < 64n; bit++) if ((device.deviceFeatures >> bit) & 1n && src.u8() < 180) features |= 1n << bit;
    let next = DATA + 16 * src.below(4);
    const alloc = (len) => {
      if (next + len + 64 >= g.lowSize) next = DATA;
      const at = next;
      next += len + (src.u8() < 16 ? src.below(64) : 0);
      return at;
    };
    const put = (pieces, bytes, writable) => {
      // Cut into 1 to 3 pieces; now and then a piece outside guest memory or a wrong writable flag.
      let at = 0;
      const cuts = bytes.length === 0 ? (src.u8() < 32 ? 1 : 0) : 1 + src.below(3);
      for (let i = 0; i < cuts && (at < bytes.length || bytes.length === 0); i++) {
        const len = i === cuts - 1 ? bytes.length - at : 1 + src.below(bytes.length - at);
        const addr = src.u8() < 254 ? alloc(len) : g.address(src);
        try {
          g.memory.write(addr, bytes.subarray(at, at + len));
        } catch {
          // outside guest memory by design
        }
        pieces.push({ addr, len, writable: src.u8() < 254 ? writable : !writable });
        at += len;
        if (bytes.length === 0) break;
      }
    };
    const rings = [0, 1, 2, 3].map((i) => queueAt(src, g, packed, features, 0x1000 * i));

    // control requests: the lifecycle of one stream in order (mostly), then anything
    const ctl = chainLayer(src, g, rings[0].ring, alloc);
    const stream = src.below(3);
    const lifecycle = src.u8() < 200;
    for (let r = 0; r < 1 + src.below(rings[0].ring.size) && !ctl.full; r++) {
      let req;
      const kind = src.u8();
      if (lifecycle && r < 3) req = r === 0 ? setParams(src, stream) : u32s(LIFECYCLE[r], stream);
      else if (kind < 80) req = src.u8() < 128 ? setParams(src, src.below(3)) : u32s(src.pick(LIFECYCLE), src.below(3));
      else if (kind < 150) req = u32s(src.pick([Request.JACK_INFO, Request.PCM_INFO, Request.CHMAP_INFO, Request.CTL_INFO]), src.below(4), src.below(5), src.pick([24, 32, 96, 0, 40, src.u32()]));
      else if (kind < 220) {
        req = new Uint8Array(src.u8() < 200 ? 8 + 512 : src.below(24));
        req.set(u32s(src.pick(CODES), src.below(6), src.u8() < 200 ? src.below(102) : src.u32(), src.below(20)).subarray(0, req.length));
      } else req = Uint8Array.from({ length: src.below(32) }, () => src.u8());
      const pieces = [];
      put(pieces, req.subarray(0, src.u8() < 245 ? req.length : src.below(req.length + 1)), false);
      put(pieces, new Uint8Array(src.u8() < 200 ? src.pick([4, 4 + 24 * 2, 4 + 32 * 3, 4 + 96 * 2, 4 + 512]) : src.below(600)), true);
      if (pieces.length > 0 && !ctl.add(pieces)) break;
    }
    ctl.publish(16);

    // I/O messages on txq (2) and rxq (3): header, frames, status
    for (const q of [2, 3]) {
      const layer = chainLayer(src, g, rings[q].ring, alloc);
      for (let r = 0; r < src.below(rings[q].ring.size + 1) && !layer.full; r++) {
        const pieces = [];
        const header = src.u8() < 230 ? u32s(src.u8() < 220 ? src.below(3) : src.u32()) : Uint8Array.from({ length: src.below(6) }, () => src.u8());
        put(pieces, header, false);
        const frames = src.u8() < 200 ? 4 * src.below(400) : src.below(2000);
        if (q === 2) put(pieces, new Uint8Array(frames).fill(src.u8()), false);
        else put(pieces, new Uint8Array(frames), true);
        put(pieces, new Uint8Array(src.u8() < 230 ? 8 : src.below(12)), true);
        if (pieces.length > 0 && !layer.add(pieces)) break;
      }
      layer.publish(16);
    }

    const ev = chainLayer(src, g, rings[1].ring, alloc);
    for (let r = 0; r < src.below(5) && !ev.full; r++) {
      const pieces = [];
      put(pieces, new Uint8Array(src.u8() < 220 ? 8 : src.below(16)), true);
      if (pieces.length > 0 && !ev.add(pieces)) break;
    }
    ev.publish(16);

    const queues = rings.map((r) => r.queue);
    device.activate({
      memory: g.memory, queues, features,
      interrupt: { signalUsedBuffer() {}, signalConfigChange() {} },
      needsReset(reason) {
        report.feature('needs-reset');
        report.error(reason);
      },
    });
    const rounds = 1 + src.below(4);
    for (let i = 0; i < rounds; i++) {
      for (const q of [0, 2, 3, 1]) if (src.u8() < 220) device.queueNotify(q);
      if (src.u8() < 48) device.setJackConnected(src.below(2), src.u8() < 128);
      if (src.u8() < 32) device.setControl(src.below(4), src.below(2));
      clock.advance(src.u8() < 200 ? src.below(12) : src.below(400));
      for (const done of later.splice(0)) done();
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const s of device.streams) report.feature(`stream:${s.info.id}:${s.state}:held:${Math.min(s.held, 2)}:xruns:${Math.min(s.stats.xruns, 1)}:bytes:${s.stats.bytes > 0}`);
    report.feature(`refused:${Math.min(device.stats.refused, 3)}:events:${Math.min(device.stats.eventsDelivered, 2)}`);
    resetLikeTransport(device, queues);
    for (const done of later.splice(0)) done();
    const held = device.streams.reduce((n, s) => n + s.held, 0);
    if (held > 0) return `${held} I/O messages still held after a reset`;
    if (clock.timers.size > 0) return `${clock.timers.size} timers still armed after a reset`;
    return g.check();
  },
};

/** PCM_SET_PARAMS for `stream`: mostly stereo S16 at 48 kHz in 1 ms periods, sometimes anything. */
function setParams(src, stream) {
  const b = new Uint8Array(24);
  const v = new DataView(b.buffer);
  v.setUint32(0, Request.PCM_SET_PARAMS, true);
  v.setUint32(4, stream, true);
  const wild = src.u8() < 48;
  const period = wild ? src.u32() : 192 * (1 + src.below(4));
  v.setUint32(8, wild ? src.u32() : period * (1 + src.below(4)), true);
  v.setUint32(12, period, true);
  v.setUint32(16, src.u8() < 200 ? 1 << 4 : src.u32(), true);
  b[20] = wild ? src.u8() : 2;
  b[21] = wild ? src.below(26) : 5;
  b[22] = wild ? src.below(17) : 7;
  b[23] = src.u8() < 250 ? 0 : src.u8();
  return b;
}
