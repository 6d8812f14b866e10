import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLASH_MODELS, MemoryFlashStorage, SpiMode, SpiNorFlash, SpiResult } from '@vmv/spi';
import { openFlashFile } from '@vmv/spi/node';
import { Harness, memOp } from './support/harness';

const { TRANS_OK, TRANS_ERR } = SpiResult;
const WIP = 1;
const WEL = 2;

function setup(options: ConstructorParameters<typeof SpiNorFlash>[1] = {}) {
  const flash = new SpiNorFlash('w25q80bl', options);
  const h = new Harness({ chipSelects: [flash] });
  const status = () => memOp(h, 0, 0x05, { read: 1 }).at(-1)!.rx[0]!;
  const ready = () => {
    let n = 0;
    while (status() & WIP) n++;
    return n;
  };
  const read = (addr: number, len: number, fast = false) => memOp(h, 0, fast ? 0x0b : 0x03, { addr, dummy: fast ? 1 : undefined, read: len }).at(-1)!.rx;
  const program = (addr: number, data: number[]) => {
    memOp(h, 0, 0x06);
    memOp(h, 0, 0x02, { addr, write: data });
    return ready();
  };
  return { flash, h, status, ready, read, program, bytes: (flash.storage as MemoryFlashStorage).bytes };
}

