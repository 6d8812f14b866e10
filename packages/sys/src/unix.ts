/**
 * @packageDocumentation
 * Unix stream sockets owned by the addon, with fd passing (SCM_RIGHTS). Every socket is
 * non-blocking and close-on-exec; received fds are close-on-exec (MSG_CMSG_CLOEXEC). Readiness
 * comes from a {@link FdWatcher} on Node's loop, not from net.Socket: libuv's stream reads would
 * drop attached fds.
 *
 * Paths: a path starting with `'\0'` names a Linux abstract socket (no file); any other path is
 * created by {@link UnixListener.listen} and removed by {@link UnixListener.close}.
 */
import { lstatSync, statSync, unlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { assertBytes, assertFd, assertInteger, assertOptions, assertString } from './assert.js';
import { closedError, EAGAIN, fail, isSysError, SysError } from './errors.js';
import { native } from './native.js';
import { watchFd } from './watcher.js';
import type { FdWatcher, WatchCallback, WatchOptions } from './watcher.js';

/**
 * Most fds one message can carry (Linux SCM_MAX_FD).
 * @example
 * ```ts
 * if (fds.length > MAX_FDS_PER_MESSAGE) throw new RangeError('too many fds');
 * ```
 */
export const MAX_FDS_PER_MESSAGE = 253;

/**
 * What {@link UnixStream.recvmsg} received.
 * @example
 * ```ts
 * const { bytesRead, fds, fdsTruncated } = stream.recvmsg(buf) ?? { bytesRead: -1, fds: [], fdsTruncated: false };
 * ```
 */
export interface RecvResult {
  /** Bytes written into the buffer; 0 means the peer closed its end (end of file). */
  bytesRead: number;
  /** Fds that arrived with these bytes, in order. The caller owns them (close-on-exec is set). */
  fds: number[];
  /** MSG_CTRUNC: the peer sent more fds than fit (the kernel closed the excess). */
  fdsTruncated: boolean;
}

/**
 * The credentials of the peer process, taken when the connection was made (SO_PEERCRED).
 * @example
 * ```ts
 * const { pid, uid } = stream.peerCredentials();
 * ```
 */
export interface PeerCredentials {
  /** Process id. */
  pid: number;
  /** User id. */
  uid: number;
  /** Group id. */
  gid: number;
}

/**
 * Options of {@link UnixListener.listen}.
 * @example
 * ```ts
 * UnixListener.listen('/run/vmv.sock', { backlog: 1, removeStale: true });
 * ```
 */
export interface UnixListenOptions {
  /** listen(2) backlog. Default 16. */
  backlog?: number;
  /**
   * If a socket file exists at the path and nobody accepts on it (a probing connect is refused),
   * remove it first. A live listener makes listen fail with `EADDRINUSE` (it sees the probe as a
   * connection that closes at once); a file that is not a socket is never removed. Default false.
   */
  removeStale?: boolean;
}

const SHUT = { read: 0, write: 1, both: 2 } as const;
let adopting = -1;
const kListen = Symbol('UnixListener.create');

function validPath(path: unknown, label: string): asserts path is string {
  assertString(path, `${label}: path`);
  if (path.length === 0) throw new RangeError(`${label}: path must not be empty`);
}

/**
 * A connected unix stream socket. Create with {@link UnixStream.connect}, {@link UnixStream.pair},
 * {@link UnixListener.accept} or {@link UnixStream.from}.
 *
 * @example
 * ```ts
 * const [a, b] = UnixStream.pair();
 * a.sendmsg(new Uint8Array([1, 2, 3]), [memfd]);
 * const got = b.recvmsg(new Uint8Array(64)); // { bytesRead: 3, fds: [n], fdsTruncated: false }
 * ```
 */
export class UnixStream {
  #fd: number;

  /**
   * Internal: use the static constructors.
   * @throws TypeError when called from outside the package
   * @example
   * ```ts
   * const s = UnixStream.connect('/run/backend.sock'); // not new UnixStream()
   * ```
   */
  constructor() {
    if (adopting < 0) throw new TypeError('UnixStream: use UnixStream.connect(), .pair(), .from() or UnixListener.accept()');
    this.#fd = adopting;
    adopting = -1;
  }

  /**
   * Connects to a listening socket. Never blocks.
   * @param path - the socket path (or `'\0name'` for an abstract socket)
   * @returns the connected stream
   * @throws {@link SysError} `ENOENT` (no such file), `ECONNREFUSED` (nobody listening),
   *   `EAGAIN` (the listener's backlog is full), `ENAMETOOLONG` (path over 107 bytes), `EACCES`
   * @example
   * ```ts
   * const s = UnixStream.connect('/tmp/vhost.sock');
   * ```
   */
  static connect(path: string): UnixStream {
    validPath(path, 'UnixStream.connect');
    const fd = native.unixConnect(path);
    if (fd < 0) throw fail(fd, undefined, JSON.stringify(path));
    return adoptStream(fd);
  }

  /**
   * A connected pair of streams (socketpair(2)), for tests or for handing one end to a child process.
   * @returns two connected streams
   * @throws {@link SysError} `EMFILE`
   * @example
   * ```ts
   * const [parent, child] = UnixStream.pair();
   * spawn('prog', { stdio: ['ignore', 'inherit', 'inherit', child.fd] });
   * ```
   */
  static pair(): [UnixStream, UnixStream] {
    const r = native.socketpair();
    if (typeof r === 'number') throw fail(r);
    return [adoptStream(r[0]), adoptStream(r[1])];
  }

  /**
   * Takes ownership of a connected unix stream socket fd (for example one received in a message),
   * putting it into non-blocking mode.
   * @param fd - a connected AF_UNIX SOCK_STREAM socket; the returned object owns it
   * @returns the stream
   * @throws {@link SysError} `EBADF`
   * @example
   * ```ts
   * const backendChannel = UnixStream.from(msg.fds[0]!);
   * ```
   */
  static from(fd: number): UnixStream {
    assertFd(fd, 'UnixStream.from');
    const r = native.setNonBlocking(fd, true);
    if (r < 0) throw fail(r);
    return adoptStream(fd);
  }

  /**
   * The socket fd, or -1 after {@link UnixStream.close}.
   * @returns the fd number
   * @example
   * ```ts
   * watchFd(stream.fd, cb);
   * ```
   */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Whether {@link UnixStream.close} has run.
   * @returns true once closed
   * @example
   * ```ts
   * stream.close(); stream.closed; // true
   * ```
   */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Sends bytes, with fds attached to them (SCM_RIGHTS). Never blocks and never raises SIGPIPE.
   * A stream may accept fewer bytes than given when its buffer is nearly full; the fds always
   * travel with the first byte sent. The fds stay open here: the receiver gets its own copies.
   *
   * @param data - the bytes (at least 1 byte when fds are attached)
   * @param fds - fds to pass, at most {@link MAX_FDS_PER_MESSAGE}
   * @returns the number of bytes sent (at least 1 for a non-empty `data`)
   * @throws {@link SysError} `EAGAIN` (buffer full: nothing sent), `EPIPE` / `ECONNRESET` (peer
   *   gone), `EBADF` (closed, or a bad fd in `fds`)
   * @throws TypeError / RangeError on bad arguments
   * @example
   * ```ts
   * stream.sendmsg(reply);
   * stream.sendmsg(header, [memfd, kickFd]);
   * ```
   */
  sendmsg(data: Uint8Array, fds?: readonly number[]): number {
    assertBytes(data, 'UnixStream.sendmsg: data');
    let list: readonly number[] = NO_FDS;
    if (fds !== undefined) {
      if (!Array.isArray(fds)) throw new TypeError('UnixStream.sendmsg: fds must be an array of fd numbers');
      if (fds.length > MAX_FDS_PER_MESSAGE) throw new RangeError(`UnixStream.sendmsg: at most ${MAX_FDS_PER_MESSAGE} fds per message, got ${fds.length}`);
      for (const fd of fds) assertFd(fd, 'UnixStream.sendmsg: fds[]');
      if (fds.length > 0 && data.length === 0) throw new RangeError('UnixStream.sendmsg: fds need at least one byte of data to travel with');
      list = fds;
    }
    if (this.#fd < 0) throw closedError('UnixStream.sendmsg');
    const r = native.sendmsg(this.#fd, data, list);
    if (r < 0) throw fail(r, 'sendmsg');
    return r;
  }

  /**
   * Receives bytes into `buffer`, with any fds that came with them. Never blocks.
   *
   * @param buffer - where to put the bytes; at least 1 byte long
   * @returns what arrived, or null if nothing is available yet (EAGAIN); `bytesRead` 0 means end of file
   * @throws {@link SysError} `ECONNRESET`, `EBADF` (closed)
   * @throws TypeError / RangeError on a bad buffer
   * @example
   * ```ts
   * const header = new Uint8Array(12);
   * const got = stream.recvmsg(header);
   * if (got === null) return;          // wait for readiness
   * if (got.bytesRead === 0) close();  // frontend went away
   * ```
   */
  recvmsg(buffer: Uint8Array): RecvResult | null {
    assertBytes(buffer, 'UnixStream.recvmsg: buffer');
    if (buffer.length === 0) throw new RangeError('UnixStream.recvmsg: buffer must not be empty');
    if (this.#fd < 0) throw closedError('UnixStream.recvmsg');
    const r = native.recvmsg(this.#fd, buffer);
    if (typeof r === 'number') {
      if (r === -EAGAIN) return null;
      throw fail(r, 'recvmsg');
    }
    return { bytesRead: r[0], fds: r[1], fdsTruncated: r[2] };
  }

  /**
   * The peer's pid, uid and gid (SO_PEERCRED), e.g. to check who connected to a backend socket.
   * @returns the credentials
   * @throws {@link SysError} `EBADF` if closed
   * @example
   * ```ts
   * if (stream.peerCredentials().uid !== process.getuid!()) stream.close();
   * ```
   */
  peerCredentials(): PeerCredentials {
    if (this.#fd < 0) throw closedError('UnixStream.peerCredentials');
    const r = native.peerCred(this.#fd);
    if (typeof r === 'number') throw fail(r);
    return { pid: r[0], uid: r[1], gid: r[2] };
  }

  /**
   * Shuts down one or both directions (shutdown(2)); the peer reads end of file after `'write'`.
   * @param how - `'read'`, `'write'` or `'both'` (default)
   * @throws {@link SysError} `ENOTCONN`, `EBADF` (closed)
   * @example
   * ```ts
   * stream.shutdown('write');
   * ```
   */
  shutdown(how: 'read' | 'write' | 'both' = 'both'): void {
    const code = how === 'read' || how === 'write' || how === 'both' ? SHUT[how] : undefined;
    if (code === undefined) throw new RangeError(`UnixStream.shutdown: how must be 'read', 'write' or 'both', got ${String(how)}`);
    if (this.#fd < 0) throw closedError('UnixStream.shutdown');
    const r = native.shutdown(this.#fd, code);
    if (r < 0) throw fail(r);
  }

  /**
   * Watches the socket (see {@link watchFd}); the watcher is closed by {@link UnixStream.close}.
   * Ask for `PollEvents.DISCONNECT` to learn of a peer hang-up without reading.
   * @param callback - readiness callback
   * @param options - events (default READABLE), ref, start
   * @returns the watcher
   * @throws {@link SysError} `EBADF` (closed), `EEXIST` (already watched)
   * @example
   * ```ts
   * stream.watch((err, events) => { if (!err) pump(); });
   * ```
   */
  watch(callback: WatchCallback, options?: WatchOptions): FdWatcher {
    if (this.#fd < 0) throw closedError('UnixStream.watch');
    return watchFd(this.#fd, callback, options);
  }

  /**
   * Closes the socket (and any watcher on it); the peer reads end of file. Idempotent.
   * @throws {@link SysError} if close(2) fails
   * @example
   * ```ts
   * stream.close();
   * ```
   */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    const r = native.close(fd);
    if (r < 0) throw fail(r);
  }
}

function adoptStream(fd: number): UnixStream {
  adopting = fd;
  return new UnixStream();
}

const NO_FDS: readonly number[] = Object.freeze([]);

/**
 * A listening unix stream socket.
 *
 * @example
 * ```ts
 * const listener = UnixListener.listen('/tmp/vhost.sock', { removeStale: true });
 * listener.watch(() => {
 *   const conn = listener.accept();
 *   if (conn) serve(conn);
 * });
 * ```
 */
export class UnixListener {
  /** The path it listens on. */
  readonly path: string;
  #fd: number;
  #inode: { dev: number; ino: number } | undefined;

  /**
   * Internal: use {@link UnixListener.listen}.
   * @param token - internal
   * @param fd - listening socket
   * @param path - bound path
   * @throws TypeError when called from outside the package
   * @example
   * ```ts
   * UnixListener.listen(path); // not new UnixListener(...)
   * ```
   */
  constructor(token: symbol, fd: number, path: string) {
    if (token !== kListen) throw new TypeError('UnixListener: use UnixListener.listen()');
    this.#fd = fd;
    this.path = path;
    if (path !== '' && !path.startsWith('\0')) {
      try {
        const st = statSync(path);
        this.#inode = { dev: st.dev, ino: st.ino };
      } catch {
        this.#inode = undefined;
      }
    }
  }

  /**
   * Creates, binds and listens on a unix stream socket at `path`.
   * @param path - a filesystem path (at most 107 bytes) or `'\0name'` (abstract)
   * @param options - backlog, removeStale
   * @returns the listener
   * @throws {@link SysError} `EADDRINUSE` (path exists), `ENOENT` (directory missing),
   *   `EACCES`, `ENAMETOOLONG`
   * @throws TypeError / RangeError on bad arguments
   * @example
   * ```ts
   * const l = UnixListener.listen('/tmp/backend.sock');
   * ```
   */
  static listen(path: string, options?: UnixListenOptions): UnixListener {
    validPath(path, 'UnixListener.listen');
    assertOptions(options, 'UnixListener.listen');
    const backlog = options?.backlog ?? 16;
    assertInteger(backlog, 'UnixListener.listen: backlog', 0, 0x7fffffff);
    if (options?.removeStale === true && !path.startsWith('\0')) removeStaleSocket(path);
    const fd = native.unixListen(path, backlog);
    if (fd < 0) throw fail(fd, undefined, JSON.stringify(path));
    return new UnixListener(kListen, fd, path);
  }

  /**
   * Takes over a listening unix stream socket another process made and passed down (a manager such
   * as libvirt starting a daemon with `--fd N`). It becomes non-blocking and close-on-exec; the
   * listener owns it from now on. Its `path` is `''` (unknown), and {@link UnixListener.close}
   * removes no file: the socket file is the manager's.
   * @param fd - an inherited fd
   * @returns the listener
   * @throws {@link SysError} `EBADF` (not open), `ENOTSOCK` (not a socket), `EAFNOSUPPORT` (not a
   *   unix socket), `EPROTOTYPE` (not a stream socket), `EINVAL` (not listening)
   * @throws TypeError or RangeError when `fd` is not an fd number
   * @example
   * ```ts
   * const l = UnixListener.adopt(3);
   * ```
   */
  static adopt(fd: number): UnixListener {
    assertFd(fd, 'UnixListener.adopt');
    const r = native.adoptListener(fd);
    if (r < 0) throw fail(r);
    return new UnixListener(kListen, fd, '');
  }

  /**
   * The listening fd, or -1 after {@link UnixListener.close}.
   * @returns the fd number
   * @example
   * ```ts
   * watchFd(listener.fd, cb);
   * ```
   */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Whether {@link UnixListener.close} has run.
   * @returns true once closed
   * @example
   * ```ts
   * listener.close(); listener.closed; // true
   * ```
   */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Accepts one pending connection. Never blocks.
   * @returns the connection, or null if none is pending
   * @throws {@link SysError} `EMFILE`, `EBADF` (closed)
   * @example
   * ```ts
   * for (let c = listener.accept(); c; c = listener.accept()) serve(c);
   * ```
   */
  accept(): UnixStream | null {
    if (this.#fd < 0) throw closedError('UnixListener.accept');
    const fd = native.accept(this.#fd);
    if (fd < 0) {
      if (fd === -EAGAIN || fd === -constants.errno.ECONNABORTED) return null;
      throw fail(fd, 'accept4');
    }
    return adoptStream(fd);
  }

  /**
   * Watches for incoming connections (READABLE); the watcher is closed by {@link UnixListener.close}.
   * @param callback - called when a connection is pending; call {@link UnixListener.accept}
   * @param options - ref, start
   * @returns the watcher
   * @throws {@link SysError} `EBADF` (closed), `EEXIST` (already watched)
   * @example
   * ```ts
   * listener.watch(() => { const c = listener.accept(); if (c) serve(c); });
   * ```
   */
  watch(callback: WatchCallback, options?: Omit<WatchOptions, 'events'>): FdWatcher {
    if (this.#fd < 0) throw closedError('UnixListener.watch');
    return watchFd(this.#fd, callback, { ...options, events: 1 });
  }

  /**
   * Stops listening and removes the socket file if it is still the one this listener created.
   * Accepted streams stay open. Idempotent.
   * @throws {@link SysError} if close(2) fails
   * @example
   * ```ts
   * listener.close();
   * ```
   */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    const inode = this.#inode;
    if (inode !== undefined) {
      try {
        const st = lstatSync(this.path);
        if (st.isSocket() && st.dev === inode.dev && st.ino === inode.ino) unlinkSync(this.path);
      } catch {
        // already removed or replaced: nothing of ours to clean up
      }
    }
    const r = native.close(fd);
    if (r < 0) throw fail(r);
  }
}

function removeStaleSocket(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) return;
  try {
    UnixStream.connect(path).close();
  } catch (e) {
    if (isSysError(e, 'ECONNREFUSED')) {
      unlinkSync(path);
      return;
    }
    if (isSysError(e, 'ENOENT')) return;
    throw e;
  }
  throw new SysError(constants.errno.EADDRINUSE, 'bind', { details: `${JSON.stringify(path)} has a live listener` });
}
