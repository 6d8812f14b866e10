/**
 * virtio-vsock (VIRTIO 1.2 §5.10) through VsockDevice: the tx packet path. A random accepted
 * feature set, a split or packed ring of random size holding hostile chains (lib/requests.mjs:
 * pieces in any order and size, indirect tables, corrupted ring bytes) whose bytes are random
 * packets (headers of any cid, port, type, op, len and credit), served on the tx queue while the
 * host listens and writes; an rx ring of hostile chains takes the replies. Ring corruption must
 * come out as DEVICE_NEEDS_RESET with a typed reason; refused packets as typed events; nothing
 * else, and the device never holds more guest bytes than it advertised.
 */
import { DEVICE_ERROR_NAMES, Feature, GUEST_MEMORY_ERROR_NAMES, featureBit } from '@vmv/device-trait';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { VsockDevice } from '@vmv/vsock';
import { GuardedMemory } from '../guarded.mjs';
import { queueAt, writeRequests, resetLikeTransport } from '../requests.mjs';

const BUF_ALLOC = 4096;

export const vsockTarget = {
  name: 'vsock',
  description: 'virtio-vsock tx packets through VsockDevice: random headers and payloads on hostile chains, replies into hostile rx chains',
  maxLen: 4096,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES, ...DEVICE_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const packed = (src.u8() & 1) !== 0;
    const conns = [];
    const device = new VsockDevice({
      guestCid: 3, queueSize: 16, bufAlloc: BUF_ALLOC, maxConnections: 8,
      onEvent: (e) => report.feature(`event:${e.type}:${e.reason ?? e.queue}`),
    });
    device.listen(src.below(4), (c) => {
      conns.push(c);
      c.attach({ data: () => src.u8() >= 64 });
      if (c.writable) c.write(new Uint8Array(src.below(300)));
    });
    const out = device.connect(src.below(4));
    conns.push(out);
    let features = featureBit(Feature.VERSION_1) | (packed ? featureBit(Feature.RING_PACKED) : 0n);
    for (let bit = 0n; bit < 64n; bit++) if ((device.deviceFeatures >> bit) & 1n && src.u8() < 160) features |= 1n << bit;
    if (!device.validateFeatures(features)) features &= ~(1n << 2n);
    const rx = queueAt(src, g, packed, features, 0);
    const tx = queueAt(src, g, packed, features, 0x1000);
    const made = writeRequests(src, g, rx.ring, 64) + writeRequests(src, g, tx.ring, 128);
    const queues = [rx.queue, tx.queue, null];
    device.activate({
      memory: g.memory, queues, features,
      interrupt: { signalUsedBuffer() {}, signalConfigChange() {} },
      needsReset(reason) {
        report.feature('needs-reset');
        report.error(reason);
      },
    });
    const rounds = 1 + src.below(3);
    for (let i = 0; i < rounds; i++) {
      device.queueNotify(1);
      device.queueNotify(0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    report.feature(`made:${Math.min(made, 4)}:conns:${Math.min(device.connectionCount, 3)}`);
    for (const c of conns) if (c.receiveBuffered > BUF_ALLOC) return `a connection holds ${c.receiveBuffered} guest bytes, above its buf_alloc`;
    resetLikeTransport(device, queues);
    device.transportReset();
    return g.check();
  },
};
