/**
 * @packageDocumentation
 * The driver side of virtqueues (`@vmv/queue/driver`): split and packed rings driven as Linux's
 * drivers/virtio/virtio_ring.c drives them, event-idx handling included. For tests, benchmarks
 * and vhost-user frontends; a device never needs it.
 */
export { SplitDriver } from './split-driver.js';
export { PackedDriver } from './packed-driver.js';
export { DriverQueue } from './driver-queue.js';
export type { DriverBuffer, DriverRingOptions, RingLayout, UsedBuffer } from './common.js';
