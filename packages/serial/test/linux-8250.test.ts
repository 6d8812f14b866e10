/**
 * The register sequences of Linux's 8250 driver (drivers/tty/serial/8250/8250_port.c:
 * autoconfig, autoconfig_16550a, size_fifo, serial8250_do_startup, serial8250_do_set_termios,
 * the interrupt handler and the console write), replayed against the UART on a @vmv/bus PIO bus
 * at COM1 (0x3f8, IRQ 4, level-triggered). The driver model decides the port type exactly as
 * Linux does; the test requires "16550A".
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { InMemoryInterruptController, IoManager, PioRange } from '@vmv/bus';
import { FCR, IER, IIR, LCR, LSR, MCR, Serial16550, UART_REG as R } from '@vmv/serial';

const COM1 = 0x3f8;
const BOTH_EMPTY = LSR.TEMT | LSR.THRE;

/** Linux's serial_in / serial_out over the bus, one byte per access (inb/outb). */
class Port {
  readonly log: string[] = [];
  private readonly b = new Uint8Array(1);
  constructor(private readonly io: IoManager) {}
  in(reg: number): number {
    this.io.pioRead(COM1 + reg, this.b);
    this.log.push(`in ${reg}=${this.b[0]!.toString(16)}`);
    return this.b[0]!;
  }
  out(reg: number, v: number): void {
    this.b[0] = v;
    this.io.pioWrite(COM1 + reg, this.b);
    this.log.push(`out ${reg}=${v.toString(16)}`);
  }
  dlRead(): number {
    return this.in(R.DLL) | (this.in(R.DLM) << 8);
  }
  dlWrite(v: number): void {
    this.out(R.DLL, v & 0xff);
    this.out(R.DLM, (v >> 8) & 0xff);
  }
}

const UART_LCR_CONF_MODE_A = 0x80;
const UART_LCR_CONF_MODE_B = 0xbf;
const UART_EFR = 2;
const UART_FCR7_64BYTE = 0x20;
const UART_IER_UUE = 0x40;

/** size_fifo(): count how many bytes a loopback burst of 256 leaves in the receiver. */
function sizeFifo(p: Port): number {
  const oldLcr = p.in(R.LCR);
  p.out(R.LCR, 0);
  const oldFcr = p.in(R.FCR); // reads IIR, as Linux does
  const oldMcr = p.in(R.MCR);
  p.out(R.FCR, FCR.ENABLE_FIFO | FCR.CLEAR_RCVR | FCR.CLEAR_XMIT);
  p.out(R.MCR, MCR.LOOP);
  p.out(R.LCR, UART_LCR_CONF_MODE_A);
  const oldDl = p.dlRead();
  p.dlWrite(0x0001);
  p.out(R.LCR, 0x03);
  for (let count = 0; count < 256; count++) p.out(R.THR, count);
  let count = 0;
  for (; p.in(R.LSR) & LSR.DR && count < 256; count++) p.in(R.RBR);
  p.out(R.FCR, oldFcr);
  p.out(R.MCR, oldMcr);
  p.out(R.LCR, UART_LCR_CONF_MODE_A);
  p.dlWrite(oldDl);
  p.out(R.LCR, oldLcr);
  return count;
}

