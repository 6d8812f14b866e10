/**
 * @packageDocumentation
 * @vmv/vhost-user-blk: the `vmv-vhost-user-blk` daemon, a vhost-user-blk backend serving a raw
 * disk image to QEMU through @vmv/block's virtio-blk device (VIRTIO 1.2 §5.2) and
 * @vmv/vhost-user's backend (QEMU docs/interop/vhost-user.rst), like qemu-storage-daemon's
 * vhost-user-blk export. The command line is a thin wrapper around this API:
 * {@link parseArgs} → {@link BlockDaemon.start} → {@link BlockDaemon.stop}, or {@link runCli}.
 */
export { BlockDaemon } from './daemon.js';
export type { DaemonLogger, DaemonStats } from './daemon.js';
export { DEFAULT_INLINE_READ_MAX, DEFAULT_QUEUE_SIZE, HELP, MAX_INLINE_READ_MAX, LogLevel, PROGRAM, checkSerial, parseArgs } from './args.js';
export type { DaemonOptions, LogLevelName, ParsedCommand } from './args.js';
export { openImage, syncReader } from './image.js';
export { SessionSafeBackend } from './session-safe-backend.js';
export type { SessionSafeOptions, SessionSafeStats } from './session-safe-backend.js';
export type { OpenImage, OpenImageOptions } from './image.js';
export { MAX_SOCKET_PATH_BYTES, checkSocketPath, listenError } from './socket.js';
export { STOP_SIGNALS, packageVersion, processIo, runCli, stderrLogger } from './cli.js';
export type { CliIo } from './cli.js';
export { ImageError, SocketError, UsageError, VHOST_USER_BLK_ERROR_NAMES, VhostUserBlkError, isVhostUserBlkError } from './errors.js';
export type { VhostUserBlkErrorName, VhostUserBlkErrorOptions } from './errors.js';
