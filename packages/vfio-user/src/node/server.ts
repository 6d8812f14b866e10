/**
 * A vfio-user server on a unix socket, for QEMU's `-device vfio-user-pci,socket=...`: accepts
 * one client at a time (the device is one PCI function; a second client is refused until the
 * first leaves) and runs a {@link VfioUserSession} over it. When the client leaves, its windows
 * are unmapped and its eventfds closed, and the device keeps its state for the next client
 * (vfio-user.rst "Client Disconnection").
 *
 * @module
 */
import { UnixListener, closeFd, type FdWatcher, type UnixListenOptions, type UnixStream } from '@vmv/sys';
import { isVfioUserError } from '../errors.js';
import { VfioUserSession, irqCounts, regionTable, type VfioUserSessionOptions } from '../session.js';
import type { VfioUserDevice } from '../device.js';
import { FrameChannel } from './channel.js';
import { linuxHost } from './host.js';

/**
 * What a {@link VfioUserServer} reports besides its sessions' events.
 * @example `onConnection: (e) => log(e.type)`
 */
export type VfioUserConnectionEvent =
  | {
      /** A client connected. */
      readonly type: 'connected';
    }
  | {
      /** A second client was turned away (one client at a time). */
      readonly type: 'refused';
    }
  | {
      /** The client left. */
      readonly type: 'disconnected';
      /** Why the connection ended (null: the client closed it). */
      readonly error: unknown;
    };

/**
 * Options of a {@link VfioUserServer}: the session's, and connection events.
 * @example `new VfioUserServer(device, { maxDataXferSize: 1 << 20, onConnection: (e) => console.log(e.type) })`
 */
export interface VfioUserServerOptions extends VfioUserSessionOptions {
  /** Reports clients arriving and leaving. */
  readonly onConnection?: (event: VfioUserConnectionEvent) => void;
}

/**
 * Serves one device to vfio-user clients on a unix socket.
 * @example
 * ```ts
 * const server = new VfioUserServer(device);
 * server.listen('/tmp/vfio-user.sock', { removeStale: true });
 * // qemu-system-x86_64 ... -device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"/tmp/vfio-user.sock"}}'
 * ```
 */
export class VfioUserServer {
  private listener: UnixListener | null = null;
  private watcher: FdWatcher | null = null;
  private channel: FrameChannel | null = null;
  private session: VfioUserSession | null = null;
  private idle: (() => void)[] = [];

  /**
   * A server for one device; nothing listens until {@link VfioUserServer.listen}.
   * @param device - the PCI function served
   * @param options - session limits and events
   * @throws TypeError / RangeError for a malformed device (as the session would, but before any client comes)
   * @example `const server = new VfioUserServer(device, { maxDataXferSize: 1 << 20 });`
   */
  constructor(
    private readonly device: VfioUserDevice,
    private readonly options: VfioUserServerOptions = {},
  ) {
    regionTable(device);
    irqCounts(device);
  }

  /** Whether a client is connected. */
  get connected(): boolean {
    return this.session !== null;
  }

  /**
   * Listens on a unix socket path.
   * @param path - the socket path
   * @param options - listen(2) options (`removeStale` replaces a dead server's socket file)
   * @throws Sys.SysError from listen (EADDRINUSE, EACCES, ...)
   */
  listen(path: string, options?: UnixListenOptions): void {
    this.listenOn(UnixListener.listen(path, options));
  }

  /**
   * Serves on a listener (for example one a manager handed down).
   * @param listener - a listening unix socket, owned from now on
   */
  listenOn(listener: UnixListener): void {
    if (this.listener !== null) throw new TypeError('VfioUserServer: already listening');
    this.listener = listener;
    this.watcher = listener.watch((err) => {
      if (err === null) this.acceptAll();
    });
  }

  /**
   * Runs a session on a connected stream (a socketpair end, or an accepted socket).
   * @param stream - the client's stream, owned from now on
   * @returns false when a client is already connected (the stream is closed)
   */
  serve(stream: UnixStream): boolean {
    if (this.session !== null) {
      stream.close();
      this.options.onConnection?.({ type: 'refused' });
      return false;
    }
    let channel: FrameChannel | null = null;
    const session = new VfioUserSession(this.device, linuxHost((m) => channel?.send(m)), this.options);
    channel = new FrameChannel(stream, {
      maxMessageSize: session.maxMessageSize,
      onMessage: (message, fds) => session.handleMessage(message, fds),
      failed: (error) => this.drop(error),
      closeFd: (fd) => {
        try {
          closeFd(fd);
        } catch {
          // already closed
        }
      },
    });
    this.session = session;
    this.channel = channel;
    this.options.onConnection?.({ type: 'connected' });
    channel.start();
    return true;
  }

  /**
   * Resolves when no client is connected.
   * @returns a promise
   */
  disconnected(): Promise<void> {
    if (this.session === null) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Stops listening and drops the client. Idempotent. */
  close(): void {
    try {
      this.watcher?.close();
    } catch {
      // closed with the listener
    }
    this.watcher = null;
    this.listener?.close();
    this.listener = null;
    if (this.session !== null) this.drop(null);
  }

  private acceptAll(): void {
    for (;;) {
      let stream: UnixStream | null;
      try {
        stream = this.listener?.accept() ?? null;
      } catch {
        return;
      }
      if (stream === null) return;
      this.serve(stream);
    }
  }

  private drop(error: unknown): void {
    const session = this.session;
    if (session === null) return;
    this.session = null;
    this.channel?.close();
    this.channel = null;
    session.close();
    this.options.onConnection?.({ type: 'disconnected', error: isVfioUserError(error, 'VfioUser.DisconnectedError') ? null : error });
    const waiting = this.idle;
    this.idle = [];
    for (const resolve of waiting) resolve();
  }
}


