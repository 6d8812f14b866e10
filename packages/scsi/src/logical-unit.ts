/**
 * {@link LogicalUnit}: one SCSI direct-access block device (SBC-3) over a @vmv/block
 * `BlockBackend`, 512-byte logical blocks. Executes parsed CDBs: reads, writes, verify, write
 * same (with UNMAP), UNMAP, synchronize cache, capacity, INQUIRY and VPD pages, mode pages,
 * REQUEST SENSE, START STOP UNIT, REPORT SUPPORTED OPERATION CODES; keeps the unit's unit
 * attention conditions (SPC-4 §5.14) and mode state. A backend failure is a MEDIUM ERROR; a write
 * to a read-only unit is DATA PROTECT; nothing a CDB says throws. Served to a guest through
 * virtio-scsi's request queues (VIRTIO 1.2 §5.6.6.1) by way of {@link ScsiBus}.
 * @module
 */
import type { BlockBackend } from '@vmv/block';
import { SUPPORTED_COMMANDS, findCommand } from './cdb.js';
import type { Command } from './cdb.js';
import { BLOCK_SIZE, Opcode, ScsiStatus } from './constants.js';
import { standardInquiry, vpdPage } from './inquiry.js';
import type { UnitIdentity, UnitLimits } from './inquiry.js';
import { modeSelect, modeSense } from './mode.js';
import type { ModeState } from './mode.js';
import { encodeSense, invalidCdbField, invalidParameterField, senses } from './sense.js';
import type { Sense } from './sense.js';

/**
 * A command for a logical unit, as a transport hands it over.
 * @example `const r: ScsiRequest = { cdb, dataOut: [bytes], dataInLength: 0 };`
 */
export interface ScsiRequest {
  /** The CDB (any length; bytes past the command's length are ignored). */
  readonly cdb: Uint8Array;
  /** Data-out buffers, in order (views of the guest's buffers: used before the promise settles). */
  readonly dataOut: readonly Uint8Array[];
  /** Room for data-in, in bytes. */
  readonly dataInLength: number;
  /**
   * Where a read puts its data, instead of a new array returned in `data`: called at most once,
   * after the command is checked, with the byte count (at most `dataInLength`); returns buffers of
   * exactly that many bytes in all (the guest's own, or a transport's bounce buffer), which the
   * backend reads into. The result then has `placed` set and `data` null. Buffers of another total
   * length, or a callback that throws, make the unit read into a new array as without it.
   */
  readonly dataInTarget?: (length: number) => readonly Uint8Array[];
}

/**
 * The outcome of a command. `overrun`: the CDB asks for more data than the buffers hold
 * (virtio-scsi's VIRTIO_SCSI_S_OVERRUN), nothing was done.
 * @example `if (r.status === ScsiStatus.CHECK_CONDITION) console.log(r.sense);`
 */
export interface ScsiResult {
  /** GOOD or CHECK CONDITION. */
  readonly status: ScsiStatus;
  /** Sense data of a CHECK CONDITION, in the unit's format; else null. */
  readonly sense: Uint8Array | null;
  /** Data-in (at most `dataInLength` bytes), or null. */
  readonly data: Uint8Array | null;
  /** Data-in bytes already in the buffers `request.dataInTarget` gave (a read); absent or 0 otherwise. */
  readonly placed?: number;
  /** Data-out bytes the command consumed. */
  readonly dataOutUsed: number;
  /** The buffers are too small for what the CDB asks: nothing was done. */
  readonly overrun: boolean;
}

/**
 * Options of a logical unit ({@link ScsiBus.add}).
 * @example `bus.add(0, 0, { backend: new MemoryBackend({ size: 1 << 20 }), solidState: true })`
 */
