/**
 * virtio-input numbers (VIRTIO 1.2 §5.8): the config selectors and layout, the queues, and the
 * evdev event types and codes the presets use (Linux include/uapi/linux/input-event-codes.h,
 * which the spec defers to for the meaning of events).
 * @module
 */

/** The queues (VIRTIO 1.2 §5.8.2). @example `device.queueNotify(InputQueue.EVENTQ)` */
export const InputQueue = {
  /** Events from the device to the driver. */
  EVENTQ: 0,
  /** Status events (LEDs, sounds, force feedback) from the driver to the device. */
  STATUSQ: 1,
} as const;

/** `virtio_input_config.select` values (VIRTIO 1.2 §5.8.4). @example `ConfigSelect.EV_BITS` */
export const ConfigSelect = {
  /** Nothing selected: size 0. */
  UNSET: 0x00,
  /** The device name (EVIOCGNAME), subsel 0. */
  ID_NAME: 0x01,
  /** The serial (EVIOCGUNIQ), subsel 0. */
  ID_SERIAL: 0x02,
  /** Bus type, vendor, product, version (EVIOCGID), subsel 0. */
  ID_DEVIDS: 0x03,
  /** Input properties bitmap (EVIOCGPROP), subsel 0. */
  PROP_BITS: 0x10,
  /** The codes of event type `subsel` (EVIOCGBIT). */
  EV_BITS: 0x11,
  /** The range of absolute axis `subsel` (EVIOCGABS). */
  ABS_INFO: 0x12,
} as const;
/** One of {@link ConfigSelect}. @example `const s: ConfigSelectValue = ConfigSelect.ID_NAME;` */
export type ConfigSelectValue = (typeof ConfigSelect)[keyof typeof ConfigSelect];

/** Byte offsets of `struct virtio_input_config`: select, subsel, size, reserved[5], union u[128]. @example `ConfigLayout.UNION` */
export const ConfigLayout = {
  /** `select`, written by the driver. */
  SELECT: 0,
  /** `subsel`, written by the driver. */
  SUBSEL: 1,
  /** `size` of the answer. */
  SIZE: 2,
  /** The union `u` (string, bitmap, absinfo or devids). */
  UNION: 8,
  /** Bytes of the union. */
  UNION_SIZE: 128,
  /** Bytes of the whole structure. */
  SIZE_OF: 136,
} as const;

/** Bytes of `struct virtio_input_event` {le16 type, le16 code, le32 value}. @example `chain.writer().remaining >= EVENT_SIZE` */
export const EVENT_SIZE = 8;
/** Bytes of `struct virtio_input_absinfo` {le32 min, max, fuzz, flat, res}. @example `ABSINFO_SIZE === 20` */
export const ABSINFO_SIZE = 20;
/** Bytes of `struct virtio_input_devids` {le16 bustype, vendor, product, version}. @example `DEVIDS_SIZE === 8` */
export const DEVIDS_SIZE = 8;

