/**
 * The device's layout: its PCM streams (§5.14.6.6.2, what PCM_INFO reports), jacks (§5.14.6.4.1),
 * channel maps (§5.14.6.9.1) and control elements (§5.14.6.10.1, a volume and a mute switch per
 * stream), from a plain description checked once ({@link validateLayout}). Defaults are
 * vhost-device-sound's: one output and one input stream, U8/S16/S24/S32 at 8 to 48 kHz, one to six
 * channels, no jack, one stereo channel map for the output; we add EVT_XRUNS and the controls.
 * @module
 */
import { CHMAP_MAX_SIZE, ChannelPosition, ControlAccess, ControlRole, ControlType, Direction, FORMAT_BITS, Format, PcmFeature, RATE_HZ } from './constants.js';
import type { ChannelPositionName, DirectionValue, FormatName } from './constants.js';

/**
 * One PCM stream of a {@link SoundLayout}.
 * @example `{ direction: 'output', formats: ['S16'], rates: [48000], channels: [2, 2] }`
 */
export interface StreamLayout {
  /** Playback ('output', txq) or capture ('input', rxq). */
  readonly direction: 'output' | 'input';
  /** Sample formats offered. Default U8, S16, S24, S32. */
  readonly formats?: readonly FormatName[];
  /** Frame rates offered, in Hz, each one the spec lists. Default 8000 to 48000 (the seven of them). */
  readonly rates?: readonly number[];
  /** Fewest and most channels, 1 to 255. Default [1, 6]. */
  readonly channels?: readonly [number, number];
  /** Whether underruns and overruns are reported as XRUN events (offers VIRTIO_SND_PCM_F_EVT_XRUNS). Default true. */
  readonly xrunEvents?: boolean;
  /** HDA function group node (links streams with jacks and channel maps). Default 0. */
  readonly hdaFnNid?: number;
}

/**
 * One jack of a {@link SoundLayout}.
 * @example `{ direction: 'output', connected: true, remap: true }`
 */
export interface JackLayout {
  /** Default 'output': a headphone jack (defconf device 2, pin caps presence-detect, output, HP drive); 'input': a microphone jack. */
  readonly direction?: 'output' | 'input';
  /** Connected at start. Default true. */
  readonly connected?: boolean;
  /** Offers VIRTIO_SND_JACK_F_REMAP (JACK_REMAP requests accepted). Default false. */
  readonly remap?: boolean;
  /** HDA pin default configuration (u32). Default by direction (association 1, sequence 0). */
  readonly defconf?: number;
  /** HDA pin capabilities (u32). Default by direction. */
  readonly caps?: number;
  /** HDA function group node. Default 0. */
  readonly hdaFnNid?: number;
}

/**
 * One channel map of a {@link SoundLayout}.
 * @example `{ direction: 'output', positions: ['FL', 'FR'] }`
 */
export interface ChmapLayout {
  /** The streams it applies to: playback ('output') or capture ('input') ones of the same function group. */
  readonly direction: 'output' | 'input';
  /** 1 to 18 positions. */
  readonly positions: readonly ChannelPositionName[];
  /** HDA function group node. Default 0. */
  readonly hdaFnNid?: number;
}

/**
 * What the device offers. Every field has a default (vhost-device-sound's layout).
 * @example
 * ```ts
 * const layout: SoundLayout = { streams: [{ direction: 'output', formats: ['S16'], rates: [44100, 48000], channels: [2, 2] }], jacks: [{}] };
 * ```
 */
export interface SoundLayout {
  /** 0 to 64 streams; their ids are their indices. */
  readonly streams?: readonly StreamLayout[];
  /** 0 to 64 jacks. Default none. */
  readonly jacks?: readonly JackLayout[];
  /** 0 to 64 channel maps. Default one: output, FL FR. */
  readonly chmaps?: readonly ChmapLayout[];
  /** A volume and a mute control per stream (offers VIRTIO_SND_F_CTLS). Default true. */
  readonly controls?: boolean;
}

