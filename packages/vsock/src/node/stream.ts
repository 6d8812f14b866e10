/**
 * Node streams over vsock connections (VIRTIO 1.2 §5.10.6): {@link VsockStream}, a Duplex of
 * bytes over a stream connection, and {@link VsockMessageSocket}, an object-mode Duplex of whole
 * messages (`{ data, eor }`) over a seqpacket one. Back-pressure both ways: a write waits for the
 * connection's `drain` past its high-water mark, and a reader that stops reading pauses the
 * connection, so the guest's credit stops growing and the guest waits.
 * @module
 */
import { Duplex } from 'node:stream';
import type { CloseReason, VsockConnection } from '../connection.js';

/**
 * One seqpacket message.
 * @example `socket.write({ data: Buffer.from('hi'), eor: true });`
 */
export interface VsockMessage {
  /** The message's bytes. */
  readonly data: Uint8Array;
  /** The message ends a record (MSG_EOR). */
  readonly eor?: boolean;
}

/** Connection endings that are not errors: the other side closed or shut down cleanly. */
const CLEAN: ReadonlySet<CloseReason> = new Set(['closed', 'local-reset']);

/** What both Duplexes share: the connection as endpoint, writes waiting for drain. */
abstract class ConnectionDuplex extends Duplex {
  private waiting: (() => void) | null = null;

  constructor(
    /** The connection. */
    readonly connection: VsockConnection,
    objectMode: boolean,
  ) {
    super({ objectMode, allowHalfOpen: true, highWaterMark: objectMode ? 16 : 64 * 1024 });
    connection.attach({
      data: (bytes, b) => this.push(objectMode ? { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), eor: b.eor } : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)),
      end: () => void this.push(null),
      drain: () => this.wake(),
      open: () => void this.emit('connect'),
      close: (reason) => {
        this.wake();
        if (CLEAN.has(reason) || this.destroyed) {
          this.push(null);
          if (!this.writableFinished) this.destroy();
        } else {
          this.destroy(Object.assign(new Error(`vsock connection ${connection.peerPort}: ${reason}`), { code: `VSOCK_${reason.toUpperCase().replace(/-/g, '_')}` }));
        }
      },
    });
  }

  protected send(data: Uint8Array, eor: boolean, callback: (error?: Error | null) => void): void {
    if (!this.connection.writable) return callback(new Error(`vsock connection ${this.connection.peerPort}: not writable (${this.connection.state})`));
    if (this.connection.write(data, { eor })) return callback();
    this.waiting = () => callback();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  override _read(): void {
    this.connection.resume();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.connection.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.connection.state !== 'closed') {
      if (error === null) this.connection.close();
      else this.connection.reset();
    }
    callback(error);
  }

  override push(chunk: unknown): boolean {
    const more = super.push(chunk);
    if (!more && chunk !== null) this.connection.pause();
    return more;
  }
}

/**
 * A stream connection as a Node Duplex of bytes. `end()` is SHUTDOWN SEND (half-close); the
 * readable side ends at the guest's SHUTDOWN SEND; `destroy()` closes (or with an error, resets).
 * It emits `connect` when the guest accepts a connection the host asked for.
 * An RST or another abnormal close destroys the stream with an error whose `code` is
 * `VSOCK_<REASON>` (`VSOCK_RESET`, `VSOCK_REFUSED`, `VSOCK_TRANSPORT_RESET`...).
 * @example
 * ```ts
 * device.listen(5000, (conn) => { const s = new VsockStream(conn); s.pipe(s); }); // echo
 * ```
 */
export class VsockStream extends ConnectionDuplex {
  /**
   * @param connection - a stream connection with no endpoint yet.
   * @throws TypeError for a seqpacket connection or one with an endpoint.
   */
  constructor(connection: VsockConnection) {
    if (connection.type !== 'stream') throw new TypeError('VsockStream: needs a stream connection (VsockMessageSocket for seqpacket)');
    super(connection, false);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk, false, callback);
  }
}

/**
 * A seqpacket connection as an object-mode Duplex of {@link VsockMessage}s: each write is one
 * message, each read one whole message with its EOR.
 * @example
 * ```ts
 * const s = new VsockMessageSocket(device.connect(6000, { type: 'seqpacket' }));
 * s.write({ data: Buffer.from('ping'), eor: true });
 * s.on('data', (m: VsockMessage) => console.log(m.data, m.eor));
 * ```
 */
export class VsockMessageSocket extends ConnectionDuplex {
  /**
   * @param connection - a seqpacket connection with no endpoint yet.
   * @throws TypeError for a stream connection or one with an endpoint.
   */
  constructor(connection: VsockConnection) {
    if (connection.type !== 'seqpacket') throw new TypeError('VsockMessageSocket: needs a seqpacket connection (VsockStream for stream)');
    super(connection, true);
  }

  override _write(message: VsockMessage, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (typeof message !== 'object' || message === null || !(message.data instanceof Uint8Array)) return callback(new TypeError('VsockMessageSocket: write takes { data: Uint8Array, eor?: boolean }'));
    try {
      this.send(message.data, message.eor === true, callback);
    } catch (error) {
      callback(error as Error); // a message longer than the guest's receive buffer (RangeError)
    }
  }
}
