/**
 * Checks of the unix socket path before listening, and the translation of listen(2) failures,
 * so that a bad `--socket-path` gives one clear line instead of an errno: the directory is missing,
 * the path is too long for `sockaddr_un`, another file or a live daemon holds the path.
 * @module
 */

import { accessSync, constants, lstatSync, rmSync, statSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import { isSysError, UnixListener } from '@vmv/sys';
import { SocketError, UsageError } from './errors.js';

/** Longest socket path: `sun_path` holds 108 bytes including the terminating NUL. @example `path.length <= MAX_SOCKET_PATH_BYTES` */
export const MAX_SOCKET_PATH_BYTES = 107;

function code(e: unknown): string | undefined {
  const c = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof c === 'string' ? c : undefined;
}

/**
 * Checks that a unix socket can be created at `path`: not too long, its directory exists and is
 * writable, and nothing but (possibly) a socket file is there already. A socket file left by a
 * dead daemon is replaced at listen time; a live one makes listen fail with a SocketError.
 * @param path - the socket path.
 * @throws VhostUser.SocketError describing the problem.
 * @throws TypeError when `path` is not a non-empty string.
 * @example
 * ```ts
 * checkSocketPath('/run/vmv/blk0.sock');
 * ```
 */
export function checkSocketPath(path: string): void {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('checkSocketPath: path must be a non-empty string');
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new SocketError(path, `socket path is ${bytes} bytes long; a unix socket path can have at most ${MAX_SOCKET_PATH_BYTES}`, {
      details: 'Use a shorter path (for example under /run or /tmp), or a relative path from a nearby directory.',
    });
  }
  if (path.includes('\0')) throw new SocketError(path, 'socket path must not contain a NUL byte');
  const dir = dirname(path);
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    if (code(e) === 'ENOENT') throw new SocketError(path, `cannot create socket ${path}: directory ${dir} does not exist`, { details: `Create it first: mkdir -p ${dir}`, cause: e });
    throw new SocketError(path, `cannot create socket ${path}: ${dir} cannot be examined (${code(e) ?? String(e)})`, { cause: e });
  }
  if (!isDir) throw new SocketError(path, `cannot create socket ${path}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new SocketError(path, `cannot create socket ${path}: no permission to create files in ${dir}`, { cause: e });
  }
  let existing;
  try {
    existing = lstatSync(path);
  } catch (e) {
    if (code(e) === 'ENOENT') return;
    throw new SocketError(path, `cannot examine ${path}: ${code(e) ?? String(e)}`, { cause: e });
  }
  if (existing.isDirectory()) throw new SocketError(path, `${path} is a directory; give the path of the socket file to create`);
  if (!existing.isSocket()) throw new SocketError(path, `${path} exists and is not a socket; refusing to replace it`, { details: 'Remove the file or choose another --socket-path.' });
}

/**
 * Turns a failure of listen(2) on `path` into a {@link SocketError} with a clear message.
 * @param path - the socket path.
 * @param error - what `UnixListener.listen` threw.
 * @returns the error to throw.
 * @example
 * ```ts
 * try { backend.listen(path, { removeStale: true }); } catch (e) { throw listenError(path, e); }
 * ```
 */
export function listenError(path: string, error: unknown): SocketError {
  // @vmv/sys errors, and node:net's (the control socket)
  const is = (errno: string) => isSysError(error, errno) || code(error) === errno;
  if (is('EADDRINUSE')) {
    return new SocketError(path, `another process is already listening on ${path}`, {
      details: 'Stop that daemon first, or choose another --socket-path.',
      cause: error,
    });
  }
  if (is('EACCES') || is('EPERM')) return new SocketError(path, `cannot listen on ${path}: permission denied`, { cause: error });
  if (is('ENAMETOOLONG')) return new SocketError(path, `cannot listen on ${path}: path too long for a unix socket`, { cause: error });
  if (is('ENOENT')) return new SocketError(path, `cannot listen on ${path}: directory does not exist`, { cause: error });
  const c = code(error);
  const message = error instanceof Error ? error.message : String(error);
  return new SocketError(path, `cannot listen on ${path}: ${c ?? message}`, { details: c === undefined ? undefined : message, cause: error });
}

/**
 * The socket paths a daemon listens on: `path` alone, or with `count` given, `path0` ..
 * `path{count-1}` (the naming of rust-vmm's vhost-device daemons' `--socket-count`).
 * @param path - `--socket-path`.
 * @param count - `--socket-count`, or undefined.
 * @returns the paths.
 * @example
 * ```ts
 * socketPaths('/run/rng.sock', 2); // ['/run/rng.sock0', '/run/rng.sock1']
 * ```
 */
export function socketPaths(path: string, count: number | undefined): string[] {
  if (count === undefined) return [path];
  return Array.from({ length: count }, (_, i) => `${path}${i}`);
}

/**
 * Takes over the listening socket a manager handed down as `--fd FDNUM`.
 * @param fd - the inherited fd number.
 * @returns the listener (the daemon closes it; the socket file, if any, is the manager's).
 * @throws VhostUser.UsageError when the fd is not open or not a listening unix stream socket.
 * @example
 * ```ts
 * backend.listenOn(adoptListener(3), 'fd 3');
 * ```
 */
export function adoptListener(fd: number): UnixListener {
  try {
    return UnixListener.adopt(fd);
  } catch (e) {
    const why = isSysError(e, 'EBADF')
      ? 'is not open'
      : isSysError(e, 'ENOTSOCK')
        ? 'is not a socket'
        : isSysError(e, 'EAFNOSUPPORT') || isSysError(e, 'EPROTOTYPE')
          ? 'is not a unix stream socket'
          : isSysError(e, 'EINVAL')
            ? 'is a socket that is not listening'
            : `cannot be used (${e instanceof Error ? e.message : String(e)})`;
    throw new UsageError(`--fd ${fd} ${why}`, { details: 'Pass an fd the manager opened with socket(AF_UNIX, SOCK_STREAM), bind() and listen(), or use --socket-path.', cause: e });
  }
}

/**
 * Has a `node:net` server listen on the unix socket `path`, after {@link checkSocketPath}; a socket
 * file nobody accepts on (a dead daemon's) is replaced, a live one is left alone.
 * @param server - the server (from `createServer`).
 * @param path - the socket path.
 * @returns a promise: listening.
 * @throws VhostUser.SocketError when the path cannot be listened on.
 * @example
 * ```ts
 * await listenUnix(createServer(), '/run/vmv/blk0.ctl');
 * ```
 */
export async function listenUnix(server: Server, path: string): Promise<void> {
  checkSocketPath(path);
  const tryListen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await tryListen();
  } catch (e) {
    if (code(e) !== 'EADDRINUSE' || (await accepting(path))) throw listenError(path, e);
    rmSync(path, { force: true });
    try {
      await tryListen();
    } catch (e2) {
      throw listenError(path, e2);
    }
  }
}

/** Whether something accepts connections on the unix socket `path`. */
function accepting(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
