/**
 * A test guest for CanDevice: txq, rxq and controlq on real rings in guest memory (split or packed,
 * direct or indirect), driven from the driver side (`@vmv/queue/driver`) as Linux's virtio_can
 * drives them: rxq filled with buffers of 16 + 64 bytes (16 + 8 without CAN FD) at start and each
 * one re-posted as soon as it is read (NAPI); a frame is one chain of the header and `length` sdu
 * bytes plus a 1-byte result; START and STOP are a 2-byte request and a 1-byte result. `raw`
 * posts any layout on any queue.
 */
import { CanBus, CanDevice, CanFeature, CanFlags, CanMsg, CanQueue } from '@vmv/can';
import type { CanDeviceOptions, CanFrame } from '@vmv/can';
import { Feature, featureBit } from '@vmv/device-trait';
import type { ActivationContext, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import type { DriverBuffer } from '@vmv/queue/driver';

export interface HarnessOptions extends Partial<CanDeviceOptions> {
  packed?: boolean;
  indirect?: boolean;
  /** Device feature bits (CanFeature) the driver accepts (default: every one offered). */
  accept?: number[];
  /** rxq buffers posted at start (default 16). */
  rxBuffers?: number;
  /** Size of each rxq buffer (default 16 + 64, or 16 + 8 without CAN FD). */
  rxSize?: number;
  /** Re-post each rxq buffer when it comes back (default true). */
  repost?: boolean;
}

interface Token {
  kind: 'tx' | 'rx' | 'ctl' | 'raw';
  in: DriverBuffer[];
  /** tx: the frame's position in `sent`. */
  seq?: number;
}

export interface Used {
  queue: number;
  len: number;
  /** The writable bytes, concatenated. */
  bytes: Uint8Array;
}

const RING_AREA = 0x1_0000;
const DATA_BASE = 0x20_0000;
const MEM = 8 << 20;

/** A virtio_can_tx_out for `frame` (as Linux's virtio_can_start_xmit lays it out), or with `over` fields replaced. */
export function txOut(frame: CanFrame, over: { msgType?: number; length?: number; flags?: number; id?: number } = {}): Uint8Array {
  const len = frame.data.length;
  const b = new Uint8Array(16 + len);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, over.msgType ?? CanMsg.TX, true);
  dv.setUint16(2, over.length ?? len, true);
  dv.setUint32(8, over.flags ?? ((frame.extended ? CanFlags.EXTENDED : 0) | (frame.fd ? CanFlags.FD : 0) | (frame.rtr ? CanFlags.RTR : 0)), true);
  dv.setUint32(12, over.id ?? frame.id, true);
  if (!frame.rtr) b.set(frame.data, 16);
  return b;
}

/** Parses a virtio_can_rx the device wrote. */
export function rxFrame(bytes: Uint8Array, len: number): { msgType: number; frame: CanFrame } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = dv.getUint16(2, true);
  const flags = dv.getUint32(8, true);
  if (len !== 16 + length) throw new Error(`rx: used length ${len}, header says ${length} data bytes`);
  return {
    msgType: dv.getUint16(0, true),
    frame: { id: dv.getUint32(12, true), extended: (flags & CanFlags.EXTENDED) !== 0, fd: (flags & CanFlags.FD) !== 0, rtr: (flags & CanFlags.RTR) !== 0, data: bytes.slice(16, 16 + length) },
  };
}

