/**
 * Numbers of a virtio PCI function (VIRTIO 1.2 §4.1): the PCI identity (§4.1.2), the standard
 * configuration header fields it uses, the virtio structure capabilities (§4.1.4), the common
 * configuration layout (§4.1.4.3), the MSI-X capability and the BAR layout this transport
 * presents.
 * @module
 */
import { DeviceId, Feature, featureBit } from '@vmv/device-trait';

/** VIRTIO 1.3 §6 bits past @vmv's VIRTIO 1.2 `Feature` table, named for what this transport refuses. */
const VIRTIO_F_ADMIN_VQ = 41;
const VIRTIO_F_SUSPEND = 43;

/** The PCI vendor ID of every virtio device (§4.1.2). @example `VIRTIO_PCI_VENDOR_ID === 0x1af4` */
export const VIRTIO_PCI_VENDOR_ID = 0x1af4;

/** A modern virtio function's PCI device ID is this plus the virtio device ID (§4.1.2). @example `VIRTIO_PCI_DEVICE_ID_BASE + 2 === 0x1042` */
export const VIRTIO_PCI_DEVICE_ID_BASE = 0x1040;

/** The value of config_msix_vector / queue_msix_vector meaning "no vector" (§4.1.5.1.2). @example `VIRTIO_MSI_NO_VECTOR === 0xffff` */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/**
 * Offsets of the type 0 PCI configuration header fields the function implements.
 * @example `fn.configRead(PciConfig.VENDOR_ID, 2)`
 */
export const PciConfig = {
  /** R: 0x1af4, the virtio vendor (§4.1.2). */
  VENDOR_ID: 0x00,
  /** R: 0x1040 plus the virtio device ID (§4.1.2). */
  DEVICE_ID: 0x02,
  /** RW: the command register; only the {@link PciCommand} bits are writable. */
  COMMAND: 0x04,
  /** R: the status register ({@link PciStatus}). */
  STATUS: 0x06,
  /** R: the revision ID, 1 or higher for a non-transitional device (§4.1.2.1). */
  REVISION_ID: 0x08,
  /** R: the 24-bit class code (programming interface, subclass, base class). */
  CLASS_CODE: 0x09,
  /** RW: the cache line size, stored and otherwise unused. */
  CACHE_LINE_SIZE: 0x0c,
  /** R: 0. */
  LATENCY_TIMER: 0x0d,
  /** R: 0, a type 0 header of a single-function device. */
  HEADER_TYPE: 0x0e,
  /** R: 0, no built-in self test. */
  BIST: 0x0f,
  /** RW: the first of the six base address registers, 4 bytes each; a BAR reads back its size mask once written all ones. */
  BAR0: 0x10,
  /** R: the subsystem vendor ID. */
  SUBSYSTEM_VENDOR_ID: 0x2c,
  /** R: the subsystem ID (§4.1.2). */
  SUBSYSTEM_ID: 0x2e,
  /** R: 0, no expansion ROM. */
  ROM_ADDRESS: 0x30,
  /** R: the offset of the first capability. */
  CAPABILITIES_POINTER: 0x34,
  /** RW: the IRQ routing the firmware records, stored and otherwise unused. */
  INTERRUPT_LINE: 0x3c,
  /** R: 1, INTA#. */
  INTERRUPT_PIN: 0x3d,
} as const;

/** The size of a conventional PCI configuration space, which the function presents. @example `PCI_CONFIG_SPACE_SIZE === 256` */
export const PCI_CONFIG_SPACE_SIZE = 256;

/** Command register bits the function implements (the rest read 0). @example `PciCommand.MEMORY | PciCommand.BUS_MASTER` */
export const PciCommand = {
  /** Memory space decoding: the BARs answer. */
  MEMORY: 0x0002,
  /** Bus mastering: the function may access guest memory and send MSI-X messages. */
  BUS_MASTER: 0x0004,
  /** INTx disabled: the INTx line stays low whatever the ISR holds. */
  INTX_DISABLE: 0x0400,
} as const;

/** Status register bits the function presents. @example `(status & PciStatus.CAPABILITIES) !== 0` */
export const PciStatus = {
  /** INTx interrupt status: the logical OR of the ISR bits while MSI-X is disabled (§4.1.4.5.1). */
  INTERRUPT: 0x0008,
  /** A capability list is present (always). */
  CAPABILITIES: 0x0010,
} as const;

