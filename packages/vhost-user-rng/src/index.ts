/**
 * @packageDocumentation
 * @vmv/vhost-user-rng: the `vmv-vhost-user-rng` daemon, a vhost-user virtio-rng backend serving
 * @vmv/rng's entropy device (VIRTIO 1.2 §5.4) through @vmv/vhost-user's backend, with the flags
 * of rust-vmm's vhost-device-rng so one can stand in for the other. The program is
 * `@vmv/vhost-user/daemon`'s `runDaemon` over {@link createRngDaemon} ({@link runCli}).
 */
export { HELP, MAX_PERIOD_MS, PROGRAM, RNG_FLAGS, createRngDaemon, parseMaxBytes } from './program.js';
export type { RngService } from './program.js';
export { runCli } from './cli.js';
