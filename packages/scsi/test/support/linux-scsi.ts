/**
 * A model of Linux's virtio_scsi (drivers/scsi/virtio_scsi.c) over the virtio-mmio driver model:
 * at probe it accepts HOTPLUG and CHANGE, reads the config, writes cdb_size 32 and sense_size 96
 * (virtscsi_init), sets up controlq, eventq and num_queues request queues, and posts 8 event
 * buffers. A command is one chain as virtscsi_add_cmd lays it out: the request header and CDB,
 * then data-out, device-readable; the response and sense, then data-in, device-writable; each
 * buffer cut into descriptors as the LinuxGuest options say. LUNs are encoded as Linux does
 * (lun[0] = 1, lun[1] = target, lun[2..3] = 0x4000 | lun). Events are re-posted after each use.
 */
import { GuestMemory } from '@vmv/memory';
import type { DriverQueue, VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import { CMD_RESP_HEADER_SIZE, EVENT_SIZE, ScsiConfigOffset, ScsiFeature, decodeCommandResponse, decodeEvent, encodeLun } from '@vmv/scsi';
import type { CommandResponse, ScsiDevice, ScsiEventRecord } from '@vmv/scsi';
import { LinuxGuest, type LinuxGuestOptions } from '../../../transport-mmio/test/support/linux-guest';

export { until } from '../../../transport-mmio/test/support/linux-guest';

const SLOT = 0x4_0000;
const SLOTS = 40;
const SLOT_BASE = 0x10_0000;
const HEADER_ROOM = 0x400;
const EVENT_BASE = 0xf_0000;
const EVENT_BUFFERS = 8;
/** Linux's VIRTIO_SCSI_CDB_SIZE and VIRTIO_SCSI_SENSE_SIZE. */
const LINUX_CDB = 32;
const LINUX_SENSE = 96;

/** What a command came back with. */
export interface CommandOutcome extends CommandResponse {
  readonly sense: Uint8Array;
  readonly data: Uint8Array;
  /** The used length the device reported. */
  readonly used: number;
}

/** Options of one command. */
export interface CommandOptions {
  readonly out?: Uint8Array;
  readonly inLength?: number;
  /** Request queue (0-based among the request queues). Default 0. */
  readonly queue?: number;
  /** The command tag (default: a fresh one). */
  readonly id?: bigint;
  /** Raw lun[8] instead of (target, lun). */
  readonly lunBytes?: Uint8Array;
  /** Request header + CDB bytes to send instead of the full header (a short request). */
  readonly headerLength?: number;
  /** Response + sense room instead of 12 + sense_size. */
  readonly responseLength?: number;
}

export class LinuxScsi {
  readonly memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(SLOT_BASE + SLOTS * SLOT) }]);
  readonly driver: VirtioMmioDriver;
  readonly events: ScsiEventRecord[] = [];
  /** Completions as the driver took them, by tag (`cmd:<id>`, `tmf:<subtype>#<n>`, `an:<type>#<n>`), with the device's commands in flight then. */
  readonly completions: { tag: string; inFlight: number }[] = [];
  negotiated = 0n;
  numQueues = 0;
  cdbSize = LINUX_CDB;
  senseSize = LINUX_SENSE;
  /** Re-post event buffers after use (false: the guest is slow to). */
  repostEvents = true;
  private readonly guest: LinuxGuest;
  private queues: DriverQueue<number>[] = [];
  private readonly free: number[] = [];
  private readonly waiting = new Map<number, (len: number) => void>();
  private nextId = 1n;
  private nextControl = 1;

  constructor(
    readonly device: ScsiDevice,
    options: LinuxGuestOptions = {},
  ) {
    for (let i = SLOTS - 1; i >= 0; i--) this.free.push(SLOT_BASE + i * SLOT);
    this.guest = new LinuxGuest(device, { memory: this.memory, ringMemory: { base: 0x1_0000, size: 0xd_0000 } }, options);
    this.driver = this.guest.driver;
  }

  /** virtscsi_probe: features, config, queues, DRIVER_OK, event buffers. */
  probe(): bigint {
    this.driver.probe();
    this.negotiated = this.driver.negotiate([ScsiFeature.HOTPLUG, ScsiFeature.CHANGE]);
    this.numQueues = this.driver.cread32(ScsiConfigOffset.NUM_QUEUES);
    this.driver.cwrite32(ScsiConfigOffset.CDB_SIZE, LINUX_CDB);
    this.driver.cwrite32(ScsiConfigOffset.SENSE_SIZE, LINUX_SENSE);
    this.queues = this.guest.setupQueues(2 + this.numQueues, (dq) => this.callback(dq));
    this.driver.ready();
    if (this.repostEvents) this.postEvents(EVENT_BUFFERS);
    return this.negotiated;
  }

  /** Posts `n` event buffers of `len` bytes. */
  postEvents(n: number, len = EVENT_SIZE): void {
    for (let i = 0; i < n; i++) this.queues[1]!.add([], [{ addr: EVENT_BASE + 0x20 * i, len }], EVENT_BASE + 0x20 * i);
    this.queues[1]!.kick();
  }

  /** Sets cdb_size and sense_size as a driver other than Linux might. */
  setSizes(cdb: number, sense: number): void {
    this.driver.cwrite32(ScsiConfigOffset.CDB_SIZE, cdb);
    this.driver.cwrite32(ScsiConfigOffset.SENSE_SIZE, sense);
    this.cdbSize = this.driver.cread32(ScsiConfigOffset.CDB_SIZE);
    this.senseSize = this.driver.cread32(ScsiConfigOffset.SENSE_SIZE);
  }

  /** Sends a command and waits for its completion. */
  command(target: number, lun: number, cdb: Uint8Array, o: CommandOptions = {}): Promise<CommandOutcome> {
    const { slot, done } = this.submit(target, lun, cdb, o);
    return done.then((used) => this.outcome(slot, used, o));
  }

  /** Sends a command; returns its tag and a promise of its outcome (for task management tests). */
  start(target: number, lun: number, cdb: Uint8Array, o: CommandOptions = {}): { id: bigint; done: Promise<CommandOutcome> } {
    const id = o.id ?? this.nextId++;
    const { slot, done } = this.submit(target, lun, cdb, { ...o, id });
    return { id, done: done.then((used) => this.outcome(slot, used, o)) };
  }

  /** A task management function; resolves to the response byte. */
  async tmf(subtype: number, target: number, lun: number, id = 0n): Promise<number> {
    const req = new Uint8Array(24);
    const v = new DataView(req.buffer);
    v.setUint32(0, 0, true);
    v.setUint32(4, subtype, true);
    req.set(encodeLun(target, lun), 8);
    v.setBigUint64(16, id, true);
    const { slot, done } = this.control(req, 1, `tmf:${subtype}`);
    await done;
    this.free.push(slot);
    return this.memory.readU8(slot + HEADER_ROOM);
  }

  /** An asynchronous notification query or subscription; resolves to event_actual and response. */
  async an(type: number, target: number, lun: number, events: number): Promise<{ actual: number; response: number }> {
    const req = new Uint8Array(16);
    const v = new DataView(req.buffer);
    v.setUint32(0, type, true);
    req.set(encodeLun(target, lun), 4);
    v.setUint32(12, events, true);
    const { slot, done } = this.control(req, 5, `an:${type}`);
    await done;
    this.free.push(slot);
    return { actual: this.memory.readU32(slot + HEADER_ROOM), response: this.memory.readU8(slot + HEADER_ROOM + 4) };
  }

  /** Sends raw control bytes with `respLength` bytes of response room; resolves to the used length and the response bytes. */
  async controlRaw(req: Uint8Array, respLength: number): Promise<{ used: number; resp: Uint8Array }> {
    const { slot, done } = this.control(req, respLength, 'raw');
    const used = await done;
    const resp = new Uint8Array(respLength);
    this.memory.read(slot + HEADER_ROOM, resp);
    this.free.push(slot);
    return { used, resp };
  }

  /** The driver's queue `index` (0 controlq, 1 eventq, 2.. request queues). */
  queue(index: number): DriverQueue<number> {
    return this.queues[index]!;
  }

  private control(req: Uint8Array, respLength: number, tag: string): { slot: number; done: Promise<number> } {
    const slot = this.take();
    this.memory.write(slot, req);
    this.memory.write(slot + HEADER_ROOM, new Uint8Array(respLength).fill(0xee));
    const n = this.nextControl++;
    const done = this.track(slot, `${tag}#${n}`);
    if (this.queues[0]!.add(this.guest.segments(slot, req.length), respLength > 0 ? this.guest.segments(slot + HEADER_ROOM, respLength) : [], slot) < 0) throw new Error('model: the ring is full');
    this.queues[0]!.kick();
    return { slot, done };
  }

  private submit(target: number, lun: number, cdb: Uint8Array, o: CommandOptions): { slot: number; done: Promise<number> } {
    const slot = this.take();
    const id = o.id ?? this.nextId++;
    const header = new Uint8Array(19 + this.cdbSize);
    header.set(o.lunBytes ?? encodeLun(target, lun), 0);
    new DataView(header.buffer).setBigUint64(8, id, true);
    header.set(cdb.subarray(0, this.cdbSize), 19);
    const headerLength = o.headerLength ?? header.length;
    const respLength = o.responseLength ?? CMD_RESP_HEADER_SIZE + this.senseSize;
    const outLength = o.out?.length ?? 0;
    const inLength = o.inLength ?? 0;
    if (HEADER_ROOM * 2 + outLength + inLength > SLOT) throw new RangeError('model: a command larger than a slot');
    this.memory.write(slot, header.subarray(0, headerLength));
    if (o.out) this.memory.write(slot + HEADER_ROOM, o.out);
    const respAt = slot + HEADER_ROOM + outLength;
    this.memory.write(respAt, new Uint8Array(respLength + inLength).fill(0xee));
    const outs = [...(headerLength > 0 ? this.guest.segments(slot, headerLength) : []), ...(outLength > 0 ? this.guest.segments(slot + HEADER_ROOM, outLength) : [])];
    const ins = [...(respLength > 0 ? this.guest.segments(respAt, respLength) : []), ...(inLength > 0 ? this.guest.segments(respAt + respLength, inLength) : [])];
    const done = this.track(slot, `cmd:${id}`);
    const q = this.queues[2 + (o.queue ?? 0)]!;
    if (q.add(outs, ins, slot) < 0) throw new Error('model: the ring is full');
    q.kick();
    return { slot, done };
  }

  private outcome(slot: number, used: number, o: CommandOptions): CommandOutcome {
    const respAt = slot + HEADER_ROOM + (o.out?.length ?? 0);
    const respLength = o.responseLength ?? CMD_RESP_HEADER_SIZE + this.senseSize;
    const resp = new Uint8Array(Math.max(respLength, CMD_RESP_HEADER_SIZE));
    this.memory.read(respAt, resp.subarray(0, respLength));
    const r = decodeCommandResponse(resp);
    const data = new Uint8Array(o.inLength ?? 0);
    this.memory.read(respAt + respLength, data);
    this.free.push(slot);
    return { ...r, sense: resp.slice(CMD_RESP_HEADER_SIZE, CMD_RESP_HEADER_SIZE + Math.min(r.senseLength, this.senseSize)), data, used };
  }

  private take(): number {
    const slot = this.free.pop();
    if (slot === undefined) throw new Error('model: out of slots');
    return slot;
  }

  private track(slot: number, tag: string): Promise<number> {
    return new Promise((resolve) => this.waiting.set(slot, (len) => {
      this.completions.push({ tag, inFlight: this.device.commandsInFlight });
      resolve(len);
    }));
  }

  /** virtscsi_vq_done / virtscsi_complete_event. */
  private callback(dq: DriverQueue<number>): void {
    for (let u = dq.getBuf(); u; u = dq.getBuf()) {
      if (dq === this.queues[1]) {
        const b = new Uint8Array(EVENT_SIZE);
        this.memory.read(u.token, b);
        if (u.len >= EVENT_SIZE) this.events.push(decodeEvent(b));
        if (this.repostEvents) {
          dq.add([], [{ addr: u.token, len: EVENT_SIZE }], u.token);
          dq.kick();
        }
        continue;
      }
      const w = this.waiting.get(u.token);
      this.waiting.delete(u.token);
      w?.(u.len);
    }
  }
}
