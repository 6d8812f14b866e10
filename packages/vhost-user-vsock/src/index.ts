/**
 * @packageDocumentation
 * @vmv/vhost-user-vsock: the `vmv-vhost-user-vsock` daemon, a vhost-user backend serving
 * @vmv/vsock's virtio-vsock device (VIRTIO 1.2 §5.10) to one guest or several, with the hybrid
 * unix socket of Firecracker and vhost-device-vsock as host end and guest-to-guest connections
 * inside groups; its flags are rust-vmm vhost-device-vsock's. The program is
 * `@vmv/vhost-user/daemon`'s `runDaemon` over {@link vsockDaemon} ({@link runCli}).
 */
export { PROGRAM, VSOCK_FLAGS, parseConfig, parseVm, vsockOptions } from './args.js';
export type { VmConfig, VsockOptions } from './args.js';
export { VsockGroups, VsockService, relay } from './service.js';
export { HELP, vsockDaemon } from './program.js';
export { runCli } from './cli.js';
