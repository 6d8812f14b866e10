/**
 * The vmv-vhost-user-input program, declared for the daemon kit (`@vmv/vhost-user/daemon`): its
 * flags ({@link INPUT_FLAGS}) and its device ({@link InputService}).
 * @module
 */
import { daemonHelp, packageVersion, type DaemonDefinition } from '@vmv/vhost-user/daemon';
import { INPUT_FLAGS, PROGRAM, descriptionOf } from './args.js';
import { InputService } from './service.js';

/** The daemon's definition for `runDaemon`. @example `runDaemon(inputDaemon).then((code) => process.exit(code))` */
export const inputDaemon: DaemonDefinition<InputService> = {
  program: PROGRAM,
  deviceType: 'input',
  description: `Serves a virtio-input device (keyboard, mouse, tablet, touchscreen or a JSON description)
over vhost-user; the host sends its events as JSON lines (--events-stdin, --events-socket) and gets
the guest's status events (LEDs) back the same way. QEMU connects with:
  -chardev socket,id=c0,path=PATH0 -device vhost-user-input-pci,chardev=c0
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
As rust-vmm's vhost-device-input, -s PATH listens on PATH0.`,
  version: packageVersion('@vmv/vhost-user-input', typeof __dirname === 'string' ? __dirname : undefined),
  flags: INPUT_FLAGS,
  socketSuffix: 'always',
  // one device fed by one event source
  maxSockets: 1,
  check: (values) => void descriptionOf(values),
  createDevice: (values, log) => InputService.open(values, log),
};

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(inputDaemon);
