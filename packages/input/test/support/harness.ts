/**
 * A test driver for InputDevice: both queues on real rings in guest memory (split or packed,
 * direct or indirect), driven from the driver side (`@vmv/queue/driver`) the way Linux's
 * virtio_input drives them: eventq full of 8-byte device-writable buffers, one status event per
 * statusq buffer.
 */
import { InputDevice, decodeEvent, encodeEvent } from '@vmv/input';
import type { InputDeviceOptions, InputEvent } from '@vmv/input';
import { Feature, featureBit } from '@vmv/device-trait';
import type { ActivationContext, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import type { DriverBuffer } from '@vmv/queue/driver';

export interface HarnessOptions extends Partial<InputDeviceOptions> {
  packed?: boolean;
  eventIdx?: boolean;
  indirect?: boolean;
}

interface Token {
  pieces: DriverBuffer[];
}

const RING_AREA = 0x1_0000;
const DATA_BASE = 0x10_0000;
const MEM = 4 << 20;

export class Harness {
  readonly memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(MEM) }]);
  readonly device: InputDevice;
  readonly drivers: (SplitDriver<Token> | PackedDriver<Token>)[] = [];
  readonly queues: Virtqueue[] = [];
  readonly interrupts = [0, 0];
  readonly resets: unknown[] = [];
  readonly status: InputEvent[] = [];
  /** What the guest received on eventq, in used order: the event, or null for a buffer returned with len 0. */
  readonly received: ({ event: InputEvent; len: number } | { event: null; len: number })[] = [];
  private next = DATA_BASE;

  constructor(readonly options: HarnessOptions = {}) {
    const { packed, eventIdx, indirect, ...deviceOptions } = options;
    this.device = new InputDevice({ description: { name: 'test', events: { EV_KEY: [30, 48], EV_REL: [0, 1] } }, ...deviceOptions });
    this.device.onStatus((e) => this.status.push(e));
    const size = this.device.queueMaxSizes[0]!;
    const features = featureBit(Feature.VERSION_1) | (eventIdx === false ? 0n : featureBit(Feature.EVENT_IDX)) | (packed ? featureBit(Feature.RING_PACKED) : 0n);
    for (let i = 0; i < 2; i++) {
      const base = RING_AREA + i * 0x4_0000;
      const ring = packed ? PackedDriver.layout(size, base) : SplitDriver.layout(size, base);
      const opts = { size, ...ring, eventIdx: eventIdx !== false, indirectDesc: indirect === true, indirectArea: indirect ? { address: base + 0x2_0000, entriesPerChain: 16 } : undefined };
      const drv = packed ? new PackedDriver<Token>(this.memory, opts) : new SplitDriver<Token>(this.memory, opts);
      this.drivers.push(drv);
      this.queues.push(createVirtqueue(this.memory, drv.queueConfig(size)));
    }
    const ctx: ActivationContext = {
      memory: this.memory,
      queues: this.queues,
      features,
      interrupt: { signalUsedBuffer: (i) => void this.interrupts[i]!++, signalConfigChange: () => undefined },
      needsReset: (reason) => void this.resets.push(reason),
    };
    this.device.activate(ctx);
  }

  private alloc(len: number): number {
    if (this.next + len + 16 > MEM) this.next = DATA_BASE;
    const a = this.next;
    this.next += len + 16;
    return a;
  }

  /** Posts one eventq buffer of `pieces` device-writable pieces (default one of 8 bytes) after `readable` driver bytes. */
  postEventBuffer(pieces: number[] = [8], readable = 0): void {
    const out = readable > 0 ? [{ addr: this.alloc(readable), len: readable }] : [];
    const inBufs = pieces.map((len) => {
      const addr = this.alloc(len);
      this.memory.fill(addr, len, 0xee);
      return { addr, len };
    });
    if (this.drivers[0]!.add(out, inBufs, { pieces: inBufs }, this.options.indirect) < 0) throw new Error('harness: eventq full');
  }

  /** Posts a status buffer holding `bytes` cut into `pieces`. */
  postStatus(bytes: Uint8Array, pieces: number[] = [bytes.length]): void {
    let at = 0;
    const out = pieces.map((len) => {
      const addr = this.alloc(len);
      this.memory.write(addr, bytes.subarray(at, at + len));
      at += len;
      return { addr, len };
    });
    if (this.drivers[1]!.add(out, [], { pieces: out }, this.options.indirect) < 0) throw new Error('harness: statusq full');
  }

  /** Posts a status event. */
  sendStatus(e: InputEvent, pieces?: number[]): void {
    this.postStatus(encodeEvent(e), pieces);
  }

  /** Notifies queue q (only when the ring asks for it, as Linux does, unless `always`). Returns whether a kick went out. */
  kick(q: number, always = false): boolean {
    const want = this.drivers[q]!.kickPrepare();
    if (want || always) this.device.queueNotify(q);
    return want;
  }

  /** Takes every used eventq buffer, decoding the event in it; returns the events taken now. */
  reap(): InputEvent[] {
    const got: InputEvent[] = [];
    for (let u = this.drivers[0]!.getBuf(); u !== null; u = this.drivers[0]!.getBuf()) {
      if (u.len < 8) {
        this.received.push({ event: null, len: u.len });
        continue;
      }
      const bytes = new Uint8Array(u.token.pieces.reduce((s, p) => s + p.len, 0));
      let o = 0;
      for (const p of u.token.pieces) {
        const b = new Uint8Array(p.len);
        this.memory.read(p.addr, b);
        bytes.set(b, o);
        o += p.len;
      }
      const event = decodeEvent(bytes);
      this.received.push({ event, len: u.len });
      got.push(event);
    }
    for (let u = this.drivers[1]!.getBuf(); u !== null; u = this.drivers[1]!.getBuf()) this.statusUsed.push(u.len);
    return got;
  }

  /** Used lengths of status buffers. */
  readonly statusUsed: number[] = [];
}

export const syn = (): InputEvent => ({ type: 0, code: 0, value: 0 });
export const key = (code: number, value: number): InputEvent => ({ type: 1, code, value });
export const rel = (code: number, value: number): InputEvent => ({ type: 2, code, value });
