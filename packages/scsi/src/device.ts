/**
 * {@link ScsiDevice}: virtio-scsi (VIRTIO 1.2 §5.6) as a transport-independent VirtioDevice over a
 * {@link ScsiBus}. Queues: controlq (0: task management functions and asynchronous notification
 * requests, §5.6.6.2), eventq (1: TRANSPORT_RESET for LUNs added and removed with
 * VIRTIO_SCSI_F_HOTPLUG, PARAM_CHANGE for a resized LUN with VIRTIO_SCSI_F_CHANGE, EVENTS_MISSED
 * when no buffer was there, §5.6.6.3), request queues 2..N+1 (`virtio_scsi_cmd_req` /
 * `virtio_scsi_cmd_resp`, §5.6.6.1), each under its own in-flight budget. Config (§5.6.4) with
 * the writable `sense_size` and `cdb_size`, restored on reset. T10 PI and INOUT are not offered.
 * Whatever a guest sends is answered with a SCSI status or a virtio-scsi response code: a LUN in
 * another format or of no target is BAD_TARGET, a CDB that wants more than the buffers OVERRUN,
 * a request too short for its header FAILURE; a corrupted ring is DEVICE_NEEDS_RESET.
 * A read's data goes through a pooled bounce buffer copied into the guest's buffers when it
 * completes on a live queue, or with `directReads` straight into the guest's buffers.
 * @module
 */
import { ConfigSpace, DeviceId, Feature, InFlightBudget, features, hasFeature, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, DescriptorChain, ServedQueue, VirtioDevice } from '@vmv/device-trait';
import { ScsiBus } from './bus.js';
import type { BusChange } from './bus.js';
import {
  AN_REQ_SIZE,
  AN_RESP_SIZE,
  CDB_SIZE_DEFAULT,
  CMD_REQ_HEADER_SIZE,
  CMD_RESP_HEADER_SIZE,
  ControlType,
  EVENT_SIZE,
  MAX_LUN,
  MAX_TARGET,
  SCSI_CONFIG_SIZE,
  SENSE_SIZE_DEFAULT,
  ScsiConfigOffset as O,
  ScsiEvent,
  ScsiFeature,
  TMF_REQ_SIZE,
  TmfSubtype,
  TransportResetReason,
  VirtioScsiResponse as R,
} from './constants.js';
import type { ScsiResult } from './logical-unit.js';
import { senses } from './sense.js';
import { decodeLun, encodeCommandResponse, encodeEvent } from './wire.js';
import type { LunAddress } from './wire.js';

/**
 * Options of {@link ScsiDevice}.
 * @example `new ScsiDevice({ bus, numQueues: 2, queueSize: 256 })`
 */
export interface ScsiDeviceOptions {
  /** The targets and LUNs served (default: a new, empty bus; add LUNs through `device.bus`). */
  readonly bus?: ScsiBus;
  /** Request queues (`num_queues`, 1..1024). Default 1. */
  readonly numQueues?: number;
  /** Largest size of every queue (2..32768). Default 128. */
  readonly queueSize?: number;
  /** `seg_max` (a hint to the driver). Default queueSize - 2. */
  readonly segMax?: number;
  /** `max_sectors` (a hint to the driver). Default 0xffff. */
  readonly maxSectors?: number;
  /** `cmd_per_lun` (a hint to the driver). Default 128. */
  readonly cmdPerLun?: number;
  /** `max_target` (scan bound). Default 255. */
  readonly maxTarget?: number;
  /** `max_lun` (scan bound). Default 16383. */
  readonly maxLun?: number;
  /** Offer VIRTIO_SCSI_F_HOTPLUG. Default true. */
  readonly hotplug?: boolean;
  /** Offer VIRTIO_SCSI_F_CHANGE. Default true. */
  readonly change?: boolean;
  /** Commands in flight per request queue (1..queueSize). Default queueSize. */
  readonly inFlight?: number;
  /**
   * Reads go straight into the guest's buffers (no copy). A read still running in the backend
   * when the driver resets the device may then land in them after the reset, as in-flight DMA
   * would; use it with backends that keep late data off guest memory themselves (@vmv/vhost-user-blk's
   * SessionSafeBackend, O_DIRECT file backends) or that read synchronously. Default false: a read
   * lands in a pooled bounce buffer, copied into the guest's buffers only when it completes
   * before any reset.
   */
  readonly directReads?: boolean;
}

