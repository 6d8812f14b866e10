/**
 * Mode parameters (SPC-4 §7.5): MODE SENSE(6/10) and MODE SELECT(6/10) over the three pages the
 * target has: read-write error recovery (01h, SBC-3 §6.4.7, nothing changeable), caching (08h,
 * SBC-3 §6.4.5, WCE changeable: Linux's sd reads it at probe and writes it for `cache_type`) and
 * control (0Ah, SPC-4 §7.5.8, D_SENSE changeable: descriptor-format sense). Current, changeable
 * and default values; saved values are not supported (39h/00h). MODE SELECT checks every page
 * before applying any, so a bad parameter list changes nothing.
 * @module
 */
import { BLOCK_SIZE, ModePage } from './constants.js';
import type { Command } from './cdb.js';
import { invalidCdbField, invalidParameterField, senses } from './sense.js';
import type { Sense } from './sense.js';

/**
 * The changeable mode parameters of a logical unit.
 * @example `const s: ModeState = { writeCache: true, descriptorSense: false };`
 */
export interface ModeState {
  /** Caching page WCE: writes complete before they are stable; SYNCHRONIZE CACHE makes them so. */
  writeCache: boolean;
  /** Control page D_SENSE: sense data in descriptor format. */
  descriptorSense: boolean;
}

const PAGE_ORDER = [ModePage.READ_WRITE_ERROR_RECOVERY, ModePage.CACHING, ModePage.CONTROL] as const;
const PAGE_LENGTH: Record<number, number> = { [ModePage.READ_WRITE_ERROR_RECOVERY]: 0x0a, [ModePage.CACHING]: 0x12, [ModePage.CONTROL]: 0x0a };

