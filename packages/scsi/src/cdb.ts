/**
 * Command descriptor blocks (SPC-4 §4.2, SBC-3 §5): {@link parseCdb} turns the CDB bytes a guest
 * sent (virtio-scsi's `cdb[cdb_size]`, VIRTIO 1.2 §5.6.6.1) into a {@link Command}, or into the
 * sense condition a target answers with: INVALID COMMAND OPERATION CODE for an opcode it lacks,
 * INVALID FIELD IN CDB with the field pointer for a bit it does not support. Which bits each
 * command uses is one table ({@link SUPPORTED_COMMANDS}), the same that REPORT SUPPORTED
 * OPERATION CODES reports, so what the target accepts and what it says it accepts cannot differ.
 * Total: any bytes yield a command or a sense, never an exception.
 * @module
 */
import { Opcode, ServiceAction } from './constants.js';
import { invalidCdbField, senses } from './sense.js';
import type { Sense } from './sense.js';

/**
 * One command the target supports: its opcode, service action, and CDB usage data (SPC-4
 * §6.35.3: byte 0 the opcode, then a 1 for every bit the target looks at).
 * @example `SUPPORTED_COMMANDS.find((c) => c.opcode === Opcode.READ_10)!.usage.length === 10`
 */
export interface SupportedCommand {
  /** The operation code. */
  readonly opcode: number;
  /** The service action, for opcodes that have them. */
  readonly serviceAction?: number;
  /** The CDB usage data: its length is the CDB's. */
  readonly usage: Uint8Array;
}

const u = (...bytes: number[]) => Uint8Array.from(bytes);
const FF4 = [0xff, 0xff, 0xff, 0xff];
const FF8 = [...FF4, ...FF4];

/** Every command the target answers, in opcode order. @example `SUPPORTED_COMMANDS.length` */
export const SUPPORTED_COMMANDS: readonly SupportedCommand[] = [
  { opcode: Opcode.TEST_UNIT_READY, usage: u(0x00, 0, 0, 0, 0, 0) },
  { opcode: Opcode.REQUEST_SENSE, usage: u(0x03, 0x01, 0, 0, 0xff, 0) },
  { opcode: Opcode.READ_6, usage: u(0x08, 0x1f, 0xff, 0xff, 0xff, 0) },
  { opcode: Opcode.WRITE_6, usage: u(0x0a, 0x1f, 0xff, 0xff, 0xff, 0) },
  { opcode: Opcode.INQUIRY, usage: u(0x12, 0x01, 0xff, 0xff, 0xff, 0) },
  { opcode: Opcode.MODE_SELECT_6, usage: u(0x15, 0x11, 0, 0, 0xff, 0) },
  { opcode: Opcode.MODE_SENSE_6, usage: u(0x1a, 0x08, 0xff, 0xff, 0xff, 0) },
  { opcode: Opcode.START_STOP_UNIT, usage: u(0x1b, 0x01, 0, 0, 0xf1, 0) },
  { opcode: Opcode.READ_CAPACITY_10, usage: u(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0) },
  { opcode: Opcode.READ_10, usage: u(0x28, 0x18, ...FF4, 0, 0xff, 0xff, 0) },
  { opcode: Opcode.WRITE_10, usage: u(0x2a, 0x18, ...FF4, 0, 0xff, 0xff, 0) },
  { opcode: Opcode.VERIFY_10, usage: u(0x2f, 0x06, ...FF4, 0, 0xff, 0xff, 0) },
  { opcode: Opcode.SYNCHRONIZE_CACHE_10, usage: u(0x35, 0x02, ...FF4, 0, 0xff, 0xff, 0) },
  { opcode: Opcode.WRITE_SAME_10, usage: u(0x41, 0x08, ...FF4, 0, 0xff, 0xff, 0) },
  { opcode: Opcode.UNMAP, usage: u(0x42, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0) },
  { opcode: Opcode.MODE_SELECT_10, usage: u(0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0) },
  { opcode: Opcode.MODE_SENSE_10, usage: u(0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0) },
  { opcode: Opcode.READ_16, usage: u(0x88, 0x18, ...FF8, ...FF4, 0, 0) },
  { opcode: Opcode.WRITE_16, usage: u(0x8a, 0x18, ...FF8, ...FF4, 0, 0) },
  { opcode: Opcode.VERIFY_16, usage: u(0x8f, 0x06, ...FF8, ...FF4, 0, 0) },
  { opcode: Opcode.SYNCHRONIZE_CACHE_16, usage: u(0x91, 0x02, ...FF8, ...FF4, 0, 0) },
  { opcode: Opcode.WRITE_SAME_16, usage: u(0x93, 0x09, ...FF8, ...FF4, 0, 0) },
  { opcode: Opcode.SERVICE_ACTION_IN_16, serviceAction: ServiceAction.READ_CAPACITY_16, usage: u(0x9e, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, ...FF4, 0, 0) },
  { opcode: Opcode.REPORT_LUNS, usage: u(0xa0, 0, 0xff, 0, 0, 0, ...FF4, 0, 0) },
  { opcode: Opcode.MAINTENANCE_IN, serviceAction: ServiceAction.REPORT_SUPPORTED_OPCODES, usage: u(0xa3, 0x1f, 0x87, 0xff, 0xff, 0xff, ...FF4, 0, 0) },
  { opcode: Opcode.READ_12, usage: u(0xa8, 0x18, ...FF4, ...FF4, 0, 0) },
  { opcode: Opcode.WRITE_12, usage: u(0xaa, 0x18, ...FF4, ...FF4, 0, 0) },
];

