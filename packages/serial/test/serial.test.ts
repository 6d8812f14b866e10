import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InMemoryInterruptController, IoManager, MmioRange, PioRange } from '@vmv/bus';
import { FCR, IER, IIR, LCR, LSR, MCR, MSR, Serial16550, UART_REG as R } from '@vmv/serial';
import type { ModemInputs } from '@vmv/serial';

function setup(opts: { out2?: boolean; mode?: 'edge' | 'level' } = {}) {
  const ctl = new InMemoryInterruptController();
  const out: number[] = [];
  const irq = ctl.createLegacyGroup(4, 1, opts.mode ?? 'level');
  const uart = new Serial16550({ output: (b) => out.push(b), interrupt: irq, out2GatesInterrupt: opts.out2 });
  return { ctl, out, irq, uart };
}

describe('Serial16550 registers', () => {
  it('has the reset state of a 16550A', () => {
    const { uart } = setup();
    expect(uart.readRegister(R.IER)).toBe(0);
    expect(uart.readRegister(R.IIR)).toBe(IIR.NO_INT);
    expect(uart.readRegister(R.LCR)).toBe(0);
    expect(uart.readRegister(R.MCR)).toBe(0);
    expect(uart.readRegister(R.LSR)).toBe(LSR.THRE | LSR.TEMT);
    expect(uart.readRegister(R.MSR)).toBe(MSR.CTS | MSR.DSR | MSR.DCD);
    expect(uart.readRegister(R.SCR)).toBe(0);
    expect(uart.divisor).toBe(12);
    expect(uart.baudRate).toBe(9600);
    expect(uart.inputSpace).toBe(1);
  });

  it('divisor latch behind DLAB; scratch; IER keeps 4 bits; MCR keeps 5 bits; LSR/MSR writes ignored', () => {
    const { uart } = setup();
    uart.writeRegister(R.LCR, LCR.DLAB | LCR.WLEN8);
    uart.writeRegister(R.DLL, 0x34);
    uart.writeRegister(R.DLM, 0x12);
    expect([uart.readRegister(R.DLL), uart.readRegister(R.DLM), uart.divisor]).toEqual([0x34, 0x12, 0x1234]);
    uart.writeRegister(R.LCR, LCR.WLEN8);
    expect(uart.readRegister(R.IER)).toBe(0);
    uart.writeRegister(R.IER, 0xff);
    expect(uart.readRegister(R.IER)).toBe(0x0f);
    uart.writeRegister(R.MCR, 0xff);
    expect(uart.readRegister(R.MCR)).toBe(0x1f);
    uart.writeRegister(R.SCR, 0x5a);
    expect(uart.readRegister(R.SCR)).toBe(0x5a);
    uart.writeRegister(R.LSR, 0);
    uart.writeRegister(R.MSR, 0);
    expect(uart.readRegister(R.LSR) & LSR.THRE).toBe(LSR.THRE);
    uart.writeRegister(R.LCR, LCR.DLAB);
    uart.writeRegister(R.DLL, 0);
    uart.writeRegister(R.DLM, 0);
    expect(uart.baudRate).toBe(0);
    expect(() => uart.readRegister(8)).toThrow(RangeError);
    expect(() => uart.writeRegister(-1, 0)).toThrow(RangeError);
  });

  it('16450 mode: a one-byte holding register, overrun overwrites it', () => {
    const { uart } = setup();
    expect(uart.pushInput([1, 2])).toBe(1);
    expect(uart.pushInputLossy([3])).toBe(1);
    expect(uart.readRegister(R.LSR) & (LSR.OE | LSR.DR)).toBe(LSR.OE | LSR.DR);
    expect(uart.readRegister(R.RBR)).toBe(3);
    expect(uart.readRegister(R.LSR) & LSR.DR).toBe(0);
    expect(uart.readRegister(R.RBR)).toBe(0); // empty receiver reads 0
  });

  it('FIFO mode: trigger levels choose between RDA and character timeout; switching modes empties the FIFO', () => {
    const { uart } = setup();
    uart.writeRegister(R.FCR, FCR.ENABLE_FIFO | FCR.TRIGGER_4);
    uart.writeRegister(R.IER, IER.RDI);
    uart.pushInput([1, 2, 3]);
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RX_TIMEOUT);
    uart.pushInput([4]);
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RDI);
    uart.writeRegister(R.FCR, FCR.ENABLE_FIFO | FCR.TRIGGER_14);
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RX_TIMEOUT);
    uart.writeRegister(R.FCR, FCR.ENABLE_FIFO | FCR.TRIGGER_1);
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RDI);
    uart.writeRegister(R.FCR, 0); // leaving FIFO mode empties it
    expect(uart.readRegister(R.LSR) & LSR.DR).toBe(0);
    expect(uart.readRegister(R.IIR)).toBe(IIR.NO_INT);
    uart.writeRegister(R.FCR, FCR.CLEAR_RCVR | FCR.TRIGGER_14); // ignored without FCR0
    uart.writeRegister(R.FCR, FCR.ENABLE_FIFO);
    uart.pushInput([9, 9]);
    uart.writeRegister(R.FCR, FCR.ENABLE_FIFO | FCR.CLEAR_RCVR);
    expect(uart.inputSpace).toBe(16);
  });

  it('modem status: loopback maps outputs to inputs, deltas set and cleared on read, MSI interrupt', () => {
    const { uart, ctl } = setup();
    uart.writeRegister(R.MCR, MCR.OUT2);
    uart.writeRegister(R.IER, IER.MSI);
    expect(uart.readRegister(R.IIR)).toBe(IIR.NO_INT);
    uart.setModemInputs({ dcd: false, ri: true });
    expect(uart.readRegister(R.IIR)).toBe(IIR.MSI);
    expect(ctl.isAsserted(4)).toBe(true);
    expect(uart.readRegister(R.MSR)).toBe(MSR.CTS | MSR.DSR | MSR.RI | MSR.DDCD);
    expect(ctl.isAsserted(4)).toBe(false);
    uart.setModemInputs({ ri: false });
    expect(uart.readRegister(R.MSR)).toBe(MSR.CTS | MSR.DSR | MSR.TERI);
    uart.setModemInputs({ cts: false, dsr: false });
    expect(uart.readRegister(R.MSR)).toBe(MSR.DCTS | MSR.DDSR);
    // loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD
    uart.writeRegister(R.MCR, MCR.LOOP | MCR.RTS | MCR.DTR | MCR.OUT1 | MCR.OUT2);
    expect(uart.readRegister(R.MSR) & 0xf0).toBe(MSR.CTS | MSR.DSR | MSR.RI | MSR.DCD);
    uart.writeRegister(R.MCR, MCR.LOOP);
    expect(uart.readRegister(R.MSR)).toBe(MSR.DCTS | MSR.DDSR | MSR.TERI | MSR.DDCD);
  });

  it('loopback: transmitted bytes come back, input from the host is refused or counted lost', () => {
    const { uart, out } = setup();
    uart.writeRegister(R.MCR, MCR.LOOP);
    uart.writeRegister(R.THR, 0x55);
    expect(out).toEqual([]);
    expect(uart.readRegister(R.RBR)).toBe(0x55);
    expect(uart.pushInput([1])).toBe(0);
    expect(uart.pushInputLossy([1, 2])).toBe(2);
    expect(uart.stats.overruns).toBe(2);
  });

  it('interrupt priority: line status over data over THRE over modem status', () => {
    const { uart } = setup();
    uart.writeRegister(R.FCR, FCR.ENABLE_FIFO);
    uart.writeRegister(R.IER, IER.RDI | IER.THRI | IER.RLSI | IER.MSI);
    uart.setModemInputs({ dcd: false });
    uart.pushInputLossy(new Uint8Array(17));
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RLSI);
    uart.readRegister(R.LSR);
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RDI); // trigger level 1
    while (uart.readRegister(R.LSR) & LSR.DR) uart.readRegister(R.RBR);
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.THRI); // reading it acknowledges THRE
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.MSI);
    uart.readRegister(R.MSR);
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.NO_INT);
    uart.writeRegister(R.THR, 0x20); // THR empties at once: THRE is pending again
    expect(uart.readRegister(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.THRI);
  });
});

