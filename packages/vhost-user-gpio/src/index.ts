/**
 * @packageDocumentation
 * @vmv/vhost-user-gpio: the `vmv-vhost-user-gpio` daemon, a vhost-user virtio-gpio backend serving
 * @vmv/gpio's simulated chips (VIRTIO 1.2 §5.18) through @vmv/vhost-user's backend, with the flags
 * of rust-vmm's vhost-device-gpio and a control socket to drive lines. The program is
 * `@vmv/vhost-user/daemon`'s `runDaemon` over {@link createGpioDaemon} ({@link runCli}).
 */
export { GPIO_CONTROL, GPIO_FLAGS, HELP, PROGRAM, createGpioDaemon, parseDeviceList } from './program.js';
export type { GpioService } from './program.js';
export { runCli } from './cli.js';
