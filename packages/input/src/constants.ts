/**
 * virtio-input numbers (VIRTIO 1.2 §5.8): the config selectors and layout, the queues, and the
 * evdev event types and codes the presets use (Linux include/uapi/linux/input-event-codes.h,
 * which the spec defers to for the meaning of events).
 * @module
 */

/** The queues (VIRTIO 1.2 §5.8.2). @example `device.queueNotify(InputQueue.EVENTQ)` */
export const InputQueue = { EVENTQ: 0, STATUSQ: 1 } as const;

/** `virtio_input_config.select` values (VIRTIO 1.2 §5.8.4). @example `ConfigSelect.EV_BITS` */
export const ConfigSelect = {
  UNSET: 0x00,
  ID_NAME: 0x01,
  ID_SERIAL: 0x02,
  ID_DEVIDS: 0x03,
  PROP_BITS: 0x10,
  EV_BITS: 0x11,
  ABS_INFO: 0x12,
} as const;
/** One of {@link ConfigSelect}. @example `const s: ConfigSelectValue = ConfigSelect.ID_NAME;` */
export type ConfigSelectValue = (typeof ConfigSelect)[keyof typeof ConfigSelect];

/** Byte offsets of `struct virtio_input_config`: select, subsel, size, reserved[5], union u[128]. @example `ConfigLayout.UNION` */
export const ConfigLayout = { SELECT: 0, SUBSEL: 1, SIZE: 2, UNION: 8, UNION_SIZE: 128, SIZE_OF: 136 } as const;

/** Bytes of `struct virtio_input_event` {le16 type, le16 code, le32 value}. @example `chain.writer().remaining >= EVENT_SIZE` */
export const EVENT_SIZE = 8;
/** Bytes of `struct virtio_input_absinfo` {le32 min, max, fuzz, flat, res}. @example `ABSINFO_SIZE === 20` */
export const ABSINFO_SIZE = 20;
/** Bytes of `struct virtio_input_devids` {le16 bustype, vendor, product, version}. @example `DEVIDS_SIZE === 8` */
export const DEVIDS_SIZE = 8;

/** evdev event types (EV_*). @example `device.send(EventType.EV_KEY, Key.KEY_A, 1)` */
export const EventType = {
  EV_SYN: 0x00,
  EV_KEY: 0x01,
  EV_REL: 0x02,
  EV_ABS: 0x03,
  EV_MSC: 0x04,
  EV_SW: 0x05,
  EV_LED: 0x11,
  EV_SND: 0x12,
  EV_REP: 0x14,
  EV_FF: 0x15,
  EV_PWR: 0x16,
  EV_FF_STATUS: 0x17,
} as const;

/**
 * How many codes each event type has (KEY_CNT, REL_CNT, ...): the bitmap a type's EV_BITS
 * answer may cover. EV_SYN is not described: every device has it.
 * @example `CODE_COUNT[EventType.EV_KEY] === 0x300`
 */
export const CODE_COUNT: Readonly<Record<number, number>> = {
  [EventType.EV_KEY]: 0x300,
  [EventType.EV_REL]: 0x10,
  [EventType.EV_ABS]: 0x40,
  [EventType.EV_MSC]: 0x08,
  [EventType.EV_SW]: 0x11,
  [EventType.EV_LED]: 0x10,
  [EventType.EV_SND]: 0x08,
  [EventType.EV_REP]: 0x02,
  [EventType.EV_FF]: 0x80,
  [EventType.EV_PWR]: 0x01,
  [EventType.EV_FF_STATUS]: 0x02,
};

/** INPUT_PROP_CNT: the property bits. @example `PROP_COUNT === 0x20` */
export const PROP_COUNT = 0x20;

/** EV_SYN codes. @example `Syn.SYN_DROPPED` */
export const Syn = { SYN_REPORT: 0, SYN_CONFIG: 1, SYN_MT_REPORT: 2, SYN_DROPPED: 3 } as const;

/** INPUT_PROP_* bits. @example `InputProp.DIRECT` */
export const InputProp = { POINTER: 0x00, DIRECT: 0x01, BUTTONPAD: 0x02, SEMI_MT: 0x03 } as const;

/** BUS_* bus types of `virtio_input_devids.bustype`. @example `Bus.VIRTUAL` */
export const Bus = { USB: 0x03, VIRTUAL: 0x06 } as const;

/** REL_* axes. @example `Rel.WHEEL` */
export const Rel = { X: 0x00, Y: 0x01, HWHEEL: 0x06, WHEEL: 0x08 } as const;

/** ABS_* axes (single-touch and multitouch). @example `Abs.MT_POSITION_X` */
export const Abs = {
  X: 0x00,
  Y: 0x01,
  MT_SLOT: 0x2f,
  MT_TOUCH_MAJOR: 0x30,
  MT_POSITION_X: 0x35,
  MT_POSITION_Y: 0x36,
  MT_TRACKING_ID: 0x39,
} as const;

/** Buttons (BTN_*). @example `Btn.LEFT` */
export const Btn = { LEFT: 0x110, RIGHT: 0x111, MIDDLE: 0x112, SIDE: 0x113, EXTRA: 0x114, TOUCH: 0x14a } as const;

/** LED_* codes. @example `Led.CAPSL` */
export const Led = { NUML: 0x00, CAPSL: 0x01, SCROLLL: 0x02 } as const;

/** MSC_* codes. @example `Msc.SCAN` */
export const Msc = { SCAN: 0x04 } as const;

/** REP_* codes. @example `Rep.DELAY` */
export const Rep = { DELAY: 0x00, PERIOD: 0x01 } as const;

/** Some KEY_* codes (the keyboard preset offers every key from KEY_ESC to KEY_MICMUTE). @example `Key.A` */
export const Key = { ESC: 1, A: 30, B: 48, C: 46, ENTER: 28, SPACE: 57, LEFTSHIFT: 42, CAPSLOCK: 58, NUMLOCK: 69, MICMUTE: 248 } as const;

/** EV_* names by number, for messages and JSON descriptions. @example `EVENT_TYPE_NAMES[1] === 'EV_KEY'` */
export const EVENT_TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(EventType).map(([k, v]) => [v, k]));
