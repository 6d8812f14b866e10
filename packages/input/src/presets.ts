/**
 * Ready-made descriptions: a keyboard, a relative mouse, an absolute tablet and a multitouch
 * screen, shaped like QEMU's virtio-input-hid devices (hw/input/virtio-input-hid.c), so guests
 * treat them alike. Each takes overrides for the identity (name, serial, ids).
 * @module
 */
import { Abs, Btn, Bus, EventType, InputProp, Key, Led, Rel } from './constants.js';
import type { DeviceIds, InputDescription } from './description.js';

/**
 * What a preset lets the host change.
 * @example `keyboard({ name: 'kbd0', serial: 'A1' })`
 */
export interface PresetOptions {
  /** ID_NAME instead of the preset's. */
  readonly name?: string;
  /** ID_SERIAL (default none). */
  readonly serial?: string;
  /** Ids instead of the preset's. */
  readonly ids?: Partial<DeviceIds>;
}

/** The presets by name (the daemon's `--device` values). @example `PRESETS.tablet()` */
export type PresetName = 'keyboard' | 'mouse' | 'tablet' | 'touchscreen';

/** Largest absolute coordinate of the tablet and the touchscreen (as QEMU's: 0..0x7fff). @example `ABS_MAX === 32767` */
export const ABS_MAX = 0x7fff;
/** Slots of the touchscreen (ABS_MT_SLOT 0..9, as QEMU's multitouch device). @example `TOUCH_SLOTS === 10` */
export const TOUCH_SLOTS = 10;

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const ids = (product: number, o: PresetOptions): DeviceIds => ({ bustype: Bus.VIRTUAL, vendor: 0x0627, product, version: 1, ...o.ids });
const identity = (name: string, product: number, o: PresetOptions) => ({ name: o.name ?? name, ...(o.serial === undefined ? {} : { serial: o.serial }), ids: ids(product, o) });
const axis = { min: 0, max: ABS_MAX };

/**
 * A keyboard: every key from KEY_ESC to KEY_MICMUTE, key repeat (EV_REP), and the NumLock,
 * CapsLock and ScrollLock LEDs the guest sets on the status queue.
 * @param o - identity overrides.
 * @returns the description.
 * @example `new InputDevice({ description: keyboard() })`
 */
export function keyboard(o: PresetOptions = {}): InputDescription {
  return {
    ...identity('vmv virtio keyboard', 0x0001, o),
    events: { [EventType.EV_KEY]: range(Key.ESC, Key.MICMUTE), [EventType.EV_REP]: [], [EventType.EV_LED]: [Led.NUML, Led.CAPSL, Led.SCROLLL] },
  };
}

/**
 * A relative mouse: five buttons, X/Y motion, vertical and horizontal wheels.
 * @param o - identity overrides.
 * @returns the description.
 * @example `new InputDevice({ description: mouse({ name: 'mouse0' }) })`
 */
export function mouse(o: PresetOptions = {}): InputDescription {
  return {
    ...identity('vmv virtio mouse', 0x0002, o),
    events: { [EventType.EV_KEY]: [Btn.LEFT, Btn.RIGHT, Btn.MIDDLE, Btn.SIDE, Btn.EXTRA], [EventType.EV_REL]: [Rel.X, Rel.Y, Rel.HWHEEL, Rel.WHEEL] },
  };
}

/**
 * An absolute tablet: three buttons, X/Y in 0..32767, a wheel.
 * @param o - identity overrides.
 * @returns the description.
 * @example `new InputDevice({ description: tablet() })`
 */
export function tablet(o: PresetOptions = {}): InputDescription {
  return {
    ...identity('vmv virtio tablet', 0x0003, o),
    events: { [EventType.EV_KEY]: [Btn.LEFT, Btn.RIGHT, Btn.MIDDLE], [EventType.EV_REL]: [Rel.WHEEL], [EventType.EV_ABS]: [Abs.X, Abs.Y] },
    abs: { [Abs.X]: axis, [Abs.Y]: axis },
  };
}

/**
 * A multitouch screen (INPUT_PROP_DIRECT): BTN_TOUCH, single-touch X/Y and the type B multitouch
 * protocol with {@link TOUCH_SLOTS} slots (ABS_MT_SLOT, ABS_MT_TRACKING_ID, ABS_MT_POSITION_X/Y).
 * @param o - identity overrides.
 * @returns the description.
 * @example `new InputDevice({ description: touchscreen() })`
 */
export function touchscreen(o: PresetOptions = {}): InputDescription {
  return {
    ...identity('vmv virtio touchscreen', 0x0005, o),
    properties: [InputProp.DIRECT],
    events: { [EventType.EV_KEY]: [Btn.TOUCH], [EventType.EV_ABS]: [Abs.X, Abs.Y, Abs.MT_SLOT, Abs.MT_POSITION_X, Abs.MT_POSITION_Y, Abs.MT_TRACKING_ID] },
    abs: {
      [Abs.X]: axis, [Abs.Y]: axis, [Abs.MT_SLOT]: { min: 0, max: TOUCH_SLOTS - 1 },
      [Abs.MT_POSITION_X]: axis, [Abs.MT_POSITION_Y]: axis, [Abs.MT_TRACKING_ID]: { min: 0, max: 0xffff },
    },
  };
}

/** Every preset by name. @example `PRESETS['mouse']({ serial: 'M1' })` */
export const PRESETS: Readonly<Record<PresetName, (o?: PresetOptions) => InputDescription>> = { keyboard, mouse, tablet, touchscreen };
