/**
 * Sense data (SPC-4 §4.5): what a CHECK CONDITION carries, in fixed format (response code 70h) or
 * descriptor format (72h, chosen by the control mode page's D_SENSE bit or REQUEST SENSE's DESC
 * bit), with the information field (an LBA) and the sense-key-specific field pointer of an
 * ILLEGAL REQUEST. The named conditions are the ones the target reports, each with the key, ASC
 * and ASCQ SPC-4 Annex D gives it. Reached by virtio-scsi through the `sense` field (§5.6.6.1).
 * @module
 */
import { SenseKey } from './constants.js';

/**
 * One sense condition. `field` points into the CDB (`cdb: true`) or the parameter list for
 * ILLEGAL REQUEST (byte, and bit when the error is in a bit field); `information` is the LBA of a
 * medium error or miscompare offset.
 * @example `const s: Sense = { key: SenseKey.ILLEGAL_REQUEST, asc: 0x24, ascq: 0, field: { cdb: true, byte: 1, bit: 3 } };`
 */
export interface Sense {
  /** The sense key. */
  readonly key: SenseKey;
  /** The additional sense code. */
  readonly asc: number;
  /** The additional sense code qualifier. */
  readonly ascq: number;
  /** The information field: an LBA, or a miscompare's offset. */
  readonly information?: number;
  /** The field pointer of an ILLEGAL REQUEST. */
  readonly field?: SenseField;
}

/**
 * Where an ILLEGAL REQUEST's error is (SPC-4 §4.5.2.4.2).
 * @example `const f: SenseField = { cdb: true, byte: 1, bit: 3 };`
 */
export interface SenseField {
  /** In the CDB (true) or the parameter list (false). */
  readonly cdb: boolean;
  /** The byte. */
  readonly byte: number;
  /** The bit, when the field is a bit field (its highest bit). */
  readonly bit?: number;
}

/** Length of fixed-format sense data as the target writes it. @example `FIXED_SENSE_SIZE === 18` */
export const FIXED_SENSE_SIZE = 18;

/**
 * The conditions the target reports, by name (SPC-4 Annex D).
 * @example `senses.lbaOutOfRange.asc === 0x21`
 */
export interface SenseTable {
  /** NO SENSE (00h/00h): REQUEST SENSE with nothing to report. */
  readonly noSense: Sense;
  /** ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE (20h/00h). */
  readonly invalidOpcode: Sense;
  /** ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (21h/00h). */
  readonly lbaOutOfRange: Sense;
  /** ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (25h/00h). */
  readonly lunNotSupported: Sense;
  /** ILLEGAL REQUEST, PARAMETER LIST LENGTH ERROR (1Ah/00h). */
  readonly parameterListLength: Sense;
  /** ILLEGAL REQUEST, SAVING PARAMETERS NOT SUPPORTED (39h/00h). */
  readonly savingNotSupported: Sense;
  /** NOT READY, LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED (04h/02h): after a stop. */
  readonly notReadyStopped: Sense;
  /** DATA PROTECT, WRITE PROTECTED (27h/00h). */
  readonly writeProtected: Sense;
  /** MEDIUM ERROR, UNRECOVERED READ ERROR (11h/00h). */
  readonly unrecoveredReadError: Sense;
  /** MEDIUM ERROR, WRITE ERROR (0Ch/00h). */
  readonly writeError: Sense;
  /** MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION (1Dh/00h). */
  readonly miscompare: Sense;
  /** UNIT ATTENTION, POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29h/00h). */
  readonly powerOnReset: Sense;
  /** UNIT ATTENTION, BUS DEVICE RESET FUNCTION OCCURRED (29h/03h): a LOGICAL UNIT RESET. */
  readonly busDeviceReset: Sense;
  /** UNIT ATTENTION, I_T NEXUS LOSS OCCURRED (29h/07h): an I_T NEXUS RESET. */
  readonly nexusLoss: Sense;
  /** UNIT ATTENTION, CAPACITY DATA HAS CHANGED (2Ah/09h). */
  readonly capacityChanged: Sense;
  /** UNIT ATTENTION, REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh). */
  readonly lunsChanged: Sense;
}

/**
 * The conditions the target reports (SPC-4 Annex D).
 * @example `senses.lbaOutOfRange` is ILLEGAL REQUEST, 21h/00h.
 */
