/**
 * Virtio constants: device IDs (VIRTIO 1.2 §5), reserved feature bits (§6, defined in @vmv/queue),
 * device status bits (§2.1).
 * `as const` objects with union types, so values are plain numbers at run time.
 * @module
 */

/**
 * Virtio device IDs (VIRTIO 1.2 §5, "Device Types").
 * @example
 * ```ts
 * import { DeviceId } from '@vmv/device-trait';
 * const id: DeviceId = DeviceId.BLOCK; // 2
 * ```
 */
export const DeviceId = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  ENTROPY: 4,
  BALLOON: 5,
  IOMEM: 6,
  RPMSG: 7,
  SCSI: 8,
  NINEP: 9,
  MAC80211_WLAN: 10,
  RPROC_SERIAL: 11,
  CAIF: 12,
  MEMORY_BALLOON: 13,
  GPU: 16,
  TIMER: 17,
  INPUT: 18,
  SOCKET: 19,
  CRYPTO: 20,
  SIGNAL_DIST: 21,
  PSTORE: 22,
  IOMMU: 23,
  MEMORY: 24,
  SOUND: 25,
  FS: 26,
  PMEM: 27,
  RPMB: 28,
  MAC80211_HWSIM: 29,
  VIDEO_ENCODER: 30,
  VIDEO_DECODER: 31,
  SCMI: 32,
  NITRO_SEC_MOD: 33,
  I2C_ADAPTER: 34,
  WATCHDOG: 35,
  CAN: 36,
  PARAM_SERV: 38,
  AUDIO_POLICY: 39,
  BT: 40,
  GPIO: 41,
  RDMA: 42,
} as const;
/** A virtio device ID value. @example `const id: DeviceId = 2;` */
export type DeviceId = (typeof DeviceId)[keyof typeof DeviceId];

// Reserved feature bits (VIRTIO 1.2 §6) live in @vmv/queue, which implements the ring ones and
// cannot depend on this package; re-exported here so a device author imports them from one place.
export { Feature } from '@vmv/queue';

/**
 * Device status bits (VIRTIO 1.2 §2.1). Writing 0 to the status resets the device.
 * @example
 * ```ts
 * import { Status } from '@vmv/device-trait';
 * const ready = Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK; // 0x0f
 * ```
 */
export const Status = {
  ACKNOWLEDGE: 0x01,
  DRIVER: 0x02,
  DRIVER_OK: 0x04,
  FEATURES_OK: 0x08,
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;
/** One device status bit. @example `const s: Status = Status.DRIVER_OK;` */
export type Status = (typeof Status)[keyof typeof Status];

/**
 * Interrupt status bits shared by the MMIO (§4.2.2, InterruptStatus) and PCI (ISR) transports.
 * @example
 * ```ts
 * import { InterruptReason } from '@vmv/device-trait';
 * const isr = InterruptReason.USED_BUFFER; // 1
 * ```
 */
export const InterruptReason = {
  /** A used buffer notification (bit 0). */
  USED_BUFFER: 0x1,
  /** A configuration change notification (bit 1). */
  CONFIG_CHANGE: 0x2,
} as const;
/** One interrupt status bit. @example `const r: InterruptReason = InterruptReason.CONFIG_CHANGE;` */
export type InterruptReason = (typeof InterruptReason)[keyof typeof InterruptReason];
