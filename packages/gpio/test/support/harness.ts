/**
 * A test driver for GpioDevice: requestq and eventq on real rings in guest memory (split or
 * packed, direct or indirect), driven from the driver side (`@vmv/queue/driver`) as Linux's
 * gpio-virtio drives them: one 8-byte request and a 2-byte (names: 1 + N) response per message,
 * one 2-byte request and 1-byte response per unmasked line on eventq. Any other layout can be
 * posted with `raw`.
 */
import { GpioChip, GpioDevice, GpioMsg } from '@vmv/gpio';
import type { GpioDeviceOptions } from '@vmv/gpio';
import { Feature, featureBit } from '@vmv/device-trait';
import type { ActivationContext, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import type { DriverBuffer } from '@vmv/queue/driver';

export interface HarnessOptions extends Partial<GpioDeviceOptions> {
  packed?: boolean;
  indirect?: boolean;
  /** Negotiate VIRTIO_GPIO_F_IRQ (default: when offered). */
  irqFeature?: boolean;
}

interface Token {
  out: DriverBuffer[];
  in: DriverBuffer[];
  /** eventq: the line. */
  line?: number;
}

export interface Used {
  len: number;
  /** The writable bytes, concatenated. */
  bytes: Uint8Array;
  line?: number;
}

const RING_AREA = 0x1_0000;
const DATA_BASE = 0x10_0000;
const MEM = 4 << 20;

export class Harness {
  readonly memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(MEM) }]);
  readonly chip: GpioChip;
  readonly device: GpioDevice;
  readonly drivers: (SplitDriver<Token> | PackedDriver<Token>)[] = [];
  readonly queues: (Virtqueue | null)[] = [];
  readonly resets: unknown[] = [];
  /** eventq buffers returned, in used order. */
  readonly events: Used[] = [];
  /** Called for each eventq buffer returned, from inside the interrupt (a guest that re-posts at once). */
  onEvent: ((u: Used) => void) | null = null;
  private next = DATA_BASE;

  constructor(readonly options: HarnessOptions = {}) {
    const { packed, indirect, irqFeature, ...deviceOptions } = options;
    this.chip = deviceOptions.chip ?? new GpioChip([{ name: 'a' }, { name: 'b', pull: 'up' }, '', { name: 'led' }]);
    this.device = new GpioDevice({ ...deviceOptions, chip: this.chip });
    const size = 64;
    const offered = (this.device.deviceFeatures & 1n) !== 0n;
    const features = featureBit(Feature.VERSION_1) | featureBit(Feature.EVENT_IDX) | (packed ? featureBit(Feature.RING_PACKED) : 0n) | (indirect ? featureBit(Feature.INDIRECT_DESC) : 0n) | ((irqFeature ?? offered) ? 1n : 0n);
    for (let i = 0; i < 2; i++) {
      const base = RING_AREA + i * 0x4_0000;
      const ring = packed ? PackedDriver.layout(size, base) : SplitDriver.layout(size, base);
      const opts = { size, ...ring, eventIdx: true, indirectDesc: indirect === true, indirectArea: indirect ? { address: base + 0x2_0000, entriesPerChain: 16 } : undefined };
      const drv = packed ? new PackedDriver<Token>(this.memory, opts) : new SplitDriver<Token>(this.memory, opts);
      this.drivers.push(drv);
      this.queues.push(createVirtqueue(this.memory, drv.queueConfig(size)));
    }
    const ctx: ActivationContext = {
      memory: this.memory,
      queues: this.queues,
      features,
      interrupt: { signalUsedBuffer: (i) => (i === 1 ? this.reapEvents() : undefined), signalConfigChange: () => undefined },
      needsReset: (reason) => void this.resets.push(reason),
    };
    this.device.activate(ctx);
  }

  alloc(len: number): number {
    if (this.next + len + 16 > MEM) this.next = DATA_BASE;
    const a = this.next;
    this.next += len + 16;
    return a;
  }

  /** Posts a chain of readable `out` pieces (their bytes) and writable pieces (lengths, filled 0xee) on queue q and kicks. */
  raw(q: number, out: Uint8Array[], inLens: number[], line?: number): void {
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
    if (this.drivers[q]!.add(o, i, { out: o, in: i, line }, this.options.indirect) < 0) throw new Error('harness: ring full');
    if (this.drivers[q]!.kickPrepare()) this.device.queueNotify(q);
  }

  /** The used requestq buffers, in order. */
  reapRequests(): Used[] {
    const got: Used[] = [];
    for (let u = this.drivers[0]!.getBuf(); u !== null; u = this.drivers[0]!.getBuf()) got.push({ len: u.len, bytes: this.bytes(u.token.in) });
    return got;
  }

  private reapEvents(): void {
    for (let u = this.drivers[1]!.getBuf(); u !== null; u = this.drivers[1]!.getBuf()) {
      const used = { len: u.len, bytes: this.bytes(u.token.in), line: u.token.line };
      this.events.push(used);
      this.onEvent?.(used);
    }
  }

  /** One message as Linux sends it; returns the response bytes (status, value...) and the used length. */
  request(type: number, gpio: number, value = 0, rxlen = 2): Used {
    const req = new Uint8Array(8);
    const dv = new DataView(req.buffer);
    dv.setUint16(0, type, true);
    dv.setUint16(2, gpio, true);
    dv.setUint32(4, value, true);
    this.raw(0, [req], [rxlen]);
    const got = this.reapRequests();
    if (got.length !== 1) throw new Error(`harness: ${got.length} responses to one request`);
    return got[0]!;
  }

  /** Status and value of a message. */
  msg(type: number, gpio: number, value = 0): [number, number] {
    const u = this.request(type, gpio, value);
    return [u.bytes[0]!, u.bytes[1]!];
  }

  /** Unmasks a line: posts its eventq pair as Linux does. */
  unmask(line: number): void {
    const req = new Uint8Array([line & 0xff, line >> 8]);
    this.raw(1, [req], [1], line);
  }

  /** The names block as Linux fetches it. */
  names(size: number): Used {
    return this.request(GpioMsg.GET_LINE_NAMES, 0, 0, 1 + size);
  }

  private bytes(pieces: DriverBuffer[]): Uint8Array {
    const out = new Uint8Array(pieces.reduce((s, p) => s + p.len, 0));
    let o = 0;
    for (const p of pieces) {
      const b = new Uint8Array(p.len);
      this.memory.read(p.addr, b);
      out.set(b, o);
      o += p.len;
    }
    return out;
  }
}

/** Lets promise callbacks run. */
export const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
