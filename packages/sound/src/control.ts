/**
 * The control queue's requests (VIRTIO 1.2 §5.14.6): item information (§5.14.6.1) for jacks,
 * streams, channel maps and control elements, JACK_REMAP (§5.14.6.4.2), the PCM commands
 * (§5.14.6.6) and the control element values (§5.14.6.10.2). Each request's size is checked
 * against its structure before a field is read, each field against the layout, and every
 * answer is a status: BAD_MSG for a malformed request or a command out of order, NOT_SUPP for
 * parameters or operations the device does not offer. Nothing here throws on guest input.
 * @module
 */
import type { Reader, Writer } from '@vmv/device-trait';
import { ControlAccess, FORMAT_BITS, PCM_FEATURES_DEFINED, RATE_HZ, Request, Size, SoundStatus } from './constants.js';
import { frameBytes } from './layout.js';
import type { ValidControl, ValidLayout } from './layout.js';
import type { PcmCommand, PcmStream } from './stream.js';

/** What the control requests act on: the device. */
export interface ControlHost {
  readonly layout: ValidLayout;
  readonly streams: readonly PcmStream[];
  /** Whether VIRTIO_SND_F_CTLS was negotiated. */
  readonly ctls: boolean;
  /** Before RELEASE: takes the I/O messages already in the stream's queue, so that RELEASE completes them too. */
  collect(stream: PcmStream): void;
  /** The guest wrote a control's value. */
  controlWritten(control: ValidControl): void;
}

const { OK, BAD_MSG, NOT_SUPP } = SoundStatus;

/**
 * Serves one control request: reads it from `r`, writes the response into `w` (at least 4 bytes).
 * @param host - the device.
 * @param r - the request (device-readable part).
 * @param w - the response (device-writable part).
 * @returns the status written first in the response.
 */
export function serveControl(host: ControlHost, r: Reader, w: Writer): number {
  const status = dispatch(host, r, w);
  // answered with the status alone unless the request wrote its status and payload
  if (w.written === 0) w.writeU32(status);
  return status;
}

function dispatch(host: ControlHost, r: Reader, w: Writer): number {
  if (r.remaining < Size.HDR) return BAD_MSG;
  const code = r.readU32();
  const { layout } = host;
  switch (code) {
    case Request.JACK_INFO:
      return query(r, w, layout.jacks.length, Size.JACK_INFO, (i) => {
        const j = layout.jacks[i]!;
        w.writeU32(j.hdaFnNid);
        w.writeU32(j.features);
        w.writeU32(j.defconf);
        w.writeU32(j.caps);
        w.writeU8(j.connected ? 1 : 0);
        w.fill(7);
      });
    case Request.JACK_REMAP:
      return jackRemap(host, r);
    case Request.PCM_INFO:
      return query(r, w, layout.streams.length, Size.PCM_INFO, (i) => {
        const s = layout.streams[i]!;
        w.writeU32(s.hdaFnNid);
        w.writeU32(s.features);
        w.writeU64(s.formats);
        w.writeU64(s.rates);
        w.writeU8(s.direction);
        w.writeU8(s.channelsMin);
        w.writeU8(s.channelsMax);
        w.fill(5);
      });
    case Request.PCM_SET_PARAMS:
      return setParams(host, r);
    case Request.PCM_PREPARE:
      return command(host, r, 'prepare');
    case Request.PCM_RELEASE:
      return command(host, r, 'release');
    case Request.PCM_START:
      return command(host, r, 'start');
    case Request.PCM_STOP:
      return command(host, r, 'stop');
    case Request.CHMAP_INFO:
      return query(r, w, layout.chmaps.length, Size.CHMAP_INFO, (i) => {
        const c = layout.chmaps[i]!;
        w.writeU32(c.hdaFnNid);
        w.writeU8(c.direction);
        w.writeU8(c.positions.length);
        for (const p of c.positions) w.writeU8(p);
        w.fill(18 - c.positions.length);
      });
    case Request.CTL_INFO:
      if (!host.ctls) return NOT_SUPP;
      return query(r, w, layout.controls.length, Size.CTL_INFO, (i) => writeControlInfo(w, layout.controls[i]!));
    case Request.CTL_ENUM_ITEMS:
    case Request.CTL_READ:
    case Request.CTL_WRITE:
    case Request.CTL_TLV_READ:
    case Request.CTL_TLV_WRITE:
    case Request.CTL_TLV_COMMAND:
      return controlValue(host, code, r, w);
    default:
      return NOT_SUPP;
  }
}

/** An item information request (§5.14.6.1): the range and the response size checked first. */
function query(r: Reader, w: Writer, total: number, itemSize: number, write: (i: number) => void): number {
  if (r.remaining < Size.QUERY_INFO - Size.HDR) return BAD_MSG;
  const start = r.readU32();
  const count = r.readU32();
  const size = r.readU32();
  if (start + count > total || size < itemSize) return BAD_MSG;
  if (w.remaining < Size.HDR + count * size) return BAD_MSG;
  w.writeU32(OK);
  for (let i = start; i < start + count; i++) {
    write(i);
    // a driver asking for a larger structure (a later revision) gets zeros past ours
    w.fill(size - itemSize);
  }
  return OK;
}