describe('Serial16550 interrupt line', () => {
  it('is gated by OUT2 (PC wiring) unless configured otherwise', () => {
    const gated = setup();
    gated.uart.writeRegister(R.IER, IER.THRI);
    expect(gated.ctl.isAsserted(4)).toBe(false);
    expect(gated.uart.readRegister(R.IIR)).toBe(IIR.THRI);
    gated.uart.writeRegister(R.IER, 0);
    gated.uart.writeRegister(R.MCR, MCR.OUT2);
    gated.uart.writeRegister(R.IER, IER.THRI);
    expect(gated.ctl.isAsserted(4)).toBe(true);
    gated.uart.writeRegister(R.MCR, MCR.OUT2 | MCR.LOOP); // loopback disconnects OUT2
    expect(gated.ctl.isAsserted(4)).toBe(false);
    const open = setup({ out2: false });
    open.uart.writeRegister(R.IER, IER.THRI);
    expect(open.ctl.isAsserted(4)).toBe(true);
    expect(open.uart.interruptAsserted).toBe(true);
  });

  it('re-raises the line after an end of interrupt while still pending (resample), counts edges', () => {
    const { uart, ctl } = setup();
    uart.writeRegister(R.MCR, MCR.OUT2);
    uart.writeRegister(R.IER, IER.RDI);
    uart.pushInput([7]);
    expect(ctl.takeDeliveries().length).toBe(1);
    ctl.ack(4);
    expect(ctl.isAsserted(4)).toBe(true);
    expect(ctl.takeDeliveries().length).toBe(1);
    uart.readRegister(R.RBR);
    expect(ctl.isAsserted(4)).toBe(false);
    expect(uart.stats.interrupts).toBe(2);
    uart.dispose();
    uart.pushInput([8]);
    ctl.ack(4);
    expect(ctl.takeDeliveries().length).toBe(1); // raised by pushInput; no resample after dispose
  });

  it('works on an edge-triggered line: one edge per rising condition', () => {
    const { uart, ctl } = setup({ mode: 'edge' });
    uart.writeRegister(R.MCR, MCR.OUT2);
    uart.writeRegister(R.IER, IER.RDI);
    uart.pushInput([1]);
    uart.pushInput([]);
    expect(ctl.takeDeliveries().map((d) => d.mode)).toEqual(['edge']);
    uart.readRegister(R.RBR);
    uart.pushInput([2]);
    expect(ctl.deliveryCount).toBe(2);
  });

  it('polls without an interrupt line', () => {
    const uart = new Serial16550();
    uart.writeRegister(R.MCR, MCR.OUT2);
    uart.writeRegister(R.IER, IER.THRI);
    expect(uart.interruptAsserted).toBe(true);
    uart.writeRegister(R.THR, 0x41); // no output callback: the byte is transmitted to nowhere
    expect(uart.stats.txBytes).toBe(1);
    uart.dispose();
  });
});