/** A page's bytes for page control 0 (current), 1 (changeable) or 2 (default). */
function page(code: number, pc: number, state: ModeState, defaults: ModeState): Uint8Array {
  const b = new Uint8Array(2 + PAGE_LENGTH[code]!);
  b[0] = code;
  b[1] = PAGE_LENGTH[code]!;
  const s = pc === 2 ? defaults : state;
  if (code === ModePage.READ_WRITE_ERROR_RECOVERY) {
    if (pc !== 1) b[2] = 0xc0; // AWRE, ARRE: the backend remaps nothing, and says so
  } else if (code === ModePage.CACHING) {
    b[2] = pc === 1 ? 0x04 : s.writeCache ? 0x04 : 0;
  } else {
    b[2] = pc === 1 ? 0x04 : s.descriptorSense ? 0x04 : 0;
    if (pc !== 1) b[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering
  }
  return b;
}

/**
 * Answers MODE SENSE(6) or (10).
 * @param cmd - the parsed command.
 * @param state - current values.
 * @param defaults - default values.
 * @param blocks - capacity in blocks (for the block descriptor).
 * @param readOnly - sets WP in the device-specific parameter.
 * @returns the mode parameter data (not yet cut to the allocation length), or the sense.
 * @example `modeSense(cmd, state, defaults, 2048, false)`
 */
export function modeSense(cmd: Extract<Command, { op: 'mode-sense' }>, state: ModeState, defaults: ModeState, blocks: number, readOnly: boolean): Uint8Array | Sense {
  if (cmd.control === 3) return senses.savingNotSupported;
  let codes: readonly number[];
  if (cmd.page === ModePage.ALL) {
    if (cmd.subpage !== 0 && cmd.subpage !== 0xff) return invalidCdbField(3);
    codes = PAGE_ORDER;
  } else {
    if (PAGE_LENGTH[cmd.page] === undefined) return invalidCdbField(2, 5);
    if (cmd.subpage !== 0) return invalidCdbField(3);
    codes = [cmd.page];
  }
  const pages = codes.map((c) => page(c, cmd.control, state, defaults));
  const header = cmd.ten ? 8 : 4;
  const descriptor = cmd.dbd ? 0 : cmd.llbaa ? 16 : 8;
  const length = header + descriptor + pages.reduce((n, p) => n + p.length, 0);
  const b = new Uint8Array(length);
  const v = new DataView(b.buffer);
  // Device-specific parameter: WP, and DPOFUA (DPO and FUA are honoured: Linux then sends FUA).
  const deviceSpecific = (readOnly ? 0x80 : 0) | 0x10;
  if (cmd.ten) {
    v.setUint16(0, length - 2);
    b[3] = deviceSpecific;
    b[4] = cmd.llbaa ? 1 : 0;
    v.setUint16(6, descriptor);
  } else {
    b[0] = length - 1;
    b[2] = deviceSpecific;
    b[3] = descriptor;
  }
  if (descriptor === 8) {
    v.setUint32(header, Math.min(blocks, 0xffffff));
    v.setUint32(header + 4, BLOCK_SIZE);
  } else if (descriptor === 16) {
    v.setUint32(header, Math.floor(blocks / 0x1_0000_0000));
    v.setUint32(header + 4, blocks >>> 0);
    v.setUint32(header + 12, BLOCK_SIZE);
  }
  let at = header + descriptor;
  for (const p of pages) {
    b.set(p, at);
    at += p.length;
  }
  return b;
}

/**
 * Applies a MODE SELECT(6) or (10) parameter list, all or nothing.
 * @param params - the parameter list (exactly the CDB's parameter list length).
 * @param ten - MODE SELECT(10) (8-byte header) rather than (6).
 * @param state - current values: changed in place when the list is valid.
 * @returns null when applied, else the sense (nothing changed).
 * @example `modeSelect(list, false, state) === null`
 */
export function modeSelect(params: Uint8Array, ten: boolean, state: ModeState): Sense | null {
  if (params.length === 0) return null;
  const header = ten ? 8 : 4;
  if (params.length < header) return senses.parameterListLength;
  const v = new DataView(params.buffer, params.byteOffset, params.byteLength);
  const mediumType = ten ? params[2]! : params[1]!;
  if (mediumType !== 0) return invalidParameterField(ten ? 2 : 1);
  const descriptorLength = ten ? v.getUint16(6) : params[3]!;
  const long = ten && (params[4]! & 1) !== 0;
  const size = long ? 16 : 8;
  if (descriptorLength !== 0 && descriptorLength !== size) return invalidParameterField(ten ? 6 : 3);
  if (header + descriptorLength > params.length) return senses.parameterListLength;
  if (descriptorLength !== 0) {
    const lengthAt = header + (long ? 12 : 4);
    if (v.getUint32(lengthAt) !== BLOCK_SIZE) return invalidParameterField(lengthAt);
  }
  const next: ModeState = { ...state };
  for (let at = header + descriptorLength; at < params.length; ) {
    if (at + 2 > params.length) return senses.parameterListLength;
    if ((params[at]! & 0x40) !== 0) return invalidParameterField(at, 6);
    const code = params[at]! & 0x3f;
    const length = params[at + 1]!;
    const ours = PAGE_LENGTH[code];
    if (ours === undefined) return invalidParameterField(at, 5);
    if (length !== ours) return invalidParameterField(at + 1);
    if (at + 2 + length > params.length) return senses.parameterListLength;
    const current = page(code, 0, state, state);
    const changeable = page(code, 1, state, state);
    for (let i = 2; i < 2 + length; i++) {
      const stray = (params[at + i]! ^ current[i]!) & ~changeable[i]!;
      if (stray !== 0) return invalidParameterField(at + i, 31 - Math.clz32(stray));
    }
    if (code === ModePage.CACHING) next.writeCache = (params[at + 2]! & 0x04) !== 0;
    if (code === ModePage.CONTROL) next.descriptorSense = (params[at + 2]! & 0x04) !== 0;
    at += 2 + length;
  }
  state.writeCache = next.writeCache;
  state.descriptorSense = next.descriptorSense;
  return null;
}
