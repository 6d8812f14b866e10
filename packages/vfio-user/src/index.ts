/**
 * `@vmv/vfio-user`: the server side of QEMU's vfio-user protocol (docs/interop/vfio-user.rst).
 * A {@link VfioUserSession} serves one {@link VfioUserDevice} (a PCI function: configuration
 * space, BARs, interrupts, DMA) to one client; it runs anywhere, with the platform behind a
 * {@link VfioUserHost}. `@vmv/vfio-user/node` listens on a unix socket for QEMU's
 * `-device vfio-user-pci`.
 *
 * @packageDocumentation
 */
export {
  VfioUserCommand,
  HeaderFlags,
  VFIO_USER_HEADER_SIZE,
  VFIO_USER_VERSION,
  PciRegion,
  PCI_NUM_REGIONS,
  IrqIndex,
  PCI_NUM_IRQS,
  DeviceInfoFlags,
  RegionInfoFlags,
  IrqInfoFlags,
  IrqSetFlags,
  DmaMapFlags,
  DmaUnmapFlags,
  Errno,
  PROTOCOL_DEFAULTS,
  commandName,
} from './constants.js';
export type { VfioUserCommandCode } from './constants.js';
export * from './errors.js';
export { readHeader, writeHeader, validateFrame, validateCommandHeader, isReply, wantsNoReply } from './header.js';
export type { VfioUserHeader } from './header.js';
export {
  decodeDmaMap,
  decodeDmaUnmap,
  decodeDeviceGetInfo,
  decodeGetRegionInfo,
  decodeGetIrqInfo,
  decodeSetIrqs,
  decodeRegionAccess,
  decodeEmpty,
  encodeReply,
  encodeDmaRead,
  encodeDmaWrite,
  decodeDmaReadReply,
  DMA_RW_DATA_OFFSET,
  DMA_RW_MIN_SIZE,
} from './codec.js';
export type { DmaMapRequest, DmaUnmapRequest, RegionInfoRequest, SetIrqsRequest, RegionAccess } from './codec.js';
export { decodeVersion, encodeVersionReply, SERVER_PGSIZES } from './version.js';
export type { ClientVersion, ServerCapabilities } from './version.js';
export type { VfioUserDevice, VfioUserBar, VfioUserDeviceContext, VfioUserDma, VfioUserIrqs } from './device.js';
export type { VfioUserMapping } from './dma.js';
export { MAX_IRQ_COUNTS } from './irqs.js';
export { VfioUserSession } from './session.js';
export type { VfioUserHost, VfioUserEvent, VfioUserSessionOptions } from './session.js';
export { pciFunctionDevice } from './pci-function.js';
export type { VfioUserPciFunction, VfioUserPciWiring, VfioUserPciDevice } from './pci-function.js';
