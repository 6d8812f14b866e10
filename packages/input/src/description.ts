/**
 * What an input device is, as evdev describes one: its name, serial, ids, properties, the codes
 * of each event type it has, and the range of each absolute axis (VIRTIO 1.2 §5.8.4, the answers
 * of EVIOCGNAME, EVIOCGUNIQ, EVIOCGID, EVIOCGPROP, EVIOCGBIT and EVIOCGABS). A description comes
 * from the host (a preset or a JSON file) and is checked once by {@link validateDescription}.
 * @module
 */
import { Abs, Bus, CODE_COUNT, EVENT_TYPE_NAMES, EventType, PROP_COUNT } from './constants.js';
import { InvalidDescriptionError } from './errors.js';

/**
 * An absolute axis's range (`struct virtio_input_absinfo`, evdev's `input_absinfo` without the value).
 * @example `const x: AbsInfo = { min: 0, max: 32767 };`
 */
export interface AbsInfo {
  /** Smallest value. */
  readonly min: number;
  /** Largest value. */
  readonly max: number;
  /** Noise filter (default 0). */
  readonly fuzz?: number;
  /** Dead zone (default 0). */
  readonly flat?: number;
  /** Resolution in units per mm (default 0). */
  readonly res?: number;
}

/**
 * `struct virtio_input_devids` (EVIOCGID).
 * @example `const ids: DeviceIds = { bustype: Bus.VIRTUAL, vendor: 0x0627, product: 1, version: 1 };`
 */
export interface DeviceIds {
  /** BUS_* (BUS_VIRTUAL by default). */
  readonly bustype: number;
  /** Vendor id. */
  readonly vendor: number;
  /** Product id. */
  readonly product: number;
  /** Version. */
  readonly version: number;
}

/**
 * An input device as evdev reports it; also the JSON of a description file.
 * @example
 * ```ts
 * const pad: InputDescription = {
 *   name: 'vmv pad', ids: { vendor: 0x1234, product: 1 },
 *   events: { EV_KEY: [0x130, 0x131], EV_ABS: [0, 1] },
 *   abs: { 0: { min: -512, max: 511 }, 1: { min: -512, max: 511 } },
 * };
 * ```
 */
export interface InputDescription {
  /** ID_NAME: printable ASCII, 1 to 63 bytes (Linux keeps 64 bytes with a NUL). */
  readonly name: string;
  /** ID_SERIAL: printable ASCII, 0 to 63 bytes (default none: size 0). */
  readonly serial?: string;
  /** ID_DEVIDS; missing fields: bustype BUS_VIRTUAL, the others 0. */
  readonly ids?: Partial<DeviceIds>;
  /** PROP_BITS: the INPUT_PROP_* numbers set. */
  readonly properties?: readonly number[];
  /**
   * EV_BITS: for each event type (by number or `EV_*` name) the codes it has. A type listed
   * with no codes is still supported (EV_REP: the device repeats keys). EV_SYN is implied.
   */
  readonly events: Readonly<Record<string, readonly number[]>>;
  /** ABS_INFO: the range of every EV_ABS code (by number), and of no other. */
  readonly abs?: Readonly<Record<string, AbsInfo>>;
}

/**
 * A checked description: numbers for keys, every field present, codes sorted and unique.
 * @example `validateDescription(json).events.get(EventType.EV_KEY)`
 */
export interface ValidDescription {
  /** ID_NAME. */
  readonly name: string;
  /** ID_SERIAL ('' for none). */
  readonly serial: string;
  /** ID_DEVIDS. */
  readonly ids: DeviceIds;
  /** INPUT_PROP_* numbers, sorted. */
  readonly properties: readonly number[];
  /** Codes of each event type, sorted. */
  readonly events: ReadonlyMap<number, readonly number[]>;
  /** Range of each absolute axis. */
  readonly abs: ReadonlyMap<number, Required<AbsInfo>>;
}

const TYPE_BY_NAME: Readonly<Record<string, number>> = EventType;
const I32_MIN = -0x8000_0000;
const I32_MAX = 0x7fff_ffff;
const MAX_STRING = 63;

function fail(path: string, problem: string): never {
  throw new InvalidDescriptionError(path, problem);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkString(v: unknown, path: string, minLength: number): string {
  if (typeof v !== 'string') fail(path, `must be a string, got ${typeof v}`);
  if (v.length < minLength || v.length > MAX_STRING) fail(path, `must be ${minLength} to ${MAX_STRING} characters, got ${v.length}`);
  if (!/^[\x20-\x7e]*$/.test(v)) fail(path, 'must be printable ASCII');
  return v;
}

function checkInt(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, `must be an integer, got ${JSON.stringify(v)}`);
  if (v < min || v > max) fail(path, `must be ${min} to ${max}, got ${v}`);
  return v;
}