/** A stream as the device serves it. @example `device.layout.streams[0].channelsMax` */
export interface ValidStream {
  /** The stream id (stream_id of PCM requests and I/O messages): its index in the layout. */
  readonly id: number;
  /** virtio_snd_pcm_info.direction (VIRTIO_SND_D_*). */
  readonly direction: DirectionValue;
  /** virtio_snd_info.hda_fn_nid: the HDA function group node. */
  readonly hdaFnNid: number;
  /** PCM_INFO features (1 << VIRTIO_SND_PCM_F_*). */
  readonly features: number;
  /** Bit map of format codes. */
  readonly formats: bigint;
  /** Bit map of rate codes. */
  readonly rates: bigint;
  /** virtio_snd_pcm_info.channels_min: fewest channels SET_PARAMS may select. */
  readonly channelsMin: number;
  /** virtio_snd_pcm_info.channels_max: most channels SET_PARAMS may select. */
  readonly channelsMax: number;
  /** Largest buffer_bytes accepted: one second at the largest frame and rate offered, at least 64 KiB. */
  readonly maxBufferBytes: number;
}

/** A jack as the device serves it (connected and defconf change at run time). @example `device.layout.jacks[0].connected` */
export interface ValidJack {
  /** virtio_snd_info.hda_fn_nid: the HDA function group node. */
  readonly hdaFnNid: number;
  /** virtio_snd_jack_info.features (1 << VIRTIO_SND_JACK_F_*). */
  readonly features: number;
  /** virtio_snd_jack_info.hda_reg_defconf: the HDA pin default configuration (association and sequence changed by JACK_REMAP). */
  defconf: number;
  /** virtio_snd_jack_info.hda_reg_caps: the HDA pin capabilities. */
  readonly caps: number;
  /** virtio_snd_jack_info.connected: whether a device is plugged in. */
  connected: boolean;
}

/** A channel map as the device serves it. @example `device.layout.chmaps[0].positions // [3, 4]: FL, FR` */
export interface ValidChmap {
  /** virtio_snd_info.hda_fn_nid: the HDA function group node. */
  readonly hdaFnNid: number;
  /** virtio_snd_chmap_info.direction (VIRTIO_SND_D_*). */
  readonly direction: DirectionValue;
  /** virtio_snd_chmap_info.positions: one VIRTIO_SND_CHMAP_* code per channel. */
  readonly positions: readonly number[];
}

/** A control element as the device serves it. @example `device.layout.controls[0].value // the playback volume` */
export interface ValidControl {
  /** The control id (control_id of CTL requests and events): its index in the layout. */
  readonly id: number;
  /** The stream it acts on. */
  readonly stream: number;
  /** (VIRTIO_SND_CTL_ROLE_* << 1) | direction. */
  readonly role: number;
  /** virtio_snd_ctl_info.type (VIRTIO_SND_CTL_TYPE_*). */
  readonly type: number;
  /** virtio_snd_ctl_info.access (1 << VIRTIO_SND_CTL_ACCESS_*). */
  readonly access: number;
  /** virtio_snd_ctl_info.count: values in the element. */
  readonly count: number;
  /** virtio_snd_ctl_info.index: tells apart elements of the same name (one per stream of a direction). */
  readonly index: number;
  /** virtio_snd_ctl_info.name, the ALSA control name (e.g. 'PCM Playback Volume'). */
  readonly name: string;
  /** virtio_snd_ctl_info.value.integer.min: the lowest value. */
  readonly min: number;
  /** virtio_snd_ctl_info.value.integer.max: the highest value. */
  readonly max: number;
  /** virtio_snd_ctl_info.value.integer.step: the step between values. */
  readonly step: number;
  /** The current value. */
  value: number;
}