/** autoconfig_16550a(), following every branch a 16550A takes. */
function autoconfig16550a(p: Port): string {
  // EFR with DLAB set (ST16C650V1 only)
  p.out(R.LCR, UART_LCR_CONF_MODE_A);
  if (p.in(UART_EFR) === 0) return 'ST16650 or FSL64';
  // EFR at LCR=0xbf (ST16C650V2, TI16C752)
  p.out(R.LCR, UART_LCR_CONF_MODE_B);
  if (p.in(UART_EFR) === 0) return 'EFRv2';
  // National Semiconductor SuperIO bank switch
  p.out(R.LCR, 0);
  const status1 = p.in(R.MCR);
  p.out(R.LCR, 0xe0);
  let status2 = p.in(0x02);
  if (!((status2 ^ status1) & MCR.LOOP)) {
    p.out(R.LCR, 0);
    p.out(R.MCR, status1 ^ MCR.LOOP);
    p.out(R.LCR, 0xe0);
    status2 = p.in(0x02);
    p.out(R.LCR, 0);
    p.out(R.MCR, status1);
    if ((status2 ^ status1) & MCR.LOOP) return 'NS16550A';
  }
  // TI16750: IIR bit 5 with 64-byte FIFO mode, with and without DLAB
  p.out(R.LCR, 0);
  p.out(R.FCR, FCR.ENABLE_FIFO | UART_FCR7_64BYTE);
  const s1 = p.in(R.IIR) >> 5;
  p.out(R.FCR, FCR.ENABLE_FIFO);
  p.out(R.LCR, UART_LCR_CONF_MODE_A);
  p.out(R.FCR, FCR.ENABLE_FIFO | UART_FCR7_64BYTE);
  const s2 = p.in(R.IIR) >> 5;
  p.out(R.FCR, FCR.ENABLE_FIFO);
  p.out(R.LCR, 0);
  if (s1 === 6 && s2 === 7) return 'TI16750';
  // XScale: IER bit 6 (UUE) must not stick
  const iersave = p.in(R.IER);
  p.out(R.IER, iersave & ~UART_IER_UUE);
  if (!(p.in(R.IER) & UART_IER_UUE)) {
    p.out(R.IER, iersave | UART_IER_UUE);
    if (p.in(R.IER) & UART_IER_UUE) return 'XScale';
  }
  p.out(R.IER, iersave);
  // U6 16550A has a 64-byte FIFO
  if (sizeFifo(p) === 64) return 'U6_16550A';
  return '16550A';
}

/** autoconfig(): existence test, loopback test, FIFO detection, then the reset. */
function autoconfig(p: Port): string {
  const scratch = p.in(R.IER);
  p.out(R.IER, 0);
  const scratch2 = p.in(R.IER) & 0x0f;
  p.out(R.IER, 0x0f);
  const scratch3 = p.in(R.IER) & 0x0f;
  p.out(R.IER, scratch);
  if (scratch2 !== 0 || scratch3 !== 0x0f) return 'IER test failed';
  const saveMcr = p.in(R.MCR);
  const saveLcr = p.in(R.LCR);
  p.out(R.MCR, MCR.LOOP | 0x0a);
  const status1 = p.in(R.MSR) & 0xf0;
  p.out(R.MCR, saveMcr);
  if (status1 !== 0x90) return `LOOP test failed (${status1.toString(16)})`;
  p.out(R.LCR, UART_LCR_CONF_MODE_B);
  p.out(UART_EFR, 0);
  p.out(R.LCR, 0);
  p.out(R.FCR, FCR.ENABLE_FIFO);
  let type: string;
  switch (p.in(R.IIR) >> 6) {
    case 0: {
      // autoconfig_8250: scratch register test tells 8250 from 16450
      const s = p.in(R.SCR);
      p.out(R.SCR, 0xa5);
      const a = p.in(R.SCR);
      p.out(R.SCR, 0x5a);
      const b = p.in(R.SCR);
      p.out(R.SCR, s);
      type = a === 0xa5 && b === 0x5a ? '16450' : '8250';
      break;
    }
    case 1:
      type = 'unknown';
      break;
    case 2:
      type = '16550';
      break;
    default:
      type = autoconfig16550a(p);
  }
  p.out(R.LCR, saveLcr);
  // reset the UART
  p.out(R.MCR, saveMcr);
  p.out(R.FCR, FCR.ENABLE_FIFO); // serial8250_clear_fifos
  p.out(R.FCR, FCR.ENABLE_FIFO | FCR.CLEAR_RCVR | FCR.CLEAR_XMIT);
  p.out(R.FCR, 0);
  p.in(R.RBR);
  p.out(R.IER, 0);
  return type;
}