function checkCodes(v: unknown, path: string, count: number): number[] {
  if (!Array.isArray(v)) fail(path, 'must be an array of codes');
  const codes = v.map((c, i) => checkInt(c, `${path}[${i}]`, 0, count - 1));
  const sorted = [...new Set(codes)].sort((a, b) => a - b);
  if (sorted.length !== codes.length) fail(path, 'lists a code twice');
  return sorted;
}

function eventType(key: string): number {
  const t = /^\d+$/.test(key) ? Number(key) : TYPE_BY_NAME[key];
  if (t === undefined || CODE_COUNT[t] === undefined) {
    fail(`events.${key}`, `is not an event type a device describes (${Object.keys(CODE_COUNT).map((n) => EVENT_TYPE_NAMES[Number(n)]).join(', ')})`);
  }
  return t;
}

/**
 * Checks a description (from a file, so anything) and returns it normalised.
 * @param value - the description.
 * @returns the checked description.
 * @throws Input.InvalidDescriptionError naming the first field at fault.
 * @example
 * ```ts
 * const d = validateDescription(JSON.parse(readFileSync('pad.json', 'utf8')));
 * ```
 */
export function validateDescription(value: unknown): ValidDescription {
  if (!isObject(value)) fail('description', 'must be an object');
  for (const k of Object.keys(value)) if (!['name', 'serial', 'ids', 'properties', 'events', 'abs'].includes(k)) fail(k, 'is not a field of a description (name, serial, ids, properties, events, abs)');
  const name = checkString(value['name'], 'name', 1);
  const serial = value['serial'] === undefined ? '' : checkString(value['serial'], 'serial', 0);
  const rawIds = value['ids'] ?? {};
  if (!isObject(rawIds)) fail('ids', 'must be an object');
  for (const k of Object.keys(rawIds)) if (!['bustype', 'vendor', 'product', 'version'].includes(k)) fail(`ids.${k}`, 'is not a device id (bustype, vendor, product, version)');
  const id = (k: string, d: number) => (rawIds[k] === undefined ? d : checkInt(rawIds[k], `ids.${k}`, 0, 0xffff));
  const ids: DeviceIds = { bustype: id('bustype', Bus.VIRTUAL), vendor: id('vendor', 0), product: id('product', 0), version: id('version', 0) };
  const properties = value['properties'] === undefined ? [] : checkCodes(value['properties'], 'properties', PROP_COUNT);
  const rawEvents = value['events'];
  if (!isObject(rawEvents)) fail('events', 'must be an object of event type to codes');
  const events = new Map<number, number[]>();
  for (const [key, codes] of Object.entries(rawEvents)) {
    const t = eventType(key);
    if (events.has(t)) fail(`events.${key}`, `names ${EVENT_TYPE_NAMES[t]} twice`);
    events.set(t, checkCodes(codes, `events.${key}`, CODE_COUNT[t]!));
  }
  if (events.size === 0) fail('events', 'must list at least one event type');
  const rawAbs = value['abs'] ?? {};
  if (!isObject(rawAbs)) fail('abs', 'must be an object of axis to range');
  const axes = events.get(EventType.EV_ABS) ?? [];
  const abs = new Map<number, Required<AbsInfo>>();
  for (const [key, info] of Object.entries(rawAbs)) {
    const path = `abs.${key}`;
    if (!/^\d+$/.test(key) || !axes.includes(Number(key))) fail(path, 'is not an axis listed in events.EV_ABS');
    if (!isObject(info)) fail(path, 'must be an object {min, max, fuzz?, flat?, res?}');
    for (const k of Object.keys(info)) if (!['min', 'max', 'fuzz', 'flat', 'res'].includes(k)) fail(`${path}.${k}`, 'is not a field of an axis range');
    const f = (k: string) => (info[k] === undefined && k !== 'min' && k !== 'max' ? 0 : checkInt(info[k], `${path}.${k}`, I32_MIN, I32_MAX));
    const range = { min: f('min'), max: f('max'), fuzz: f('fuzz'), flat: f('flat'), res: f('res') };
    if (range.min > range.max) fail(path, `min ${range.min} is above max ${range.max}`);
    abs.set(Number(key), range);
  }
  for (const a of axes) if (!abs.has(a)) fail(`abs.${a}`, 'is missing: every EV_ABS axis needs its range');
  const slot = abs.get(Abs.MT_SLOT);
  // Linux sizes its multitouch slots from ABS_MT_SLOT's max (input_mt_init_slots, at most 64 here)
  if (slot !== undefined && (slot.min !== 0 || slot.max > 63)) fail(`abs.${Abs.MT_SLOT}`, `ABS_MT_SLOT must range from 0 to at most 63 (the slot numbers), got ${slot.min}..${slot.max}`);
  return { name, serial, ids, properties, events, abs };
}