describe('Serial16550 on the buses', () => {
  it('PIO: wide accesses split into byte accesses', () => {
    const { uart, out } = setup();
    const io = new IoManager();
    io.registerPio(new PioRange(0x3f8, 8), uart);
    io.pioWrite(0x3fb, Uint8Array.of(LCR.WLEN8, MCR.OUT2)); // LCR, MCR
    expect(uart.readRegister(R.MCR)).toBe(MCR.OUT2);
    const b = new Uint8Array(2);
    io.pioRead(0x3fd, b); // LSR, MSR
    expect([...b]).toEqual([LSR.THRE | LSR.TEMT, MSR.CTS | MSR.DSR | MSR.DCD]);
    io.pioWrite(0x3f8, Uint8Array.of(0x68));
    expect(out).toEqual([0x68]);
  });

  it('MMIO with regShift 2 (reg-io-width 4), as on device-tree ns16550a', () => {
    const out: number[] = [];
    const uart = new Serial16550({ output: (b) => out.push(b), regShift: 2 });
    const io = new IoManager();
    io.registerMmio(new MmioRange(0x1000_0000, 0x20), uart);
    io.mmioWrite(0x1000_0000, Uint8Array.of(0x6f, 0, 0, 0));
    const lsr = new Uint8Array(4);
    io.mmioRead(0x1000_0000 + (R.LSR << 2), lsr);
    expect([...lsr]).toEqual([LSR.THRE | LSR.TEMT, 0, 0, 0]);
    io.mmioRead(0x1000_0001, lsr); // unaligned to the register stride: reads 0
    expect([...lsr]).toEqual([0, 0, 0, 0]);
    io.mmioWrite(0x1000_0001, Uint8Array.of(1)); // ignored
    expect(out).toEqual([0x6f]);
  });
});

