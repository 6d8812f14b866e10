/**
 * virtio-console numbers and wire structures (VIRTIO 1.2 §5.3): feature bits, the 12-byte
 * configuration space, the 8-byte control message `{le32 id; le16 event; le16 value}` and the
 * queue index of each port. Plain functions over bytes; guest bytes decode to a typed outcome,
 * never an exception.
 * @module
 */

/** Device feature bits (§5.3.3). @example `features(Feature.VERSION_1, ConsoleFeature.MULTIPORT)` */
export const ConsoleFeature = {
  /** Configuration `cols` and `rows` are valid. */
  SIZE: 0,
  /** Several ports and the control queues; `max_nr_ports` is valid. */
  MULTIPORT: 1,
  /** The driver may write one character at a time to `emerg_wr`. */
  EMERG_WRITE: 2,
} as const;
/** One of {@link ConsoleFeature}'s values. @example `const b: ConsoleFeature = ConsoleFeature.SIZE;` */
export type ConsoleFeature = (typeof ConsoleFeature)[keyof typeof ConsoleFeature];

/** Control message events (§5.3.6.2). @example `encodeControl(0, ControlEvent.PORT_OPEN, 1)` */
export const ControlEvent = {
  /** Driver → device: the driver is ready (value 1) or failed (0); id is {@link BAD_ID}. */
  DEVICE_READY: 0,
  /** Device → driver: a port `id` exists. */
  PORT_ADD: 1,
  /** Device → driver: port `id` is gone. */
  PORT_REMOVE: 2,
  /** Driver → device: port `id` is ready (value 1) or failed (0). */
  PORT_READY: 3,
  /** Device → driver: port `id` is a console (an hvc). */
  CONSOLE_PORT: 4,
  /** Device → driver: a console port's size, followed by the size (Linux reads `le16 rows, le16 cols`). */
  RESIZE: 5,
  /** Both ways: the sender's end of port `id` opened (1) or closed (0). */
  PORT_OPEN: 6,
  /** Device → driver: port `id`'s name, the bytes after the header. */
  PORT_NAME: 7,
} as const;
/** One of {@link ControlEvent}'s values. @example `const e: ControlEvent = ControlEvent.PORT_NAME;` */
export type ControlEvent = (typeof ControlEvent)[keyof typeof ControlEvent];

/** The id of DEVICE_READY: no port (`VIRTIO_CONSOLE_BAD_ID`, ~0). @example `encodeControl(BAD_ID, ControlEvent.DEVICE_READY, 1)` */
export const BAD_ID = 0xffff_ffff;
/** Bytes of a control message header. @example `bytes.length >= CONTROL_HEADER_SIZE` */
export const CONTROL_HEADER_SIZE = 8;
/** Bytes of the configuration space. @example `device.configSize === CONSOLE_CONFIG_SIZE` */
export const CONSOLE_CONFIG_SIZE = 12;
/** Field offsets in the configuration space (§5.3.4). @example `ConsoleConfigOffset.EMERG_WR === 8` */
export const ConsoleConfigOffset = {
  /** le16 cols. */
  COLS: 0,
  /** le16 rows. */
  ROWS: 2,
  /** le32 max_nr_ports. */
  MAX_NR_PORTS: 4,
  /** le32 emerg_wr (driver-writable). */
  EMERG_WR: 8,
} as const;

/** A console size. @example `const s: ConsoleSize = { cols: 80, rows: 25 };` */
export interface ConsoleSize {
  /** Columns (0..65535). */
  readonly cols: number;
  /** Rows (0..65535). */
  readonly rows: number;
}

/**
 * The receive queue of port `port` (§5.3.2): 0 for port 0, then 4, 6, 8 ... (2 and 3 are the
 * control queues). The transmit queue is the next index.
 * @param port - the port number.
 * @returns the queue index.
 * @example `receiveQueueOf(1) === 4`
 */
export function receiveQueueOf(port: number): number {
  return port === 0 ? 0 : 2 + 2 * port;
}

/**
 * The port a queue index belongs to, or -1 for the control queues (2, 3).
 * @param queue - a queue index.
 * @returns the port number or -1.
 * @example `portOfQueue(5) === 1`
 */