export const senses: SenseTable = {
  noSense: { key: SenseKey.NO_SENSE, asc: 0x00, ascq: 0x00 },
  invalidOpcode: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x20, ascq: 0x00 },
  lbaOutOfRange: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x21, ascq: 0x00 },
  lunNotSupported: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x25, ascq: 0x00 },
  parameterListLength: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x1a, ascq: 0x00 },
  savingNotSupported: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x39, ascq: 0x00 },
  notReadyStopped: { key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x02 },
  writeProtected: { key: SenseKey.DATA_PROTECT, asc: 0x27, ascq: 0x00 },
  unrecoveredReadError: { key: SenseKey.MEDIUM_ERROR, asc: 0x11, ascq: 0x00 },
  writeError: { key: SenseKey.MEDIUM_ERROR, asc: 0x0c, ascq: 0x00 },
  miscompare: { key: SenseKey.MISCOMPARE, asc: 0x1d, ascq: 0x00 },
  powerOnReset: { key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0x00 },
  busDeviceReset: { key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0x03 },
  nexusLoss: { key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0x07 },
  capacityChanged: { key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x09 },
  lunsChanged: { key: SenseKey.UNIT_ATTENTION, asc: 0x3f, ascq: 0x0e },
};

/**
 * INVALID FIELD IN CDB (24h/00h) pointing at `byte` (and `bit`) of the CDB.
 * @param byte - the offending CDB byte.
 * @param bit - the offending bit's highest position, when the field is a bit field.
 * @returns the sense condition.
 * @example `invalidCdbField(1, 3)`
 */
export function invalidCdbField(byte: number, bit?: number): Sense {
  return { key: SenseKey.ILLEGAL_REQUEST, asc: 0x24, ascq: 0x00, field: bit === undefined ? { cdb: true, byte } : { cdb: true, byte, bit } };
}

/**
 * INVALID FIELD IN PARAMETER LIST (26h/00h) pointing at `byte` (and `bit`) of the parameter data.
 * @param byte - the offending parameter byte.
 * @param bit - the offending bit's highest position, when the field is a bit field.
 * @returns the sense condition.
 * @example `invalidParameterField(2, 2)`
 */
export function invalidParameterField(byte: number, bit?: number): Sense {
  return { key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0x00, field: bit === undefined ? { cdb: false, byte } : { cdb: false, byte, bit } };
}

/**
 * Encodes sense data (SPC-4 §4.5.3 fixed, §4.5.2 descriptor with the information and
 * sense-key-specific descriptors).
 * @param sense - the condition.
 * @param descriptor - descriptor format (72h) instead of fixed (70h).
 * @returns the sense bytes: 18 for fixed, 8 to 28 for descriptor.
 * @example `encodeSense(senses.lbaOutOfRange, false)[12] === 0x21`
 */
export function encodeSense(sense: Sense, descriptor: boolean): Uint8Array {
  const hasInfo = sense.information !== undefined;
  const sks = senseKeySpecific(sense);
  if (!descriptor) {
    const b = new Uint8Array(FIXED_SENSE_SIZE);
    b[0] = 0x70 | (hasInfo ? 0x80 : 0);
    b[2] = sense.key;
    // The fixed format's information field is 4 bytes: an LBA past 2^32 cannot be VALID.
    if (hasInfo && sense.information! <= 0xffff_ffff) new DataView(b.buffer).setUint32(3, sense.information!);
    else b[0] &= 0x7f;
    b[7] = FIXED_SENSE_SIZE - 8;
    b[12] = sense.asc;
    b[13] = sense.ascq;
    if (sks !== null) b.set(sks, 15);
    return b;
  }
  const length = 8 + (hasInfo ? 12 : 0) + (sks !== null ? 8 : 0);
  const b = new Uint8Array(length);
  b[0] = 0x72;
  b[1] = sense.key;
  b[2] = sense.asc;
  b[3] = sense.ascq;
  b[7] = length - 8;
  let at = 8;
  if (hasInfo) {
    b[at] = 0x00;
    b[at + 1] = 0x0a;
    b[at + 2] = 0x80;
    const v = new DataView(b.buffer);
    v.setUint32(at + 4, Math.floor(sense.information! / 0x1_0000_0000));
    v.setUint32(at + 8, sense.information! >>> 0);
    at += 12;
  }
  if (sks !== null) {
    b[at] = 0x02;
    b[at + 1] = 0x06;
    b.set(sks, at + 4);
  }
  return b;
}

/** The three sense-key-specific bytes of a field pointer (SPC-4 §4.5.2.4.2), or null. */
function senseKeySpecific(sense: Sense): Uint8Array | null {
  const f = sense.field;
  if (f === undefined) return null;
  const b = new Uint8Array(3);
  b[0] = 0x80 | (f.cdb ? 0x40 : 0) | (f.bit !== undefined ? 0x08 | (f.bit & 7) : 0);
  b[1] = (f.byte >>> 8) & 0xff;
  b[2] = f.byte & 0xff;
  return b;
}