/**
 * A parsed CDB. Block counts and LBAs are numbers: a 64-bit LBA past 2^53 is imprecise, and
 * out of range for any backend anyway. `lbaByte` is where the LBA sits, for field pointers.
 * @example `if (cmd.op === 'read') console.log(cmd.lba, cmd.blocks);`
 */
export type Command =
  | {
      /** TEST UNIT READY. */
      readonly op: 'test-unit-ready';
    }
  | {
      /** REQUEST SENSE. */
      readonly op: 'request-sense';
      /** DESC: descriptor-format sense. */
      readonly descriptor: boolean;
      /** ALLOCATION LENGTH. */
      readonly allocation: number;
    }
  | {
      /** INQUIRY. */
      readonly op: 'inquiry';
      /** EVPD: a VPD page. */
      readonly evpd: boolean;
      /** PAGE CODE. */
      readonly page: number;
      /** ALLOCATION LENGTH. */
      readonly allocation: number;
    }
  | {
      /** REPORT LUNS. */
      readonly op: 'report-luns';
      /** SELECT REPORT (0..2). */
      readonly select: number;
      /** ALLOCATION LENGTH (16 or more). */
      readonly allocation: number;
    }
  | {
      /** READ CAPACITY(10). */
      readonly op: 'read-capacity-10';
    }
  | {
      /** READ CAPACITY(16). */
      readonly op: 'read-capacity-16';
      /** ALLOCATION LENGTH. */
      readonly allocation: number;
    }
  | {
      /** READ or WRITE (6, 10, 12, 16). */
      readonly op: 'read' | 'write';
      /** LOGICAL BLOCK ADDRESS. */
      readonly lba: number;
      /** TRANSFER LENGTH in blocks (READ(6)/WRITE(6): 0 is 256). */
      readonly blocks: number;
      /** FUA. */
      readonly fua: boolean;
    }
  | {
      /** VERIFY (10, 16). */
      readonly op: 'verify';
      /** LOGICAL BLOCK ADDRESS. */
      readonly lba: number;
      /** VERIFICATION LENGTH in blocks. */
      readonly blocks: number;
      /** BYTCHK: 0, 1 or 3. */
      readonly byteCheck: number;
    }
  | {
      /** WRITE SAME (10, 16). */
      readonly op: 'write-same';
      /** LOGICAL BLOCK ADDRESS. */
      readonly lba: number;
      /** NUMBER OF LOGICAL BLOCKS. */
      readonly blocks: number;
      /** UNMAP: the blocks may be deallocated. */
      readonly unmap: boolean;
      /** NDOB: no data-out, the block is zeroes. */
      readonly noDataOut: boolean;
      /** Where the block count sits in the CDB (for field pointers). */
      readonly blocksByte: number;
    }
  | {
      /** UNMAP. */
      readonly op: 'unmap';
      /** PARAMETER LIST LENGTH. */
      readonly parameterLength: number;
    }
  | {
      /** SYNCHRONIZE CACHE (10, 16). */
      readonly op: 'synchronize-cache';
      /** LOGICAL BLOCK ADDRESS. */
      readonly lba: number;
      /** NUMBER OF LOGICAL BLOCKS (0: to the end). */
      readonly blocks: number;
    }
  | {
      /** MODE SENSE (6, 10). */
      readonly op: 'mode-sense';
      /** MODE SENSE(10). */
      readonly ten: boolean;
      /** DBD: no block descriptor. */
      readonly dbd: boolean;
      /** LLBAA: a long block descriptor (10 only). */
      readonly llbaa: boolean;
      /** PC: current (0), changeable (1), default (2), saved (3). */
      readonly control: number;
      /** PAGE CODE (3Fh: all). */
      readonly page: number;
      /** SUBPAGE CODE. */
      readonly subpage: number;
      /** ALLOCATION LENGTH. */
      readonly allocation: number;
    }
  | {
      /** MODE SELECT (6, 10). */
      readonly op: 'mode-select';
      /** MODE SELECT(10). */
      readonly ten: boolean;
      /** PARAMETER LIST LENGTH. */
      readonly parameterLength: number;
    }
  | {
      /** START STOP UNIT. */
      readonly op: 'start-stop-unit';
      /** START. */
      readonly start: boolean;
      /** POWER CONDITION (0: START applies). */
      readonly powerCondition: number;
    }
  | {
      /** REPORT SUPPORTED OPERATION CODES. */
      readonly op: 'report-opcodes';
      /** REPORTING OPTIONS (0..3). */
      readonly options: number;
      /** RCTD: with command timeouts descriptors. */
      readonly timeouts: boolean;
      /** REQUESTED OPERATION CODE. */
      readonly opcode: number;
      /** REQUESTED SERVICE ACTION. */
      readonly serviceAction: number;
      /** ALLOCATION LENGTH. */
      readonly allocation: number;
    };

