/**
 * The virtio-mmio version 2 register layout (VIRTIO 1.2 §4.2.2, table "MMIO Device Register
 * Layout") and the values the device presents in it.
 * @module
 */
import { Feature, featureBit } from '@vmv/device-trait';

/** VIRTIO 1.3 §6 bits past @vmv's VIRTIO 1.2 `Feature` table, named for what this transport refuses. */
const VIRTIO_F_ADMIN_VQ = 41;
const VIRTIO_F_SUSPEND = 43;

/**
 * Register offsets from the base of a virtio-mmio device (VIRTIO 1.2 §4.2.2). Every register is
 * 32 bits wide; the device-specific configuration space starts at {@link MmioRegister.CONFIG}.
 * The legacy (version 1) registers GuestPageSize (0x028), QueueAlign (0x03c) and QueuePFN
 * (0x040) do not exist in version 2 and are reserved offsets here.
 * @example
 * ```ts
 * import { MmioRegister } from '@vmv/transport-mmio';
 * io.mmioWrite(base + MmioRegister.QUEUE_NOTIFY, Uint8Array.of(0, 0, 0, 0));
 * ```
 */
export const MmioRegister = {
  /** R: 0x74726976 ("virt"). */
  MAGIC_VALUE: 0x000,
  /** R: 0x2. */
  VERSION: 0x004,
  /** R: the virtio device ID. */
  DEVICE_ID: 0x008,
  /** R: the subsystem vendor ID. */
  VENDOR_ID: 0x00c,
  /** R: 32 bits of the offered features, word selected by DeviceFeaturesSel. */
  DEVICE_FEATURES: 0x010,
  /** W: which 32-bit word DeviceFeatures shows. */
  DEVICE_FEATURES_SEL: 0x014,
  /** W: 32 bits of the accepted features, word selected by DriverFeaturesSel. */
  DRIVER_FEATURES: 0x020,
  /** W: which 32-bit word DriverFeatures sets. */
  DRIVER_FEATURES_SEL: 0x024,
  /** W: the queue the Queue* registers apply to. */
  QUEUE_SEL: 0x030,
  /** R: maximum size of the selected queue, 0 if it does not exist. */
  QUEUE_NUM_MAX: 0x034,
  /** W: size of the selected queue. */
  QUEUE_NUM: 0x038,
  /** RW: the selected queue is enabled (1) or not (0). */
  QUEUE_READY: 0x044,
  /** W: available buffer notification (queue index, or notification data). */
  QUEUE_NOTIFY: 0x050,
  /** R: bit 0 used buffer, bit 1 configuration change. */
  INTERRUPT_STATUS: 0x060,
  /** W: clears the InterruptStatus bits written. */
  INTERRUPT_ACK: 0x064,
  /** RW: the device status; writing 0 resets the device. */
  STATUS: 0x070,
  /** W: descriptor area, low 32 bits. */
  QUEUE_DESC_LOW: 0x080,
  /** W: descriptor area, high 32 bits. */
  QUEUE_DESC_HIGH: 0x084,
  /** W: driver area (available ring), low 32 bits. */
  QUEUE_DRIVER_LOW: 0x090,
  /** W: driver area, high 32 bits. */
  QUEUE_DRIVER_HIGH: 0x094,
  /** W: device area (used ring), low 32 bits. */
  QUEUE_DEVICE_LOW: 0x0a0,
  /** W: device area, high 32 bits. */
  QUEUE_DEVICE_HIGH: 0x0a4,
  /** W: the shared memory region the SHM* registers describe. */
  SHM_SEL: 0x0ac,
  /** R: region length, low 32 bits (all ones for a region that does not exist). */
  SHM_LEN_LOW: 0x0b0,
  /** R: region length, high 32 bits. */
  SHM_LEN_HIGH: 0x0b4,
  /** R: region base address, low 32 bits (all ones for a region that does not exist). */
  SHM_BASE_LOW: 0x0b8,
  /** R: region base address, high 32 bits. */
  SHM_BASE_HIGH: 0x0bc,
  /** RW: write 1 to reset the selected queue (VIRTIO_F_RING_RESET); reads 0 once done. */
  QUEUE_RESET: 0x0c0,
  /** R: configuration atomicity value. */
  CONFIG_GENERATION: 0x0fc,
  /** RW: first byte of the device-specific configuration space (any width, any alignment). */
  CONFIG: 0x100,
} as const;
/** A register offset. @example `const r: MmioRegisterOffset = MmioRegister.STATUS;` */
export type MmioRegisterOffset = (typeof MmioRegister)[keyof typeof MmioRegister];

/** The MagicValue register's content: "virt" read as a little-endian u32. @example `MMIO_MAGIC_VALUE === 0x74726976` */
export const MMIO_MAGIC_VALUE = 0x74726976;

/** The Version register's content for a non-legacy device. @example `MMIO_VERSION === 2` */
export const MMIO_VERSION = 2;

/**
 * The size of the register window most VMMs give a virtio-mmio device (QEMU, Linux's own
 * examples, the spec's device-tree example): registers plus 256 bytes of configuration space.
 * Use {@link minimumMmioRegionSize} for a device whose configuration space is larger.
 * @example `io.registerMmio(new MmioRange(0xd000_0000, MMIO_DEFAULT_REGION_SIZE), transport)`
 */
export const MMIO_DEFAULT_REGION_SIZE = 0x200;

/**
 * Feature bits this transport never offers, whatever the device offers (VIRTIO 1.2 §6, 1.3 §6):
 * VIRTIO_F_SR_IOV (37, PCI only), VIRTIO_F_NOTIF_CONFIG_DATA (39: virtio-mmio has no per-queue
 * notification data field), VIRTIO_F_ADMIN_VQ (41, PCI only, reserved for MMIO) and
 * VIRTIO_F_SUSPEND (43: the status state machine does not implement SUSPEND).
 * @example `(transport.offeredFeatures & MMIO_UNSUPPORTED_FEATURES) === 0n`
 */
export const MMIO_UNSUPPORTED_FEATURES: bigint =
  featureBit(Feature.SR_IOV) | featureBit(Feature.NOTIF_CONFIG_DATA) | featureBit(VIRTIO_F_ADMIN_VQ) | featureBit(VIRTIO_F_SUSPEND);

/**
 * Smallest register window that exposes the whole configuration space of a device.
 * @param configSize - the device's configuration space size in bytes.
 * @returns `0x100 + configSize`, rounded up to a multiple of 4 (at least 0x100).
 * @throws RangeError if `configSize` is not an integer in 0..4096.
 * @example `minimumMmioRegionSize(60) === 0x13c`
 */
export function minimumMmioRegionSize(configSize: number): number {
  if (!Number.isInteger(configSize) || configSize < 0 || configSize > 4096) throw new RangeError(`minimumMmioRegionSize: configSize must be an integer in 0..4096, got ${String(configSize)}`);
  return MmioRegister.CONFIG + Math.ceil(configSize / 4) * 4;
}
