/**
 * @packageDocumentation
 * `@vmv/vhost-user/daemon`: the kit every vmv-vhost-user-* daemon is built on: flag specs, the
 * parser and `--help` made from them, the common flags (`--socket-path`, `--socket-count`,
 * `--print-capabilities`, `--verbose`, `--quiet`, `--log-format`), socket checks, logging,
 * signals and reconnects. See the package README, "Writing a daemon".
 */
export { runDaemon, daemonHelp, daemonFlags, logBackendEvent, processIo, COMMON_FLAGS } from './run.js';
export type { DaemonDefinition, DaemonIo, ServedDevice } from './run.js';
export { parseFlags, parseInteger, formatHelp } from './flags.js';
export type { FlagSpec, FlagSpecs, FlagValues } from './flags.js';
export { createLogger, LOG_LEVELS } from './log.js';
export type { DaemonLog, LogLevel } from './log.js';
export { ControlServer, ControlError, controlHelp, controlRequest, MAX_CONTROL_LINE } from './control.js';
export type { ControlCommand, ControlErrorInfo, ControlFailure, ControlReply, ControlReturn } from './control.js';
export { checkSocketPath, listenError, listenUnix, socketPaths, MAX_SOCKET_PATH_BYTES } from './socket.js';
export { UsageError, SocketError } from './errors.js';
export { packageVersion } from './version.js';
export { DAEMON_ERROR_NAMES } from '../errors.js';
