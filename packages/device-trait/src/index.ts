/**
 * @packageDocumentation
 * The VirtioDevice interface, device status and feature negotiation, config spaces and virtio
 * constants (VIRTIO 1.2 §2, §3.1, §5, §6), the device loop (`serveQueue`) and the device session
 * every transport runs (`DeviceSession`). A device author depends on this package alone:
 * the guest-memory and virtqueue types it names are re-exported here.
 */
export { DeviceId, Feature, InterruptReason, Status } from './constants.js';
export type { DeviceId as DeviceIdValue, Feature as FeatureBit, InterruptReason as InterruptReasonBit, Status as StatusBit } from './constants.js';
export { featureBit, features, featureWord, hasFeature, withFeatureWord } from './features.js';
export { ConfigSpace } from './config-space.js';
export { VirtioDeviceState } from './status.js';
export type { DeviceStateSnapshot, StatusWriteOutcome } from './status.js';
export type { ActivationContext, DeviceHost, InterruptHandle, SharedMemoryRegion, VirtioDevice } from './device.js';
export { DeviceSession } from './session.js';
export type { DeviceSessionOptions, SessionActivation, SessionEvent, SessionTransport } from './session.js';
export { QueueRegisters } from './queue-registers.js';
export type { QueueRefusal, QueueRegisterInfo, QueueWriteRefusal } from './queue-registers.js';
export { fillQueue, InFlightBudget, serveQueue } from './serve-queue.js';
export type { ChainHandler, ServedQueue } from './serve-queue.js';
export { ActivationError, DEVICE_ERROR_NAMES, DeviceError, InvalidSnapshotError, isDeviceError } from './errors.js';
export type { DeviceErrorName, DeviceErrorOptions } from './errors.js';

// What a device implementation names from its dependencies, reachable from here alone.
export type { GuestAddress, GuestMemory, GuestMemoryErrorName } from '@vmv/memory';
export { GUEST_MEMORY_ERROR_NAMES, isGuestMemoryError } from '@vmv/memory';
export type { Descriptor, DescriptorChain, QueueError, QueueErrorName, QueueState, Reader, RingFormat, Virtqueue, Writer } from '@vmv/queue';
export { isQueueError, QUEUE_ERROR_NAMES } from '@vmv/queue';
