/**
 * @packageDocumentation
 * @vmv/vhost-user-blk: the `vmv-vhost-user-blk` daemon, a vhost-user-blk backend serving a raw
 * disk image to QEMU through @vmv/block's virtio-blk device (VIRTIO 1.2 §5.2) and
 * @vmv/vhost-user's backend (QEMU docs/interop/vhost-user.rst), like qemu-storage-daemon's
 * vhost-user-blk export. The program is `@vmv/vhost-user/daemon`'s `runDaemon` over
 * {@link blockDaemon} ({@link runCli}); {@link BlockDaemon} runs it inside another program.
 */
export { BlockDaemon } from './daemon.js';
export type { DaemonLogger, DaemonStats } from './daemon.js';
export { BlockService } from './service.js';
export { BLOCK_FLAGS, DEFAULT_INLINE_READ_MAX, DEFAULT_QUEUE_SIZE, MAX_INLINE_READ_MAX, LogLevel, PROGRAM, blockOptions, checkSerial, parseArgs } from './args.js';
export type { DaemonOptions, LogLevelName, ParsedCommand, RunOptions } from './args.js';
export { HELP, blockDaemon } from './program.js';
export { openImage, syncReader } from './image.js';
export { SessionSafeBackend } from './session-safe-backend.js';
export type { InlineReader, SessionSafeOptions, SessionSafeStats } from './session-safe-backend.js';
export type { OpenImage, OpenImageOptions } from './image.js';
export { runCli } from './cli.js';
export { ImageError, VHOST_USER_BLK_ERROR_NAMES, VhostUserBlkError, isVhostUserBlkError } from './errors.js';
export type { VhostUserBlkErrorName, VhostUserBlkErrorOptions } from './errors.js';