/** evdev event types (EV_*). @example `device.send(EventType.EV_KEY, Key.KEY_A, 1)` */
export const EventType = {
  /** Synchronisation (SYN_REPORT ends a packet). */
  EV_SYN: 0x00,
  /** Keys and buttons. */
  EV_KEY: 0x01,
  /** Relative axes. */
  EV_REL: 0x02,
  /** Absolute axes. */
  EV_ABS: 0x03,
  /** Miscellaneous (MSC_SCAN). */
  EV_MSC: 0x04,
  /** Switches. */
  EV_SW: 0x05,
  /** LEDs (status from the driver). */
  EV_LED: 0x11,
  /** Sounds (status from the driver). */
  EV_SND: 0x12,
  /** Key repeat. */
  EV_REP: 0x14,
  /** Force feedback (status from the driver). */
  EV_FF: 0x15,
  /** Power. */
  EV_PWR: 0x16,
  /** Force-feedback status. */
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
export const Syn = {
  /** End of a packet. */
  SYN_REPORT: 0,
  /** Configuration change. */
  SYN_CONFIG: 1,
  /** End of a type A multitouch contact. */
  SYN_MT_REPORT: 2,
  /** Events were dropped: resynchronise. */
  SYN_DROPPED: 3,
} as const;

/** INPUT_PROP_* bits. @example `InputProp.DIRECT` */
export const InputProp = {
  /** Needs a pointer. */
  POINTER: 0x00,
  /** A direct input device (a touchscreen). */
  DIRECT: 0x01,
  /** Buttons under the pad. */
  BUTTONPAD: 0x02,
  /** Touch rectangle only. */
  SEMI_MT: 0x03,
} as const;

/** BUS_* bus types of `virtio_input_devids.bustype`. @example `Bus.VIRTUAL` */
export const Bus = {
  /** BUS_USB. */
  USB: 0x03,
  /** BUS_VIRTUAL. */
  VIRTUAL: 0x06,
} as const;

/** REL_* axes. @example `Rel.WHEEL` */
export const Rel = {
  /** Motion along X. */
  X: 0x00,
  /** Motion along Y. */
  Y: 0x01,
  /** Horizontal wheel. */
  HWHEEL: 0x06,
  /** Vertical wheel. */
  WHEEL: 0x08,
} as const;

/** ABS_* axes (single-touch and multitouch). @example `Abs.MT_POSITION_X` */
export const Abs = {
  /** Single-touch or pointer X. */
  X: 0x00,
  /** Single-touch or pointer Y. */
  Y: 0x01,
  /** Multitouch slot being reported. */
  MT_SLOT: 0x2f,
  /** Major axis of the touching ellipse. */
  MT_TOUCH_MAJOR: 0x30,
  /** Contact X. */
  MT_POSITION_X: 0x35,
  /** Contact Y. */
  MT_POSITION_Y: 0x36,
  /** Contact id (-1: lifted). */
  MT_TRACKING_ID: 0x39,
} as const;

/** Buttons (BTN_*). @example `Btn.LEFT` */
export const Btn = {
  /** Left button. */
  LEFT: 0x110,
  /** Right button. */
  RIGHT: 0x111,
  /** Middle button. */
  MIDDLE: 0x112,
  /** Side button. */
  SIDE: 0x113,
  /** Extra button. */
  EXTRA: 0x114,
  /** Touching the surface. */
  TOUCH: 0x14a,
} as const;

/** LED_* codes. @example `Led.CAPSL` */
export const Led = {
  /** NumLock. */
  NUML: 0x00,
  /** CapsLock. */
  CAPSL: 0x01,
  /** ScrollLock. */
  SCROLLL: 0x02,
} as const;

/** MSC_* codes. @example `Msc.SCAN` */
export const Msc = {
  /** A scan code. */
  SCAN: 0x04,
} as const;

/** REP_* codes. @example `Rep.DELAY` */
export const Rep = {
  /** Delay before repeating (ms). */
  DELAY: 0x00,
  /** Repeat period (ms). */
  PERIOD: 0x01,
} as const;

/** Some KEY_* codes (the keyboard preset offers every key from KEY_ESC to KEY_MICMUTE). @example `Key.A` */
export const Key = {
  /** KEY_ESC. */
  ESC: 1,
  /** KEY_A. */
  A: 30,
  /** KEY_B. */
  B: 48,
  /** KEY_C. */
  C: 46,
  /** KEY_ENTER. */
  ENTER: 28,
  /** KEY_SPACE. */
  SPACE: 57,
  /** KEY_LEFTSHIFT. */
  LEFTSHIFT: 42,
  /** KEY_CAPSLOCK. */
  CAPSLOCK: 58,
  /** KEY_NUMLOCK. */
  NUMLOCK: 69,
  /** KEY_MICMUTE, the highest key of the keyboard preset. */
  MICMUTE: 248,
} as const;

/** EV_* names by number, for messages and JSON descriptions. @example `EVENT_TYPE_NAMES[1] === 'EV_KEY'` */
export const EVENT_TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(EventType).map(([k, v]) => [v, k]));
