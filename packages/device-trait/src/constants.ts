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
  /** Network card (§5.1). */
  NET: 1,
  /** Block device (§5.2): `@vmv/block`. */
  BLOCK: 2,
  /** Console (§5.3). */
  CONSOLE: 3,
  /** Entropy source, virtio-rng (§5.4). */
  ENTROPY: 4,
  /** Traditional memory balloon (§5.5). */
  BALLOON: 5,
  /** ioMemory (reserved, no device specified). */
  IOMEM: 6,
  /** rpmsg, remote processor messaging. */
  RPMSG: 7,
  /** SCSI host (§5.6). */
  SCSI: 8,
  /** 9P transport, virtio-9p. */
  NINEP: 9,
  /** mac80211 wlan. */
  MAC80211_WLAN: 10,
  /** rproc serial. */
  RPROC_SERIAL: 11,
  /** virtio CAIF. */
  CAIF: 12,
  /** Memory balloon (reserved; the traditional balloon is {@link DeviceId.BALLOON}). */
  MEMORY_BALLOON: 13,
  /** GPU device (§5.7). */
  GPU: 16,
  /** Timer/clock device. */
  TIMER: 17,
  /** Input device (§5.8). */
  INPUT: 18,
  /** Socket device, vsock (§5.10). */
  SOCKET: 19,
  /** Crypto device (§5.9). */
  CRYPTO: 20,
  /** Signal distribution module. */
  SIGNAL_DIST: 21,
  /** pstore device. */
  PSTORE: 22,
  /** IOMMU device. */
  IOMMU: 23,
  /** Memory device, virtio-mem. */
  MEMORY: 24,
  /** Audio device, virtio-snd. */
  SOUND: 25,
  /** File system device, virtio-fs (§5.11). */
  FS: 26,
  /** Persistent memory device, virtio-pmem. */
  PMEM: 27,
  /** RPMB device (replay protected memory block). */
  RPMB: 28,
  /** mac80211 hwsim wireless simulation device. */
  MAC80211_HWSIM: 29,
  /** Video encoder device. */
  VIDEO_ENCODER: 30,
  /** Video decoder device. */
  VIDEO_DECODER: 31,
  /** SCMI device (Arm System Control and Management Interface). */
  SCMI: 32,
  /** NitroSecureModule. */
  NITRO_SEC_MOD: 33,
  /** I2C adapter. */
  I2C_ADAPTER: 34,
  /** Watchdog. */
  WATCHDOG: 35,
  /** CAN device. */
  CAN: 36,
  /** Parameter server. */
  PARAM_SERV: 38,
  /** Audio policy device. */
  AUDIO_POLICY: 39,
  /** Bluetooth device. */
  BT: 40,
  /** GPIO device. */
  GPIO: 41,
  /** RDMA device. */
  RDMA: 42,
  /** SPI controller (VIRTIO 1.4 §5.21). */
  SPI: 45,
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
  /** The guest OS has found the device and recognized it as a valid virtio device. */
  ACKNOWLEDGE: 0x01,
  /** The guest OS knows how to drive the device. */
  DRIVER: 0x02,
  /** The driver is set up and ready to drive the device: the device is live. */
  DRIVER_OK: 0x04,
  /** The driver has acknowledged the features it understands; feature negotiation is complete. */
  FEATURES_OK: 0x08,
  /** Set by the device: it hit an error it cannot recover from without a reset. */
  DEVICE_NEEDS_RESET: 0x40,
  /** Set by the driver: something went wrong and it has given up on the device. */
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
