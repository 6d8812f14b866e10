/**
 * The framing of a vfio-user socket (vfio-user.rst "Header"): reads whole messages (16-byte
 * header, then `size - 16` bytes) with the fds that came with them (SCM_RIGHTS) from a
 * non-blocking unix stream, and writes messages with backpressure. A framing error (what
 * `validateFrame` refuses, fds cut short by the kernel, end of stream) ends the channel.
 *
 * @module
 */
import { PollEvents, isSysError, type FdWatcher, type UnixStream } from '@vmv/sys';
import { VFIO_USER_HEADER_SIZE } from '../constants.js';
import { DisconnectedError, IncorrectFdsError } from '../errors.js';
import { readHeader, validateFrame } from '../header.js';

/** Messages handled per socket callback before the loop gets a turn. */
const MESSAGES_PER_TURN = 64;
/** Most fds held for one message (more is a framing error). */
const MAX_HELD_FDS = 64;

/** Who a {@link FrameChannel} delivers to. @internal */
export interface FrameHost {
  /** The largest message accepted. */
  readonly maxMessageSize: number;
  /** One whole message; the host owns `fds`. A promise: nothing more is read until it settles. */
  onMessage(message: Uint8Array, fds: number[]): Promise<void> | undefined;
  /** The channel ended (framing error, end of stream, socket error). */
  failed(error: unknown): void;
  /** Closes an fd the channel held. */
  closeFd(fd: number): void;
}

/**
 * One vfio-user socket. Not exported from the package.
 * @internal
 */
export class FrameChannel {
  private watcher: FdWatcher | null = null;
  private closed = false;
  private busy = false;
  private readonly tx: Uint8Array[] = [];
  private readonly head = new Uint8Array(VFIO_USER_HEADER_SIZE);
  private headGot = 0;
  private message: Uint8Array | null = null;
  private got = 0;
  private fds: number[] = [];

  constructor(
    private readonly stream: UnixStream,
    private readonly host: FrameHost,
  ) {}

  /** Starts reading. */
  start(): void {
    this.watcher = this.stream.watch((err, events) => {
      if (this.closed) return;
      try {
        if (err !== null) return this.host.failed(err);
        if ((events & PollEvents.WRITABLE) !== 0) this.flush();
        if ((events & PollEvents.READABLE) !== 0) this.pump();
        else if ((events & PollEvents.DISCONNECT) !== 0) this.host.failed(new DisconnectedError());
      } catch (e) {
        this.host.failed(e);
      }
    }, { events: PollEvents.READABLE | PollEvents.DISCONNECT });
  }

  /** Queues a message and writes what the socket takes now. */
  send(bytes: Uint8Array): void {
    if (this.closed) return;
    this.tx.push(bytes);
    this.flush();
  }

  /** Stops and releases the stream and every fd held. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.watcher?.close();
    } catch {
      // closed with the stream
    }
    for (const fd of this.fds) this.host.closeFd(fd);
    this.fds = [];
    this.tx.length = 0;
    try {
      this.stream.close();
    } catch {
      // nothing left to release
    }
  }

  private pump(): void {
    for (let n = 0; n < MESSAGES_PER_TURN && !this.busy && !this.closed && this.tx.length === 0; n++) {
      if (!this.read()) break;
      const message = this.message!;
      const fds = this.fds;
      this.message = null;
      this.headGot = 0;
      this.got = 0;
      this.fds = [];
      const pending = this.host.onMessage(message, fds);
      if (pending !== undefined) {
        this.busy = true;
        pending.then(
          () => {
            this.busy = false;
            this.interest();
            if (!this.closed) this.pump();
          },
          (e: unknown) => this.host.failed(e),
        );
      }
    }
    this.interest();
  }

  /** Reads until a whole message is held: true then, false when the socket ran dry first. */
  private read(): boolean {
    for (;;) {
      if (this.headGot < VFIO_USER_HEADER_SIZE) {
        if (!this.receive(this.head.subarray(this.headGot), true)) return false;
        continue;
      }
      if (this.message === null) {
        const header = readHeader(this.head);
        validateFrame(header, this.host.maxMessageSize);
        this.message = new Uint8Array(header.size);
        this.message.set(this.head);
        this.got = VFIO_USER_HEADER_SIZE;
      }
      if (this.got < this.message.length) {
        if (!this.receive(this.message.subarray(this.got), false)) return false;
        continue;
      }
      return true;
    }
  }

  private receive(into: Uint8Array, header: boolean): boolean {
    const r = this.stream.recvmsg(into);
    if (r === null) return false;
    for (const fd of r.fds) this.fds.push(fd);
    if (r.fdsTruncated || this.fds.length > MAX_HELD_FDS) throw new IncorrectFdsError({ count: this.fds.length, truncated: r.fdsTruncated });
    if (r.bytesRead === 0) throw new DisconnectedError({ midMessage: this.headGot > 0 || this.message !== null });
    if (header) this.headGot += r.bytesRead;
    else this.got += r.bytesRead;
    return true;
  }

  private flush(): void {
    while (this.tx.length > 0 && !this.closed) {
      let n: number;
      try {
        n = this.stream.sendmsg(this.tx[0]!);
      } catch (e) {
        if (isSysError(e, 'EAGAIN')) break;
        this.host.failed(e);
        return;
      }
      if (n < this.tx[0]!.length) {
        this.tx[0] = this.tx[0]!.subarray(n);
        break;
      }
      this.tx.shift();
    }
    this.interest();
  }

  private interest(): void {
    if (this.closed || this.watcher === null) return;
    let events: number = PollEvents.DISCONNECT;
    if (this.tx.length > 0) events |= PollEvents.WRITABLE;
    else if (!this.busy) events |= PollEvents.READABLE;
    if (this.watcher.events !== events || !this.watcher.active) this.watcher.start(events);
  }
}
