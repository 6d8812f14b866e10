/**
 * @packageDocumentation
 * `@vmv/transport-pci/driver`: a model of Linux's virtio_pci_modern driver (drivers/virtio/
 * virtio_pci_modern.c, virtio_pci_modern_dev.c, virtio_pci_common.c), for testing devices and the
 * transport the way a Linux guest drives them (VIRTIO 1.2 §3.1.1, §4.1.5). It reaches the function
 * only through a PCI bus's configuration accesses and an MMIO bus, and sets up rings in guest
 * memory with `@vmv/queue/driver`.
 */
export { VirtioPciDriver } from './pci-driver.js';
export type { AddressWindow, PciConfigAccess, PciDriverIdentity, PciDriverQueueOptions, VirtioPciDriverOptions } from './pci-driver.js';
export { DriverQueue } from '@vmv/queue/driver';
export { DriverProbeError, isTransportPciError } from '../errors.js';
export type { DriverProbeErrorCode } from '../errors.js';
