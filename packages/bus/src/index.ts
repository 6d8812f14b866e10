/**
 * @packageDocumentation
 * @vmv/bus: the vm-device model for TypeScript. PIO (16-bit) and MMIO (64-bit) address types and
 * ranges, buses with O(log n) lookup, device interfaces, the IoManager with PioManager /
 * MmioManager interfaces, resources and their allocation (all-or-nothing), interrupt source
 * groups (legacy edge/level lines, MSI vectors) with an in-memory reference controller, and a
 * SharedArrayBuffer mailbox that forwards vCPU exits from workers to the thread owning the devices.
 *
 * Not a VIRTIO component itself: it is the bus that @vmv/transport-mmio (VIRTIO 1.2 §4.2,
 * Virtio Over MMIO) plugs into.
 */
export { BusError, BUS_ERROR_NAMES, BUS_ERROR_CODES, isBusError, InvalidRangeError, DeviceOverlapError, EmptyAccessError, AccessStraddlesRangeError, DeviceNotFoundError, InvalidConstraintError, ResourceExhaustedError, ResourceUnavailableError, ResourceNotAllocatedError, InvalidInterruptIndexError, InterruptSourceBusyError, InvalidMsiConfigError, MailboxTimeoutError, MailboxRemoteError } from './errors.js';
export type { BusErrorOptions, BusErrorName, BusRangeFacts } from './errors.js';
export { checkPioAddress, toMmioBigInt, PIO_SPACE_SIZE, MMIO_SPACE_SIZE, MMIO_ADDRESS_MAX, MMIO_MAX_DEVICE_SIZE } from './address.js';
export type { PioAddress, PioAddressOffset, MmioAddress, MmioAddressOffset, BusSpace } from './address.js';
export { PioRange, MmioRange } from './range.js';
export type { BusRange, RangeOf } from './range.js';
export { isSharedDevice, isPioDevice, isMmioDevice } from './device.js';
export type { MutDevicePio, DevicePio, MutDeviceMmio, DeviceMmio } from './device.js';
export type { BusEntry, PioDispatcher, MmioDispatcher, PioManager, MmioManager } from './manager.js';
export { PioBus, MmioBus } from './bus.js';
export { IoManager } from './io-manager.js';
export type { IoManagerOptions } from './io-manager.js';
export { AddressAllocator, IdAllocator, ResourceAllocator } from './resources.js';
export type { ResourceConstraint, Resource, ResourceKind, PoolSpec, ResourcePools } from './resources.js';
export type { InterruptSourceKind, LegacyTriggerMode, TriggerOutcome, MsiConfig, InterruptSourceGroup, LegacyInterruptGroup, MsiInterruptGroup, InterruptManager } from './interrupt.js';
export { InMemoryLegacyGroup, InMemoryMsiGroup, InMemoryInterruptController } from './interrupt-memory.js';
export type { InterruptDelivery, InMemoryInterruptControllerOptions } from './interrupt-memory.js';
export { IoMailbox, IoExitClient, IoExitServer } from './mailbox.js';
export type { IoMailboxOptions, IoExitClientOptions } from './mailbox.js';
