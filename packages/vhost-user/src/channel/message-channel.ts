/**
 * The framing layer of every vhost-user socket (rust-vmm vhost's `Endpoint`), shared by the
 * backend (requests in, replies out), the backend request channel (replies in) and the frontend
 * (replies in; backend requests in on its channel): reads framed messages with their SCM_RIGHTS
 * fds from a non-blocking unix stream and writes messages, with the readiness interest that
 * follows from both. vhost-user.rst "Communication".
 *
 * Framing errors (what the header validator refuses, too many fds, a truncated stream, end of
 * stream) are fatal: they reach the host's `failed` and the channel ends. An unknown request code
 * still has trustworthy framing, so its payload is read and the message handed on with the
 * error, to be answered like any other bad request.
 *
 * @module
 */

import { PollEvents, isSysError, type FdWatcher, type UnixStream } from '@vmv/sys';
import { VHOST_USER_HEADER_SIZE, VHOST_USER_MAX_FDS } from '../protocol/constants.js';
import { readHeader, type VhostUserHeader } from '../protocol/header.js';
import { DisconnectedError, IncorrectFdsError, isVhostUserError } from '../errors.js';
import { safeClose } from './fd.js';

/** Messages handled per socket callback before the loop gets a turn. */
const MESSAGES_PER_TURN = 64;

/** Who a {@link MessageChannel} delivers to. @internal */
export interface MessageChannelHost {
  /**
   * One complete message. The host owns `fds` from now on. A promise means the message is still
   * being handled: no other message is read until it settles (a rejection ends the connection).
   * `headerError` is the unknown-request error of a well-framed message, else null.
   */
  onMessage(header: VhostUserHeader, body: Uint8Array, fds: number[], headerError: unknown): Promise<void> | undefined;
  /** The channel cannot go on (framing error, end of stream, socket error): end the connection. */
  failed(error: unknown): void;
}

interface PendingWrite {
  bytes: Uint8Array;
  fds: readonly number[];
  /** fds we own and close once they have been sent */
  closeAfter: readonly number[];
}

/**
 * The socket side of one vhost-user connection or channel. Not exported from the package.
 * @internal
 */
export class MessageChannel {
  private watcher: FdWatcher | null = null;
  private closed = false;
  /** A message is being handled asynchronously: nothing more is read until it is done. */
  private busy = false;
  private pumping = false;
  private readonly tx: PendingWrite[] = [];
  // receive state of the message being read
  private readonly rxHeader = new Uint8Array(VHOST_USER_HEADER_SIZE);
  private rxHeaderGot = 0;
  private rxBody: Uint8Array | null = null;
  private rxBodyGot = 0;
  private rxFds: number[] = [];
  private rxParsed: VhostUserHeader | null = null;
  private rxHeaderError: unknown = null;

  /**
   * @param stream - the connected socket (owned from now on)
   * @param host - receives messages and failures
   * @param validateHeader - the framing rules of what this end receives (requests:
   *   `validateRequestHeader`, replies: `validateReplyHeader`, backend requests:
   *   `validateBackendRequestHeader`); throws a VhostUser error on a bad header
   */
  constructor(
    private readonly stream: UnixStream,
    private readonly host: MessageChannelHost,
    private readonly validateHeader: (header: VhostUserHeader) => void,
  ) {}

  /** Whether the channel has ended. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether some message has not been written in full yet (the peer is not reading). */
  get sending(): boolean {
    return this.tx.length > 0;
  }

  /** Starts reading. */
  start(): void {
    this.watcher = this.stream.watch(
      (err, events) => {
        if (this.closed) return;
        try {
          this.onSocket(err, events);
        } catch (e) {
          this.host.failed(e);
        }
      },
      { events: PollEvents.READABLE | PollEvents.DISCONNECT },
    );
  }

  /** Stops watching and releases the stream and every fd received or queued. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.watcher?.close();
    } catch {
      // already closed with the stream
    }
    for (const w of this.tx) for (const fd of w.closeAfter) safeClose(fd);
    this.tx.length = 0;
    for (const fd of this.rxFds) safeClose(fd);
    this.rxFds = [];
    try {
      this.stream.close();
    } catch {
      // nothing left to release
    }
  }

  /**
   * Queues a reply and writes what the socket takes now.
   * @param bytes - the encoded reply
   * @param fds - fds to pass with it
   * @param closeAfter - fds we own, closed once sent (or when the channel closes)
   */
  send(bytes: Uint8Array, fds: readonly number[] = [], closeAfter: readonly number[] = []): void {
    if (this.closed) {
      for (const fd of closeAfter) safeClose(fd);
      return;
    }
    this.tx.push({ bytes, fds, closeAfter });
    this.flush();
  }

