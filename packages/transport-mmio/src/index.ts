/**
 * @packageDocumentation
 * The virtio-mmio version 2 transport (VIRTIO 1.2 §4.2): {@link VirtioMmioTransport} is an MMIO
 * device for @vmv/bus that serves any `VirtioDevice` of @vmv/device-trait, with the register
 * file of §4.2.2, its access rules, interrupt status and acknowledge, queue reset and shared
 * memory registers, and snapshot/restore of its state; plus discovery helpers (the Linux
 * `virtio_mmio.device=` command line and a device tree node). A model of Linux's virtio-mmio
 * driver, for testing devices, is under `@vmv/transport-mmio/driver`.
 */
export { VirtioMmioTransport } from './transport.js';
export type { MemorySource, MmioQueueInfo, VirtioMmioTransportOptions } from './transport.js';
export type { MmioDiagnostic, MmioDiagnosticKind } from './diagnostics.js';
export { MMIO_DEFAULT_REGION_SIZE, MMIO_MAGIC_VALUE, MMIO_UNSUPPORTED_FEATURES, MMIO_VERSION, MmioRegister, minimumMmioRegionSize } from './constants.js';
export type { MmioRegisterOffset } from './constants.js';
export { formatVirtioMmioCmdline, parseVirtioMmioCmdline, parseVirtioMmioDeviceParam, virtioMmioDeviceTreeNode } from './discovery.js';
export type { DeviceTreeNode, DeviceTreeNodeOptions, ParsedVirtioMmioDevice, VirtioMmioDeviceSpec } from './discovery.js';
export { MMIO_SNAPSHOT_FORMAT } from './snapshot.js';
export type { MmioQueueSnapshot, MmioTransportSnapshot } from './snapshot.js';
export { DriverProbeError, InvalidSnapshotError, TRANSPORT_MMIO_ERROR_NAMES, TransportMmioError, isTransportMmioError } from './errors.js';
export type { DriverProbeErrorCode, TransportMmioErrorName, TransportMmioErrorOptions } from './errors.js';