/** PCI capability IDs used. @example `PciCapabilityId.VENDOR === 0x09` */
export const PciCapabilityId = {
  /** Vendor-specific: every virtio structure capability. */
  VENDOR: 0x09,
  /** MSI-X. */
  MSIX: 0x11,
} as const;

/** `cfg_type` of a virtio structure capability (§4.1.4). @example `VirtioPciCapType.COMMON === 1` */
export const VirtioPciCapType = {
  /** VIRTIO_PCI_CAP_COMMON_CFG: the common configuration (§4.1.4.3). */
  COMMON: 1,
  /** VIRTIO_PCI_CAP_NOTIFY_CFG: the notification addresses (§4.1.4.4). */
  NOTIFY: 2,
  /** VIRTIO_PCI_CAP_ISR_CFG: the ISR status byte (§4.1.4.5). */
  ISR: 3,
  /** VIRTIO_PCI_CAP_DEVICE_CFG: the device-specific configuration (§4.1.4.6). */
  DEVICE: 4,
  /** VIRTIO_PCI_CAP_PCI_CFG: the configuration access window into the BARs (§4.1.4.9). */
  PCI: 5,
  /** VIRTIO_PCI_CAP_SHARED_MEMORY_CFG: a shared memory region (§4.1.4.7); not presented. */
  SHARED_MEMORY: 8,
  /** VIRTIO_PCI_CAP_VENDOR_CFG: vendor data (§4.1.4.8); not presented. */
  VENDOR: 9,
} as const;

/**
 * Offsets in `struct virtio_pci_common_cfg` (§4.1.4.3), VIRTIO 1.3 admin fields included.
 * @example `fn.barWrite(0, layout.common + CommonCfg.DEVICE_STATUS, Uint8Array.of(1))`
 */
export const CommonCfg = {
  /** RW: which 32-bit word device_feature shows. */
  DEVICE_FEATURE_SELECT: 0x00,
  /** R: 32 bits of the offered features, word selected by device_feature_select. */
  DEVICE_FEATURE: 0x04,
  /** RW: which 32-bit word driver_feature sets. */
  DRIVER_FEATURE_SELECT: 0x08,
  /** RW: 32 bits of the accepted features, word selected by driver_feature_select. */
  DRIVER_FEATURE: 0x0c,
  /** RW: the MSI-X vector of configuration changes, or VIRTIO_MSI_NO_VECTOR (§4.1.5.1.2). */
  CONFIG_MSIX_VECTOR: 0x10,
  /** R: the number of queues the device has. */
  NUM_QUEUES: 0x12,
  /** RW: the device status (8 bits); writing 0 resets the device. */
  DEVICE_STATUS: 0x14,
  /** R: configuration atomicity value (8 bits). */
  CONFIG_GENERATION: 0x15,
  /** RW: the queue the queue_* fields apply to. */
  QUEUE_SELECT: 0x16,
  /** RW: size of the selected queue; reads its maximum after reset, 0 if it does not exist. */
  QUEUE_SIZE: 0x18,
  /** RW: the MSI-X vector of the selected queue, or VIRTIO_MSI_NO_VECTOR. */
  QUEUE_MSIX_VECTOR: 0x1a,
  /** RW: the selected queue is enabled (1) or not (0). */
  QUEUE_ENABLE: 0x1c,
  /** R: the selected queue's notify offset, in units of notify_off_multiplier (§4.1.4.4). */
  QUEUE_NOTIFY_OFF: 0x1e,
  /** RW: descriptor area of the selected queue, 64 bits. */
  QUEUE_DESC: 0x20,
  /** RW: driver area (available ring), 64 bits. */
  QUEUE_DRIVER: 0x28,
  /** RW: device area (used ring), 64 bits. */
  QUEUE_DEVICE: 0x30,
  /** R: the value that names the selected queue in notifications with VIRTIO_F_NOTIF_CONFIG_DATA. */
  QUEUE_NOTIFY_DATA: 0x38,
  /** RW: write 1 to reset the selected queue (VIRTIO_F_RING_RESET); reads 0 once done. */
  QUEUE_RESET: 0x3a,
  /** R: index of the first administration virtqueue (VIRTIO 1.3); 0 here. */
  ADMIN_QUEUE_INDEX: 0x3c,
  /** R: number of administration virtqueues (VIRTIO 1.3); 0 here. */
  ADMIN_QUEUE_NUM: 0x3e,
} as const;