/**
 * The result of {@link parseCdb}: the command, with the CDB's length, or the sense to answer.
 * @example `const r = parseCdb(cdb); if ('sense' in r) return checkCondition(r.sense);`
 */
export type ParsedCdb =
  | {
      /** The command. */
      readonly command: Command;
      /** The CDB's length (6, 10, 12 or 16). */
      readonly length: number;
    }
  | {
      /** The condition to report. */
      readonly sense: Sense;
    };

/**
 * The CDB length an opcode's group implies (SPC-4 §4.2.5.1), or 0 for the groups with no fixed
 * length (reserved, variable-length and vendor-specific).
 * @param opcode - the operation code.
 * @returns 6, 10, 12, 16 or 0.
 * @example `cdbLength(0x28) === 10`
 */
export function cdbLength(opcode: number): number {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0;
  }
}

const byOpcode = new Map<number, SupportedCommand>(SUPPORTED_COMMANDS.map((c) => [c.opcode, c]));

/**
 * Looks a command up as REPORT SUPPORTED OPERATION CODES names it.
 * @param opcode - the operation code.
 * @param serviceAction - its service action, for opcodes that have them.
 * @returns the entry, or undefined when unsupported.
 * @example `findCommand(0x9e, 0x10)` is READ CAPACITY(16)
 */
export function findCommand(opcode: number, serviceAction?: number): SupportedCommand | undefined {
  const c = byOpcode.get(opcode);
  if (c === undefined) return undefined;
  if (c.serviceAction !== undefined && serviceAction !== c.serviceAction) return undefined;
  return c;
}

/**
 * Parses a CDB. Bytes past the command's length are ignored (virtio-scsi pads to `cdb_size`).
 * @param cdb - the CDB bytes (any length, any content).
 * @returns the command, or the sense condition to report.
 * @example
 * ```ts
 * const r = parseCdb(Uint8Array.of(0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0));
 * if ('command' in r && r.command.op === 'read') console.log(r.command.lba); // 8
 * ```
 */
export function parseCdb(cdb: Uint8Array): ParsedCdb {
  if (cdb.length === 0) return { sense: senses.invalidOpcode };
  const opcode = cdb[0]!;
  const entry = byOpcode.get(opcode);
  if (entry === undefined) return { sense: senses.invalidOpcode };
  const length = entry.usage.length;
  if (cdb.length < length) return { sense: invalidCdbField(0) };
  if (entry.serviceAction !== undefined && (cdb[1]! & 0x1f) !== entry.serviceAction) return { sense: invalidCdbField(1, 4) };
  // Bits the command does not use must be zero: reserved, and NACA/LINK in the control byte.
  for (let i = 1; i < length - 1; i++) {
    const stray = cdb[i]! & ~entry.usage[i]!;
    if (stray !== 0) return { sense: invalidCdbField(i, 31 - Math.clz32(stray)) };
  }
  const control = cdb[length - 1]!;
  if ((control & 0x04) !== 0) return { sense: invalidCdbField(length - 1, 2) };
  if ((control & 0x01) !== 0) return { sense: invalidCdbField(length - 1, 0) };
  const command = decode(opcode, cdb);
  return 'op' in command ? { command, length } : { sense: command };
}

const be16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const be32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const be64 = (b: Uint8Array, at: number) => be32(b, at) * 0x1_0000_0000 + be32(b, at + 4);

