/**
 * virtio-rng (VIRTIO 1.2 §5.4) through RngDevice: a random accepted feature set, a split or packed
 * ring of random size, hostile chain layouts (lib/requests.mjs: readable and writable pieces in any
 * order and size, indirect tables, corrupted ring bytes), a source that answers synchronously or
 * asynchronously, in pieces, or fails, and sometimes a rate limit on a fake clock; notified, then
 * reset. Ring corruption must come out as DEVICE_NEEDS_RESET with a typed reason, a source failure
 * as a typed Rng.* error; nothing else. Every used length must be at most the chain's writable bytes,
 * and the source's bytes must be the only ones the device writes.
 */
import { DEVICE_ERROR_NAMES, Feature, featureBit } from '@vmv/device-trait';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { RNG_ERROR_NAMES, RateLimiter, RngDevice } from '@vmv/rng';
import { GuardedMemory } from '../guarded.mjs';
import { queueAt, writeRequests, resetLikeTransport } from '../requests.mjs';

/** A clock that moves only when told. */
function fakeClock() {
  let t = 0;
  let timers = [];
  return {
    now: () => t,
    setTimer(ms, fn) {
      const timer = { at: t + ms, fn };
      timers.push(timer);
      return () => (timers = timers.filter((x) => x !== timer));
    },
    advance(ms) {
      t += ms;
      const due = timers.filter((x) => x.at <= t);
      timers = timers.filter((x) => x.at > t);
      for (const x of due) x.fn();
    },
  };
}

export const rngTarget = {
  name: 'rng',
  description: 'virtio-rng chains through RngDevice: random features, ring formats, chain layouts, sources and rate limits',
  maxLen: 2048,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...RNG_ERROR_NAMES, ...DEVICE_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const opts = src.u8();
    const packed = (opts & 1) !== 0;
    const clock = fakeClock();
    const limiter = opts & 2 ? new RateLimiter({ periodMs: 1 + src.below(1000), maxBytes: 1 + src.below(4096), clock }) : undefined;
    // the source: a byte that is never 0xee (the harness's fill) so that what it wrote can be told apart
    const mode = src.below(4);
    let calls = 0;
    const give = (n) => {
      calls++;
      if (mode === 3 && src.u8() < 40) throw new Error('source failure');
      const k = mode === 2 ? Math.min(n, src.below(n + 1)) : n;
      return new Uint8Array(k).fill(0x5a);
    };
    const source = mode === 1 ? (n) => Promise.resolve().then(() => give(n)) : give;
    const device = new RngDevice({
      source, queueSize: 16, ...(limiter ? { rateLimiter: limiter } : {}),
      ringFeatures: featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | (packed ? featureBit(Feature.RING_PACKED) : 0n),
      onSourceError: (e) => { report.feature(`source:${e.name}`); report.error(e); },
    });
    let features = featureBit(Feature.VERSION_1) | (packed ? featureBit(Feature.RING_PACKED) : 0n);
    for (let bit = 0n; bit < 64n; bit++) if ((device.deviceFeatures >> bit) & 1n && src.u8() < 160) features |= 1n << bit;
    const { ring, queue } = queueAt(src, g, packed, features);
    const made = writeRequests(src, g, ring, 128);
    const queues = [queue];
    let used = 0;
    device.activate({
      memory: g.memory, queues, features,
      interrupt: { signalUsedBuffer() { used++; }, signalConfigChange() {} },
      needsReset(reason) {
        report.feature('needs-reset');
        report.error(reason);
      },
    });
    const rounds = 1 + src.below(3);
    for (let i = 0; i < rounds; i++) {
      device.queueNotify(0);
      await new Promise((resolve) => setImmediate(resolve));
      if (limiter) clock.advance(src.below(2000));
      await new Promise((resolve) => setImmediate(resolve));
    }
    report.feature(`made:${made}:used:${Math.min(used, 1)}:calls:${Math.min(calls, 3)}`);
    for (const [k, v] of Object.entries(device.stats)) if (v > 0) report.feature(`stat:${k}:${Math.min(v, 4)}`);
    // the used length of every chain returned is at most what it can hold (the queue checks it; a
    // violation would have thrown out of the device), and the bytes written are the source's
    if (device.stats.bytes > 0 && calls === 0) return 'bytes written without a source call';
    resetLikeTransport(device, queues);
    await new Promise((resolve) => setImmediate(resolve));
    return g.check();
  },
};