  private onSocket(err: unknown, events: number): void {
    if (err !== null) {
      this.host.failed(err);
      return;
    }
    if ((events & PollEvents.WRITABLE) !== 0) this.flush();
    if (this.closed) return;
    if ((events & PollEvents.DISCONNECT) !== 0 && (events & PollEvents.READABLE) === 0) {
      this.host.failed(new DisconnectedError());
      return;
    }
    if ((events & PollEvents.READABLE) !== 0) this.pump();
  }

  /**
   * Reads and hands on complete messages until one is asynchronous, the socket is drained,
   * replies are backed up, or `limit` messages were handled.
   * @param limit - most messages to handle now
   */
  pump(limit = MESSAGES_PER_TURN): void {
    if (this.pumping || this.busy || this.closed) return;
    this.pumping = true;
    try {
      // At most MESSAGES_PER_TURN messages per turn of the loop: a frontend that keeps the socket
      // full cannot starve kicks, timers and signals (the watcher is level-triggered, so the rest
      // is read on the next turn).
      for (let n = 0; n < limit && !this.busy && !this.closed && this.tx.length === 0; n++) {
        if (!this.readMessage()) break;
        // The message leaves the rx state before the host sees it: the host owns its fds even if
        // it closes the channel while handling it.
        const header = this.rxParsed!;
        const body = this.rxBody!;
        const fds = this.rxFds;
        const headerError = this.rxHeaderError;
        this.rxHeaderGot = 0;
        this.rxParsed = null;
        this.rxBody = null;
        this.rxBodyGot = 0;
        this.rxFds = [];
        this.rxHeaderError = null;
        const pending = this.host.onMessage(header, body, fds, headerError);
        if (pending !== undefined) {
          this.busy = true;
          this.updateInterest();
          pending.then(
            () => this.afterAsync(),
            (e: unknown) => {
              if (!this.closed) this.host.failed(e);
            },
          );
        }
      }
    } finally {
      this.pumping = false;
    }
    if (!this.closed) this.updateInterest();
  }

  private afterAsync(): void {
    if (this.closed) return;
    try {
      this.busy = false;
      this.updateInterest();
      this.pump();
    } catch (e) {
      this.host.failed(e);
    }
  }

  private updateInterest(): void {
    if (this.closed || this.watcher === null) return;
    let events: number = PollEvents.DISCONNECT;
    if (this.tx.length > 0) events |= PollEvents.WRITABLE;
    else if (!this.busy) events |= PollEvents.READABLE;
    if (this.watcher.events !== events || !this.watcher.active) this.watcher.start(events);
  }

  /** Reads until a whole message is in the rx fields: true then, false when the socket ran dry first. */
  private readMessage(): boolean {
    for (;;) {
      if (this.rxHeaderGot < VHOST_USER_HEADER_SIZE) {
        if (!this.receive(this.rxHeader.subarray(this.rxHeaderGot))) return false;
        continue;
      }
      if (this.rxParsed === null) {
        const header = readHeader(new DataView(this.rxHeader.buffer));
        try {
          this.validateHeader(header);
        } catch (e) {
          // An unknown request code still has trustworthy framing: read its payload, then answer.
          if (!isVhostUserError(e, 'VhostUser.UnknownRequestError')) throw e;
          this.rxHeaderError = e;
        }
        this.rxParsed = header;
        this.rxBody = new Uint8Array(header.size);
        this.rxBodyGot = 0;
      }
      const body = this.rxBody!;
      if (this.rxBodyGot < body.length) {
        if (!this.receive(body.subarray(this.rxBodyGot), true)) return false;
        continue;
      }
      return true;
    }
  }

  /** One recvmsg into `into`; false when nothing is available. Throws on end of stream. */
  private receive(into: Uint8Array, body = false): boolean {
    const got = this.stream.recvmsg(into);
    if (got === null) return false;
    for (const fd of got.fds) this.rxFds.push(fd);
    if (got.fdsTruncated || this.rxFds.length > VHOST_USER_MAX_FDS) {
      throw new IncorrectFdsError({ count: this.rxFds.length, max: VHOST_USER_MAX_FDS, truncated: got.fdsTruncated });
    }
    if (got.bytesRead === 0) throw new DisconnectedError({ midMessage: this.rxHeaderGot > 0 || body });
    if (body) this.rxBodyGot += got.bytesRead;
    else this.rxHeaderGot += got.bytesRead;
    return true;
  }

  private flush(): void {
    while (this.tx.length > 0 && !this.closed) {
      const w = this.tx[0]!;
      let n: number;
      try {
        n = this.stream.sendmsg(w.bytes, w.fds);
      } catch (e) {
        if (isSysError(e, 'EAGAIN')) break;
        this.host.failed(e);
        return;
      }
      if (n < w.bytes.length) {
        // the fds went with the first byte
        w.bytes = w.bytes.subarray(n);
        w.fds = [];
        break;
      }
      this.tx.shift();
      for (const fd of w.closeAfter) safeClose(fd);
    }
    if (!this.closed) this.updateInterest();
  }
}
