/**
 * The numbers of virtio-can (VIRTIO 1.4 §5.20, device ID 36): the queues, the feature bits, the
 * message types, frame flags, results and the controller status bit, and the wire sizes of
 * `virtio_can_tx_out`, `virtio_can_rx` and the control messages (Linux's
 * include/uapi/linux/virtio_can.h has the same). One source for every number the package uses.
 * @module
 */

/** The three virtqueues (§5.20.2). @example `ctx.queues[CanQueue.RXQ]` */
export const CanQueue = {
  /** Frames the driver transmits. */
  TXQ: 0,
  /** Empty buffers the device fills with received frames. */
  RXQ: 1,
  /** Controller mode requests (START, STOP). */
  CONTROLQ: 2,
} as const;

/** Feature bits of §5.20.3. @example `featureBit(CanFeature.CAN_FD)` */
export const CanFeature = {
  /** VIRTIO_CAN_F_CAN_CLASSIC: classic frames, up to 8 data bytes. */
  CAN_CLASSIC: 0,
  /** VIRTIO_CAN_F_CAN_FD: CAN FD frames, up to 64 data bytes. */
  CAN_FD: 1,
  /** VIRTIO_CAN_F_RTR_FRAMES: remote transmission requests (classic only); requires CAN_CLASSIC. */
  RTR_FRAMES: 2,
  /** VIRTIO_CAN_F_LATE_TX_ACK: a transmit buffer is used only once its frame is on the bus. */
  LATE_TX_ACK: 3,
} as const;

/** `msg_type` values (§5.20.5). @example `CanMsg.SET_CTRL_MODE_START` */
export const CanMsg = {
  /** VIRTIO_CAN_TX: a frame on the txq. */
  TX: 0x0001,
  /** VIRTIO_CAN_RX: a frame on the rxq. */
  RX: 0x0101,
  /** VIRTIO_CAN_SET_CTRL_MODE_START. */
  SET_CTRL_MODE_START: 0x0201,
  /** VIRTIO_CAN_SET_CTRL_MODE_STOP. */
  SET_CTRL_MODE_STOP: 0x0202,
} as const;

/** `flags` bits of a frame (§5.20.5.2). @example `CanFlags.EXTENDED | CanFlags.FD` */
export const CanFlags = {
  /** VIRTIO_CAN_FLAGS_RTR: a remote transmission request. */
  RTR: 0x2000,
  /** VIRTIO_CAN_FLAGS_FD: a CAN FD frame. */
  FD: 0x4000,
  /** VIRTIO_CAN_FLAGS_EXTENDED: a 29-bit identifier. */
  EXTENDED: 0x8000,
} as const;

/** `result` of a tx or control request (§5.20.5). @example `CanResult.NOT_OK` */
export const CanResult = {
  /** VIRTIO_CAN_RESULT_OK. */
  OK: 0,
  /** VIRTIO_CAN_RESULT_NOT_OK. */
  NOT_OK: 1,
} as const;

/** `virtio_can_config.status` bits (§5.20.4). @example `CanStatus.BUSOFF` */
export const CanStatus = {
  /** VIRTIO_CAN_S_CTRL_BUSOFF: the controller went from started to stopped on a bus-off condition. */
  BUSOFF: 1 << 0,
} as const;

/** Wire sizes and limits. @example `CanLayout.HEADER_SIZE + 64` */
export const CanLayout = {
  /** `virtio_can_config`: le16 status. */
  CONFIG_SIZE: 2,
  /** `virtio_can_tx_out` and `virtio_can_rx` before `sdu`: msg_type, length, reserved_classic_dlc, padding, reserved_xl_priority, flags, can_id. */
  HEADER_SIZE: 16,
  /** `virtio_can_tx_in` and `virtio_can_control_in`: u8 result. */
  RESULT_SIZE: 1,
  /** `virtio_can_control_out`: le16 msg_type. */
  CONTROL_SIZE: 2,
  /** Most data bytes of a classic frame (and the DLC of an RTR frame). */
  CLASSIC_MAX_LENGTH: 8,
  /** Most data bytes of a CAN FD frame. */
  FD_MAX_LENGTH: 64,
  /** Largest standard (11-bit) identifier. */
  STANDARD_ID_MAX: 0x7ff,
  /** Largest extended (29-bit) identifier. */
  EXTENDED_ID_MAX: 0x1fff_ffff,
} as const;

/**
 * Data lengths a CAN FD frame can have (its DLC codes 0..15): 0 to 8, 12, 16, 20, 24, 32, 48, 64.
 * @example `CAN_FD_LENGTHS.includes(12)`
 */
export const CAN_FD_LENGTHS: readonly number[] = Object.freeze([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]);