describe('SpiNorFlash, as Linux spi-nor drives it over virtio-spi (one transfer per request)', () => {
  it('READ ID answers the JEDEC ID of the part (what spi-nor matches in its table)', () => {
    const { h } = setup();
    expect(memOp(h, 0, 0x9f, { read: 6 }).at(-1)!.rx).toEqual([0xef, 0x40, 0x14, 0, 0, 0]);
    const big = new Harness({ chipSelects: [new SpiNorFlash('w25q32')] });
    expect(memOp(big, 0, 0x9f, { read: 3 }).at(-1)!.rx).toEqual([0xef, 0x40, 0x16]);
    expect(FLASH_MODELS.w25q32.size).toBe(4 << 20);
  });

  it('READ and FAST READ return the array from any address, wrapping at its end; a blank part reads 0xff', () => {
    const { read, bytes } = setup();
    expect(read(0, 4)).toEqual([0xff, 0xff, 0xff, 0xff]);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff;
    expect(read(0x1234, 3)).toEqual([0x34, 0x35, 0x36]);
    expect(read(0x1234, 3, true)).toEqual([0x34, 0x35, 0x36]);
    expect(read(bytes.length - 2, 4)).toEqual([0xfe, 0xff, 0x00, 0x01]);
  });

  it('PAGE PROGRAM needs WREN, only clears bits, wraps inside its page; WEL clears after it, WIP shows while it runs', () => {
    const { h, status, ready, read, program, flash } = setup({ busyReads: 3 });
    memOp(h, 0, 0x02, { addr: 0x100, write: [0] }); // no WREN: ignored
    expect(read(0x100, 1)).toEqual([0xff]);
    memOp(h, 0, 0x06);
    expect(status()).toBe(WEL);
    memOp(h, 0, 0x02, { addr: 0x1fe, write: [0x11, 0x22, 0x33, 0x44] });
    expect(status() & (WIP | WEL)).toBe(WIP);
    memOp(h, 0, 0x06); // ignored while busy
    expect(memOp(h, 0, 0x35, { read: 1 }).at(-1)!.rx).toEqual([0]); // READ STATUS 2 is not
    expect(ready()).toBe(2);
    expect(status()).toBe(0);
    expect(read(0x1fe, 2)).toEqual([0x11, 0x22]);
    expect(read(0x100, 2)).toEqual([0x33, 0x44]); // wrapped to the start of the page
    expect(program(0x1fe, [0xf0])).toBe(3);
    expect(read(0x1fe, 1)).toEqual([0x10]); // 0x11 & 0xf0
    // more than a page: the last 256 bytes count, as on the chip
    program(0x300, Array.from({ length: 260 }, (_, i) => i & 0xff));
    expect(read(0x300, 4)).toEqual([0, 1, 2, 3].map((i) => (256 + i) & 0xff));
    expect(read(0x304, 1)).toEqual([4]);
    expect(flash.counts.programs).toBe(3);
  });

  it('SECTOR, 32K and 64K BLOCK and CHIP ERASE set their aligned range to 0xff; WRDI drops the latch', () => {
    const { h, ready, read, bytes, flash } = setup();
    bytes.fill(0);
    const erase = (op: number, addr?: number) => {
      memOp(h, 0, 0x06);
      memOp(h, 0, op, addr === undefined ? {} : { addr });
      ready();
    };
    erase(0x20, 0x1234);
    expect(read(0xfff, 3)).toEqual([0, 0xff, 0xff]);
    expect(read(0x1fff, 2)).toEqual([0xff, 0]);
    erase(0x52, 0x8000 + 5);
    expect(read(0x7fff, 2)).toEqual([0, 0xff]);
    expect(read(0xffff, 2)).toEqual([0xff, 0]);
    erase(0xd8, 0x20000);
    expect(read(0x2ffff, 2)).toEqual([0xff, 0]);
    memOp(h, 0, 0x06);
    memOp(h, 0, 0x04);
    memOp(h, 0, 0x20, { addr: 0x40000 });
    expect(read(0x40000, 1)).toEqual([0]);
    erase(0xc7);
    expect(bytes.every((b) => b === 0xff)).toBe(true);
    bytes.fill(0);
    erase(0x60);
    expect(bytes.every((b) => b === 0xff)).toBe(true);
    expect(flash.counts.erases).toBe(5);
  });

  it('a command cut short by chip select (cs_change) does nothing: an erase needs all three address bytes', () => {
    const { h, read, bytes } = setup();
    bytes.fill(0);
    memOp(h, 0, 0x06);
    h.transfer({}, [0x20], null);
    h.transfer({ csChange: 1 }, [0x00, 0x10], null);
    expect(read(0x1000, 1)).toEqual([0]);
    // and one message of several transfers with cs_change between commands works
    h.transfer({ csChange: 1 }, [0x06], null);
    h.transfer({}, [0x20, 0, 0x10, 0], null);
    expect(read(0x1000, 1)).toEqual([0xff]);
  });

  it('WRITE STATUS keeps the protection bits it is given (not enforced) and clears WEL; READ STATUS 2 returns SR2', () => {
    const { h, status, ready, flash } = setup();
    memOp(h, 0, 0x06);
    memOp(h, 0, 0x01, { write: [0xff, 0xff] });
    ready();
    expect(status()).toBe(0xfc);
    expect(memOp(h, 0, 0x35, { read: 1 }).at(-1)!.rx).toEqual([0x43]);
    expect(flash.status).toBe(0xfc);
    expect(flash.counts.statusWrites).toBe(1);
  });

  it('one full-duplex transfer can carry a whole command (spidev users do); unknown opcodes are ignored', () => {
    const { h, bytes } = setup();
    bytes.set([1, 2, 3], 0x10);
    expect(h.transfer({}, [0x03, 0, 0, 0x10, 0, 0, 0], 7).rx).toEqual([0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    expect(h.transfer({}, [0x5a, 0, 0, 0, 0, 0], 6).rx).toEqual(new Array<number>(6).fill(0xff));
    expect(h.transfer({}, [0x03, 0, 0, 0x11, 0], 5).rx).toEqual([0xff, 0xff, 0xff, 0xff, 2]);
  });

  it('modes a serial flash cannot follow fail the transfer (VIRTIO_SPI_TRANS_ERR): CPHA != CPOL, LSB first, CS high, not 8 bits', () => {
    const { h } = setup();
    for (const mode of [SpiMode.CPHA, SpiMode.CPOL, SpiMode.LSB_FIRST, SpiMode.CS_HIGH]) expect(h.transfer({ mode }, [0x9f], null).result).toBe(TRANS_ERR);
    expect(h.transfer({ bpw: 16 }, [0x9f, 0], null).result).toBe(TRANS_ERR);
    expect(h.transfer({ mode: SpiMode.CPHA | SpiMode.CPOL }, [0x9f, 0, 0, 0], 4)).toMatchObject({ result: TRANS_OK, rx: [0xff, 0xef, 0x40, 0x14] });
  });

  it('a storage that fails fails the guest transfer that needed it', () => {
    const storage = new MemoryFlashStorage(1 << 20);
    const failing = { size: storage.size, read: storage.read.bind(storage), write: () => { throw new Error('EIO'); } };
    const flash = new SpiNorFlash('w25q80bl', { storage: failing });
    const errors: unknown[] = [];
    const h = new Harness({ chipSelects: [flash] });
    h.device.onPeripheralError((e) => errors.push(e));
    memOp(h, 0, 0x06);
    const a = memOp(h, 0, 0x02, { addr: 0, write: [0] });
    expect(a.map((x) => x.result)).toEqual([TRANS_OK, TRANS_OK, TRANS_ERR]);
    expect(errors.length).toBe(1);
  });

  it('checks its arguments', () => {
    expect(() => new SpiNorFlash('w25q99' as never)).toThrow(RangeError);
    expect(() => new SpiNorFlash('w25q32', { storage: new MemoryFlashStorage(100) })).toThrow(/4194304/);
    expect(() => new SpiNorFlash('w25q32', { busyReads: -1 })).toThrow(RangeError);
    expect(() => new MemoryFlashStorage(0)).toThrow(RangeError);
  });
});

describe('openFlashFile', () => {
  it('creates a blank part, keeps every program and erase in the file before the guest is answered, refuses a file of another size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmv-spi-'));
    try {
      const path = join(dir, 'flash.bin');
      const { flash, close } = openFlashFile(path, 'w25q80bl', { busyReads: 0 });
      expect(statSync(path).size).toBe(1 << 20);
      const h = new Harness({ chipSelects: [flash] });
      memOp(h, 0, 0x06);
      memOp(h, 0, 0x02, { addr: 0x12345, write: [0xde, 0xad] });
      let f = readFileSync(path);
      expect([...f.subarray(0x12345, 0x12347)]).toEqual([0xde, 0xad]);
      memOp(h, 0, 0x06);
      memOp(h, 0, 0x20, { addr: 0x12000 });
      f = readFileSync(path);
      expect(f.every((b) => b === 0xff)).toBe(true);
      f[7] = 0x42;
      writeFileSync(path, f);
      expect(memOp(h, 0, 0x03, { addr: 7, read: 1 }).at(-1)!.rx).toEqual([0x42]); // reads go to the file
      close();
      close();
      expect(memOp(h, 0, 0x03, { addr: 7, read: 1 }).at(-1)!.result).toBe(TRANS_ERR);
      const again = openFlashFile(path, 'w25q80bl');
      expect(again.flash.storage.size).toBe(1 << 20);
      again.close();
      expect(() => openFlashFile(path, 'w25q32')).toThrow(/1048576 bytes; a w25q32 holds 4194304/);
      expect(() => openFlashFile(path, 'nope' as never)).toThrow(RangeError);
      writeFileSync(join(dir, 'short.bin'), Buffer.alloc(5));
      expect(() => openFlashFile(join(dir, 'short.bin'), 'w25q80bl')).toThrow(RangeError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
