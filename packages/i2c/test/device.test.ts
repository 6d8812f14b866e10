import { describe, expect, it } from '@jest/globals';
import { I2cBus, I2cDevice, I2cFlags, I2cStatus, decodeAddress, encodeAddress } from '@vmv/i2c';
import type { I2cTarget } from '@vmv/i2c';
import { SplitDriver } from '@vmv/queue/driver';
import { Harness, header } from './support/harness';
import { DATA_BASE } from '../../device-trait/test/support/driven';

const { OK, ERR } = I2cStatus;

/** A target that records the wire: S/Sr with direction, bytes, P. */
function recorder(opts: { nackAddress?: boolean; nackAfter?: number; readFrom?: number } = {}): I2cTarget & { log: string[] } {
  const log: string[] = [];
  let written = 0;
  let next = opts.readFrom ?? 0x10;
  return {
    log,
    start(read) {
      log.push(read ? 'S r' : 'S w');
      return opts.nackAddress !== true;
    },
    write(b) {
      log.push(`w${b}`);
      return opts.nackAfter === undefined || written++ < opts.nackAfter;
    },
    read() {
      log.push('r');
      return next++;
    },
    stop() {
      log.push('P');
    },
  };
}

describe('identity (§5.16.1-§5.16.4)', () => {
  it('is device 34 with one queue, ZERO_LENGTH_REQUEST offered, no config space; a driver without the feature is refused', () => {
    const device = new I2cDevice({ bus: new I2cBus() });
    expect(device.deviceId).toBe(34);
    expect(device.queueMaxSizes).toEqual([256]);
    expect(device.configSize).toBe(0);
    expect(device.deviceFeatures & 1n).toBe(1n);
    expect(device.validateFeatures(device.deviceFeatures)).toBe(true);
    expect(device.validateFeatures(device.deviceFeatures & ~1n)).toBe(false);
    const cfg = new Uint8Array(4).fill(9);
    device.readConfig(0, cfg);
    device.writeConfig();
    expect([...cfg]).toEqual([0, 0, 0, 0]);
    expect(() => new I2cDevice({} as never)).toThrow(TypeError);
    expect(() => new I2cDevice({ bus: new I2cBus(), queueSize: 40000 })).toThrow(RangeError);
  });

  it('addresses: 7-bit in bits 7..1, 10-bit as 11110 A9 A8 0 and A7..A0; anything else is not an address', () => {
    expect(decodeAddress(0x50 << 1)).toEqual({ address: 0x50, tenBit: false });
    expect(decodeAddress(encodeAddress(0x2a5, true))).toEqual({ address: 0x2a5, tenBit: true });
    expect(encodeAddress(0x2a5, true)).toBe(0xa5f4);
    expect(decodeAddress(0xa1)).toBeNull(); // bit 0
    expect(decodeAddress(0x01a0)).toBeNull(); // a high byte without the 10-bit marker
    expect(() => encodeAddress(0x80)).toThrow(RangeError);
    expect(() => encodeAddress(0x400, true)).toThrow(RangeError);
  });
});