describe('Linux 8250 driver against Serial16550 at COM1', () => {
  let ctl: InMemoryInterruptController;
  let uart: Serial16550;
  let io: IoManager;
  let p: Port;
  let out: number[];

  beforeEach(() => {
    ctl = new InMemoryInterruptController();
    out = [];
    uart = new Serial16550({ output: (b) => out.push(b), interrupt: ctl.createLegacyGroup(4, 1, 'level') });
    io = new IoManager();
    io.registerPio(new PioRange(COM1, 8), uart);
    p = new Port(io);
  });

  /** serial8250_do_startup() for a 16550A with an IRQ, then serial8250_do_set_termios() for 115200 8N1. */
  function startupAndTermios(): { bugs: string[] } {
    const bugs: string[] = [];
    // clear FIFOs, clear interrupt registers
    p.out(R.FCR, FCR.ENABLE_FIFO);
    p.out(R.FCR, FCR.ENABLE_FIFO | FCR.CLEAR_RCVR | FCR.CLEAR_XMIT);
    p.out(R.FCR, 0);
    p.in(R.LSR);
    p.in(R.RBR);
    p.in(R.IIR);
    p.in(R.MSR);
    expect(p.in(R.LSR)).not.toBe(0xff); // LSR safety check
    // THRE re-assertion test (UART_BUG_THRE)
    while ((p.in(R.LSR) & LSR.THRE) === 0);
    p.out(R.IER, IER.THRI);
    const iir1 = p.in(R.IIR);
    p.out(R.IER, 0);
    p.out(R.IER, IER.THRI);
    const iir = p.in(R.IIR);
    p.out(R.IER, 0);
    if (!(iir1 & IIR.NO_INT) && iir & IIR.NO_INT) bugs.push('THRE');
    // initialise: 8 bits, OUT2 to enable the interrupt, DTR/RTS
    p.out(R.LCR, LCR.WLEN8);
    p.out(R.MCR, MCR.DTR | MCR.RTS | MCR.OUT2);
    // TX enable test (UART_BUG_TXEN)
    p.out(R.IER, IER.THRI);
    const lsr = p.in(R.LSR);
    const iir2 = p.in(R.IIR);
    p.out(R.IER, 0);
    if (lsr & LSR.TEMT && iir2 & IIR.NO_INT) bugs.push('TXEN');
    p.in(R.LSR);
    p.in(R.RBR);
    p.in(R.IIR);
    p.in(R.MSR);
    // set_termios: IER (RLSI | RDI), divisor with DLAB, LCR, FCR in two steps, MCR
    const ier = IER.RLSI | IER.RDI;
    p.out(R.IER, ier);
    p.out(R.LCR, LCR.WLEN8 | LCR.DLAB);
    p.dlWrite(1); // 115200 baud
    p.out(R.LCR, LCR.WLEN8);
    p.out(R.FCR, FCR.ENABLE_FIFO);
    p.out(R.FCR, FCR.ENABLE_FIFO | FCR.TRIGGER_8 | FCR.CLEAR_RCVR | FCR.CLEAR_XMIT);
    p.out(R.MCR, MCR.DTR | MCR.RTS | MCR.OUT2);
    return { bugs };
  }

  /**
   * serial8250_default_handle_irq() -> serial8250_handle_irq(), as Linux runs it: IIR, then LSR;
   * serial8250_rx_chars() only when IIR's RDI bit (0x04: RDI, RLSI, RX_TIMEOUT) is set and LSR
   * has DR or BI; serial8250_modem_status(); serial8250_tx_chars() whenever LSR.THRE is set
   * (which stops TX, clearing IER.THRI, once the queue is empty). Returns the received bytes.
   */
  function handleIrq(txQueue: number[], ierRef: { ier: number }): number[] {
    const got: number[] = [];
    const iir = p.in(R.IIR);
    if (iir & IIR.NO_INT) return got;
    let status = p.in(R.LSR);
    if (status & (LSR.DR | LSR.BI) && iir & IIR.RDI) {
      let max = 256;
      do {
        got.push(status & LSR.DR ? p.in(R.RBR) : 0); // serial8250_read_char
        if (--max === 0) break;
        status = p.in(R.LSR);
      } while (status & (LSR.DR | LSR.BI));
    }
    p.in(R.MSR); // serial8250_modem_status
    if (status & LSR.THRE) {
      const stopTx = () => {
        if (ierRef.ier & IER.THRI) {
          ierRef.ier &= ~IER.THRI; // __do_stop_tx
          p.out(R.IER, ierRef.ier);
        }
      };
      if (txQueue.length === 0) stopTx();
      else {
        for (let count = 16; count > 0 && txQueue.length > 0; count--) p.out(R.THR, txQueue.shift()!); // tx_loadsz 16
        if (txQueue.length === 0) stopTx();
      }
    }
    return got;
  }

  it('autoconfig_irq: the IRQ probe sees IRQ 4 fire, and the restored registers lower it', () => {
    autoconfig(p);
    ctl.takeDeliveries(); // probe_irq_off(probe_irq_on()): forget what was pending
    const saveMcr = p.in(R.MCR);
    const saveIer = p.in(R.IER);
    p.out(R.MCR, MCR.OUT1 | MCR.OUT2);
    const before = ctl.deliveryCount; // irqs = probe_irq_on()
    p.out(R.MCR, 0);
    p.out(R.MCR, MCR.DTR | MCR.RTS | MCR.OUT2);
    p.out(R.IER, 0x0f); // enable all interrupts
    p.in(R.LSR);
    p.in(R.RBR);
    p.in(R.IIR);
    p.in(R.MSR);
    p.out(R.THR, 0xff);
    const fired = new Set(ctl.takeDeliveries().map((d) => d.irq)); // probe_irq_off(irqs)
    expect(ctl.deliveryCount).toBeGreaterThan(before);
    expect([...fired]).toEqual([4]);
    expect(ctl.isAsserted(4)).toBe(true); // THRE is pending after the TX write
    p.out(R.MCR, saveMcr);
    p.out(R.IER, saveIer);
    expect(ctl.isAsserted(4)).toBe(false);
    expect(out).toEqual([0xff]); // the probe byte went out on the line, as on a real port
  });

  it('autoconfig detects a 16550A (IER test, loopback test, IIR FIFO bits 0b11, no EFR/NS/16750/XScale, 16-byte FIFO)', () => {
    expect(autoconfig(p)).toBe('16550A');
    // the probe itself raised no interrupt: OUT2 was never set
    expect(ctl.deliveries).toEqual([]);
    // what size_fifo measured, explicitly
    expect(sizeFifo(p)).toBe(16);
    expect(uart.stats.overruns).toBe(2 * 240); // the loopback bursts beyond 16 bytes overran, as on the chip
    expect(uart.stats.txBytes).toBe(0); // loopback bytes never reach the output
  });

  it('startup and set_termios: no THRE/TXEN bugs, 115200 baud, FIFO trigger 8, no interrupt pending at the end', () => {
    autoconfig(p);
    const { bugs } = startupAndTermios();
    expect(bugs).toEqual([]);
    expect(uart.divisor).toBe(1);
    expect(uart.baudRate).toBe(115200);
    expect(p.in(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.NO_INT);
    expect(uart.interruptAsserted).toBe(false);
    expect(ctl.isAsserted(4)).toBe(false);
  });

  it('transmits a console line through THRE interrupts, 16 bytes per interrupt', () => {
    autoconfig(p);
    startupAndTermios();
    ctl.takeDeliveries();
    const text = 'Linux version 6.1.0 (vmv@serial) #1 SMP\n';
    const queue = [...new TextEncoder().encode(text)];
    const ierRef = { ier: IER.RLSI | IER.RDI };
    // start_tx: enable THRI; the UART raises IRQ 4
    ierRef.ier |= IER.THRI;
    p.out(R.IER, ierRef.ier);
    let irqs = 0;
    while (ctl.isAsserted(4) && irqs < 10) {
      irqs++;
      handleIrq(queue, ierRef);
      ctl.ack(4); // EOI: the line drops; the UART raises it again if still pending
    }
    expect(new TextDecoder().decode(Uint8Array.from(out))).toBe(text);
    expect(irqs).toBe(Math.ceil(text.length / 16));
    // Each THR write re-arms THRE at once (instant transmission), so the line also rises inside
    // the handler; every rising edge is one recorded delivery.
    expect(ctl.deliveryCount).toBeGreaterThanOrEqual(irqs);
    expect(ctl.takeDeliveries().every((d) => d.irq === 4 && d.mode === 'level')).toBe(true);
    expect(uart.interruptAsserted).toBe(false);
  });

  it('serial8250_console_write: IER saved and cleared, BOTH_EMPTY polled before each byte, IER restored', () => {
    autoconfig(p);
    startupAndTermios();
    const ier = p.in(R.IER);
    p.out(R.IER, 0);
    for (const ch of new TextEncoder().encode('ok\r\n')) {
      while ((p.in(R.LSR) & BOTH_EMPTY) !== BOTH_EMPTY);
      p.out(R.THR, ch);
    }
    while ((p.in(R.LSR) & BOTH_EMPTY) !== BOTH_EMPTY);
    p.out(R.IER, ier);
    expect(String.fromCharCode(...out)).toBe('ok\r\n');
    expect(p.in(R.IER)).toBe(IER.RLSI | IER.RDI);
  });

  it('receives input: character timeout below the trigger level, data available at it, back-pressure beyond 16 bytes', () => {
    autoconfig(p);
    startupAndTermios();
    ctl.takeDeliveries();
    const ierRef = { ier: IER.RLSI | IER.RDI };
    const overrunsBefore = uart.stats.overruns;
    // 6 bytes < trigger 8: character-timeout interrupt
    expect(uart.pushInput(new TextEncoder().encode('root\r\n'))).toBe(6);
    expect(ctl.isAsserted(4)).toBe(true);
    expect(p.in(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RX_TIMEOUT);
    expect(String.fromCharCode(...handleIrq([], ierRef))).toBe('root\r\n');
    expect(ctl.isAsserted(4)).toBe(false);
    // 40 bytes offered: 16 taken, the rest waits for space (never dropped)
    const input = new TextEncoder().encode('0123456789abcdefghijklmnopqrstuvwxyzABCD');
    let rest = input.subarray(uart.pushInput(input));
    expect(rest.length).toBe(24);
    uart.onInputSpace(() => {
      rest = rest.subarray(uart.pushInput(rest));
    });
    expect(p.in(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RDI);
    const got: number[] = [];
    for (let i = 0; i < 10 && ctl.isAsserted(4); i++) {
      got.push(...handleIrq([], ierRef));
      ctl.ack(4);
    }
    expect(new TextDecoder().decode(Uint8Array.from(got))).toBe(new TextDecoder().decode(input));
    expect(rest.length).toBe(0);
    expect(uart.stats.overruns).toBe(overrunsBefore);
  });

  it('reports an overrun the way the chip does: LSR.OE with the line-status interrupt, counted', () => {
    autoconfig(p);
    startupAndTermios();
    const before = uart.stats.overruns;
    const lost = uart.pushInputLossy(new Uint8Array(20).fill(0x41));
    expect(lost).toBe(4);
    expect(uart.stats.overruns).toBe(before + 4);
    expect(p.in(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RLSI);
    const lsr = p.in(R.LSR);
    expect(lsr & LSR.OE).toBe(LSR.OE);
    expect(p.in(R.LSR) & LSR.OE).toBe(0); // cleared by the read
    expect(p.in(R.IIR)).toBe(IIR.FIFO_ENABLED | IIR.RDI);
  });

  it('serial8250_do_shutdown: interrupts off, OUT2 dropped, FIFOs cleared, line low', () => {
    autoconfig(p);
    startupAndTermios();
    uart.pushInput([1, 2, 3]);
    expect(ctl.isAsserted(4)).toBe(true);
    p.out(R.IER, 0);
    p.out(R.MCR, MCR.DTR | MCR.RTS);
    p.out(R.LCR, p.in(R.LCR) & ~LCR.SBC);
    p.out(R.FCR, FCR.ENABLE_FIFO);
    p.out(R.FCR, FCR.ENABLE_FIFO | FCR.CLEAR_RCVR | FCR.CLEAR_XMIT);
    p.out(R.FCR, 0);
    p.in(R.RBR);
    expect(ctl.isAsserted(4)).toBe(false);
    expect(p.in(R.LSR) & LSR.DR).toBe(0);
  });
});
