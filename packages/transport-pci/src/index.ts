/**
 * @packageDocumentation
 * The virtio-pci transport, modern only (VIRTIO 1.2 §4.1): {@link VirtioPciFunction} is a PCI
 * function (configuration space with the virtio structure capabilities and MSI-X, BAR 0 with the
 * common configuration, notifications, ISR status and device configuration, BAR 2 with the MSI-X
 * table and PBA) that serves any `VirtioDevice` of @vmv/device-trait, usable as a
 * {@link PciFunction} by an emulator or a vfio-user server; {@link PciBus} puts functions on an
 * emulator's bus with their BARs on a @vmv/bus MMIO manager. A model of Linux's virtio_pci_modern
 * driver, for testing devices, is under `@vmv/transport-pci/driver`.
 */
export { VirtioPciFunction } from './function.js';
export type { PciFunction, VirtioPciFunctionOptions } from './function.js';
export type { MemorySource } from '@vmv/memory';
export type { PciBarInfo, VirtioStructure } from './config-space.js';
export { busInterruptSink } from './interrupts.js';
export type { BusInterruptSink, BusInterruptTargets, PciInterruptSink } from './interrupts.js';
export { PciBus } from './pci-bus.js';
export type { PciBusOptions, PciMappingEvent } from './pci-bus.js';
export type { PciDiagnostic, PciDiagnosticKind } from './diagnostics.js';
export {
  COMMON_CFG_LENGTH,
  CommonCfg,
  MSIX_BAR,
  MSIX_MAX_VECTORS,
  NOTIFY_OFF_MULTIPLIER,
  PCI_CONFIG_SPACE_SIZE,
  PCI_UNSUPPORTED_FEATURES,
  PciCapabilityId,
  PciCommand,
  PciConfig,
  PciStatus,
  VIRTIO_BAR,
  VIRTIO_BAR_SIZE,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_PCI_DEVICE_ID_BASE,
  VIRTIO_PCI_VENDOR_ID,
  VirtioBarOffset,
  VirtioPciCapType,
  pciClassCode,
} from './constants.js';
export { DriverProbeError, TRANSPORT_PCI_ERROR_NAMES, TransportPciError, isTransportPciError } from './errors.js';
export type { DriverProbeErrorCode, TransportPciErrorName, TransportPciErrorOptions } from './errors.js';