function jackRemap(host: ControlHost, r: Reader): number {
  if (r.remaining < Size.JACK_REMAP - Size.HDR) return BAD_MSG;
  const id = r.readU32();
  const association = r.readU32();
  const sequence = r.readU32();
  const jack = host.layout.jacks[id];
  if (jack === undefined) return BAD_MSG;
  if ((jack.features & 1) === 0) return NOT_SUPP;
  // HDA default configuration: association in bits 7:4, sequence in bits 3:0
  if (association > 0xf || sequence > 0xf) return BAD_MSG;
  jack.defconf = ((jack.defconf & ~0xff) | (association << 4) | sequence) >>> 0;
  return OK;
}

function stream(host: ControlHost, r: Reader, size: number): PcmStream | number {
  if (r.remaining < size - Size.HDR) return BAD_MSG;
  return host.streams[r.readU32()] ?? BAD_MSG;
}

function setParams(host: ControlHost, r: Reader): number {
  const s = stream(host, r, Size.PCM_SET_PARAMS);
  if (typeof s === 'number') return s;
  const bufferBytes = r.readU32();
  const periodBytes = r.readU32();
  const features = r.readU32();
  const channels = r.readU8();
  const format = r.readU8();
  const rate = r.readU8();
  const padding = r.readU8();
  if (!s.allows('set-params')) return BAD_MSG;
  // values the spec does not define, or a padding the driver must zero (§5.14.6.6.3.2)
  if (padding !== 0 || format >= FORMAT_BITS.length || rate >= RATE_HZ.length || (features & ~PCM_FEATURES_DEFINED) !== 0) return BAD_MSG;
  const info = s.info;
  if (((info.formats >> BigInt(format)) & 1n) === 0n || ((info.rates >> BigInt(rate)) & 1n) === 0n) return NOT_SUPP;
  if (channels < info.channelsMin || channels > info.channelsMax || (features & ~info.features) !== 0) return NOT_SUPP;
  const frame = frameBytes(format, channels);
  if (periodBytes === 0 || bufferBytes % periodBytes !== 0 || periodBytes % frame !== 0) return BAD_MSG;
  if (bufferBytes > info.maxBufferBytes) return NOT_SUPP;
  s.setParams({ format, rate: RATE_HZ[rate]!, channels, frameBytes: frame, bufferBytes, periodBytes }, features);
  return OK;
}

function command(host: ControlHost, r: Reader, cmd: Exclude<PcmCommand, 'set-params'>): number {
  const s = stream(host, r, Size.PCM_HDR);
  if (typeof s === 'number') return s;
  if (!s.allows(cmd)) return BAD_MSG;
  switch (cmd) {
    case 'prepare':
      s.prepare();
      break;
    case 'start':
      s.start();
      break;
    case 'stop':
      s.stop();
      break;
    case 'release':
      host.collect(s);
      s.release();
      break;
  }
  return OK;
}

function writeControlInfo(w: Writer, c: ValidControl): void {
  w.writeU32(0); // hda_fn_nid
  w.writeU32(c.role);
  w.writeU32(c.type);
  w.writeU32(c.access);
  w.writeU32(c.count);
  w.writeU32(c.index);
  // ASCII (the layout's own names), 0-terminated within 44 bytes; no TextEncoder: it is not an ES built-in
  for (let i = 0; i < c.name.length; i++) w.writeU8(c.name.charCodeAt(i) & 0x7f);
  w.fill(Size.CTL_NAME - c.name.length);
  w.fill(4); // the union is 8-aligned
  w.writeU32(c.min);
  w.writeU32(c.max);
  w.writeU32(c.step);
  w.fill(12);
}

function controlValue(host: ControlHost, code: number, r: Reader, w: Writer): number {
  if (!host.ctls) return NOT_SUPP;
  if (r.remaining < Size.CTL_HDR - Size.HDR) return BAD_MSG;
  const c = host.layout.controls[r.readU32()];
  if (c === undefined) return BAD_MSG;
  switch (code) {
    case Request.CTL_READ:
      if ((c.access & (1 << ControlAccess.READ)) === 0) return NOT_SUPP;
      if (w.remaining < Size.HDR + Size.CTL_VALUE) return BAD_MSG;
      w.writeU32(OK);
      w.writeU32(c.value);
      w.fill(Size.CTL_VALUE - 4 * c.count);
      return OK;
    case Request.CTL_WRITE: {
      if ((c.access & (1 << ControlAccess.WRITE)) === 0) return NOT_SUPP;
      if (r.remaining < Size.CTL_VALUE) return BAD_MSG;
      const v = r.readU32();
      if (v < c.min || v > c.max || (v - c.min) % c.step !== 0) return BAD_MSG;
      if (v !== c.value) {
        c.value = v;
        host.controlWritten(c);
      }
      return OK;
    }
    case Request.CTL_ENUM_ITEMS:
      // no element is ENUMERATED: there are no items to list
      return BAD_MSG;
    default:
      // TLV_READ, TLV_WRITE, TLV_COMMAND: no element offers metadata access
      return NOT_SUPP;
  }
}
