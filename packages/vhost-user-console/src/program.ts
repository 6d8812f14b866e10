/**
 * The vmv-vhost-user-console program, declared for the daemon kit (`@vmv/vhost-user/daemon`):
 * its flags ({@link CONSOLE_FLAGS}) and its device per socket ({@link ConsoleService}).
 * @module
 */
import { daemonHelp, packageVersion, type DaemonDefinition } from '@vmv/vhost-user/daemon';
import { CONSOLE_FLAGS, PROGRAM, consoleOptions } from './args.js';
import { ConsoleService } from './service.js';

/**
 * The daemon's definition for `runDaemon`.
 * @example `runDaemon(consoleDaemon).then((code) => process.exit(code));`
 */
export const consoleDaemon: DaemonDefinition<ConsoleService> = {
  program: PROGRAM,
  deviceType: 'console',
  description: `Serves a virtio-console device (port 0, the guest's hvc0, and named ports /dev/vportNpM) over
vhost-user, swappable with rust-vmm's vhost-device-console (same flags). Sockets are PATH0..PATH(N-1).
QEMU 10.2+ connects with:
  -chardev socket,id=c0,path=PATH0 -device vhost-user-test-device-pci,chardev=c0,virtio-id=3,num_vqs=Q,config_size=12
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
where Q = 4 + 2 * (number of --ports). Port bytes go to the terminal (nested), TCP (network), unix sockets (unix) or a pty per port (pty, its path printed);
bytes wait (never dropped) while nobody is connected or the guest reads nothing.`,
  version: packageVersion('@vmv/vhost-user-console', typeof __dirname === 'string' ? __dirname : undefined),
  flags: CONSOLE_FLAGS,
  socketSuffix: 'always',
  check: (values) => void consoleOptions(values),
  createDevice: (values, log, socket) => {
    const options = consoleOptions(values);
    const suffix = socket.startsWith(options.socketPath) ? Number(socket.slice(options.socketPath.length)) : 0;
    return ConsoleService.open(options, Number.isInteger(suffix) ? suffix : 0, log);
  },
};

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(consoleDaemon);