describe('Serial16550 options and host API', () => {
  it('checks its options and arguments', () => {
    const ctl = new InMemoryInterruptController();
    expect(() => new Serial16550({ output: 1 as unknown as () => void })).toThrow(TypeError);
    expect(() => new Serial16550({ interrupt: ctl.createMsiGroup(0, 1) as never })).toThrow(TypeError);
    expect(() => new Serial16550({ interrupt: ctl.createLegacyGroup(1, 1, 'level'), interruptIndex: 1 })).toThrow(RangeError);
    expect(() => new Serial16550({ regShift: 5 })).toThrow(RangeError);
    expect(() => new Serial16550({ modem: { dcd: 1 as unknown as boolean } })).toThrow(TypeError);
    expect(() => new Serial16550().setModemInputs(null as unknown as ModemInputs)).toThrow(/setModemInputs: modem inputs must be an object/);
    expect(() => new Serial16550().setModemInputs({ cts: 'no' as unknown as boolean })).toThrow(/cts must be a boolean/);
    const uart = new Serial16550();
    expect(() => uart.pushInput('abc' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => uart.pushInputLossy([256])).toThrow(TypeError);
    expect(() => uart.onInputSpace(null as unknown as () => void)).toThrow(TypeError);
    const off = uart.onInputSpace(() => {});
    off();
  });

  it('property: back-pressure delivers every byte once, in order, whatever the reads and FIFO mode', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 40 }), fc.boolean(), (input, reads, fifo) => {
        const uart = new Serial16550();
        if (fifo) uart.writeRegister(R.FCR, FCR.ENABLE_FIFO);
        let rest = input.subarray(uart.pushInput(input));
        uart.onInputSpace(() => {
          rest = rest.subarray(uart.pushInput(rest));
        });
        const got: number[] = [];
        for (let k = 0; rest.length > 0 || uart.readRegister(R.LSR) & LSR.DR; k++) {
          const n = reads[k % reads.length]!;
          for (let i = 0; i < n && uart.readRegister(R.LSR) & LSR.DR; i++) got.push(uart.readRegister(R.RBR));
          if (k > 10000) break;
        }
        expect(got).toEqual([...input]);
        expect(uart.stats.overruns).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('back-pressure resumes after loopback and after FIFO enable, not only after a full receiver drains', () => {
    // Loopback (Linux's probe uses it): pushInput takes nothing; leaving loopback must resume input.
    const uart = new Serial16550();
    uart.writeRegister(R.FCR, FCR.ENABLE_FIFO);
    uart.writeRegister(R.MCR, MCR.LOOP);
    let rest = Uint8Array.of(1, 2, 3);
    let calls = 0;
    uart.onInputSpace(() => {
      calls++;
      rest = rest.subarray(uart.pushInput(rest));
    });
    rest = rest.subarray(uart.pushInput(rest));
    expect(rest.length).toBe(3);
    uart.readRegister(R.LSR);
    expect(calls).toBe(0); // still in loopback: nothing to say
    uart.writeRegister(R.MCR, 0);
    expect([calls, rest.length]).toEqual([1, 0]);
    expect([uart.readRegister(R.RBR), uart.readRegister(R.RBR), uart.readRegister(R.RBR)]).toEqual([1, 2, 3]);
    expect(calls).toBe(1); // not called again: nothing was refused since
    // 16450 mode holds one byte; enabling the FIFO makes room for 15 more.
    const u2 = new Serial16550();
    let rest2 = Uint8Array.of(10, 11, 12);
    u2.onInputSpace(() => {
      rest2 = rest2.subarray(u2.pushInput(rest2));
    });
    rest2 = rest2.subarray(u2.pushInput(rest2));
    expect(rest2.length).toBe(2);
    u2.writeRegister(R.FCR, FCR.ENABLE_FIFO); // switching modes empties the receiver (guest's choice) ...
    expect(rest2.length).toBe(0); // ... and the waiting bytes come in at once
    expect([u2.readRegister(R.RBR), u2.readRegister(R.RBR)]).toEqual([11, 12]);
  });

  it('property: back-pressure delivers every byte once, in order, across loopback toggles and partial reads', () => {
    type Op = { t: 'read'; n: number } | { t: 'loop'; on: boolean };
    const op: fc.Arbitrary<Op> = fc.oneof(fc.record({ t: fc.constant('read' as const), n: fc.integer({ min: 1, max: 20 }) }), fc.record({ t: fc.constant('loop' as const), on: fc.boolean() }));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 120 }), fc.array(op, { minLength: 1, maxLength: 40 }), fc.boolean(), (input, ops, fifo) => {
        const uart = new Serial16550();
        if (fifo) uart.writeRegister(R.FCR, FCR.ENABLE_FIFO);
        let rest = input;
        uart.onInputSpace(() => {
          rest = rest.subarray(uart.pushInput(rest));
        });
        const got: number[] = [];
        for (const [k, o] of ops.entries()) {
          if (k === 0 || k === ops.length >> 1) rest = rest.subarray(uart.pushInput(rest)); // the host offers twice, unprompted
          if (o.t === 'loop') uart.writeRegister(R.MCR, o.on ? MCR.LOOP : 0);
          else for (let i = 0; i < o.n && uart.readRegister(R.LSR) & LSR.DR; i++) got.push(uart.readRegister(R.RBR));
        }
        // the guest leaves loopback and drains; input must flow again with no help from the host
        uart.writeRegister(R.MCR, 0);
        for (let guard = 0; uart.readRegister(R.LSR) & LSR.DR && guard < 1000; guard++) got.push(uart.readRegister(R.RBR));
        expect(rest.length).toBe(0);
        expect(got).toEqual([...input]);
        expect(uart.stats.overruns).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('property: lossy input accounts for every byte (received + overruns = offered)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }), fc.boolean(), (bursts, fifo) => {
        const uart = new Serial16550();
        if (fifo) uart.writeRegister(R.FCR, FCR.ENABLE_FIFO);
        let offered = 0;
        let lost = 0;
        let received = 0;
        for (const burst of bursts) {
          offered += burst.length;
          const l = uart.pushInputLossy(burst);
          lost += l;
          expect(uart.readRegister(R.LSR) & LSR.OE).toBe(l > 0 ? LSR.OE : 0);
          while (uart.readRegister(R.LSR) & LSR.DR) {
            uart.readRegister(R.RBR);
            received++;
          }
        }
        expect(received + lost).toBe(offered);
        expect(uart.stats.overruns).toBe(lost);
      }),
      { numRuns: 200 },
    );
  });

  it('property: any sequence of guest register accesses keeps the register invariants and never throws', () => {
    const access = fc.record({ write: fc.boolean(), reg: fc.integer({ min: 0, max: 7 }), value: fc.integer({ min: 0, max: 255 }) });
    fc.assert(
      fc.property(fc.array(access, { maxLength: 200 }), fc.uint8Array({ maxLength: 40 }), (accesses, input) => {
        const { uart, ctl } = setup();
        const io = new IoManager();
        io.registerPio(new PioRange(0x3f8, 8), uart);
        const b = new Uint8Array(1);
        for (const [i, a] of accesses.entries()) {
          if (i === accesses.length >> 1) uart.pushInputLossy(input);
          if (a.write) {
            b[0] = a.value;
            io.pioWrite(0x3f8 + a.reg, b);
          } else {
            io.pioRead(0x3f8 + a.reg, b);
          }
          const lcr = uart.readRegister(R.LCR);
          uart.writeRegister(R.LCR, lcr & ~LCR.DLAB);
          expect(uart.readRegister(R.IER) & 0xf0).toBe(0);
          const iir = uart.readRegister(R.IIR);
          expect(iir & 0x30).toBe(0);
          expect([0x00, 0x02, 0x04, 0x06, 0x0c]).toContain(iir & 0x0e);
          expect(uart.readRegister(R.LSR) & (LSR.THRE | LSR.TEMT)).toBe(LSR.THRE | LSR.TEMT);
          expect(uart.readRegister(R.MCR) & 0xe0).toBe(0);
          uart.writeRegister(R.LCR, lcr);
          expect(ctl.isAsserted(4)).toBe(uart.interruptAsserted);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('Serial16550 misuse', () => {
  it('property: arbitrary arguments to every host-side entry point give labelled TypeError/RangeError only', () => {
    const any = fc.oneof(fc.constant({ toString: 0 }), fc.constant(Object.create(null) as unknown), fc.anything({ withBigInt: true }), fc.integer(), fc.bigInt(), fc.double(), fc.constant(undefined), fc.constant(null), fc.uint8Array({ maxLength: 4 }), fc.array(fc.integer({ min: -2, max: 300 }), { maxLength: 4 }));
    const judge = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        const err = e as Error;
        if (!(err instanceof TypeError || err instanceof RangeError)) throw new Error(`unexpected ${String(err?.name)}: ${String(err?.message)}`, { cause: e });
        if (!/^[\w.]+( [\w.]+)*:/.test(err.message)) throw new Error(`unlabelled ${err.name}: ${err.message}`, { cause: e });
      }
    };
    fc.assert(
      fc.property(any, any, any, (a, b, c) => {
        const ctl = new InMemoryInterruptController();
        const irq = ctl.createLegacyGroup(4, 1, 'level');
        const uart = new Serial16550({ interrupt: irq });
        judge(() => new Serial16550(a as never));
        judge(() => new Serial16550({ output: a, interrupt: b, interruptIndex: c } as never));
        judge(() => new Serial16550({ interrupt: irq, interruptIndex: a, regShift: b, modem: c, out2GatesInterrupt: a } as never));
        judge(() => new Serial16550({ interrupt: { kind: 'legacy', count: 1, trigger: () => 'delivered', onResample: a, deassert: b } } as never));
        judge(() => uart.pushInput(a as never));
        judge(() => uart.pushInputLossy(a as never));
        judge(() => uart.readRegister(a as never));
        judge(() => uart.writeRegister(a as never, b as never));
        judge(() => uart.setModemInputs(a as never));
        judge(() => uart.onInputSpace(a as never));
      }),
      { numRuns: 300 },
    );
  });
});