/** Field decoding once the reserved bits are known to be clear. */
function decode(opcode: number, c: Uint8Array): Command | Sense {
  switch (opcode) {
    case Opcode.TEST_UNIT_READY:
      return { op: 'test-unit-ready' };
    case Opcode.REQUEST_SENSE:
      return { op: 'request-sense', descriptor: (c[1]! & 1) !== 0, allocation: c[4]! };
    case Opcode.INQUIRY: {
      const evpd = (c[1]! & 1) !== 0;
      if (!evpd && c[2] !== 0) return invalidCdbField(2);
      return { op: 'inquiry', evpd, page: c[2]!, allocation: be16(c, 3) };
    }
    case Opcode.REPORT_LUNS: {
      // SPC-4 §6.33: 00h, 01h, 02h; an allocation length below 16 is an error.
      if (c[2]! > 2) return invalidCdbField(2);
      const allocation = be32(c, 6);
      if (allocation < 16) return invalidCdbField(6);
      return { op: 'report-luns', select: c[2]!, allocation };
    }
    case Opcode.READ_CAPACITY_10:
      return { op: 'read-capacity-10' };
    case Opcode.SERVICE_ACTION_IN_16:
      return { op: 'read-capacity-16', allocation: be32(c, 10) };
    case Opcode.READ_6:
    case Opcode.WRITE_6:
      // SBC-3 §5.16: a transfer length of 0 means 256 blocks.
      return { op: opcode === Opcode.READ_6 ? 'read' : 'write', lba: ((c[1]! & 0x1f) << 16) | be16(c, 2), blocks: c[4] === 0 ? 256 : c[4]!, fua: false };
    case Opcode.READ_10:
    case Opcode.WRITE_10:
      return { op: opcode === Opcode.READ_10 ? 'read' : 'write', lba: be32(c, 2), blocks: be16(c, 7), fua: (c[1]! & 0x08) !== 0 };
    case Opcode.READ_12:
    case Opcode.WRITE_12:
      return { op: opcode === Opcode.READ_12 ? 'read' : 'write', lba: be32(c, 2), blocks: be32(c, 6), fua: (c[1]! & 0x08) !== 0 };
    case Opcode.READ_16:
    case Opcode.WRITE_16:
      return { op: opcode === Opcode.READ_16 ? 'read' : 'write', lba: be64(c, 2), blocks: be32(c, 10), fua: (c[1]! & 0x08) !== 0 };
    case Opcode.VERIFY_10:
    case Opcode.VERIFY_16: {
      const byteCheck = (c[1]! >> 1) & 3;
      if (byteCheck === 2) return invalidCdbField(1, 2);
      return opcode === Opcode.VERIFY_10 ? { op: 'verify', lba: be32(c, 2), blocks: be16(c, 7), byteCheck } : { op: 'verify', lba: be64(c, 2), blocks: be32(c, 10), byteCheck };
    }
    case Opcode.SYNCHRONIZE_CACHE_10:
      return { op: 'synchronize-cache', lba: be32(c, 2), blocks: be16(c, 7) };
    case Opcode.SYNCHRONIZE_CACHE_16:
      return { op: 'synchronize-cache', lba: be64(c, 2), blocks: be32(c, 10) };
    case Opcode.WRITE_SAME_10:
      return { op: 'write-same', lba: be32(c, 2), blocks: be16(c, 7), unmap: (c[1]! & 0x08) !== 0, noDataOut: false, blocksByte: 7 };
    case Opcode.WRITE_SAME_16:
      return { op: 'write-same', lba: be64(c, 2), blocks: be32(c, 10), unmap: (c[1]! & 0x08) !== 0, noDataOut: (c[1]! & 0x01) !== 0, blocksByte: 10 };
    case Opcode.UNMAP:
      return { op: 'unmap', parameterLength: be16(c, 7) };
    case Opcode.MODE_SENSE_6:
    case Opcode.MODE_SENSE_10: {
      const ten = opcode === Opcode.MODE_SENSE_10;
      return { op: 'mode-sense', ten, dbd: (c[1]! & 0x08) !== 0, llbaa: ten && (c[1]! & 0x10) !== 0, control: c[2]! >> 6, page: c[2]! & 0x3f, subpage: c[3]!, allocation: ten ? be16(c, 7) : c[4]! };
    }
    case Opcode.MODE_SELECT_6:
    case Opcode.MODE_SELECT_10: {
      // SP (save pages): the target has no saved parameters.
      if ((c[1]! & 0x01) !== 0) return invalidCdbField(1, 0);
      const ten = opcode === Opcode.MODE_SELECT_10;
      return { op: 'mode-select', ten, parameterLength: ten ? be16(c, 7) : c[4]! };
    }
    case Opcode.START_STOP_UNIT:
      return { op: 'start-stop-unit', start: (c[4]! & 0x01) !== 0, powerCondition: c[4]! >> 4 };
    default: {
      // MAINTENANCE IN / REPORT SUPPORTED OPERATION CODES: options 0 (all), 1, 2, 3 (one).
      const options = c[2]! & 0x07;
      if (options > 3) return invalidCdbField(2, 2);
      return { op: 'report-opcodes', options, timeouts: (c[2]! & 0x80) !== 0, opcode: c[3]!, serviceAction: be16(c, 4), allocation: be32(c, 6) };
    }
  }
}