export interface LogicalUnitOptions {
  /** The storage (any @vmv/block backend); its `size` is the capacity, a multiple of 512. */
  readonly backend: BlockBackend;
  /** Refuse writes (DATA PROTECT, WP in mode sense) even if the backend takes them. Default: the backend's `readOnly`. */
  readonly readOnly?: boolean;
  /** Report a non-rotating medium (VPD B1h rotation rate 1). Default false. */
  readonly solidState?: boolean;
  /** Unit serial number (VPD 80h, 83h). Default `vmv-<target>-<lun>`. */
  readonly serial?: string;
  /** INQUIRY vendor (8 characters). Default `VMV`. */
  readonly vendor?: string;
  /** INQUIRY product (16 characters). Default `VIRTUAL DISK`. */
  readonly product?: string;
  /** INQUIRY revision (4 characters). Default `1.0`. */
  readonly revision?: string;
  /** Write cache enabled at start and as the default (caching page WCE). Default true. */
  readonly writeCache?: boolean;
  /** Most blocks per read or write (VPD B0h). Default 65535. */
  readonly maxTransferBlocks?: number;
  /** Most blocks per UNMAP (VPD B0h). Default 4194303. */
  readonly maxUnmapBlocks?: number;
  /** Most descriptors per UNMAP (VPD B0h). Default 256. */
  readonly maxUnmapDescriptors?: number;
  /** Most blocks per WRITE SAME (VPD B0h). Default 4194303. */
  readonly maxWriteSameBlocks?: number;
}

const LIMIT_MAX = 0xffff_ffff;
/** WRITE SAME writes its pattern through a buffer of at most this many bytes. */
const PATTERN_CHUNK = 1 << 20;
const NO_DATA = new Uint8Array(0);

/**
 * One logical unit. Created by {@link ScsiBus.add}; its state is readable here.
 * @example
 * ```ts
 * const unit = bus.add(0, 0, { backend });
 * console.log(unit.capacity, unit.writeCache);
 * ```
 */
export class LogicalUnit {
  /** The backend. */
  readonly backend: BlockBackend;
  /** Writes are refused. */
  readonly readOnly: boolean;
  /** What INQUIRY reports. */
  readonly identity: UnitIdentity;
  /** What the block limits and provisioning pages report. */
  readonly limits: UnitLimits;
  private blocks: number;
  private readonly mode: ModeState;
  private readonly defaults: ModeState;
  private readonly attentions: Sense[] = [];
  private stopped = false;

  /**
   * @param options - the backend and what to report.
   * @param serial - the default serial number.
   * @throws TypeError for a backend without read, write and flush; RangeError for bad limits.
   */
  constructor(options: LogicalUnitOptions, serial: string) {
    const b = options?.backend;
    if (b === null || typeof b !== 'object' || typeof b.read !== 'function' || typeof b.write !== 'function' || typeof b.flush !== 'function') {
      throw new TypeError('LogicalUnit: backend must implement read, write and flush');
    }
    this.backend = b;
    this.blocks = capacityOf(b.size, 'LogicalUnit: backend.size');
    this.readOnly = options.readOnly ?? b.readOnly === true;
    this.identity = {
      vendor: options.vendor ?? 'VMV',
      product: options.product ?? 'VIRTUAL DISK',
      revision: options.revision ?? '1.0',
      serial: options.serial ?? serial,
    };
    this.limits = {
      maxTransferBlocks: limit('maxTransferBlocks', options.maxTransferBlocks ?? 65535),
      unmap: !this.readOnly && typeof b.discard === 'function',
      maxUnmapBlocks: limit('maxUnmapBlocks', options.maxUnmapBlocks ?? 0x3fffff),
      maxUnmapDescriptors: limit('maxUnmapDescriptors', options.maxUnmapDescriptors ?? 256),
      maxWriteSameBlocks: limit('maxWriteSameBlocks', options.maxWriteSameBlocks ?? 0x3fffff),
      solidState: options.solidState === true,
    };
    const writeCache = options.writeCache ?? true;
    this.mode = { writeCache, descriptorSense: false };
    this.defaults = { writeCache, descriptorSense: false };
    this.attentions.push(senses.powerOnReset);
  }

  /** Capacity in logical blocks. */
  get capacity(): number {
    return this.blocks;
  }

  /** The caching page's WCE, as the initiator last set it. */
  get writeCache(): boolean {
    return this.mode.writeCache;
  }

  /** Sense data in descriptor format (the control page's D_SENSE). */
  get descriptorSense(): boolean {
    return this.mode.descriptorSense;
  }

  /** Unit attention conditions not yet reported, oldest first. */
  get pendingAttentions(): readonly Sense[] {
    return this.attentions;
  }

