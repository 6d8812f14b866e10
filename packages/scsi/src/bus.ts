/**
 * {@link ScsiBus}: the SCSI domain a virtio-scsi host serves (VIRTIO 1.2 §5.6: up to 256 targets,
 * 16384 LUNs each), transport-free. Routes a command to its logical unit with SAM-5's rules for
 * what is not there: REPORT LUNS (SPC-4 §6.33) answered for the target, INQUIRY for a missing LUN
 * answered with peripheral qualifier 3, anything else LOGICAL UNIT NOT SUPPORTED; unit attention
 * conditions (SPC-4 §5.14) reported before any command but INQUIRY, REPORT LUNS and REQUEST
 * SENSE. LUNs are added, removed and resized at run time; listeners (the virtio device) hear of
 * it to send TRANSPORT_RESET and PARAM_CHANGE events (§5.6.6.3).
 * @module
 */
import { parseCdb } from './cdb.js';
import { MAX_LUN, MAX_TARGET, Opcode, ScsiStatus } from './constants.js';
import { STANDARD_INQUIRY_SIZE, standardInquiry } from './inquiry.js';
import { LogicalUnit, dataIn } from './logical-unit.js';
import type { LogicalUnitOptions, ScsiRequest, ScsiResult } from './logical-unit.js';
import { encodeSense, senses } from './sense.js';
import type { Sense } from './sense.js';

/**
 * What changed on the bus.
 * @example `bus.subscribe((c) => console.log(c.type, c.target, c.lun));`
 */
export interface BusChange {
  /** A unit added, removed, or its capacity changed. */
  readonly type: 'added' | 'removed' | 'resized';
  /** Its target. */
  readonly target: number;
  /** Its LUN. */
  readonly lun: number;
}

const REPORT_LUNS_HEADER = 8;

/**
 * Targets and logical units.
 * @example
 * ```ts
 * const bus = new ScsiBus();
 * bus.add(0, 0, { backend: new MemoryBackend({ size: 1 << 20 }) });
 * const r = await bus.execute(0, 0, { cdb: Uint8Array.of(0x00, 0, 0, 0, 0, 0), dataOut: [], dataInLength: 0 });
 * ```
 */
export class ScsiBus {
  private readonly units = new Map<number, LogicalUnit>();
  /** Units per target: `hasTarget` is asked for every request. */
  private readonly perTarget = new Map<number, number>();
  private readonly listeners = new Set<(change: BusChange) => void>();

  /**
   * Adds a logical unit; its siblings on the target get REPORTED LUNS DATA HAS CHANGED.
   * @param target - 0..255.
   * @param lun - 0..16383.
   * @param options - the backend and what to report.
   * @returns the unit.
   * @throws RangeError for an address out of range or taken; TypeError for a bad backend.
   * @example `bus.add(0, 1, { backend, readOnly: true })`
   */
  add(target: number, lun: number, options: LogicalUnitOptions): LogicalUnit {
    const key = address(target, lun, 'ScsiBus.add');
    if (this.units.has(key)) throw new RangeError(`ScsiBus.add: target ${target} LUN ${lun} exists`);
    const unit = new LogicalUnit(options, `vmv-${target}-${lun}`);
    this.siblings(target, (u) => u.attend(senses.lunsChanged));
    this.units.set(key, unit);
    this.perTarget.set(target, (this.perTarget.get(target) ?? 0) + 1);
    this.emit({ type: 'added', target, lun });
    return unit;
  }

  /**
   * Removes a logical unit (commands already running on it finish); its siblings get REPORTED
   * LUNS DATA HAS CHANGED.
   * @param target - the target.
   * @param lun - the LUN.
   * @returns whether there was one.
   * @example `bus.remove(0, 1)`
   */
  remove(target: number, lun: number): boolean {
    const key = address(target, lun, 'ScsiBus.remove');
    if (!this.units.delete(key)) return false;
    const left = this.perTarget.get(target)! - 1;
    if (left === 0) this.perTarget.delete(target);
    else this.perTarget.set(target, left);
    this.siblings(target, (u) => u.attend(senses.lunsChanged));
    this.emit({ type: 'removed', target, lun });
    return true;
  }

  /**
   * Re-reads a unit's capacity from its backend (or sets it) and raises CAPACITY DATA HAS CHANGED.
   * @param target - the target.
   * @param lun - the LUN.
   * @param blocks - the new capacity in blocks; default: the backend's size.
   * @returns whether the capacity changed.
   * @throws RangeError when there is no such unit or the capacity exceeds the backend.
   * @example `await file.truncate(2 << 30); bus.resize(0, 0);`
   */
  resize(target: number, lun: number, blocks?: number): boolean {
    const unit = this.units.get(address(target, lun, 'ScsiBus.resize'));
    if (unit === undefined) throw new RangeError(`ScsiBus.resize: no target ${target} LUN ${lun}`);
    if (!unit.resize(blocks)) return false;
    this.emit({ type: 'resized', target, lun });
    return true;
  }

  /**
   * The unit at an address.
   * @param target - the target.
   * @param lun - the LUN.
   * @returns it, or undefined.
   * @example `bus.unit(0, 0)?.capacity`
   */
  unit(target: number, lun: number): LogicalUnit | undefined {
    return this.units.get(target * (MAX_LUN + 1) + lun);
  }

