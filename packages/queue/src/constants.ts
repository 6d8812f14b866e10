/**
 * Virtqueue constants: feature bits, descriptor flags, ring flags and layout sizes
 * (VIRTIO 1.2 §2.7 split virtqueues, §2.8 packed virtqueues, §6 reserved feature bits).
 * @module
 */

/**
 * Reserved (transport- and ring-level) feature bit numbers (VIRTIO 1.2 §6): the one table of
 * them in @vmv. `@vmv/device-trait` re-exports it, so device authors import it from there.
 * Device-specific feature bits (0–23) are defined by each device package.
 * @example
 * ```ts
 * const negotiated = (1n << BigInt(Feature.EVENT_IDX)) | (1n << BigInt(Feature.INDIRECT_DESC));
 * ```
 */
export const Feature = {
  /** VIRTIO_F_ANY_LAYOUT: arbitrary descriptor layouts (legacy name; implied by VERSION_1). */
  ANY_LAYOUT: 27,
  /** VIRTIO_F_INDIRECT_DESC: indirect descriptor tables. */
  INDIRECT_DESC: 28,
  /** VIRTIO_F_EVENT_IDX (VIRTIO_RING_F_EVENT_IDX): used_event / avail_event. */
  EVENT_IDX: 29,
  /** VIRTIO_F_VERSION_1: the device complies with VIRTIO 1.x (no legacy interface). */
  VERSION_1: 32,
  /** VIRTIO_F_ACCESS_PLATFORM: the device accesses memory through a platform IOMMU. */
  ACCESS_PLATFORM: 33,
  /** VIRTIO_F_RING_PACKED: the packed virtqueue layout. */
  RING_PACKED: 34,
  /** VIRTIO_F_IN_ORDER: buffers are used in the order they were made available. */
  IN_ORDER: 35,
  /** VIRTIO_F_ORDER_PLATFORM: memory accesses ordered as the platform orders them. */
  ORDER_PLATFORM: 36,
  /** VIRTIO_F_SR_IOV: single root I/O virtualization (PCI). */
  SR_IOV: 37,
  /** VIRTIO_F_NOTIFICATION_DATA: the driver passes extra data in its notifications. */
  NOTIFICATION_DATA: 38,
  /** VIRTIO_F_NOTIF_CONFIG_DATA: the driver uses a device-provided notification value. */
  NOTIF_CONFIG_DATA: 39,
  /** VIRTIO_F_RING_RESET: per-virtqueue reset. */
  RING_RESET: 40,
} as const;
/** A reserved feature bit number. @example `const bit: Feature = Feature.EVENT_IDX;` */
export type Feature = (typeof Feature)[keyof typeof Feature];

/**
 * Descriptor flags (VIRTIO 1.2 §2.7.5 and §2.8.1).
 * @example
 * ```ts
 * if (chain.flags(0) & DescFlags.WRITE) { ... }
 * ```
 */
export const DescFlags = {
  /** VIRTQ_DESC_F_NEXT: the buffer continues in the next descriptor. */
  NEXT: 1,
  /** VIRTQ_DESC_F_WRITE: device-writable (otherwise device-readable). */
  WRITE: 2,
  /** VIRTQ_DESC_F_INDIRECT: the buffer is a table of descriptors. */
  INDIRECT: 4,
  /** VIRTQ_DESC_F_AVAIL (packed ring), bit 7. */
  AVAIL: 1 << 7,
  /** VIRTQ_DESC_F_USED (packed ring), bit 15. */
  USED: 1 << 15,
} as const;

/**
 * Split-ring flags: VIRTQ_AVAIL_F_NO_INTERRUPT (driver, in avail.flags) and
 * VIRTQ_USED_F_NO_NOTIFY (device, in used.flags) (VIRTIO 1.2 §2.7.7, §2.7.10).
 * @example
 * ```ts
 * mem.writeU16(used, RingFlags.USED_NO_NOTIFY);
 * ```
 */
export const RingFlags = {
  /** VIRTQ_AVAIL_F_NO_INTERRUPT. */
  AVAIL_NO_INTERRUPT: 1,
  /** VIRTQ_USED_F_NO_NOTIFY. */
  USED_NO_NOTIFY: 1,
} as const;

/**
 * Packed-ring event suppression flags (VIRTIO 1.2 §2.8.10: RING_EVENT_FLAGS_*).
 * @example
 * ```ts
 * mem.writeU16(deviceArea + 2, EventFlags.DISABLE);
 * ```
 */
export const EventFlags = {
  /** RING_EVENT_FLAGS_ENABLE: notify on every buffer. */
  ENABLE: 0,
  /** RING_EVENT_FLAGS_DISABLE: do not notify. */
  DISABLE: 1,
  /** RING_EVENT_FLAGS_DESC: notify when the position in `off_wrap` is reached (EVENT_IDX only). */
  DESC: 2,
} as const;

/** Largest queue size VIRTIO allows (2^15). @example `new QueueConfig(MAX_QUEUE_SIZE)` */
export const MAX_QUEUE_SIZE = 32768;

/** Size of one descriptor in bytes, split and packed. @example `desc + i * DESCRIPTOR_SIZE` */
export const DESCRIPTOR_SIZE = 16;

/**
 * Byte sizes of the three areas of a split ring of `size` entries with EVENT_IDX fields
 * included (VIRTIO 1.2 §2.7: 16·n, 6 + 2·n, 6 + 8·n).
 * @param size - queue size.
 * @returns the descriptor table, available ring and used ring sizes.
 * @example
 * ```ts
 * splitRingSizes(256) // { descTable: 4096, availRing: 518, usedRing: 2054 }
 * ```
 */
export function splitRingSizes(size: number): {
  /** Bytes of the descriptor table, 16 per entry (§2.7.5); 16-byte aligned. */
  descTable: number;
  /** Bytes of the available ring with its `used_event` (§2.7.6); 2-byte aligned. */
  availRing: number;
  /** Bytes of the used ring with its `avail_event` (§2.7.8); 4-byte aligned. */
  usedRing: number;
} {
  return { descTable: 16 * size, availRing: 6 + 2 * size, usedRing: 6 + 8 * size };
}

/**
 * Byte sizes of the three areas of a packed ring of `size` entries (VIRTIO 1.2 §2.8.10).
 * @param size - queue size.
 * @returns the descriptor ring and the two event suppression structure sizes.
 * @example
 * ```ts
 * packedRingSizes(256) // { descRing: 4096, driverEvent: 4, deviceEvent: 4 }
 * ```
 */
export function packedRingSizes(size: number): {
  /** Bytes of the descriptor ring, 16 per entry; 16-byte aligned (§2.8.10). */
  descRing: number;
  /** Bytes of the driver event suppression area (§2.8.14); 4-byte aligned. */
  driverEvent: number;
  /** Bytes of the device event suppression area (§2.8.14); 4-byte aligned. */
  deviceEvent: number;
} {
  return { descRing: 16 * size, driverEvent: 4, deviceEvent: 4 };
}

/**
 * The spec's `vring_need_event` (VIRTIO 1.2 §2.7.10.1; Linux `include/uapi/linux/virtio_ring.h`):
 * whether moving an index from `oldIdx` to `newIdx` passes `eventIdx`, in u16 arithmetic.
 * @param eventIdx - the other side's event index (used_event or avail_event).
 * @param newIdx - the index after the update.
 * @param oldIdx - the index before the update.
 * @returns true when a notification is needed.
 * @example
 * ```ts
 * vringNeedEvent(0xffff, 0, 0xffff) // true: the index passed 0xffff across the wrap
 * ```
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}