export function portOfQueue(queue: number): number {
  if (queue < 2) return 0;
  if (queue < 4) return -1;
  return (queue - 2) >> 1;
}

/**
 * A control message (§5.3.6.2); `data` is what follows the header (PORT_NAME's name, RESIZE's size).
 * @example
 * ```ts
 * const m: ControlMessage = { id: 1, event: ControlEvent.PORT_OPEN, value: 1, data: new Uint8Array(0) };
 * ```
 */
export interface ControlMessage {
  /** The port (`BAD_ID` for DEVICE_READY). */
  readonly id: number;
  /** The event, one of {@link ControlEvent} when known. */
  readonly event: number;
  /** The event's value. */
  readonly value: number;
  /** Bytes after the header. */
  readonly data: Uint8Array;
}

/**
 * What {@link decodeControl} found in guest bytes: a message, or why there is none.
 * @example
 * ```ts
 * const d = decodeControl(bytes);
 * if (!d.ok) console.log(d.reason); // 'short'
 * ```
 */
export type ControlDecoded =
  | {
      /** A message. */
      readonly ok: true;
      /** The message. */
      readonly message: ControlMessage;
    }
  | {
      /** No message. */
      readonly ok: false;
      /** Fewer than 8 bytes. */
      readonly reason: 'short';
      /** How many there were. */
      readonly length: number;
    };

/**
 * Decodes a control message from the driver's bytes.
 * @param bytes - the buffer's readable bytes.
 * @returns the message, or `{ok: false, reason: 'short'}` for fewer than 8 bytes.
 * @example
 * ```ts
 * decodeControl(encodeControl(2, ControlEvent.PORT_OPEN, 1)); // { ok: true, message: { id: 2, ... } }
 * ```
 */
export function decodeControl(bytes: Uint8Array): ControlDecoded {
  if (bytes.length < CONTROL_HEADER_SIZE) return { ok: false, reason: 'short', length: bytes.length };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { ok: true, message: { id: view.getUint32(0, true), event: view.getUint16(4, true), value: view.getUint16(6, true), data: bytes.subarray(CONTROL_HEADER_SIZE) } };
}

/**
 * Encodes a control message.
 * @param id - the port (or {@link BAD_ID}).
 * @param event - the event.
 * @param value - its value (0..65535).
 * @param data - bytes after the header (a name, a size).
 * @returns the message bytes.
 * @throws RangeError when a field is out of range.
 * @example `encodeControl(1, ControlEvent.PORT_NAME, 1, new TextEncoder().encode('org.test.0'))`
 */
export function encodeControl(id: number, event: number, value: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) throw new RangeError(`encodeControl: id must be a u32, got ${id}`);
  if (!Number.isInteger(event) || event < 0 || event > 0xffff) throw new RangeError(`encodeControl: event must be a u16, got ${event}`);
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`encodeControl: value must be a u16, got ${value}`);
  const out = new Uint8Array(CONTROL_HEADER_SIZE + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, id, true);
  view.setUint16(4, event, true);
  view.setUint16(6, value, true);
  out.set(data, CONTROL_HEADER_SIZE);
  return out;
}

/**
 * RESIZE's payload as Linux's driver reads it: `le16 rows, le16 cols`. (VIRTIO 1.2 §5.3.6.2 writes
 * `struct virtio_console_resize { le16 cols; le16 rows; }`; every Linux since 2.6.35 reads rows
 * first, and Linux is the driver guests run, so the device sends what Linux reads.)
 * @param cols - columns.
 * @param rows - rows.
 * @returns 4 bytes.
 * @example `encodeControl(0, ControlEvent.RESIZE, 0, encodeResize(80, 25))`
 */
export function encodeResize(cols: number, rows: number): Uint8Array {
  const out = new Uint8Array(4);
  const view = new DataView(out.buffer);
  view.setUint16(0, rows, true);
  view.setUint16(2, cols, true);
  return out;
}

/** The name of a {@link ControlEvent} value, or `event N`. @example `controlEventName(6) === 'PORT_OPEN'` */
export function controlEventName(event: number): string {
  for (const [name, value] of Object.entries(ControlEvent)) if (value === event) return name;
  return `event ${event}`;
}
