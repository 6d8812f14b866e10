/**
 * Creating a {@link Virtqueue} from a transport's {@link QueueConfig} over a GuestMemory, and
 * restoring one from saved state (VIRTIO 1.2 §2.6).
 * @module
 */
import type { GuestMemory } from '@vmv/memory';
import { QueueConfig } from './config.js';
import { InvalidStateError, isQueueError } from './errors.js';
import { PackedQueue } from './packed-queue.js';
import { SplitQueue } from './split-queue.js';
import { addressFromState, checkStateObject, stateBool, stateInt } from './state.js';
import type { Virtqueue } from './types.js';

/**
 * Creates the device side of a virtqueue from what the driver configured: a packed ring when
 * VIRTIO_F_RING_PACKED was negotiated, a split ring otherwise. Validates the configuration first
 * (see {@link QueueConfig.validate}). The queue copies the configuration: later changes to
 * `config` do not affect it.
 * @param memory - the guest memory the rings and buffers live in.
 * @param config - the queue's configuration; `ready` must be true.
 * @returns the virtqueue, at its initial positions.
 * @throws Queue.NotReadyError when `config.ready` is false.
 * @throws Queue.InvalidSizeError, Queue.MisalignedAreaError, Queue.AreaOutOfMemoryError or
 *   Queue.OverlappingAreasError when the configuration is invalid.
 * @example
 * ```ts
 * const queue = createVirtqueue(memory, config);
 * ```
 */
export function createVirtqueue(memory: GuestMemory, config: QueueConfig): Virtqueue {
  if (!(config instanceof QueueConfig)) throw new TypeError('createVirtqueue: config must be a QueueConfig');
  return config.ringPacked ? new PackedQueue(memory, config) : new SplitQueue(memory, config);
}

/**
 * Recreates a virtqueue from {@link Virtqueue.saveState} output (for example after migration):
 * builds the configuration from the state, validates it against `memory` and `maxSize`, then
 * restores the ring positions (validated against the ring in guest memory).
 * @param memory - the guest memory (with the rings' contents restored).
 * @param state - the saved state (any JSON-parsed value).
 * @param maxSize - the device's maximum size for this queue.
 * @returns the restored, ready virtqueue.
 * @throws Queue.InvalidStateError when the state is malformed, inconsistent, or describes an
 *   invalid configuration (the configuration error is the `cause`).
 * @example
 * ```ts
 * const q = restoreVirtqueue(memory, JSON.parse(saved), 256);
 * ```
 */
export function restoreVirtqueue(memory: GuestMemory, state: unknown, maxSize: number): Virtqueue {
  const s = checkStateObject(state);
  const config = new QueueConfig(maxSize);
  try {
    config.ringPacked = s.format === 'packed';
    config.eventIdx = stateBool(s.eventIdx, 'eventIdx');
    config.indirectDesc = stateBool(s.indirectDesc, 'indirectDesc');
    config.setSize(stateInt(s.size, 'size', 0xffff));
    config.setArea('descTable', addressFromState(s.descTable, 'descTable'));
    config.setArea('driverArea', addressFromState(s.driverArea, 'driverArea'));
    config.setArea('deviceArea', addressFromState(s.deviceArea, 'deviceArea'));
    config.ready = true;
    const q = createVirtqueue(memory, config);
    q.restoreState(state);
    return q;
  } catch (e) {
    if (isQueueError(e, 'Queue.InvalidStateError')) throw e;
    if (isQueueError(e)) throw new InvalidStateError(`the state describes an invalid queue: ${e.shortMessage}`, e);
    throw e;
  }
}
