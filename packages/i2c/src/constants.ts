/**
 * The numbers of virtio-i2c (VIRTIO 1.2 §5.16, device ID 34): the queue, the feature bit, the
 * request flags and statuses, and the wire sizes of `virtio_i2c_out_hdr` and `virtio_i2c_in_hdr`.
 * One source for every number the package uses.
 * @module
 */

/** The one virtqueue (§5.16.2). @example `ctx.queues[I2cQueue.REQUESTQ]` */
export const I2cQueue = {
  /** Requests, each one segment of an I2C transaction. */
  REQUESTQ: 0,
} as const;

/** Feature bits of §5.16.3. @example `featureBit(I2cFeature.ZERO_LENGTH_REQUEST)` */
export const I2cFeature = {
  /** VIRTIO_I2C_F_ZERO_LENGTH_REQUEST: requests without a buffer (SMBus quick) and the M_RD flag. Mandatory. */
  ZERO_LENGTH_REQUEST: 0,
} as const;

/** `virtio_i2c_out_hdr.flags` bits (§5.16.6). @example `I2cFlags.FAIL_NEXT | I2cFlags.M_RD` */
export const I2cFlags = {
  /** VIRTIO_I2C_FLAGS_FAIL_NEXT: the next request belongs to the same transaction (repeated START). */
  FAIL_NEXT: 1 << 0,
  /** VIRTIO_I2C_FLAGS_M_RD: a read request (the buffer is device-writable). */
  M_RD: 1 << 1,
} as const;

/** `virtio_i2c_in_hdr.status` (§5.16.6). @example `I2cStatus.ERR` */
export const I2cStatus = {
  /** VIRTIO_I2C_MSG_OK. */
  OK: 0,
  /** VIRTIO_I2C_MSG_ERR. */
  ERR: 1,
} as const;

/** Wire sizes in bytes. @example `I2cLayout.OUT_HDR_SIZE` */
export const I2cLayout = {
  /** `virtio_i2c_out_hdr`: le16 addr, le16 padding, le32 flags. */
  OUT_HDR_SIZE: 8,
  /** `virtio_i2c_in_hdr`: u8 status. */
  IN_HDR_SIZE: 1,
  /** Longest segment the device accepts (Linux's `i2c_msg.len` is a u16). */
  MAX_SEGMENT: 0xffff,
  /** Most data bytes in one transaction (a FAIL_NEXT group): 1 MiB, some 25 s of a 400 kHz bus. */
  MAX_TRANSACTION: 0x10_0000,
} as const;
