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
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  CLASS_CODE: 0x09,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  BAR0: 0x10,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  ROM_ADDRESS: 0x30,
  CAPABILITIES_POINTER: 0x34,
  INTERRUPT_LINE: 0x3c,
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
  COMMON: 1,
  NOTIFY: 2,
  ISR: 3,
  DEVICE: 4,
  PCI: 5,
  SHARED_MEMORY: 8,
  VENDOR: 9,
} as const;

/**
 * Offsets in `struct virtio_pci_common_cfg` (§4.1.4.3), VIRTIO 1.3 admin fields included.
 * @example `fn.barWrite(0, layout.common + CommonCfg.DEVICE_STATUS, Uint8Array.of(1))`
 */
export const CommonCfg = {
  DEVICE_FEATURE_SELECT: 0x00,
  DEVICE_FEATURE: 0x04,
  DRIVER_FEATURE_SELECT: 0x08,
  DRIVER_FEATURE: 0x0c,
  CONFIG_MSIX_VECTOR: 0x10,
  NUM_QUEUES: 0x12,
  DEVICE_STATUS: 0x14,
  CONFIG_GENERATION: 0x15,
  QUEUE_SELECT: 0x16,
  QUEUE_SIZE: 0x18,
  QUEUE_MSIX_VECTOR: 0x1a,
  QUEUE_ENABLE: 0x1c,
  QUEUE_NOTIFY_OFF: 0x1e,
  QUEUE_DESC: 0x20,
  QUEUE_DRIVER: 0x28,
  QUEUE_DEVICE: 0x30,
  QUEUE_NOTIFY_DATA: 0x38,
  QUEUE_RESET: 0x3a,
  ADMIN_QUEUE_INDEX: 0x3c,
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
  COMMON: 0x0000,
  ISR: 0x1000,
  DEVICE: 0x2000,
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
