/**
 * The vmv-vhost-user-blk program, declared for the daemon kit (`@vmv/vhost-user/daemon`): its
 * flags ({@link BLOCK_FLAGS}), its device ({@link BlockService}) and SIGUSR1 (re-read the
 * image's size and resize the device). Everything else (sockets, signals, logs, `--help`) is
 * the kit's.
 * @module
 */
import { daemonHelp, packageVersion, type DaemonDefinition } from '@vmv/vhost-user/daemon';
import { BLOCK_FLAGS, PROGRAM, blockOptions } from './args.js';
import { BlockService } from './service.js';

/**
 * The daemon's definition for `runDaemon`.
 * @example
 * ```ts
 * runDaemon(blockDaemon).then((code) => process.exit(code));
 * ```
 */
export const blockDaemon: DaemonDefinition<BlockService> = {
  program: PROGRAM,
  deviceType: 'block',
  features: ['read-only'],
  description: `Serves a raw disk image as a virtio-blk device over vhost-user (like qemu-storage-daemon's
vhost-user-blk export). QEMU connects with:
  -chardev socket,id=c0,path=PATH -device vhost-user-blk-pci,chardev=c0,num-queues=N
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
One frontend at a time; when it disconnects the image is flushed and the next one is served.
SIGUSR1 re-reads the image's size and resizes the device (truncate -s +1G disk.img; kill -USR1 PID).`,
  version: packageVersion('@vmv/vhost-user-blk', typeof __dirname === 'string' ? __dirname : undefined),
  flags: BLOCK_FLAGS,
  socketPathAliases: ['socket'],
  // One image, one device: two devices writing one image would corrupt it.
  maxSockets: 1,
  logLevel: (values) => blockOptions(values).logLevel,
  check: (values) => void blockOptions(values),
  createDevice: (values, log) => BlockService.open(blockOptions(values), log),
  signals: {
    SIGUSR1: (services, log) => {
      log.info('SIGUSR1: re-reading the image size');
      for (const s of services) void s.resize();
    },
  },
};

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(blockDaemon);
