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
export * from './errors.js';
export * from './address.js';
export * from './range.js';
export * from './device.js';
export * from './manager.js';
export * from './bus.js';
export * from './io-manager.js';
export * from './resources.js';
export * from './interrupt.js';
export * from './interrupt-memory.js';
export * from './mailbox.js';
