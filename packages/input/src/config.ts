/**
 * The configuration space of a virtio-input device (VIRTIO 1.2 §5.8.4): the driver writes
 * `select` and `subsel`, the device answers `size` and the union. Answers are computed once from
 * the description, as evdev's ioctls would report the device: strings without a NUL, bitmaps up
 * to the byte holding their highest code, an event type with no codes as one zero byte (it is
 * supported: EV_REP), anything not supported as size 0 (§5.8.5.2).
 * @module
 */
import { ABSINFO_SIZE, ConfigLayout, ConfigSelect, DEVIDS_SIZE } from './constants.js';
import type { ValidDescription } from './description.js';

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A bitmap of `codes`, one byte at least when `atLeastOne`, else empty when no code is set. */
function bitmap(codes: readonly number[], atLeastOne: boolean): Uint8Array {
  const top = codes.length === 0 ? -1 : codes[codes.length - 1]!;
  const out = new Uint8Array(Math.max(atLeastOne ? 1 : 0, (top >> 3) + 1));
  for (const c of codes) out[c >> 3]! |= 1 << (c & 7);
  return out;
}

/**
 * Every answer of a description, keyed by `select << 8 | subsel`.
 * @param d - the checked description.
 * @returns the union bytes of each supported (select, subsel).
 * @example
 * ```ts
 * configAnswers(validateDescription(keyboard())).get(ConfigSelect.ID_NAME << 8)
 * ```
 */
export function configAnswers(d: ValidDescription): ReadonlyMap<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  const key = (select: number, subsel: number) => (select << 8) | subsel;
  m.set(key(ConfigSelect.ID_NAME, 0), ascii(d.name));
  if (d.serial.length > 0) m.set(key(ConfigSelect.ID_SERIAL, 0), ascii(d.serial));
  const ids = new DataView(new ArrayBuffer(DEVIDS_SIZE));
  ids.setUint16(0, d.ids.bustype, true);
  ids.setUint16(2, d.ids.vendor, true);
  ids.setUint16(4, d.ids.product, true);
  ids.setUint16(6, d.ids.version, true);
  m.set(key(ConfigSelect.ID_DEVIDS, 0), new Uint8Array(ids.buffer));
  if (d.properties.length > 0) m.set(key(ConfigSelect.PROP_BITS, 0), bitmap(d.properties, false));
  for (const [type, codes] of d.events) m.set(key(ConfigSelect.EV_BITS, type), bitmap(codes, true));
  for (const [axis, a] of d.abs) {
    const v = new DataView(new ArrayBuffer(ABSINFO_SIZE));
    [a.min, a.max, a.fuzz, a.flat, a.res].forEach((x, i) => v.setInt32(i * 4, x, true));
    m.set(key(ConfigSelect.ABS_INFO, axis), new Uint8Array(v.buffer));
  }
  return m;
}

/**
 * The 136-byte `struct virtio_input_config`: `select` and `subsel` are the driver's, `size` and
 * the union the device's answer to them. Writes to any other byte are ignored (the driver must not
 * make them, §5.8.5.1; QEMU's vhost-user frontend forwards the whole structure on every write).
 * @example
 * ```ts
 * const cfg = new InputConfig(validateDescription(keyboard()));
 * cfg.write(0, Uint8Array.of(ConfigSelect.ID_NAME, 0));
 * const size = cfg.bytes[ConfigLayout.SIZE];
 * ```
 */
export class InputConfig {
  /** The structure as the driver reads it. */
  readonly bytes = new Uint8Array(ConfigLayout.SIZE_OF);
  private readonly answers: ReadonlyMap<number, Uint8Array>;

  /**
   * Computes every answer of the description.
   * @param description - the device.
   */
  constructor(description: ValidDescription) {
    this.answers = configAnswers(description);
  }

  /** The current selector. @returns `select`. @example `cfg.select` */
  get select(): number {
    return this.bytes[ConfigLayout.SELECT]!;
  }

  /** The current sub-selector. @returns `subsel`. @example `cfg.subsel` */
  get subsel(): number {
    return this.bytes[ConfigLayout.SUBSEL]!;
  }

  /**
   * A driver write: takes the bytes of `select` and `subsel` in range and answers them.
   * @param offset - config-space offset (the transport has checked the range).
   * @param data - the bytes written.
   * @example `cfg.write(ConfigLayout.SUBSEL, Uint8Array.of(EventType.EV_KEY))`
   */
  write(offset: number, data: Uint8Array): void {
    let changed = false;
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      if (at === ConfigLayout.SELECT || at === ConfigLayout.SUBSEL) {
        changed = true;
        this.bytes[at] = data[i]!;
      }
    }
    if (changed) this.answer();
  }

  /**
   * A driver read.
   * @param offset - config-space offset.
   * @param data - filled with the bytes there.
   * @example `cfg.read(0, new Uint8Array(136))`
   */
  read(offset: number, data: Uint8Array): void {
    data.set(this.bytes.subarray(offset, offset + data.length));
  }

  /** Back to select 0 (UNSET), as at device reset. @example `cfg.reset()` */
  reset(): void {
    this.bytes.fill(0);
  }

  private answer(): void {
    const a = this.answers.get((this.select << 8) | this.subsel);
    this.bytes.fill(0, ConfigLayout.SIZE);
    if (a === undefined) return;
    this.bytes[ConfigLayout.SIZE] = a.length;
    this.bytes.set(a, ConfigLayout.UNION);
  }
}
