import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EEPROM_MODELS, Eeprom, I2cStatus, Lm75, Lm75Register } from '@vmv/i2c';
import { openEepromFile } from '@vmv/i2c/node';
import { Harness } from './support/harness';

const { OK, ERR } = I2cStatus;

describe('Eeprom (24Cxx, as at24 and i2c-tools use it)', () => {
  it('24C02: a one-byte word address, then a combined write-read returns the bytes (i2cget / at24 reads)', () => {
    const h = new Harness();
    const e = new Eeprom('24c02');
    e.memory.set([1, 2, 3, 4], 0x10);
    h.bus.attach(0x50, e);
    const a = h.transfer([{ addr: 0x50, write: [0x10] }, { addr: 0x50, read: 4 }]);
    expect(a[1]).toEqual({ status: OK, len: 5, data: [1, 2, 3, 4] });
    expect(h.transfer([{ addr: 0x50, read: 1 }])[0]!.data).toEqual([0xff]); // the address counter went on: 0x14
    expect(e.address).toBe(0x15);
  });

  it('24C02: a page write wraps inside its 8-byte page and takes effect at STOP; onWrite gets the page', () => {
    const h = new Harness();
    const writes: [number, number[]][] = [];
    const e = new Eeprom('24c02', { memory: new Uint8Array(256), onWrite: (o, b) => writes.push([o, [...b]]) });
    h.bus.attach(0x50, e);
    expect(h.transfer([{ addr: 0x50, write: [0x0e, 1, 2, 3, 4] }])[0]!.status).toBe(OK);
    expect([...e.memory.subarray(0x08, 0x10)]).toEqual([3, 4, 0, 0, 0, 0, 1, 2]);
    expect(writes).toEqual([[0x08, [3, 4, 0, 0, 0, 0, 1, 2]]]);
    expect(e.address).toBe(0x0a);
  });

  it('sequential reads wrap at the end of memory', () => {
    const h = new Harness();
    const e = new Eeprom('24c02');
    e.memory[255] = 0xaa;
    e.memory[0] = 0xbb;
    h.bus.attach(0x50, e);
    expect(h.transfer([{ addr: 0x50, write: [0xff] }, { addr: 0x50, read: 2 }])[1]!.data).toEqual([0xaa, 0xbb]);
  });

  it('24C32: a two-byte word address (high byte first, masked to 12 bits) and 32-byte pages', () => {
    const h = new Harness();
    const e = new Eeprom('24c32');
    h.bus.attach(0x57, e);
    h.transfer([{ addr: 0x57, write: [0xf1, 0x23, 9, 8] }]); // 0xf123 & 0xfff = 0x123
    expect([e.memory[0x123], e.memory[0x124]]).toEqual([9, 8]);
    expect(h.transfer([{ addr: 0x57, write: [0x01, 0x23] }, { addr: 0x57, read: 2 }])[1]!.data).toEqual([9, 8]);
    h.transfer([{ addr: 0x57, write: [0x00, 0x3f, 1, 2] }]);
    expect([e.memory[0x3f], e.memory[0x20]]).toEqual([1, 2]);
  });

  it('a repeated START before STOP aborts the page write, as the chip does', () => {
    const h = new Harness();
    const e = new Eeprom('24c02', { memory: new Uint8Array(256) });
    h.bus.attach(0x50, e);
    h.transfer([{ addr: 0x50, write: [0x00, 7] }, { addr: 0x50, read: 1 }]);
    expect(e.memory[0]).toBe(0);
  });

  it('every model: size, page and address bytes; wrong contents or model refused', () => {
    for (const [model, m] of Object.entries(EEPROM_MODELS)) {
      const e = new Eeprom(model as keyof typeof EEPROM_MODELS);
      expect(e.memory.length).toBe(m.size);
      expect(e.memory.every((b) => b === 0xff)).toBe(true);
    }
    expect(() => new Eeprom('24c02', { memory: new Uint8Array(10) })).toThrow(/holds 256/);
    expect(() => new Eeprom('24c99' as never)).toThrow(RangeError);
  });

  it('@vmv/i2c/node: a file-backed EEPROM reads the file, writes each page through, and refuses a file of another size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmv-i2c-'));
    const path = join(dir, 'eeprom.bin');
    try {
      const fresh = openEepromFile(path, '24c02');
      expect(readFileSync(path).every((b) => b === 0xff)).toBe(true);
      fresh.close();
      const content = Buffer.alloc(256, 0x11);
      writeFileSync(path, content);
      const { eeprom, close } = openEepromFile(path, '24c02');
      expect(eeprom.memory[3]).toBe(0x11);
      const h = new Harness();
      h.bus.attach(0x50, eeprom);
      h.transfer([{ addr: 0x50, write: [0x40, 0xde, 0xad] }]);
      expect([...readFileSync(path).subarray(0x40, 0x43)]).toEqual([0xde, 0xad, 0x11]);
      close();
      close();
      writeFileSync(path, Buffer.alloc(100));
      expect(() => openEepromFile(path, '24c02')).toThrow(/100 bytes; a 24c02 holds 256/);
      expect(() => openEepromFile(path, 'x' as never)).toThrow(RangeError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Lm75 (as the lm75 driver reads it)', () => {
  /** i2c_smbus_read_word_swapped(reg): write the pointer, read two bytes, MSB first. */
  const readWord = (h: Harness, reg: number) => {
    const d = h.transfer([{ addr: 0x48, write: [reg] }, { addr: 0x48, read: 2 }])[1]!.data;
    return (d[0]! << 8) | d[1]!;
  };

  it('temperature: 9-bit two\'s complement in 0.5 °C steps, left-aligned; follows the host', () => {
    const h = new Harness();
    const s = new Lm75({ temperature: 25 });
    h.bus.attach(0x48, s);
    expect(readWord(h, Lm75Register.TEMP)).toBe(0x1900);
    s.temperature = -25.5;
    expect(readWord(h, Lm75Register.TEMP)).toBe(0xe680);
    expect(s.reported).toBe(-25.5);
    s.temperature = 0.3; // rounds to 0.5
    expect(readWord(h, Lm75Register.TEMP)).toBe(0x0080);
    s.temperature = 300; // clamps to 125
    expect(s.reported).toBe(125);
    expect(() => (s.temperature = NaN)).toThrow(RangeError);
  });

  it('T_OS and T_HYST power up at 80 and 75 °C and take 9-bit writes; configuration is one byte; shutdown freezes the register', () => {
    const h = new Harness();
    const s = new Lm75();
    h.bus.attach(0x48, s);
    expect(readWord(h, Lm75Register.TOS)).toBe(0x5000);
    expect(readWord(h, Lm75Register.THYST)).toBe(0x4b00);
    h.transfer([{ addr: 0x48, write: [Lm75Register.TOS, 0x46, 0xff] }]);
    expect(s.register(Lm75Register.TOS)).toBe(70.5);
    h.transfer([{ addr: 0x48, write: [Lm75Register.CONF, 0x01] }]);
    expect(h.transfer([{ addr: 0x48, write: [Lm75Register.CONF] }, { addr: 0x48, read: 1 }])[1]!.data).toEqual([1]);
    s.temperature = 40;
    expect(s.reported).toBe(25);
    h.transfer([{ addr: 0x48, write: [Lm75Register.CONF, 0x00] }]);
    expect(s.reported).toBe(40);
    h.transfer([{ addr: 0x48, write: [Lm75Register.TEMP, 0, 0] }]); // read-only
    expect(s.reported).toBe(40);
    expect(() => s.register(4)).toThrow(RangeError);
  });

  it('a pointer byte above 3 is NACKed', () => {
    const h = new Harness();
    h.bus.attach(0x48, new Lm75());
    expect(h.transfer([{ addr: 0x48, write: [4] }])[0]!.status).toBe(ERR);
  });
});
