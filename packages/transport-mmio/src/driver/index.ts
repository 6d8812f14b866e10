/**
 * @packageDocumentation
 * `@vmv/transport-mmio/driver`: a model of Linux 6.1's virtio-mmio driver and virtio core, for
 * testing devices and transports the way a Linux guest drives them (VIRTIO 1.2 §3.1.1, §4.2.3).
 * It accesses the device only through an MMIO bus (an @vmv/bus IoManager) and sets up rings in
 * guest memory with `@vmv/queue/driver`.
 */
export { VirtioMmioDriver, LINUX_6_1_TRANSPORT_FEATURES } from './mmio-driver.js';
export type { DriverQueueOptions, MmioAccess, MmioDeviceIdentity, VirtioMmioDriverOptions } from './mmio-driver.js';
export { DriverQueue } from '@vmv/queue/driver';
export { DriverProbeError, isTransportMmioError } from '../errors.js';
export type { DriverProbeErrorCode } from '../errors.js';
