/**
 * The script `--workers` threads run (@vmv/vhost-user's `queueWorkers`): each opens the image
 * itself and serves the queues lent to it with its own virtio-blk device (VIRTIO 1.2 §5.2), built
 * as the main thread's is. A resize in the main thread reaches it as the device's snapshot.
 * Not part of the package's API: loaded only as a worker thread's script.
 * @module
 */
import { runQueueWorker } from '@vmv/vhost-user';
import type { BlockDevice } from '@vmv/block';
import { openImage, type OpenImage } from './image.js';
import { blockDevice, type BlockDeviceSpec } from './service.js';

let image: OpenImage | null = null;

runQueueWorker({
  async createDevice(data) {
    const spec = data as BlockDeviceSpec;
    image = await openImage({ image: spec.image, readonly: spec.readonly, direct: spec.direct });
    return blockDevice(image, spec);
  },
  async stateChanged(device, snapshot) {
    const capacity = Number((snapshot as { capacity?: unknown } | null)?.capacity);
    if (!Number.isSafeInteger(capacity) || image === null || image.kind !== 'file') return;
    await image.file.refreshSize();
    (device as BlockDevice).resize(capacity);
  },
  async close() {
    await image?.close();
    image = null;
  },
});
