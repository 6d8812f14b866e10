/**
 * A test driver for SpiDevice: the request queue on a real ring in guest memory (split or packed,
 * direct or indirect), driven as Linux's spi-virtio drives it (virtio_spi_transfer_one): one chain
 * per transfer (the head, the tx buffer when there is one, the rx buffer when there is one, the
 * result), one kick, wait. `raw` posts any layout.
 */
import { SpiDevice, SpiLayout } from '@vmv/spi';
import type { SpiDeviceOptions } from '@vmv/spi';
import { DrivenDevice, type RingOptions } from '../../../device-trait/test/support/driven';

export interface HarnessOptions extends Partial<SpiDeviceOptions>, Omit<RingOptions, 'queueSize'> {}

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

export class Harness extends DrivenDevice {
  declare readonly device: SpiDevice;
  readonly answers: Answer[] = [];

  constructor(options: HarnessOptions = {}) {
    super(new SpiDevice({ chipSelects: [null], ...options, queueSize: options.queueSize ?? 64 }), options);
  }

  protected used(_queue: number, written: number[], len: number): void {
    this.answers.push({ result: written.at(-1) ?? -1, len, rx: written.slice(0, -1) });
  }

  /** One transfer as virtio_spi_transfer_one lays it out: returns its answer. */
  transfer(h: Head, tx: number[] | Uint8Array | null, rxLen: number | null): Answer {
    const from = this.answers.length;
    const out = [head(h)];
    if (tx !== null) out.push(Uint8Array.from(tx));
    const inLens = rxLen === null ? [1] : [rxLen, 1];
    this.raw(0, out, inLens);
    this.kick();
    const a = this.answers.slice(from);
    if (a.length !== 1) throw new Error(`harness: ${a.length} answers`);
    return a[0]!;
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
