/**
 * @packageDocumentation
 * @vmv/vhost-user-can: the `vmv-vhost-user-can` daemon, a vhost-user virtio-can backend serving
 * @vmv/can's controllers (VIRTIO 1.4 §5.20) through @vmv/vhost-user's backend: several guests on
 * virtual CAN buses inside the daemon, with the flags of rust-vmm's vhost-device-can, a frame
 * socket where host programs join a bus, and a control socket. The program is
 * `@vmv/vhost-user/daemon`'s `runDaemon` over {@link createCanDaemon} ({@link runCli}).
 */
export { CAN_CONTROL, CAN_FLAGS, DEFAULT_BUS, HELP, PROGRAM, createCanDaemon, parseCanDevices } from './program.js';
export type { CanService } from './program.js';
export { FrameSocket } from './frame-socket.js';
export { runCli } from './cli.js';