  /**
   * Re-reads the capacity (after the backend grew or shrank) and raises CAPACITY DATA HAS CHANGED.
   * @param blocks - the new capacity, at most the backend's size; default: the backend's size.
   * @returns whether the capacity changed.
   * @throws RangeError for a capacity beyond the backend.
   * @example `unit.resize()`
   */
  resize(blocks?: number): boolean {
    const max = capacityOf(this.backend.size, 'LogicalUnit.resize: backend.size');
    const next = blocks ?? max;
    if (!Number.isSafeInteger(next) || next < 0 || next > max) throw new RangeError(`LogicalUnit.resize: capacity must be an integer in 0..${max} blocks, got ${String(blocks)}`);
    if (next === this.blocks) return false;
    this.blocks = next;
    this.attend(senses.capacityChanged);
    return true;
  }

  /**
   * Queues a unit attention condition (once: a condition already pending is not repeated).
   * @param sense - a UNIT ATTENTION condition.
   * @example `unit.attend(senses.busDeviceReset)`
   */
  attend(sense: Sense): void {
    if (!this.attentions.some((s) => s.asc === sense.asc && s.ascq === sense.ascq)) this.attentions.push(sense);
  }

  /**
   * Takes the oldest unit attention, if any (it is then reported).
   * @returns it, or undefined.
   * @example `const ua = unit.takeAttention();`
   */
  takeAttention(): Sense | undefined {
    return this.attentions.shift();
  }

  /**
   * Drops a pending unit attention without reporting it (REPORT LUNS clears REPORTED LUNS DATA
   * HAS CHANGED, SPC-4 §6.33).
   * @param sense - the condition.
   * @example `unit.clearAttention(senses.lunsChanged)`
   */
  clearAttention(sense: Sense): void {
    const i = this.attentions.findIndex((s) => s.asc === sense.asc && s.ascq === sense.ascq);
    if (i >= 0) this.attentions.splice(i, 1);
  }

  /**
   * Whether the unit answers an opcode (UNMAP only with a backend that discards).
   * @param opcode - the operation code.
   * @returns true when supported.
   * @example `unit.supports(0x42)`
   */
  supports(opcode: number): boolean {
    return opcode !== Opcode.UNMAP || this.limits.unmap;
  }

  /**
   * A CHECK CONDITION result in this unit's sense format.
   * @param sense - the condition.
   * @returns the result.
   * @example `unit.check(senses.lbaOutOfRange)`
   */
  check(sense: Sense): ScsiResult {
    return { status: ScsiStatus.CHECK_CONDITION, sense: encodeSense(sense, this.mode.descriptorSense), data: null, dataOutUsed: 0, overrun: false };
  }

  /**
   * Executes a parsed command (unit attentions and REPORT LUNS are the bus's business).
   * @param cmd - the command.
   * @param request - the buffers.
   * @returns the result; never rejects.
   * @example `await unit.execute({ op: 'test-unit-ready' }, request)`
   */
  async execute(cmd: Exclude<Command, { op: 'report-luns' }>, request: ScsiRequest): Promise<ScsiResult> {
    if (!this.supports(request.cdb[0]!)) return this.check(senses.invalidOpcode);
    switch (cmd.op) {
      case 'test-unit-ready':
        return this.stopped ? this.check(senses.notReadyStopped) : GOOD;
      case 'request-sense': {
        const s = this.takeAttention() ?? senses.noSense;
        return dataIn(encodeSense(s, cmd.descriptor), cmd.allocation, request);
      }
      case 'inquiry':
        if (!cmd.evpd) return dataIn(standardInquiry(this.identity, true), cmd.allocation, request);
        {
          const page = vpdPage(cmd.page, this.identity, this.limits);
          return page === null ? this.check(invalidCdbField(2)) : dataIn(page, cmd.allocation, request);
        }
      case 'read-capacity-10': {
        const b = new Uint8Array(8);
        const v = new DataView(b.buffer);
        v.setUint32(0, Math.min(Math.max(this.blocks - 1, 0), LIMIT_MAX));
        v.setUint32(4, BLOCK_SIZE);
        return dataIn(b, 8, request);
      }
      case 'read-capacity-16': {
        const b = new Uint8Array(32);
        const v = new DataView(b.buffer);
        const last = Math.max(this.blocks - 1, 0);
        v.setUint32(0, Math.floor(last / 0x1_0000_0000));
        v.setUint32(4, last >>> 0);
        v.setUint32(8, BLOCK_SIZE);
        if (this.limits.unmap) b[14] = 0x80; // LBPME
        return dataIn(b, cmd.allocation, request);
      }
      case 'mode-sense': {
        const r = modeSense(cmd, this.mode, this.defaults, this.blocks, this.readOnly);
        return r instanceof Uint8Array ? dataIn(r, cmd.allocation, request) : this.check(r);
      }
      case 'mode-select': {
        const params = gather(request.dataOut, cmd.parameterLength);
        if (params === null) return OVERRUN;
        const s = modeSelect(params, cmd.ten, this.mode);
        return s === null ? { ...GOOD, dataOutUsed: cmd.parameterLength } : this.check(s);
      }
      case 'start-stop-unit':
        if (cmd.powerCondition === 0) this.stopped = !cmd.start;
        return GOOD;
      case 'report-opcodes':
        return this.reportOpcodes(cmd, request);
      default:
        return this.media(cmd, request);
    }
  }