/** Largest `sense_size` and `cdb_size` a driver may write (QEMU's bounds); others are ignored. */
const MAX_SENSE_SIZE = 0xffff;
const MAX_CDB_SIZE = 0xff;
const CONTROLQ = 0;
const EVENTQ = 1;
const FIRST_REQUESTQ = 2;
/** PARAM_CHANGE reason for a capacity change: ASC 2Ah in bits 0..7, ASCQ 09h in bits 8..15 (§5.6.6.3). */
const CAPACITY_CHANGED_REASON = 0x2a | (0x09 << 8);
/** Bounce buffers are at least this big, kept for reuse up to BOUNCE_KEEP bytes, BOUNCE_POOL of them. */
const BOUNCE_MIN = 64 * 1024;
const BOUNCE_KEEP = 1024 * 1024;
const BOUNCE_POOL = 32;

/** A command between pop and completion: what task management looks for. */
interface Task {
  readonly target: number;
  readonly lun: number;
  readonly id: bigint;
  /** Set by ABORT TASK (ABORTED) or a reset (RESET): the response it completes with. */
  abortedWith: number | null;
  /** Task management functions waiting for this task to complete. */
  waiters: (() => void)[] | null;
}

/**
 * virtio-scsi host over a {@link ScsiBus}.
 * @example
 * ```ts
 * const device = new ScsiDevice({ numQueues: 2 });
 * device.bus.add(0, 0, { backend: new MemoryBackend(64 << 20) });
 * device.bus.add(0, 1, { backend: readOnlyBackend(new MemoryBackend(iso)) });
 * ```
 */
export class ScsiDevice implements VirtioDevice {
  readonly deviceId = DeviceId.SCSI;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = SCSI_CONFIG_SIZE;
  /** The targets and logical units served. */
  readonly bus: ScsiBus;
  /** Request queues. */
  readonly numQueues: number;
  /** Reads go straight into guest buffers ({@link ScsiDeviceOptions.directReads}). */
  readonly directReads: boolean;
  private readonly bounces: Uint8Array[] = [];
  /** Guest memory keeps a dirty-page log: data that lands late must be marked again. */
  private dirtyLogged = false;
  private readonly config = new ConfigSpace(SCSI_CONFIG_SIZE);
  private readonly budgets: InFlightBudget[];
  private readonly controlBudget: InFlightBudget;
  private readonly tasks = new Set<Task>();
  /** drain() callers: resolved when no task matches. */
  private drainWaiters: { readonly matches: (t: Task) => boolean; readonly resolve: () => void }[] = [];
  private ctx: ActivationContext | null = null;
  private eventsMissed = false;