describe('requests (§5.16.6)', () => {
  it('a write then a read with FAIL_NEXT go as one transaction: START, repeated START, one STOP', () => {
    const h = new Harness();
    const t = recorder();
    h.bus.attach(0x20, t);
    const a = h.transfer([{ addr: 0x20, write: [7, 8] }, { addr: 0x20, read: 3 }]);
    expect(a).toEqual([{ status: OK, len: 1, data: [] }, { status: OK, len: 4, data: [0x10, 0x11, 0x12] }]);
    expect(t.log).toEqual(['S w', 'w7', 'w8', 'S r', 'r', 'r', 'r', 'P']);
    h.transfer([{ addr: 0x20, write: [1] }]);
    h.transfer([{ addr: 0x20, read: 1 }]);
    expect(t.log.slice(8)).toEqual(['S w', 'w1', 'P', 'S r', 'r', 'P']);
    expect(h.device.stats).toMatchObject({ requests: 4, errors: 0, transactions: 3 });
  });

  it('the device writes only the writable buffers: out_hdr (addr, flags) and the data of a write stay as the driver wrote them', () => {
    const h = new Harness();
    h.bus.attach(0x20, recorder());
    const hdr = header(0x40, I2cFlags.FAIL_NEXT, 0x1234);
    const data = Uint8Array.of(1, 2, 3);
    h.raw(0, [hdr, data], [1]);
    h.raw(0, [header(0x40, I2cFlags.M_RD)], [2, 1]);
    h.raw(0, [header(0x42, 0)], [1]); // nobody at 0x21: ERR
    h.kick();
    expect(h.answers.map((a) => a.status)).toEqual([OK, OK, ERR]);
    const readBack = (addr: number, len: number) => {
      const b = new Uint8Array(len);
      h.memory.read(addr, b);
      return [...b];
    };
    // the harness lays buffers out in order from DATA_BASE, 16 bytes apart
    expect(readBack(DATA_BASE, 8)).toEqual([...hdr]);
    expect(readBack(DATA_BASE + 8 + 16, 3)).toEqual([1, 2, 3]);
  });

  it('zero-length requests (SMBus quick, i2cdetect): OK where a target ACKs its address, ERR elsewhere', () => {
    const h = new Harness();
    h.bus.attach(0x48, recorder());
    h.bus.attach(0x49, recorder({ nackAddress: true }));
    const found: number[] = [];
    for (let addr = 0x03; addr <= 0x77; addr++) {
      const [a] = h.transfer([{ addr, write: [] }]);
      expect(a!.len).toBe(1);
      if (a!.status === OK) found.push(addr);
    }
    expect(found).toEqual([0x48]);
    expect(h.transfer([{ addr: 0x48, read: 0 }])[0]!.status).toBe(OK); // quick read
  });

  it('an address nobody answers fails that request and the rest of its group only; the groups around it succeed', () => {
    const h = new Harness();
    const t = recorder();
    h.bus.attach(0x20, t);
    const a = h.transfer([{ addr: 0x20, write: [1] }, { addr: 0x21, read: 2 }, { addr: 0x20, read: 2 }]);
    expect(a.map((x) => x.status)).toEqual([OK, ERR, ERR]);
    expect(a[1]).toEqual({ status: ERR, len: 3, data: [0, 0] }); // a failed read's buffer is zeroed, never stale
    expect(t.log).toEqual(['S w', 'w1', 'P']);
    expect(h.transfer([{ addr: 0x20, read: 1 }])[0]!.status).toBe(OK);
  });

  it('a NACKed data byte fails the request and the rest of the group; the target gets its STOP', () => {
    const h = new Harness();
    const t = recorder({ nackAfter: 1 });
    h.bus.attach(0x20, t);
    const a = h.transfer([{ addr: 0x20, write: [1, 2, 3] }, { addr: 0x20, read: 1 }]);
    expect(a.map((x) => x.status)).toEqual([ERR, ERR]);
    expect(t.log).toEqual(['S w', 'w1', 'w2', 'P']);
  });

  it('a repeated START to another target ends the transaction of the first', () => {
    const h = new Harness();
    const t1 = recorder();
    const t2 = recorder();
    h.bus.attach(0x20, t1);
    h.bus.attach(0x21, t2);
    expect(h.transfer([{ addr: 0x20, write: [1] }, { addr: 0x21, read: 1 }]).map((x) => x.status)).toEqual([OK, OK]);
    expect(t1.log).toEqual(['S w', 'w1', 'P']);
    expect(t2.log).toEqual(['S r', 'r', 'P']);
  });

  it('10-bit addresses reach 10-bit targets', () => {
    const h = new Harness();
    const t = recorder();
    h.bus.attach(0x2a5, t, true);
    expect(h.transfer([{ addr: 0x2a5, tenBit: true, read: 1 }])[0]!.status).toBe(OK);
    expect(h.transfer([{ addr: 0x25, read: 1 }])[0]!.status).toBe(ERR);
    expect(h.bus.addresses()).toEqual([]);
  });

  it.each([
    ['reserved flag bits', [header(0x40, 1 << 2)], [1]],
    ['an address with bit 0 set', [header(0x41, 0)], [1]],
    ['an address with a high byte and no 10-bit marker', [header(0x0140, 0)], [1]],
    ['a header shorter than 8 bytes', [header(0x40, 0).subarray(0, 7)], [1]],
    ['a read with driver data after the header', [header(0x40, I2cFlags.M_RD), Uint8Array.of(1)], [2, 1]],
    ['a write with device-writable data', [header(0x40, 0), Uint8Array.of(1)], [2, 1]],
  ])('%s: ERR, and the group fails from there', (_what, out, inLens) => {
    const h = new Harness();
    const t = recorder();
    h.bus.attach(0x20, t);
    h.raw(0, [header(0x40, I2cFlags.FAIL_NEXT), Uint8Array.of(5)], [1]); // a good write to 0x20 first
    h.raw(0, out as Uint8Array[], inLens as number[]);
    h.raw(0, [header(0x40, I2cFlags.M_RD)], [1, 1]);
    h.kick();
    // the malformed request's FAIL_NEXT bit is 0 here: the read after it is a group of its own
    expect(h.answers.map((a) => a.status)).toEqual([OK, ERR, OK]);
    expect(h.answers[1]!.len).toBe((inLens as number[]).reduce((s, n) => s + n, 0));
    expect(t.log).toEqual(['S w', 'w5', 'P', 'S r', 'r', 'P']);
    expect(h.device.stats.malformed).toBe(1);
  });

  it('a chain without a writable byte is returned with used length 0 and fails its group', () => {
    const h = new Harness();
    const t = recorder();
    h.bus.attach(0x20, t);
    h.raw(0, [header(0x40, I2cFlags.FAIL_NEXT)], []);
    h.raw(0, [header(0x40, 0), Uint8Array.of(1)], [1]);
    h.kick();
    expect(h.answers.map((a) => [a.len, a.status])).toEqual([[0, -1], [1, ERR]]);
    expect(t.log).toEqual([]);
    expect(h.device.stats.unanswerable).toBe(1);
  });

  it('a group still open when the ring is empty runs as it stands (Linux kicks a partly queued transfer)', () => {
    const h = new Harness();
    const t = recorder();
    h.bus.attach(0x20, t);
    h.raw(0, [header(0x40, I2cFlags.FAIL_NEXT), Uint8Array.of(9)], [1]);
    h.kick();
    expect(h.answers.map((a) => a.status)).toEqual([OK]);
    expect(t.log).toEqual(['S w', 'w9', 'P']);
  });

  it('a group beyond 1 MiB of data fails from the request that crosses it', () => {
    const h = new Harness();
    h.bus.attach(0x20, recorder());
    for (let i = 0; i < 17; i++) h.raw(0, [header(0x40, I2cFlags.M_RD | (i < 16 ? I2cFlags.FAIL_NEXT : 0))], [0xffff, 1]);
    h.kick();
    expect(h.answers.map((a) => a.status)).toEqual([...new Array<number>(16).fill(OK), ERR]);
  });

  it('a target that throws fails its request as a NACK, and the bus reports it', () => {
    const h = new Harness();
    const errors: unknown[] = [];
    h.bus.onTargetError((e) => errors.push(e));
    h.bus.attach(0x20, { start: () => true, write: () => { throw new Error('bug'); }, read: () => 0, stop: () => undefined });
    expect(h.transfer([{ addr: 0x20, write: [1] }])[0]!.status).toBe(ERR);
    expect(errors.length).toBe(1);
  });

  it('a ring the guest corrupted is DEVICE_NEEDS_RESET, and a reset drops an open group', () => {
    const h = new Harness();
    h.memory.writeU16(SplitDriver.layout(64, 0x1_0000).driverArea + 2, 1000);
    expect(() => h.device.queueNotify(0)).not.toThrow();
    expect(h.resets.length).toBe(1);
    h.device.reset();
    h.device.queueNotify(0); // not activated: ignored
  });
});

describe('I2cBus', () => {
  it('checks addresses and targets', () => {
    const bus = new I2cBus();
    bus.attach(0x50, recorder());
    expect(() => bus.attach(0x50, recorder())).toThrow(/taken/);
    expect(() => bus.attach(0x78, recorder())).toThrow(RangeError);
    expect(() => bus.attach(0x400, recorder(), true)).toThrow(RangeError);
    expect(() => bus.attach(0x10, {} as I2cTarget)).toThrow(TypeError);
    expect(bus.target(0x50)).toBeDefined();
    expect(bus.detach(0x50)).toBe(true);
    expect(bus.detach(0x50)).toBe(false);
  });
});