/** A checked layout. @example `const { streams, jacks, chmaps, controls } = validateLayout({});` */
export interface ValidLayout {
  /** The PCM streams (config `streams`), by id. */
  readonly streams: readonly ValidStream[];
  /** The jacks (config `jacks`), by id. */
  readonly jacks: readonly ValidJack[];
  /** The channel maps (config `chmaps`), by id. */
  readonly chmaps: readonly ValidChmap[];
  /** The control elements (config `controls`), by id; empty when controls are off. */
  readonly controls: readonly ValidControl[];
}

/** The top of a volume control's range (0 to it, step 1). @example `device.setControl(0, VOLUME_MAX)` */
export const VOLUME_MAX = 100;

const DEFAULT_FORMATS: readonly FormatName[] = ['U8', 'S16', 'S24', 'S32'];
const DEFAULT_RATES: readonly number[] = [8000, 11025, 16000, 22050, 32000, 44100, 48000];
const MAX_ITEMS = 64;
// HDA pin default configuration: default device (bits 23:20) 2 = HP out, 0xA = mic in; association 1.
const DEFCONF = { output: (0x2 << 20) | (1 << 4), input: (0xa << 20) | (1 << 4) } as const;
// HDA pin capabilities: presence detect (bit 2), HP drive (3), output (4), input (5).
const CAPS = { output: (1 << 2) | (1 << 3) | (1 << 4), input: (1 << 2) | (1 << 5) } as const;

function fail(what: string): never {
  throw new RangeError(`SoundLayout: ${what}`);
}

function u32(v: unknown, label: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) fail(`${label} must be a u32, got ${String(v)}`);
  return v;
}

function dir(v: unknown, label: string): DirectionValue {
  if (v === 'output') return Direction.OUTPUT;
  if (v === 'input') return Direction.INPUT;
  return fail(`${label} must be 'output' or 'input', got ${String(v)}`);
}

function list<T>(v: readonly T[] | undefined, label: string, dflt: readonly T[]): readonly T[] {
  if (v === undefined) return dflt;
  if (!Array.isArray(v)) throw new TypeError(`SoundLayout: ${label} must be an array`);
  if (v.length > MAX_ITEMS) fail(`at most ${MAX_ITEMS} ${label}, got ${v.length}`);
  return v;
}

/**
 * Bytes of one frame of `channels` channels in format `format` (IMA ADPCM: half a byte a sample, rounded up).
 * @param format - a VIRTIO_SND_PCM_FMT_* code.
 * @param channels - channels per frame.
 * @returns the frame's size in bytes.
 * @example `frameBytes(Format.S16, 2) // 4`
 */
export function frameBytes(format: number, channels: number): number {
  return Math.ceil((FORMAT_BITS[format]! * channels) / 8);
}

function stream(s: StreamLayout, id: number): ValidStream {
  if (typeof s !== 'object' || s === null) throw new TypeError(`SoundLayout: streams[${id}] must be an object`);
  const label = `streams[${id}]`;
  const direction = dir(s.direction, `${label}.direction`);
  const formats = s.formats ?? DEFAULT_FORMATS;
  const rates = s.rates ?? DEFAULT_RATES;
  if (!Array.isArray(formats) || formats.length === 0) fail(`${label}.formats must be a non-empty array`);
  if (!Array.isArray(rates) || rates.length === 0) fail(`${label}.rates must be a non-empty array`);
  let fmask = 0n;
  let widest = 0;
  for (const f of formats as readonly FormatName[]) {
    const code = Object.prototype.hasOwnProperty.call(Format, f) ? Format[f] : undefined;
    if (code === undefined) fail(`${label}.formats: unknown format ${String(f)}`);
    fmask |= 1n << BigInt(code);
    widest = Math.max(widest, FORMAT_BITS[code]!);
  }
  let rmask = 0n;
  let fastest = 0;
  for (const r of rates as readonly number[]) {
    const code = RATE_HZ.indexOf(r);
    if (code < 0) fail(`${label}.rates: ${String(r)} Hz is not a rate virtio-snd defines (${RATE_HZ.join(', ')})`);
    rmask |= 1n << BigInt(code);
    fastest = Math.max(fastest, r);
  }
  const [min, max] = s.channels ?? [1, 6];
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 255 || min > max) fail(`${label}.channels must be [min, max] with 1 <= min <= max <= 255`);
  const features = s.xrunEvents === false ? 0 : 1 << PcmFeature.EVT_XRUNS;
  const maxBufferBytes = Math.max(65536, Math.ceil((widest * max) / 8) * fastest);
  return { id, direction, hdaFnNid: u32(s.hdaFnNid, `${label}.hdaFnNid`, 0), features, formats: fmask, rates: rmask, channelsMin: min, channelsMax: max, maxBufferBytes };
}

