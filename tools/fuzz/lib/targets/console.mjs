/**
 * virtio-console (VIRTIO 1.2 §5.3) through ConsoleDevice: multiport with named ports, a random
 * negotiated feature set, a split or packed ring of random size on a random queue (control
 * transmit, control receive, a port's receive or transmit), hostile layouts (lib/requests.mjs),
 * host bytes waiting, a notify. Control input must come out as typed events, ring corruption as
 * DEVICE_NEEDS_RESET; nothing else.
 */
import { ConsoleDevice } from '@vmv/console';
import { DEVICE_ERROR_NAMES, Feature, featureBit } from '@vmv/device-trait';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { GuardedMemory } from '../guarded.mjs';
import { queueAt, writeRequests, resetLikeTransport } from '../requests.mjs';

export const consoleTarget = {
  name: 'console',
  description: 'virtio-console: control messages and port data through ConsoleDevice on any queue, random features, ring formats, layouts',
  maxLen: 2048,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...DEVICE_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const events = [];
    const device = new ConsoleDevice({ ports: [{}, { name: 'fuzz.0' }, { name: 'fuzz.1' }], size: { cols: 80, rows: 25 }, queueSize: 16, highWaterMark: 64, onEvent: (e) => events.push(e) });
    device.attach({ configChanged() {} });
    const got = [];
    device.port(1).connect({ write: (d, done) => { got.push(d.length); if (src.u8() < 128) done(); else setImmediate(done); } });
    device.port(1).write(new Uint8Array(200).fill(0x5a));
    const opts = src.u8();
    const packed = (opts & 1) !== 0;
    let features = featureBit(Feature.VERSION_1) | (packed ? featureBit(Feature.RING_PACKED) : 0n);
    const offered = device.deviceFeatures;
    for (let bit = 0n; bit < 64n; bit++) if ((offered >> bit) & 1n && src.u8() < 160) features |= 1n << bit;
    const nq = device.queueMaxSizes.length;
    const index = src.below(nq);
    const { ring, queue } = queueAt(src, g, packed, features);
    const made = writeRequests(src, g, ring, 128);
    const queues = new Array(nq).fill(null);
    queues[index] = queue;
    device.activate({
      memory: g.memory, queues, features,
      interrupt: { signalUsedBuffer() {}, signalConfigChange() {} },
      needsReset(reason) {
        report.feature('needs-reset');
        report.error(reason);
      },
    });
    if (src.u8() < 64) device.writeConfig(8, Uint8Array.of(src.u8(), 0, 0, 0));
    const rounds = 1 + src.below(3);
    for (let i = 0; i < rounds; i++) {
      device.queueNotify(index);
      if (src.u8() < 32) device.port(1).guestIsOpen = true;
      await new Promise((resolve) => setImmediate(resolve));
    }
    report.feature(`queue:${index}:made:${made}`);
    for (const e of events) report.feature(`event:${e.type}${e.reason ? `:${e.reason}` : ''}`);
    if (got.length > 0) report.feature('host-got');
    resetLikeTransport(device, queues);
    await new Promise((resolve) => setImmediate(resolve));
    return g.check([]);
  },
};