  /**
   * Whether a target has any logical unit (virtio-scsi answers BAD_TARGET otherwise).
   * @param target - the target.
   * @returns true when it has.
   * @example `bus.hasTarget(0)`
   */
  hasTarget(target: number): boolean {
    return this.perTarget.has(target);
  }

  /**
   * A target's LUNs, ascending.
   * @param target - the target.
   * @returns the LUNs.
   * @example `bus.luns(0) // [0, 1]`
   */
  luns(target: number): number[] {
    const out: number[] = [];
    for (const key of this.units.keys()) if (Math.floor(key / (MAX_LUN + 1)) === target) out.push(key % (MAX_LUN + 1));
    return out.sort((a, b) => a - b);
  }

  /**
   * Every unit's address, by target then LUN.
   * @returns `[target, lun]` pairs.
   * @example `for (const [t, l] of bus.addresses()) ...`
   */
  addresses(): [number, number][] {
    return [...this.units.keys()].sort((a, b) => a - b).map((k) => [Math.floor(k / (MAX_LUN + 1)), k % (MAX_LUN + 1)]);
  }

  /**
   * Raises a unit attention on the units of one target (or one unit, or all).
   * @param sense - the condition (POWER ON RESET, BUS DEVICE RESET, I_T NEXUS LOSS...).
   * @param target - only this target (default: every target).
   * @param lun - only this LUN of `target`.
   * @example `bus.attend(senses.busDeviceReset, 0, 1)`
   */
  attend(sense: Sense, target?: number, lun?: number): void {
    for (const [key, unit] of this.units) {
      if (target !== undefined && Math.floor(key / (MAX_LUN + 1)) !== target) continue;
      if (lun !== undefined && key % (MAX_LUN + 1) !== lun) continue;
      unit.attend(sense);
    }
  }

  /**
   * Listens to units added, removed and resized.
   * @param listener - called after each change.
   * @returns a function that stops listening.
   * @example `const stop = bus.subscribe((c) => log(c));`
   */
  subscribe(listener: (change: BusChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Executes a command addressed to a target and LUN of an existing target.
   * @param target - the target (it must have a unit: the transport answers BAD_TARGET otherwise).
   * @param lun - the LUN (it may not exist: SAM-5's answers then).
   * @param request - CDB and buffers.
   * @returns the result; never rejects.
   * @example `await bus.execute(0, 0, { cdb, dataOut: [], dataInLength: 36 })`
   */
  async execute(target: number, lun: number, request: ScsiRequest): Promise<ScsiResult> {
    const unit = this.unit(target, lun);
    const opcode = request.cdb.length > 0 ? request.cdb[0]! : -1;
    if (unit !== undefined && opcode !== Opcode.INQUIRY && opcode !== Opcode.REPORT_LUNS && opcode !== Opcode.REQUEST_SENSE) {
      const attention = unit.takeAttention();
      if (attention !== undefined) return unit.check(attention);
    }
    const parsed = parseCdb(request.cdb);
    if ('sense' in parsed) return unit !== undefined ? unit.check(parsed.sense) : checkFixed(parsed.sense);
    const cmd = parsed.command;
    if (cmd.op === 'report-luns') {
      unit?.clearAttention(senses.lunsChanged);
      return dataIn(this.reportLuns(target), cmd.allocation, request);
    }
    if (unit !== undefined) return unit.execute(cmd, request);
    if (cmd.op === 'inquiry' && !cmd.evpd) return dataIn(standardInquiry({ vendor: '', product: '', revision: '', serial: '' }, false).subarray(0, STANDARD_INQUIRY_SIZE), cmd.allocation, request);
    if (cmd.op === 'request-sense') return dataIn(encodeSense(senses.lunNotSupported, cmd.descriptor), cmd.allocation, request);
    return checkFixed(senses.lunNotSupported);
  }

  /** REPORT LUNS parameter data: single-level LUNs, peripheral (< 256) or flat space addressing. */
  private reportLuns(target: number): Uint8Array {
    const luns = this.luns(target);
    const b = new Uint8Array(REPORT_LUNS_HEADER + 8 * luns.length);
    new DataView(b.buffer).setUint32(0, 8 * luns.length);
    luns.forEach((lun, i) => {
      const at = REPORT_LUNS_HEADER + 8 * i;
      b[at] = lun < 256 ? 0 : 0x40 | (lun >> 8);
      b[at + 1] = lun & 0xff;
    });
    return b;
  }

  private siblings(target: number, f: (u: LogicalUnit) => void): void {
    for (const [key, unit] of this.units) if (Math.floor(key / (MAX_LUN + 1)) === target) f(unit);
  }

  private emit(change: BusChange): void {
    for (const l of [...this.listeners]) l(change);
  }
}

function checkFixed(sense: Sense): ScsiResult {
  return { status: ScsiStatus.CHECK_CONDITION, sense: encodeSense(sense, false), data: null, dataOutUsed: 0, overrun: false };
}

function address(target: number, lun: number, what: string): number {
  if (!Number.isInteger(target) || target < 0 || target > MAX_TARGET) throw new RangeError(`${what}: target must be an integer in 0..${MAX_TARGET}, got ${target}`);
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) throw new RangeError(`${what}: lun must be an integer in 0..${MAX_LUN}, got ${lun}`);
  return target * (MAX_LUN + 1) + lun;
}
