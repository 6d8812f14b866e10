/**
 * virtio-blk requests through BlockDevice on an in-memory disk (VIRTIO 1.2 §5.2): a random
 * negotiated feature set, a split or packed ring of random size, hostile request layouts
 * (lib/requests.mjs), a notify, then the device's drain awaited. Ring corruption must come out as
 * DEVICE_NEEDS_RESET with a typed reason; a bad request as a status; nothing else. The disk is
 * searched for guard canaries too (host memory written to disk by an OUT would be a read outside
 * guest memory).
 */
import { BLOCK_ERROR_NAMES, BlockDevice, MemoryBackend, readOnlyBackend } from '@vmv/block';
import { DEVICE_ERROR_NAMES, Feature, featureBit } from '@vmv/device-trait';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { GuardedMemory } from '../guarded.mjs';
import { queueAt, writeRequests, resetLikeTransport } from '../requests.mjs';

export const DISK_BYTES = 64 << 10;

export const blkTarget = {
  name: 'blk',
  description: 'virtio-blk requests through BlockDevice on a MemoryBackend: random features, ring formats, request layouts',
  maxLen: 2048,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...BLOCK_ERROR_NAMES, ...DEVICE_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory(), disk: new MemoryBackend(DISK_BYTES) };
  },
  async run(state, src, report) {
    const { g, disk } = state;
    g.clear();
    disk.data.fill(0);
    const opts = src.u8();
    const device = new BlockDevice({
      backend: opts & 1 ? readOnlyBackend(disk) : disk,
      queueSize: 16,
      ...(opts & 2 ? { serial: 'fuzz-serial' } : {}),
      ...(opts & 4 ? { segMax: 1 + src.below(8), sizeMax: 4096 * (1 + src.below(8)) } : {}),
    });
    device.attach({ configChanged() {} });
    const packed = (opts & 8) !== 0;
    // the driver accepts a random subset of what is offered (VERSION_1 kept)
    let features = featureBit(Feature.VERSION_1) | (packed ? featureBit(Feature.RING_PACKED) : 0n);
    const offered = device.deviceFeatures;
    for (let bit = 0n; bit < 64n; bit++) if ((offered >> bit) & 1n && src.u8() < 160) features |= 1n << bit;
    if (!device.validateFeatures(features)) {
      report.feature('features-refused');
      return null;
    }
    const { ring, queue } = queueAt(src, g, packed, features);
    const made = writeRequests(src, g, ring, DISK_BYTES / 512);
    let used = 0;
    const live = [queue];
    device.activate({
      memory: g.memory,
      queues: live,
      features,
      interrupt: {
        signalUsedBuffer() {
          used++;
        },
        signalConfigChange() {},
      },
      needsReset(reason) {
        report.feature('needs-reset');
        report.error(reason);
      },
    });
    const rounds = 1 + src.below(3);
    for (let i = 0; i < rounds; i++) {
      device.queueNotify(0);
      await device.drain();
      await new Promise((resolve) => setImmediate(resolve));
    }
    report.feature(`made:${made}:used:${Math.min(used, 1)}`);
    for (const [k, v] of Object.entries(device.stats)) if (typeof v === "number" && v > 0) report.feature(`stat:${k}:${Math.min(v, 4)}`);
    resetLikeTransport(device, live);
    await device.drain();
    return g.check([disk.data]);
  },
};
