/**
 * @packageDocumentation
 * @vmv/can: virtio-can (VIRTIO 1.4 §5.20), a CAN controller for guests on a virtual CAN bus that a
 * program owns: classic CAN, CAN FD, RTR frames and extended ids, lossless delivery in one bus order
 * with back-pressure on senders, START/STOP and bus-off. Several guests' controllers and the
 * program's endpoints share a {@link CanBus}. Pure TypeScript, zero runtime dependencies outside
 * @vmv: served in process by @vmv/transport-mmio or out of process by @vmv/vhost-user.
 */
export { CanDevice } from './device.js';
export type { CanControllerState, CanDeviceOptions, CanStateChange, CanStats } from './device.js';
export { CanBus, CanEndpoint } from './bus.js';
export type { CanBusStats, CanEndpointOptions, CanFilter } from './bus.js';
export { checkFrame, formatFrame, frameProblem, parseFrame } from './frame.js';
export type { CanFrame } from './frame.js';
export { CAN_FD_LENGTHS, CanFeature, CanFlags, CanLayout, CanMsg, CanQueue, CanResult, CanStatus } from './constants.js';