/**
 * Checks a layout and fills in its defaults.
 * @param layout - what the device offers.
 * @returns the layout the device serves.
 * @throws TypeError or RangeError naming the first field that is wrong.
 * @example `const valid = validateLayout({ streams: [{ direction: 'output' }] });`
 */
export function validateLayout(layout: SoundLayout = {}): ValidLayout {
  if (typeof layout !== 'object' || layout === null) throw new TypeError('SoundLayout: must be an object');
  const streams = list(layout.streams, 'streams', [{ direction: 'output' }, { direction: 'input' }]).map(stream);
  const jacks = list(layout.jacks, 'jacks', []).map((j, i): ValidJack => {
    if (typeof j !== 'object' || j === null) throw new TypeError(`SoundLayout: jacks[${i}] must be an object`);
    const d = j.direction ?? 'output';
    dir(d, `jacks[${i}].direction`);
    return {
      hdaFnNid: u32(j.hdaFnNid, `jacks[${i}].hdaFnNid`, 0),
      features: j.remap === true ? 1 : 0,
      defconf: u32(j.defconf, `jacks[${i}].defconf`, DEFCONF[d]),
      caps: u32(j.caps, `jacks[${i}].caps`, CAPS[d]),
      connected: j.connected !== false,
    };
  });
  const chmaps = list(layout.chmaps, 'chmaps', [{ direction: 'output', positions: ['FL', 'FR'] }]).map((c, i): ValidChmap => {
    if (typeof c !== 'object' || c === null) throw new TypeError(`SoundLayout: chmaps[${i}] must be an object`);
    if (!Array.isArray(c.positions) || c.positions.length < 1 || c.positions.length > CHMAP_MAX_SIZE) fail(`chmaps[${i}].positions must hold 1 to ${CHMAP_MAX_SIZE} positions`);
    const positions = (c.positions as readonly ChannelPositionName[]).map((p) => {
      const code = Object.prototype.hasOwnProperty.call(ChannelPosition, p) ? ChannelPosition[p] : undefined;
      return code ?? fail(`chmaps[${i}].positions: unknown position ${String(p)}`);
    });
    return { hdaFnNid: u32(c.hdaFnNid, `chmaps[${i}].hdaFnNid`, 0), direction: dir(c.direction, `chmaps[${i}].direction`), positions };
  });
  const controls: ValidControl[] = [];
  if (layout.controls !== false) {
    const seen = [0, 0];
    for (const s of streams) {
      const index = seen[s.direction]!++;
      const playback = s.direction === Direction.OUTPUT;
      const rw = (1 << ControlAccess.READ) | (1 << ControlAccess.WRITE);
      controls.push({ id: controls.length, stream: s.id, role: (ControlRole.VOLUME << 1) | s.direction, type: ControlType.INTEGER, access: rw, count: 1, index, name: playback ? 'PCM Playback Volume' : 'Capture Volume', min: 0, max: VOLUME_MAX, step: 1, value: VOLUME_MAX });
      controls.push({ id: controls.length, stream: s.id, role: (ControlRole.MUTE << 1) | s.direction, type: ControlType.BOOLEAN, access: rw, count: 1, index, name: playback ? 'PCM Playback Switch' : 'Capture Switch', min: 0, max: 1, step: 1, value: 1 });
    }
  }
  return { streams, jacks, chmaps, controls };
}