  /** Commands that touch the medium: not while stopped, and only within the capacity. */
  private async media(cmd: Extract<Command, { op: 'read' | 'write' | 'verify' | 'write-same' | 'unmap' | 'synchronize-cache' }>, request: ScsiRequest): Promise<ScsiResult> {
    if (this.stopped) return this.check(senses.notReadyStopped);
    const capacity = this.blocks;
    if (cmd.op === 'unmap') return this.unmap(cmd.parameterLength, request, capacity);
    // The LBA must exist even for 0 blocks (SYNCHRONIZE CACHE: "to the end of the medium").
    if (cmd.lba >= capacity || cmd.lba + cmd.blocks > capacity) return this.check(senses.lbaOutOfRange);
    const offset = cmd.lba * BLOCK_SIZE;
    const bytes = cmd.blocks * BLOCK_SIZE;
    switch (cmd.op) {
      case 'read': {
        if (cmd.blocks > this.limits.maxTransferBlocks) return this.check(invalidCdbField(transferLengthByte(request.cdb[0]!)));
        if (bytes > request.dataInLength) return OVERRUN;
        if (bytes === 0) return GOOD;
        const into = target(request, bytes);
        const data = into === null ? new Uint8Array(bytes) : null;
        if (!(await attempt(() => this.backend.read(offset, into ?? [data!])))) return this.check({ ...senses.unrecoveredReadError, information: cmd.lba });
        return into === null ? { ...GOOD, data } : { ...GOOD, placed: bytes };
      }
      case 'write': {
        if (this.readOnly) return this.check(senses.writeProtected);
        if (cmd.blocks > this.limits.maxTransferBlocks) return this.check(invalidCdbField(transferLengthByte(request.cdb[0]!)));
        const views = slice(request.dataOut, bytes);
        if (views === null) return OVERRUN;
        if (bytes === 0) return GOOD;
        const ok = (await attempt(() => this.backend.write(offset, views))) && (!(cmd.fua || !this.mode.writeCache) || (await attempt(() => this.backend.flush())));
        return ok ? { ...GOOD, dataOutUsed: bytes } : this.check({ ...senses.writeError, information: cmd.lba });
      }
      case 'verify':
        return this.verify(cmd, request, offset, bytes);
      case 'write-same':
        return this.writeSame(cmd, request, offset, bytes);
      default:
        return (await attempt(() => this.backend.flush())) ? GOOD : this.check(senses.writeError);
    }
  }

  private async verify(cmd: Extract<Command, { op: 'verify' }>, request: ScsiRequest, offset: number, bytes: number): Promise<ScsiResult> {
    if (cmd.byteCheck === 0 || bytes === 0) return GOOD;
    // The medium is read into memory to compare: bounded like a read.
    if (cmd.blocks > this.limits.maxTransferBlocks) return this.check(invalidCdbField(request.cdb[0] === Opcode.VERIFY_16 ? 10 : 7));
    const expected = gather(request.dataOut, cmd.byteCheck === 1 ? bytes : BLOCK_SIZE);
    if (expected === null) return OVERRUN;
    const medium = new Uint8Array(bytes);
    if (!(await attempt(() => this.backend.read(offset, [medium])))) return this.check({ ...senses.unrecoveredReadError, information: cmd.lba });
    for (let i = 0; i < bytes; i++) {
      const want = cmd.byteCheck === 1 ? expected[i]! : expected[i % BLOCK_SIZE]!;
      if (medium[i] !== want) return this.check({ ...senses.miscompare, information: i });
    }
    return { ...GOOD, dataOutUsed: expected.length };
  }