/** The length of the common configuration structure presented (through admin_queue_num). @example `COMMON_CFG_LENGTH === 0x40` */
export const COMMON_CFG_LENGTH = 0x40;

/**
 * Where the function puts its structures. BAR 0 (64-bit memory, with BAR 1 as its high half)
 * holds the virtio structures, one 4 KiB page each; BAR 2 (32-bit memory) holds the MSI-X table
 * and PBA, apart from them as PCI recommends.
 * @example `fn.barRead(VIRTIO_BAR, VirtioBarOffset.ISR, byte)`
 */
export const VirtioBarOffset = {
  /** The common configuration ({@link CommonCfg}). */
  COMMON: 0x0000,
  /** The ISR status byte: bit 0 queue interrupt, bit 1 configuration change; reading clears it (§4.1.4.5). */
  ISR: 0x1000,
  /** The device-specific configuration. */
  DEVICE: 0x2000,
  /** The notification addresses, {@link NOTIFY_OFF_MULTIPLIER} bytes apart. */
  NOTIFY: 0x3000,
} as const;

/** The BAR of the virtio structures. @example `VIRTIO_BAR === 0` */
export const VIRTIO_BAR = 0;
/** The BAR of the MSI-X table and PBA. @example `MSIX_BAR === 2` */
export const MSIX_BAR = 2;
/** The size of BAR 0. @example `VIRTIO_BAR_SIZE === 0x4000` */
export const VIRTIO_BAR_SIZE = 0x4000;

/**
 * Bytes between two queues' notify addresses (`notify_off_multiplier`, §4.1.4.4): 4, a power of
 * two and a multiple of 4 as VIRTIO_F_NOTIFICATION_DATA requires, and each queue's own address
 * (`queue_notify_off` is the queue index), as QEMU does without page-per-vq.
 * @example `notifyAddress = bar0 + VirtioBarOffset.NOTIFY + index * NOTIFY_OFF_MULTIPLIER`
 */
export const NOTIFY_OFF_MULTIPLIER = 4;

/** The largest MSI-X table (§4.1.5.1.2: at most 0x800 vectors). @example `MSIX_MAX_VECTORS === 2048` */
export const MSIX_MAX_VECTORS = 0x800;

/**
 * Feature bits this transport never offers: VIRTIO_F_SR_IOV (37: the function has no SR-IOV
 * capability), VIRTIO_F_ADMIN_VQ (41: no administration virtqueues; admin_queue_index and
 * admin_queue_num read 0) and VIRTIO_F_SUSPEND (43: not in the status state machine).
 * @example `(fn.offeredFeatures & PCI_UNSUPPORTED_FEATURES) === 0n`
 */
export const PCI_UNSUPPORTED_FEATURES: bigint = featureBit(Feature.SR_IOV) | featureBit(VIRTIO_F_ADMIN_VQ) | featureBit(VIRTIO_F_SUSPEND);

/**
 * The 24-bit class code (base class, subclass, programming interface) a device type presents by
 * default: QEMU's choices for its virtio-*-pci devices; "other" (0xff0000) for the rest.
 * @param deviceId - a virtio device ID.
 * @returns the class code.
 * @example `pciClassCode(DeviceId.BLOCK) === 0x010000 // mass storage, SCSI`
 */
export function pciClassCode(deviceId: number): number {
  switch (deviceId) {
    case DeviceId.NET:
      return 0x020000; // network, ethernet
    case DeviceId.BLOCK:
    case DeviceId.SCSI:
      return 0x010000; // mass storage, SCSI
    case DeviceId.CONSOLE:
    case DeviceId.SOCKET:
      return 0x078000; // communication, other
    case DeviceId.INPUT:
      return 0x098000; // input, other
    case DeviceId.GPU:
      return 0x038000; // display, other
    case DeviceId.SOUND:
      return 0x040100; // multimedia, audio
    case DeviceId.FS:
      return 0x018000; // mass storage, other
    default:
      return 0xff0000; // unassigned class
  }
}
