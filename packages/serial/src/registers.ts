/**
 * 16550A register offsets and bits (National Semiconductor PC16550D datasheet; the names follow
 * Linux's include/uapi/linux/serial_reg.h).
 * @module
 */

/** Register offsets (before any `regShift`). @example `uart.readRegister(UART_REG.LSR)` */
export const UART_REG = {
  /** Receiver buffer (read, DLAB=0). */
  RBR: 0,
  /** Transmitter holding register (write, DLAB=0). */
  THR: 0,
  /** Divisor latch low byte (DLAB=1). */
  DLL: 0,
  /** Interrupt enable register (DLAB=0). */
  IER: 1,
  /** Divisor latch high byte (DLAB=1). */
  DLM: 1,
  /** Interrupt identification register (read). */
  IIR: 2,
  /** FIFO control register (write). */
  FCR: 2,
  /** Line control register. */
  LCR: 3,
  /** Modem control register. */
  MCR: 4,
  /** Line status register. */
  LSR: 5,
  /** Modem status register. */
  MSR: 6,
  /** Scratch register. */
  SCR: 7,
} as const;

/** IER bits. @example `IER.RDI | IER.RLSI` */
export const IER = {
  /** Received data available (and character timeout). */
  RDI: 0x01,
  /** Transmitter holding register empty. */
  THRI: 0x02,
  /** Receiver line status. */
  RLSI: 0x04,
  /** Modem status. */
  MSI: 0x08,
} as const;

/** IIR values. @example `(iir & IIR.NO_INT) === 0` */
export const IIR = {
  /** No interrupt pending. */
  NO_INT: 0x01,
  /** Mask of the interrupt id bits. */
  ID_MASK: 0x0e,
  /** Modem status. */
  MSI: 0x00,
  /** Transmitter holding register empty. */
  THRI: 0x02,
  /** Received data available. */
  RDI: 0x04,
  /** Receiver line status. */
  RLSI: 0x06,
  /** Character timeout (data below the trigger level). */
  RX_TIMEOUT: 0x0c,
  /** FIFOs enabled (bits 6-7). */
  FIFO_ENABLED: 0xc0,
} as const;

/** FCR bits. @example `FCR.ENABLE_FIFO | FCR.CLEAR_RCVR | FCR.TRIGGER_8` */
export const FCR = {
  /** Enable the FIFOs (other FCR bits are only taken with this bit set). */
  ENABLE_FIFO: 0x01,
  /** Clear the receiver FIFO. */
  CLEAR_RCVR: 0x02,
  /** Clear the transmitter FIFO. */
  CLEAR_XMIT: 0x04,
  /** DMA mode select (no effect here). */
  DMA_SELECT: 0x08,
  /** Mask of the receiver trigger level bits. */
  TRIGGER_MASK: 0xc0,
  /** Receiver trigger at 1 byte. */
  TRIGGER_1: 0x00,
  /** Receiver trigger at 4 bytes. */
  TRIGGER_4: 0x40,
  /** Receiver trigger at 8 bytes. */
  TRIGGER_8: 0x80,
  /** Receiver trigger at 14 bytes. */
  TRIGGER_14: 0xc0,
} as const;

/** LCR bits. @example `LCR.WLEN8 | LCR.DLAB` */
export const LCR = {
  /** 5-bit words. */
  WLEN5: 0x00,
  /** 6-bit words. */
  WLEN6: 0x01,
  /** 7-bit words. */
  WLEN7: 0x02,
  /** 8-bit words. */
  WLEN8: 0x03,
  /** Two stop bits (1.5 with 5-bit words). */
  STOP: 0x04,
  /** Parity enable. */
  PARITY: 0x08,
  /** Even parity. */
  EPAR: 0x10,
  /** Stick parity. */
  SPAR: 0x20,
  /** Set break. */
  SBC: 0x40,
  /** Divisor latch access. */
  DLAB: 0x80,
} as const;

/** MCR bits. @example `MCR.DTR | MCR.RTS | MCR.OUT2` */
export const MCR = {
  /** Data terminal ready (loops back to DSR). */
  DTR: 0x01,
  /** Request to send (loops back to CTS). */
  RTS: 0x02,
  /** Auxiliary output 1 (loops back to RI). */
  OUT1: 0x04,
  /** Auxiliary output 2: gates the interrupt on PC boards (loops back to DCD). */
  OUT2: 0x08,
  /** Loopback mode. */
  LOOP: 0x10,
} as const;

/** LSR bits. @example `(lsr & LSR.DR) !== 0` */
export const LSR = {
  /** Data ready. */
  DR: 0x01,
  /** Overrun error. */
  OE: 0x02,
  /** Parity error. */
  PE: 0x04,
  /** Framing error. */
  FE: 0x08,
  /** Break interrupt. */
  BI: 0x10,
  /** Transmitter holding register empty. */
  THRE: 0x20,
  /** Transmitter empty. */
  TEMT: 0x40,
  /** Error in the receiver FIFO. */
  FIFOE: 0x80,
} as const;

/** MSR bits. @example `(msr & MSR.DCD) !== 0` */
export const MSR = {
  /** CTS changed. */
  DCTS: 0x01,
  /** DSR changed. */
  DDSR: 0x02,
  /** RI went from on to off (trailing edge). */
  TERI: 0x04,
  /** DCD changed. */
  DDCD: 0x08,
  /** Clear to send. */
  CTS: 0x10,
  /** Data set ready. */
  DSR: 0x20,
  /** Ring indicator. */
  RI: 0x40,
  /** Data carrier detect. */
  DCD: 0x80,
} as const;
