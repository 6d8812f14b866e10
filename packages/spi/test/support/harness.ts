/**
 * A test driver for SpiDevice: the request queue on a real ring in guest memory (split or packed,
 * direct or indirect), driven as Linux's spi-virtio drives it (virtio_spi_transfer_one): one chain
 * per transfer (the head, the tx buffer when there is one, the rx buffer when there is one, the
 * result), one kick, wait. `raw` posts any layout.
 */
import { SpiDevice, SpiLayout } from '@vmv/spi';
import type { SpiDeviceOptions } from '@vmv/spi';
import { Feature, featureBit } from '@vmv/device-trait';
import type { ActivationContext, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import type { DriverBuffer } from '@vmv/queue/driver';

export interface HarnessOptions extends Partial<SpiDeviceOptions> {
  packed?: boolean;
  indirect?: boolean;
}

/** The head fields (defaults: chip select 0, 8 bits, nothing else). */
export interface Head {
  cs?: number;
  bpw?: number;
  csChange?: number;
  txNbits?: number;
  rxNbits?: number;
  reserved?: [number, number, number];
  mode?: number;
  freq?: number;
  wordDelay?: number;
  csSetup?: number;
  csHold?: number;
  csInactive?: number;
}

export interface Answer {
  result: number;
  len: number;
  /** The rx bytes (when the chain had an rx buffer). */
  rx: number[];
}

interface Token {
  in: DriverBuffer[];
}

const RING_AREA = 0x1_0000;
const DATA_BASE = 0x10_0000;
const MEM = 8 << 20;

export class Harness {
  readonly memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(MEM) }]);
  readonly device: SpiDevice;
  readonly driver: SplitDriver<Token> | PackedDriver<Token>;
  readonly queue: Virtqueue;
  readonly resets: unknown[] = [];
  readonly answers: Answer[] = [];
  private next = DATA_BASE;

  constructor(readonly options: HarnessOptions = {}) {
    const size = options.queueSize ?? 64;
    this.device = new SpiDevice({ chipSelects: [null], ...options, queueSize: size });
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

  /** One transfer as virtio_spi_transfer_one lays it out: returns its answer. */
  transfer(h: Head, tx: number[] | Uint8Array | null, rxLen: number | null): Answer {
    const from = this.answers.length;
    const out = [head(h)];
    if (tx !== null) out.push(Uint8Array.from(tx));
    const inLens = rxLen === null ? [1] : [rxLen, 1];
    this.raw(out, inLens);
    this.kick();
    const a = this.answers.slice(from);
    if (a.length !== 1) throw new Error(`harness: ${a.length} answers`);
    return a[0]!;
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
      this.answers.push({ result: bytes.at(-1) ?? -1, len: u.len, rx: bytes.slice(0, -1) });
    }
  }
}

/** A virtio_spi_transfer_head. */
export function head(h: Head = {}): Uint8Array {
  const b = new Uint8Array(SpiLayout.HEAD_SIZE);
  const dv = new DataView(b.buffer);
  b[0] = h.cs ?? 0;
  b[1] = h.bpw ?? 8;
  b[2] = h.csChange ?? 0;
  b[3] = h.txNbits ?? 0;
  b[4] = h.rxNbits ?? 0;
  b.set(h.reserved ?? [0, 0, 0], 5);
  dv.setUint32(8, (h.mode ?? 0) >>> 0, true);
  dv.setUint32(12, (h.freq ?? 0) >>> 0, true);
  dv.setUint32(16, (h.wordDelay ?? 0) >>> 0, true);
  dv.setUint32(20, (h.csSetup ?? 0) >>> 0, true);
  dv.setUint32(24, (h.csHold ?? 0) >>> 0, true);
  dv.setUint32(28, (h.csInactive ?? 0) >>> 0, true);
  return b;
}

/** Runs a spi-mem style operation as Linux does on virtio-spi: opcode, address, dummy and data as separate transfers. */
export function memOp(h: Harness, cs: number, opcode: number, opts: { addr?: number; dummy?: number; write?: number[] | Uint8Array; read?: number } = {}): Answer[] {
  const a: Answer[] = [h.transfer({ cs }, [opcode], null)];
  if (opts.addr !== undefined) a.push(h.transfer({ cs }, [(opts.addr >> 16) & 0xff, (opts.addr >> 8) & 0xff, opts.addr & 0xff], null));
  if (opts.dummy !== undefined) a.push(h.transfer({ cs }, new Array<number>(opts.dummy).fill(0), null));
  if (opts.write !== undefined) a.push(h.transfer({ cs }, opts.write, null));
  if (opts.read !== undefined) a.push(h.transfer({ cs }, null, opts.read));
  return a;
}