  private async writeSame(cmd: Extract<Command, { op: 'write-same' }>, request: ScsiRequest, offset: number, bytes: number): Promise<ScsiResult> {
    if (this.readOnly) return this.check(senses.writeProtected);
    if (cmd.unmap && !this.limits.unmap) return this.check(invalidCdbField(1, 3));
    if (cmd.blocks === 0 || cmd.blocks > this.limits.maxWriteSameBlocks) return this.check(invalidCdbField(cmd.blocksByte));
    const block = cmd.noDataOut ? new Uint8Array(BLOCK_SIZE) : gather(request.dataOut, BLOCK_SIZE);
    if (block === null) return OVERRUN;
    const used = cmd.noDataOut ? 0 : BLOCK_SIZE;
    const b = this.backend;
    const run = async () => {
      if (block.every((x) => x === 0)) {
        // Zeroes: the backend may punch a hole when the initiator allows unmapping.
        if (typeof b.writeZeroes === 'function') return b.writeZeroes(offset, bytes, cmd.unmap);
        if (cmd.unmap && typeof b.discard === 'function' && b.canUnmap === true) return b.discard(offset, bytes);
      }
      const chunk = new Uint8Array(Math.min(bytes, PATTERN_CHUNK));
      for (let at = 0; at < chunk.length; at += BLOCK_SIZE) chunk.set(block, at);
      for (let at = 0; at < bytes; at += chunk.length) await b.write(offset + at, [chunk.subarray(0, Math.min(chunk.length, bytes - at))]);
    };
    const ok = (await attempt(run)) && (this.mode.writeCache || (await attempt(() => b.flush())));
    return ok ? { ...GOOD, dataOutUsed: used } : this.check({ ...senses.writeError, information: cmd.lba });
  }

  /** UNMAP (SBC-3 §5.28): the whole parameter list is checked before any range is discarded. */
  private async unmap(length: number, request: ScsiRequest, capacity: number): Promise<ScsiResult> {
    if (this.readOnly) return this.check(senses.writeProtected);
    if (length === 0) return GOOD;
    if (length < 8) return this.check(senses.parameterListLength);
    const params = gather(request.dataOut, length);
    if (params === null) return OVERRUN;
    const v = new DataView(params.buffer);
    const count = Math.floor(Math.min(v.getUint16(2), length - 8) / 16);
    if (count > this.limits.maxUnmapDescriptors) return this.check(invalidParameterField(2));
    const ranges: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      const at = 8 + 16 * i;
      const lba = v.getUint32(at) * 0x1_0000_0000 + v.getUint32(at + 4);
      const blocks = v.getUint32(at + 8);
      if (lba > capacity || lba + blocks > capacity) return this.check(senses.lbaOutOfRange);
      if (blocks > this.limits.maxUnmapBlocks) return this.check(invalidParameterField(at + 8));
      if (blocks > 0) ranges.push([lba * BLOCK_SIZE, blocks * BLOCK_SIZE]);
    }
    for (const [offset, bytes] of ranges) {
      if (!(await attempt(() => this.backend.discard!(offset, bytes)))) return this.check({ ...senses.writeError, information: offset / BLOCK_SIZE });
    }
    return { ...GOOD, dataOutUsed: length };
  }

  /** REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35). */
  private reportOpcodes(cmd: Extract<Command, { op: 'report-opcodes' }>, request: ScsiRequest): ScsiResult {
    const timeouts = cmd.timeouts ? 12 : 0;
    const supported = SUPPORTED_COMMANDS.filter((c) => this.supports(c.opcode));
    if (cmd.options === 0) {
      const b = new Uint8Array(4 + supported.length * (8 + timeouts));
      const v = new DataView(b.buffer);
      v.setUint32(0, b.length - 4);
      let at = 4;
      for (const c of supported) {
        b[at] = c.opcode;
        v.setUint16(at + 2, c.serviceAction ?? 0);
        b[at + 5] = (c.serviceAction !== undefined ? 0x01 : 0) | (timeouts ? 0x02 : 0);
        v.setUint16(at + 6, c.usage.length);
        if (timeouts) v.setUint16(at + 8, 0x0a);
        at += 8 + timeouts;
      }
      return dataIn(b, cmd.allocation, request);
    }
    const anyAction = SUPPORTED_COMMANDS.find((c) => c.opcode === cmd.opcode);
    const hasActions = anyAction?.serviceAction !== undefined;
    if (cmd.options === 1 && hasActions) return this.check(invalidCdbField(2, 2));
    if (cmd.options === 2 && anyAction !== undefined && !hasActions) return this.check(invalidCdbField(2, 2));
    const entry = this.supports(cmd.opcode) ? findCommand(cmd.opcode, hasActions ? cmd.serviceAction : undefined) : undefined;
    const usage = entry?.usage ?? NO_DATA;
    const b = new Uint8Array(4 + usage.length + (entry && timeouts ? timeouts : 0));
    b[1] = (entry ? 0x03 : 0x01) | (entry && timeouts ? 0x80 : 0);
    b[2] = usage.length >> 8;
    b[3] = usage.length & 0xff;
    b.set(usage, 4);
    if (entry && timeouts) b[4 + usage.length + 1] = 0x0a;
    return dataIn(b, cmd.allocation, request);
  }
}

