/**
 * @packageDocumentation
 * @vmv/vhost-user-scsi: the `vmv-vhost-user-scsi` daemon, a vhost-user backend serving raw disk
 * images as the LUNs of one target through @vmv/scsi's virtio-scsi device (VIRTIO 1.2 §5.6); its
 * flags are rust-vmm vhost-device-scsi's. The program is `@vmv/vhost-user/daemon`'s `runDaemon`
 * over {@link scsiDaemon} ({@link runCli}).
 */
export { DEFAULT_NUM_QUEUES, DEFAULT_QUEUE_SIZE, PROGRAM, SCSI_FLAGS, imageArguments, scsiOptions } from './args.js';
export type { ScsiOptions } from './args.js';
export { ScsiService } from './service.js';
export type { AddLunOptions, LunInfo } from './service.js';
export { HELP, SCSI_CONTROL, scsiDaemon } from './program.js';
export { runCli } from './cli.js';
