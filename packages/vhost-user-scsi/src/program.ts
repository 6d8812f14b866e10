/**
 * The vmv-vhost-user-scsi program, declared for the daemon kit (`@vmv/vhost-user/daemon`): its
 * flags ({@link SCSI_FLAGS}) and its device ({@link ScsiService}).
 * @module
 */
import { daemonHelp, packageVersion, type DaemonDefinition } from '@vmv/vhost-user/daemon';
import { PROGRAM, SCSI_FLAGS, scsiOptions } from './args.js';
import { ScsiService } from './service.js';

/**
 * The daemon's definition for `runDaemon` (the images as arguments go through `imageArguments` first: {@link runCli}).
 * @example `runCli(process.argv.slice(2)).then((code) => process.exit(code));`
 */
export const scsiDaemon: DaemonDefinition<ScsiService> = {
  program: PROGRAM,
  deviceType: 'scsi',
  description: `Serves raw disk images as the LUNs of a virtio-scsi target over vhost-user (image N is LUN N of
target 0), swappable with rust-vmm's vhost-device-scsi (same flags). Usage: ${PROGRAM} -s PATH [-r] IMAGE...
QEMU connects with:
  -chardev socket,id=c0,path=PATH -device vhost-user-scsi-pci,chardev=c0
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
One frontend at a time; when it disconnects the images are flushed and the next one is served.`,
  version: packageVersion('@vmv/vhost-user-scsi', typeof __dirname === 'string' ? __dirname : undefined),
  flags: SCSI_FLAGS,
  // The images are opened once: two devices writing one image would corrupt it.
  maxSockets: 1,
  check: (values) => void scsiOptions(values),
  createDevice: (values, log) => ScsiService.open(scsiOptions(values), log),
};

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(scsiDaemon);