  /**
   * @param options - queues, config hints, features.
   * @throws RangeError for bad options.
   */
  constructor(options: ScsiDeviceOptions = {}) {
    this.bus = options.bus ?? new ScsiBus();
    this.numQueues = int('numQueues', options.numQueues ?? 1, 1, 1024);
    const queueSize = int('queueSize', options.queueSize ?? 128, 2, 32768);
    const inFlight = int('inFlight', options.inFlight ?? queueSize, 1, queueSize);
    this.directReads = options.directReads === true;
    const bits: number[] = [Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC, Feature.RING_PACKED];
    if (options.hotplug !== false) bits.push(ScsiFeature.HOTPLUG);
    if (options.change !== false) bits.push(ScsiFeature.CHANGE);
    this.deviceFeatures = features(...bits);
    this.queueMaxSizes = new Array<number>(FIRST_REQUESTQ + this.numQueues).fill(queueSize);
    this.budgets = Array.from({ length: this.numQueues }, () => new InFlightBudget(inFlight));
    this.controlBudget = new InFlightBudget(queueSize);
    const c = this.config;
    c.setU32(O.NUM_QUEUES, this.numQueues);
    c.setU32(O.SEG_MAX, int('segMax', options.segMax ?? queueSize - 2, 1, 0xffff_ffff));
    c.setU32(O.MAX_SECTORS, int('maxSectors', options.maxSectors ?? 0xffff, 1, 0xffff_ffff));
    c.setU32(O.CMD_PER_LUN, int('cmdPerLun', options.cmdPerLun ?? 128, 1, 0xffff_ffff));
    c.setU32(O.EVENT_INFO_SIZE, EVENT_SIZE);
    c.setU16(O.MAX_CHANNEL, 0);
    c.setU16(O.MAX_TARGET, int('maxTarget', options.maxTarget ?? MAX_TARGET, 0, MAX_TARGET));
    c.setU32(O.MAX_LUN, int('maxLun', options.maxLun ?? MAX_LUN, 0, MAX_LUN));
    c.allowWrite(O.SENSE_SIZE, 4);
    c.allowWrite(O.CDB_SIZE, 4);
    this.restoreSizes();
    this.bus.subscribe(this.onBusChange);
  }

  /** `sense_size` as the driver set it. */
  get senseSize(): number {
    return this.config.getU32(O.SENSE_SIZE);
  }

  /** `cdb_size` as the driver set it. */
  get cdbSize(): number {
    return this.config.getU32(O.CDB_SIZE);
  }

  /** Commands popped and not yet completed, over every request queue. */
  get commandsInFlight(): number {
    return this.tasks.size;
  }

