/**
 * A test driver for I2cDevice: the request queue on a real ring in guest memory (split or packed,
 * direct or indirect), driven as Linux's i2c-virtio drives it (virtio_i2c_xfer): one chain per
 * message (out_hdr, the data readable for a write or writable for a read, none when empty, then
 * in_hdr), FAIL_NEXT on every message but the last, one kick for the transfer. `raw` posts any
 * layout.
 */
import { I2cBus, I2cDevice, I2cFlags, encodeAddress } from '@vmv/i2c';
import { Feature, featureBit } from '@vmv/device-trait';
import type { ActivationContext, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import type { DriverBuffer } from '@vmv/queue/driver';

export interface HarnessOptions {
  bus?: I2cBus;
  packed?: boolean;
  indirect?: boolean;
  queueSize?: number;
}

/** A message as Linux's i2c_msg: a write of `data`, or a read of `len` bytes. */
export type Msg = { addr: number; tenBit?: boolean; write: number[] } | { addr: number; tenBit?: boolean; read: number };

export interface Answer {
  status: number;
  len: number;
  /** Read data (reads). */
  data: number[];
}

interface Token {
  in: DriverBuffer[];
  resolve?: (a: Answer) => void;
}

const RING_AREA = 0x1_0000;
const DATA_BASE = 0x10_0000;
const MEM = 4 << 20;

export class Harness {
  readonly memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(MEM) }]);
  readonly bus: I2cBus;
  readonly device: I2cDevice;
  readonly driver: SplitDriver<Token> | PackedDriver<Token>;
  readonly queue: Virtqueue;
  readonly resets: unknown[] = [];
  readonly answers: Answer[] = [];
  private next = DATA_BASE;

  constructor(readonly options: HarnessOptions = {}) {
    this.bus = options.bus ?? new I2cBus();
    this.device = new I2cDevice({ bus: this.bus, queueSize: options.queueSize ?? 64 });
    const size = options.queueSize ?? 64;
    const features = this.device.deviceFeatures & ~(options.packed ? 0n : featureBit(Feature.RING_PACKED));
    const ring = options.packed ? PackedDriver.layout(size, RING_AREA) : SplitDriver.layout(size, RING_AREA);
    const opts = { size, ...ring, eventIdx: true, indirectDesc: options.indirect === true, indirectArea: options.indirect ? { address: RING_AREA + 0x8_0000, entriesPerChain: 16 } : undefined };
    this.driver = options.packed ? new PackedDriver<Token>(this.memory, opts) : new SplitDriver<Token>(this.memory, opts);
    this.queue = createVirtqueue(this.memory, this.driver.queueConfig(size));
    const ctx: ActivationContext = {
      memory: this.memory,
      queues: [this.queue],
      features,
      interrupt: { signalUsedBuffer: () => this.reap(), signalConfigChange: () => undefined },
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

  /** Adds a chain of readable byte pieces and writable lengths (filled 0xee), not kicked. */
  raw(out: Uint8Array[], inLens: number[]): void {
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
    if (this.driver.add(o, i, { in: i }, this.options.indirect) < 0) throw new Error('harness: ring full');
  }

  kick(): void {
    if (this.driver.kickPrepare()) this.device.queueNotify(0);
  }

  /** One transfer as Linux's virtio_i2c_xfer: returns each message's status and read data. */
  transfer(msgs: Msg[]): Answer[] {
    const from = this.answers.length;
    msgs.forEach((m, i) => {
      const flags = ('read' in m ? I2cFlags.M_RD : 0) | (i < msgs.length - 1 ? I2cFlags.FAIL_NEXT : 0);
      const out = [header(encodeAddress(m.addr, m.tenBit), flags)];
      const inLens: number[] = [];
      if ('write' in m && m.write.length > 0) out.push(Uint8Array.from(m.write));
      if ('read' in m && m.read > 0) inLens.push(m.read);
      inLens.push(1);
      this.raw(out, inLens);
    });
    this.kick();
    return this.answers.slice(from);
  }

  /** Takes the used chains into `answers`. */
  reap(): void {
    for (let u = this.driver.getBuf(); u !== null; u = this.driver.getBuf()) {
      const bytes: number[] = [];
      for (const p of u.token.in) {
        const b = new Uint8Array(p.len);
        this.memory.read(p.addr, b);
        bytes.push(...b);
      }
      this.answers.push({ status: bytes.at(-1) ?? -1, len: u.len, data: bytes.slice(0, -1) });
    }
  }
}

/** A virtio_i2c_out_hdr. */
export function header(addr: number, flags: number, padding = 0): Uint8Array {
  const h = new Uint8Array(8);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, addr, true);
  dv.setUint16(2, padding, true);
  dv.setUint32(4, flags >>> 0, true);
  return h;
}
