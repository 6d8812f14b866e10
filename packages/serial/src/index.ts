/**
 * @packageDocumentation
 * @vmv/serial: a 16550A UART (the PC serial port, Linux's ttyS0) as a PIO/MMIO device for
 * @vmv/bus, with its interrupt raised through the @vmv/bus interrupt abstraction. A serial
 * console for a minimal VMM; not a VIRTIO device (see virtio-console for that).
 */
export { UART_REG, IER, IIR, FCR, LCR, MCR, LSR, MSR } from './registers.js';
export { Serial16550 } from './serial.js';
export type { ModemInputs, Serial16550Options, Serial16550Stats } from './serial.js';