  /**
   * Waits until no command is in flight (those of before a reset included), on every unit or on
   * one (after `bus.remove`, before its backend is closed: commands to others may go on).
   * @param target - only commands to this target.
   * @param lun - only commands to this LUN of `target`.
   * @returns a promise that resolves when those commands have completed.
   * @example `await device.drain(); // then flush the images`
   */
  drain(target?: number, lun?: number): Promise<void> {
    const matches = (t: Task) => (target === undefined || t.target === target) && (lun === undefined || t.lun === lun);
    if (![...this.tasks].some(matches)) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push({ matches, resolve }));
  }

  /**
   * Driver read of the config space.
   * @param offset - byte offset.
   * @param data - destination.
   */
  readConfig(offset: number, data: Uint8Array): void {
    this.config.read(offset, data);
  }

  /**
   * Driver write: `sense_size` and `cdb_size` only; a value beyond 65535 or 255 is ignored.
   * @param offset - byte offset.
   * @param data - the bytes written.
   */
  writeConfig(offset: number, data: Uint8Array): void {
    const sense = this.senseSize;
    const cdb = this.cdbSize;
    if (!this.config.write(offset, data)) return;
    if (this.senseSize > MAX_SENSE_SIZE) this.config.setU32(O.SENSE_SIZE, sense);
    if (this.cdbSize > MAX_CDB_SIZE) this.config.setU32(O.CDB_SIZE, cdb);
  }

  /**
   * DRIVER_OK.
   * @param ctx - the activation.
   */
  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
    this.eventsMissed = false;
    this.dirtyLogged = ctx.memory.regions.some((r) => r.dirtyLog !== null);
  }

  /** The driver reset the device: commands in flight complete unseen, sizes go back to 96 and 32, every unit gets POWER ON RESET. */
  reset(): void {
    this.ctx = null;
    this.eventsMissed = false;
    this.restoreSizes();
    this.bus.attend(senses.powerOnReset);
  }

  /**
   * The driver kicked a queue.
   * @param index - the queue.
   */
  queueNotify(index: number): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    if (index === CONTROLQ) serveQueue(ctx, index, this.control, this.controlBudget);
    else if (index === EVENTQ) this.sendEvent(null);
    else if (index < FIRST_REQUESTQ + this.numQueues) serveQueue(ctx, index, this.command, this.budgets[index - FIRST_REQUESTQ]);
  }

  private restoreSizes(): void {
    this.config.setU32(O.SENSE_SIZE, SENSE_SIZE_DEFAULT);
    this.config.setU32(O.CDB_SIZE, CDB_SIZE_DEFAULT);
  }

  // --- request queues (§5.6.6.1) ---------------------------------------------------------------

  private readonly command: ChainHandler = (chain, served) => {
    const ctx = this.ctx!;
    const cdbSize = this.cdbSize;
    const senseSize = this.senseSize;
    const rd = chain.reader();
    const wr = chain.writer();
    const respSize = CMD_RESP_HEADER_SIZE + senseSize;
    if (rd.remaining < CMD_REQ_HEADER_SIZE + cdbSize || wr.remaining < respSize) return this.failShort(chain, served, wr.remaining);
    const header = rd.readBytes(CMD_REQ_HEADER_SIZE + cdbSize);
    const address = decodeLun(header);
    const dataOutLength = rd.remaining;
    const dataInLength = wr.remaining - respSize;
    // `wr` keeps the response; `dataWr` the data-in after it
    const dataWr = dataInLength > 0 ? wr.split(respSize) : null;
    /** A read's bounce buffer, or null (none, or it read straight into the guest's buffers). */
    let bounce: Uint8Array | null = null;
    const respond = (response: number, result: ScsiResult | null, residual: number) => {
      wr.write(encodeCommandResponse({ residual, statusQualifier: 0, status: result?.status ?? 0, response }, result?.sense ?? null, senseSize));
      let written = respSize;
      const data = result?.data;
      const placed = result?.placed ?? 0;
      if (data && data.length > 0) {
        dataWr!.write(data);
        written += data.length;
      } else if (placed > 0) {
        if (bounce !== null) dataWr!.write(bounce.subarray(0, placed));
        // Straight into guest buffers: marked dirty when their views were taken; a dirty log taken
        // while the read was in flight has lost that, so mark them again now that the data is there.
        else if (this.dirtyLogged) {
          const again = chain.writer();
          again.skip(respSize);
          again.views(placed);
        }
        written += placed;
      }
      served.complete(chain, written);
    };
    if (address === null || !this.bus.hasTarget(address.target)) return respond(R.BAD_TARGET, null, dataOutLength + dataInLength);
    // A bidirectional request without VIRTIO_SCSI_F_INOUT (§5.6.6.1.1).
    if (dataOutLength > 0 && dataInLength > 0) return respond(R.FAILURE, null, dataOutLength + dataInLength);
    const id = new DataView(header.buffer).getBigUint64(8, true);
    const task: Task = { target: address.target, lun: address.lun, id, abortedWith: null, waiters: null };
    this.tasks.add(task);
    const dataInTarget = (length: number): Uint8Array[] => {
      if (this.directReads) {
        try {
          return dataWr!.views(length);
        } catch {
          // guest memory gone bad under the views: read into a bounce buffer, whose copy fails the same way at completion
        }
      }
      bounce = this.takeBounce(length);
      return [bounce.subarray(0, length)];
    };
    const request = { cdb: header.subarray(CMD_REQ_HEADER_SIZE), dataOut: dataOutLength > 0 ? rd.views(dataOutLength) : [], dataInLength, dataInTarget };
    void this.bus.execute(address.target, address.lun, request).then((result) => {
      this.tasks.delete(task);
      if (this.drainWaiters.length > 0) this.wakeDrains();
      try {
        // A reset since: guest memory is not ours any more; the queue drops the completion.
        if (this.ctx !== ctx) served.complete(chain, 0);
        else if (task.abortedWith !== null) respond(task.abortedWith, null, dataOutLength + dataInLength);
        else if (result.overrun) respond(R.OVERRUN, null, dataOutLength + dataInLength);
        else respond(R.OK, result, dataOutLength > 0 ? dataOutLength - result.dataOutUsed : dataInLength - (result.data?.length ?? result.placed ?? 0));
      } catch (error) {
        ctx.needsReset(error); // guest memory gone bad under the response (or a bug): the driver must reset
      } finally {
        if (bounce !== null) this.giveBounce(bounce);
        if (task.waiters !== null) for (const w of task.waiters) w();
      }
    });
  };

  /** A bounce buffer of at least `length` bytes (pooled). */
  private takeBounce(length: number): Uint8Array {
    const b = this.bounces.pop();
    return b !== undefined && b.length >= length ? b : new Uint8Array(length > BOUNCE_MIN ? length : BOUNCE_MIN);
  }

  private giveBounce(b: Uint8Array): void {
    if (b.length <= BOUNCE_KEEP && this.bounces.length < BOUNCE_POOL) this.bounces.push(b);
  }

  /** A request too short for its header: FAILURE when the response header fits, else nothing. */
  private failShort(chain: DescriptorChain, served: ServedQueue, writable: number): void {
    if (writable < CMD_RESP_HEADER_SIZE) return served.complete(chain, 0);
    chain.writer().write(encodeCommandResponse({ residual: 0, statusQualifier: 0, status: 0, response: R.FAILURE }, null, 0));
    served.complete(chain, CMD_RESP_HEADER_SIZE);
  }

  // --- controlq (§5.6.6.2) ---------------------------------------------------------------------

  private readonly control: ChainHandler = (chain, served) => {
    const rd = chain.reader();
    const wr = chain.writer();
    const finish = (response: number, at: number) => {
      if (wr.remaining < at + 1) return served.complete(chain, 0);
      wr.skip(at);
      wr.writeU8(response);
      served.complete(chain, at + 1);
    };
    if (rd.remaining < 4) return finish(R.FAILURE, 0);
    const type = rd.readU32();
    if (type === ControlType.AN_QUERY || type === ControlType.AN_SUBSCRIBE) {
      if (rd.remaining < AN_REQ_SIZE - 4 || wr.remaining < AN_RESP_SIZE) return finish(R.FAILURE, AN_RESP_SIZE - 1);
      const address = decodeLun(rd.readBytes(8));
      // No asynchronous events are reported: event_actual 0 (what QEMU's disks answer too).
      wr.writeU32(0);
      return finish(address === null || !this.bus.hasTarget(address.target) ? R.BAD_TARGET : R.OK, 0);
    }
    if (type !== ControlType.TMF) return finish(R.FAILURE, 0);
    if (rd.remaining < TMF_REQ_SIZE - 4 || wr.remaining < 1) return finish(R.FAILURE, 0);
    const subtype = rd.readU32();
    const address = decodeLun(rd.readBytes(8));
    const id = rd.readU64();
    if (address === null || !this.bus.hasTarget(address.target)) return finish(R.BAD_TARGET, 0);
    const ctx = this.ctx!;
    const done = (response: number) => {
      if (this.ctx !== ctx) return served.complete(chain, 0);
      finish(response, 0);
    };
    this.taskManagement(subtype, address, id, done);
  };

  /** Runs a TMF; `done` is called once every command it ends has completed (§5.6.6.2: "before the TMF itself"). */
  private taskManagement(subtype: number, a: LunAddress, id: bigint, done: (response: number) => void): void {
    const onUnit = (t: Task) => t.target === a.target && t.lun === a.lun;
    switch (subtype) {
      case TmfSubtype.ABORT_TASK:
        return this.end((t) => onUnit(t) && t.id === id, R.ABORTED, () => done(R.FUNCTION_COMPLETE));
      case TmfSubtype.ABORT_TASK_SET:
      case TmfSubtype.CLEAR_TASK_SET:
        return this.end(onUnit, R.ABORTED, () => done(R.FUNCTION_COMPLETE));
      case TmfSubtype.LOGICAL_UNIT_RESET:
        if (this.bus.unit(a.target, a.lun) === undefined) return done(R.INCORRECT_LUN);
        return this.end(onUnit, R.RESET, () => {
          this.bus.attend(senses.busDeviceReset, a.target, a.lun);
          done(R.FUNCTION_COMPLETE);
        });
      case TmfSubtype.I_T_NEXUS_RESET:
        return this.end((t) => t.target === a.target, R.RESET, () => {
          this.bus.attend(senses.nexusLoss, a.target);
          done(R.FUNCTION_COMPLETE);
        });
      case TmfSubtype.QUERY_TASK:
        return done(this.find((t) => onUnit(t) && t.id === id && t.abortedWith === null) ? R.FUNCTION_SUCCEEDED : R.FUNCTION_COMPLETE);
      case TmfSubtype.QUERY_TASK_SET:
        return done(this.find((t) => onUnit(t) && t.abortedWith === null) ? R.FUNCTION_SUCCEEDED : R.FUNCTION_COMPLETE);
      default:
        // CLEAR ACA (NACA is not supported) and anything unknown.
        return done(R.FUNCTION_REJECTED);
    }
  }

  private find(match: (t: Task) => boolean): boolean {
    for (const t of this.tasks) if (match(t)) return true;
    return false;
  }

  /** Marks the matching commands to complete with `response`, then runs `then` once all have. */
  private end(match: (t: Task) => boolean, response: number, then: () => void): void {
    let waiting = 0;
    const one = () => {
      if (--waiting === 0) then();
    };
    for (const t of this.tasks) {
      if (!match(t)) continue;
      t.abortedWith ??= response;
      (t.waiters ??= []).push(one);
      waiting++;
    }
    if (waiting === 0) then();
  }

  private wakeDrains(): void {
    this.drainWaiters = this.drainWaiters.filter((w) => {
      for (const t of this.tasks) if (w.matches(t)) return true;
      w.resolve();
      return false;
    });
  }

  // --- eventq (§5.6.6.3) -----------------------------------------------------------------------

  private readonly onBusChange = (change: BusChange): void => {
    const f = this.ctx?.features ?? 0n;
    const address = { target: change.target, lun: change.lun };
    if (change.type === 'resized') {
      if (hasFeature(f, ScsiFeature.CHANGE)) this.sendEvent(encodeEvent(ScsiEvent.PARAM_CHANGE, address, CAPACITY_CHANGED_REASON));
    } else if (hasFeature(f, ScsiFeature.HOTPLUG)) {
      this.sendEvent(encodeEvent(ScsiEvent.TRANSPORT_RESET, address, change.type === 'added' ? TransportResetReason.RESCAN : TransportResetReason.REMOVED));
    }
  };

  /**
   * Puts an event in the next eventq buffer; without one the event is lost and the next buffer
   * carries EVENTS_MISSED. `event` null: only report missed events, if any (the driver kicked).
   */
  private sendEvent(event: Uint8Array | null): void {
    const ctx = this.ctx;
    const q = ctx?.queues[EVENTQ] ?? null;
    if (ctx === null || q === null) return;
    if (event === null && !this.eventsMissed) return;
    let used = false;
    try {
      for (;;) {
        const chain = q.pop();
        if (chain === null) {
          if (q.enableNotification()) continue;
          this.eventsMissed = true;
          break;
        }
        const out = chain.writer();
        used = true;
        // A buffer shorter than an event (§5.6.6.3.1: the driver MUST NOT): returned empty.
        if (out.remaining < EVENT_SIZE) {
          q.addUsed(chain, 0);
          continue;
        }
        const bytes = event ?? encodeEvent(ScsiEvent.NO_EVENT, null, 0);
        if (this.eventsMissed) {
          const v = new DataView(bytes.buffer);
          v.setUint32(0, (v.getUint32(0, true) | ScsiEvent.EVENTS_MISSED) >>> 0, true);
        }
        out.write(bytes);
        q.addUsed(chain, EVENT_SIZE);
        this.eventsMissed = false;
        break;
      }
    } catch (error) {
      return ctx.needsReset(error);
    }
    if (used && q.needsNotification()) ctx.interrupt.signalUsedBuffer(EVENTQ);
  }
}

function int(what: string, n: number, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`ScsiDevice: ${what} must be an integer in ${min}..${max}, got ${n}`);
  return n;
}