const GOOD: ScsiResult = { status: ScsiStatus.GOOD, sense: null, data: null, dataOutUsed: 0, overrun: false };
const OVERRUN: ScsiResult = { ...GOOD, overrun: true };

/**
 * Data-in of an allocation-length command: the answer cut to the allocation length; an overrun
 * when that still does not fit the buffers.
 * @param answer - the full answer.
 * @param allocation - the CDB's allocation length.
 * @param request - the buffers.
 * @returns the result.
 * @example `dataIn(page, cmd.allocation, request)`
 */
export function dataIn(answer: Uint8Array, allocation: number, request: ScsiRequest): ScsiResult {
  const n = Math.min(answer.length, allocation);
  if (n > request.dataInLength) return OVERRUN;
  return { ...GOOD, data: answer.subarray(0, n) };
}

/** The first `length` bytes of `views`, copied; null when they hold fewer (checked before allocating). */
function gather(views: readonly Uint8Array[], length: number): Uint8Array | null {
  let available = 0;
  for (const v of views) available += v.length;
  if (available < length) return null;
  const out = new Uint8Array(length);
  let at = 0;
  for (const v of views) {
    if (at === length) break;
    const n = Math.min(v.length, length - at);
    out.set(v.subarray(0, n), at);
    at += n;
  }
  return at === length ? out : null;
}

/** The buffers `request.dataInTarget` gives for `length` bytes; null without one, or when it fails or miscounts. */
function target(request: ScsiRequest, length: number): readonly Uint8Array[] | null {
  if (request.dataInTarget === undefined) return null;
  let views: readonly Uint8Array[];
  try {
    views = request.dataInTarget(length);
  } catch {
    return null;
  }
  if (!Array.isArray(views)) return null;
  let total = 0;
  for (const v of views) {
    if (!(v instanceof Uint8Array)) return null;
    total += v.length;
  }
  return total === length ? views : null;
}

/** Views of the first `length` bytes of `views` (no copy); null when they hold fewer. */
function slice(views: readonly Uint8Array[], length: number): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const v of views) {
    if (at === length) break;
    const n = Math.min(v.length, length - at);
    out.push(n === v.length ? v : v.subarray(0, n));
    at += n;
  }
  return at === length ? out : null;
}

/** Runs a backend call; false when it throws or rejects. */
async function attempt(op: () => void | Promise<void>): Promise<boolean> {
  try {
    await op();
    return true;
  } catch {
    return false;
  }
}

function capacityOf(size: unknown, what: string): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size % BLOCK_SIZE !== 0) throw new RangeError(`${what} must be a non-negative multiple of ${BLOCK_SIZE}, got ${String(size)}`);
  return size / BLOCK_SIZE;
}

function limit(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > LIMIT_MAX) throw new RangeError(`LogicalUnit: ${what} must be an integer in 1..${LIMIT_MAX}, got ${n}`);
  return n;
}

/** Where a read or write CDB keeps its transfer length. */
function transferLengthByte(opcode: number): number {
  return opcode >> 5 === 0 ? 4 : opcode >> 5 === 4 ? 10 : opcode >> 5 === 5 ? 6 : 7;
}
