/**
 * The numbers of virtio-gpio (VIRTIO 1.2 §5.18, device ID 41): queues, the feature bit, message
 * types, directions, interrupt types, statuses and the wire sizes of `virtio_gpio_request`,
 * `virtio_gpio_response`, `virtio_gpio_irq_request`, `virtio_gpio_irq_response` and
 * `virtio_gpio_config`. One source for every number the package uses.
 * @module
 */

/** The virtqueues (§5.18.2): requestq, and eventq when VIRTIO_GPIO_F_IRQ is negotiated. @example `ctx.queues[GpioQueue.EVENTQ]` */
export const GpioQueue = {
  /** Requests from the driver, answered at once. */
  REQUESTQ: 0,
  /** One buffer pair per line the driver unmasked; returned when the line's interrupt fires. */
  EVENTQ: 1,
} as const;

/** Feature bits of §5.18.3. @example `featureBit(GpioFeature.IRQ)` */
export const GpioFeature = {
  /** VIRTIO_GPIO_F_IRQ: the device supports interrupts on lines. */
  IRQ: 0,
} as const;

/** `virtio_gpio_request.type` (§5.18.6). @example `GpioMsg.SET_VALUE` */
export const GpioMsg = {
  /** VIRTIO_GPIO_MSG_GET_LINE_NAMES: the names block. */
  GET_LINE_NAMES: 0x0001,
  /** VIRTIO_GPIO_MSG_GET_DIRECTION: a line's direction. */
  GET_DIRECTION: 0x0002,
  /** VIRTIO_GPIO_MSG_SET_DIRECTION: none, output or input. */
  SET_DIRECTION: 0x0003,
  /** VIRTIO_GPIO_MSG_GET_VALUE: the level sensed on a line. */
  GET_VALUE: 0x0004,
  /** VIRTIO_GPIO_MSG_SET_VALUE: the value a line drives as an output. */
  SET_VALUE: 0x0005,
  /** VIRTIO_GPIO_MSG_SET_IRQ_TYPE: enables (a trigger type) or disables (NONE) a line's interrupt. */
  SET_IRQ_TYPE: 0x0006,
} as const;

/** `virtio_gpio_response.status` (§5.18.6). @example `GpioStatus.ERR` */
export const GpioStatus = {
  /** VIRTIO_GPIO_STATUS_OK. */
  OK: 0,
  /** VIRTIO_GPIO_STATUS_ERR. */
  ERR: 1,
} as const;

/** VIRTIO_GPIO_DIRECTION_* (§5.18.6). @example `GpioDirection.OUT` */
export const GpioDirection = {
  /** Not in use (the line's state is discarded). */
  NONE: 0,
  /** Output: the line drives the value of SET_VALUE. */
  OUT: 1,
  /** Input: the line senses what the host drives (or its pull). */
  IN: 2,
} as const;
/** One of {@link GpioDirection}. @example `const d: GpioDirectionValue = GpioDirection.IN;` */
export type GpioDirectionValue = (typeof GpioDirection)[keyof typeof GpioDirection];

/** VIRTIO_GPIO_IRQ_TYPE_* (§5.18.6). @example `GpioIrqType.EDGE_BOTH` */
export const GpioIrqType = {
  /** Interrupt disabled. */
  NONE: 0x00,
  /** Rising edges (0 to 1). */
  EDGE_RISING: 0x01,
  /** Falling edges (1 to 0). */
  EDGE_FALLING: 0x02,
  /** Both edges. */
  EDGE_BOTH: 0x03,
  /** While the line is high. */
  LEVEL_HIGH: 0x04,
  /** While the line is low. */
  LEVEL_LOW: 0x08,
} as const;
/** One of {@link GpioIrqType}. @example `const t: GpioIrqTypeValue = GpioIrqType.LEVEL_HIGH;` */
export type GpioIrqTypeValue = (typeof GpioIrqType)[keyof typeof GpioIrqType];

/** `virtio_gpio_irq_response.status` (§5.18.7). @example `GpioIrqStatus.VALID` */
export const GpioIrqStatus = {
  /** The buffers come back without an interrupt: the interrupt was disabled (or never enabled). */
  INVALID: 0,
  /** The line's interrupt fired. */
  VALID: 1,
} as const;

/** Wire sizes in bytes. @example `GpioLayout.REQUEST_SIZE` */
export const GpioLayout = {
  /** `virtio_gpio_request`: le16 type, le16 gpio, le32 value. */
  REQUEST_SIZE: 8,
  /** `virtio_gpio_response`: u8 status, u8 value (GET_LINE_NAMES: u8 status then the names block). */
  RESPONSE_SIZE: 2,
  /** `virtio_gpio_irq_request`: le16 gpio. */
  IRQ_REQUEST_SIZE: 2,
  /** `virtio_gpio_irq_response`: u8 status. */
  IRQ_RESPONSE_SIZE: 1,
  /** `virtio_gpio_config`: le16 ngpio, u8 padding[2], le32 gpio_names_size. */
  CONFIG_SIZE: 8,
  /** Offset of `ngpio` in the config. */
  CONFIG_NGPIO: 0,
  /** Offset of `gpio_names_size` in the config. */
  CONFIG_NAMES_SIZE: 4,
} as const;
