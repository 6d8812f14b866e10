/**
 * A test driver for I2cDevice: the request queue on a real ring in guest memory (split or packed,
 * direct or indirect), driven as Linux's i2c-virtio drives it (virtio_i2c_xfer): one chain per
 * message (out_hdr, the data readable for a write or writable for a read, none when empty, then
 * in_hdr), FAIL_NEXT on every message but the last, one kick for the transfer. `raw` posts any
 * layout.
 */
import { I2cBus, I2cDevice, I2cFlags, encodeAddress } from '@vmv/i2c';
import { DrivenDevice, type RingOptions } from '../../../device-trait/test/support/driven';

export interface HarnessOptions extends RingOptions {
  bus?: I2cBus;
}

/** A message as Linux's i2c_msg: a write of `data`, or a read of `len` bytes. */
export type Msg = { addr: number; tenBit?: boolean; write: number[] } | { addr: number; tenBit?: boolean; read: number };

export interface Answer {
  status: number;
  len: number;
  /** Read data (reads). */
  data: number[];
}

export class Harness extends DrivenDevice {
  declare readonly device: I2cDevice;
  readonly bus: I2cBus;
  readonly answers: Answer[] = [];

  constructor(options: HarnessOptions = {}) {
    const bus = options.bus ?? new I2cBus();
    super(new I2cDevice({ bus, queueSize: options.queueSize ?? 64 }), options);
    this.bus = bus;
  }

  protected used(_queue: number, written: number[], len: number): void {
    this.answers.push({ status: written.at(-1) ?? -1, len, data: written.slice(0, -1) });
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
      this.raw(0, out, inLens);
    });
    this.kick();
    return this.answers.slice(from);
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
