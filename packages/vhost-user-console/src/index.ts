/**
 * @packageDocumentation
 * @vmv/vhost-user-console: the `vmv-vhost-user-console` daemon, a vhost-user backend serving
 * @vmv/console's virtio-console device (VIRTIO 1.2 §5.3) with its ports on TCP, unix sockets or
 * the terminal; its flags are rust-vmm vhost-device-console's, plus named ports. The program is
 * `@vmv/vhost-user/daemon`'s `runDaemon` over {@link consoleDaemon} ({@link runCli}).
 */
export { CONSOLE_FLAGS, PROGRAM, consoleOptions, parsePortNames, parseSize } from './args.js';
export type { BackendName, ConsoleOptions } from './args.js';
export { ConsoleService, tcpPortOf } from './service.js';
export { servePty } from './pty.js';
export type { PtyEndpoint } from './pty.js';
export { HELP, consoleDaemon } from './program.js';
export { runCli } from './cli.js';
