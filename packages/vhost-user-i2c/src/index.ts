/**
 * @packageDocumentation
 * @vmv/vhost-user-i2c: the `vmv-vhost-user-i2c` daemon, a vhost-user virtio-i2c backend serving
 * @vmv/i2c's adapter (VIRTIO 1.2 §5.16) over a bus of simulated EEPROMs and LM75 sensors through
 * @vmv/vhost-user's backend, with the flags of rust-vmm's vhost-device-i2c and a control socket.
 * The program is `@vmv/vhost-user/daemon`'s `runDaemon` over {@link createI2cDaemon} ({@link runCli}).
 */
export { HELP, I2C_CONTROL, I2C_FLAGS, MODELS, PROGRAM, createI2cDaemon, parseDeviceList } from './program.js';
export type { I2cService, SimulatedDevice } from './program.js';
export { runCli } from './cli.js';
