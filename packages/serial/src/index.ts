/**
 * @packageDocumentation
 * @vmv/serial: a 16550A UART (the PC serial port, Linux's ttyS0) as a PIO/MMIO device for
 * @vmv/bus, with its interrupt raised through the @vmv/bus interrupt abstraction. A serial
 * console for a minimal VMM; not a VIRTIO device (see virtio-console for that).
 */
export * from './registers.js';
export * from './serial.js';