export class Harness {
  readonly memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(MEM) }]);
  readonly device: CanDevice;
  readonly drivers: (SplitDriver<Token> | PackedDriver<Token>)[] = [];
  readonly queues: (Virtqueue | null)[] = [];
  readonly features: bigint;
  readonly resets: unknown[] = [];
  /** Frames received on rxq, in order. */
  readonly received: CanFrame[] = [];
  /** tx results by send order (undefined: not yet used). */
  readonly txResults: (number | undefined)[] = [];
  /** Control results in order. */
  readonly controlResults: number[] = [];
  /** Raw used buffers (raw chains and rxq buffers that were not frames). */
  readonly used: Used[] = [];
  configChanges = 0;
  private next = DATA_BASE;
  private readonly rxSize: number;

  constructor(readonly options: HarnessOptions = {}) {
    const { packed, indirect, accept, rxBuffers, rxSize, repost: _repost, ...deviceOptions } = options;
    this.device = new CanDevice({ ...deviceOptions, bus: deviceOptions.bus ?? new CanBus() });
    const size = 64;
    let features = featureBit(Feature.VERSION_1) | featureBit(Feature.EVENT_IDX) | (packed ? featureBit(Feature.RING_PACKED) : 0n) | (indirect ? featureBit(Feature.INDIRECT_DESC) : 0n);
    for (const bit of accept ?? [0, 1, 2, 3]) features |= featureBit(bit) & this.device.deviceFeatures;
    this.features = features;
    for (let i = 0; i < 3; i++) {
      const base = RING_AREA + i * 0x4_0000;
      const ring = packed ? PackedDriver.layout(size, base) : SplitDriver.layout(size, base);
      const opts = { size, ...ring, eventIdx: true, indirectDesc: indirect === true, indirectArea: indirect ? { address: base + 0x2_0000, entriesPerChain: 16 } : undefined };
      const drv = packed ? new PackedDriver<Token>(this.memory, opts) : new SplitDriver<Token>(this.memory, opts);
      this.drivers.push(drv);
      this.queues.push(createVirtqueue(this.memory, drv.queueConfig(size)));
    }
    this.rxSize = rxSize ?? 16 + ((features & featureBit(CanFeature.CAN_FD)) !== 0n ? 64 : 8);
    const ctx: ActivationContext = {
      memory: this.memory,
      queues: this.queues,
      features,
      interrupt: { signalUsedBuffer: (i) => this.reap(i), signalConfigChange: () => void this.configChanges++ },
      needsReset: (reason) => void this.resets.push(reason),
    };
    if (this.device.validateFeatures?.(features) === false) throw new Error('harness: features refused');
    this.device.activate(ctx);
    for (let i = 0; i < (rxBuffers ?? 16); i++) this.postRx();
    this.kick(CanQueue.RXQ);
  }

  get bus() {
    return this.device.bus;
  }

  alloc(len: number): number {
    if (this.next + len + 16 > MEM) this.next = DATA_BASE;
    const a = this.next;
    this.next += (len + 16 + 15) & ~15;
    return a;
  }

  private add(queue: number, out: Uint8Array[], inLens: number[], token: Token): void {
    const o = out.map((b) => {
      const addr = this.alloc(b.length);
      this.memory.write(addr, b);
      return { addr, len: b.length };
    });
    const i = inLens.map((len) => {
      const addr = this.alloc(len);
      this.memory.fill(addr, len, 0xee);
      return { addr, len };
    });
    token.in = i;
    if (this.drivers[queue]!.add(o, i, token, this.options.indirect) < 0) throw new Error(`harness: ring ${queue} full`);
  }

  postRx(size = this.rxSize): void {
    this.add(CanQueue.RXQ, [], [size], { kind: 'rx', in: [] });
  }

  kick(queue: number): void {
    if (this.drivers[queue]!.kickPrepare()) this.device.queueNotify(queue);
  }

  /** Queues a frame on txq and kicks; its result lands in `txResults[seq]`. */
  send(frame: CanFrame, over?: Parameters<typeof txOut>[1]): number {
    const seq = this.txResults.length;
    this.txResults.push(undefined);
    this.add(CanQueue.TXQ, [txOut(frame, over)], [1], { kind: 'tx', in: [], seq });
    this.kick(CanQueue.TXQ);
    return seq;
  }

  /** Sends a control message; returns its result (the device answers at once). */
  control(msgType: number): number {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, msgType, true);
    const before = this.controlResults.length;
    this.add(CanQueue.CONTROLQ, [b], [1], { kind: 'ctl', in: [] });
    this.kick(CanQueue.CONTROLQ);
    if (this.controlResults.length !== before + 1) throw new Error('harness: the control request was not answered at once');
    return this.controlResults[before]!;
  }

  start(): number {
    return this.control(CanMsg.SET_CTRL_MODE_START);
  }

  stop(): number {
    return this.control(CanMsg.SET_CTRL_MODE_STOP);
  }

  /** Posts any chain on any queue (readable pieces, writable lengths) and kicks. */
  raw(queue: number, out: Uint8Array[], inLens: number[]): void {
    this.add(queue, out, inLens, { kind: 'raw', in: [] });
    this.kick(queue);
  }

  private bytesOf(token: Token): Uint8Array {
    const parts = token.in.map((p) => {
      const b = new Uint8Array(p.len);
      this.memory.read(p.addr, b);
      return b;
    });
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return all;
  }

  /** Takes the used buffers of `queue` (the guest's interrupt handler). */
  reap(queue: number): void {
    const drv = this.drivers[queue]!;
    let reposted = 0;
    for (let u = drv.getBuf(); u !== null; u = drv.getBuf()) {
      const bytes = this.bytesOf(u.token);
      if (u.token.kind === 'tx') this.txResults[u.token.seq!] = u.len === 1 ? bytes[0] : -1;
      else if (u.token.kind === 'ctl') this.controlResults.push(u.len === 1 ? bytes[0]! : -1);
      else if (u.token.kind === 'rx' && u.len > 0) {
        const { msgType, frame } = rxFrame(bytes, u.len);
        if (msgType !== CanMsg.RX) throw new Error(`rx: msg_type ${msgType}`);
        this.received.push(frame);
      } else this.used.push({ queue, len: u.len, bytes });
      if (u.token.kind === 'rx' && this.options.repost !== false) {
        this.postRx();
        reposted++;
      }
    }
    if (reposted > 0) this.kick(CanQueue.RXQ);
  }
}
