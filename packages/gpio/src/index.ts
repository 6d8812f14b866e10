/**
 * @packageDocumentation
 * @vmv/gpio: virtio-gpio (VIRTIO 1.2 §5.18), a simulated GPIO chip for guests: lines with names,
 * directions, values and pulls that a host program drives and watches, and edge and level
 * interrupts as the spec orders them. Pure TypeScript, zero runtime dependencies outside @vmv:
 * served in process by @vmv/transport-mmio or out of process by @vmv/vhost-user.
 */
export { GpioDevice } from './device.js';
export type { GpioDeviceOptions, GpioStats } from './device.js';
export { GpioChip } from './chip.js';
export type { GpioEdgeOutcome, GpioLineDescription, GpioLineEvent, GpioLineState } from './chip.js';
export { GpioDirection, GpioFeature, GpioIrqStatus, GpioIrqType, GpioLayout, GpioMsg, GpioQueue, GpioStatus } from './constants.js';
export type { GpioDirectionValue, GpioIrqTypeValue } from './constants.js';
