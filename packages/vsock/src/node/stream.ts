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

/** A Duplex callback's completion. */
type Done = (error?: Error | null) => void;

/**
 * Joins `duplex` to `connection`: the Duplex's read, write, final and destroy act on the
 * connection, and the connection's events feed the Duplex. The callbacks are Duplex constructor
 * options (no overridden members), and pushes past the high-water mark pause the connection.
 */
function duplexOptions(connection: VsockConnection, objectMode: boolean, write: (chunk: unknown, send: (data: Uint8Array, eor: boolean) => void, done: Done) => void): { options: ConstructorParameters<typeof Duplex>[0]; bind(duplex: Duplex): void } {
  let duplex: Duplex;
  let waiting: Done | null = null;
  const wake = () => {
    const w = waiting;
    waiting = null;
    w?.();
  };
  const deliver = (chunk: unknown) => {
    if (!duplex.push(chunk) && chunk !== null) connection.pause();
  };
  return {
    options: {
      objectMode,
      allowHalfOpen: true,
      highWaterMark: objectMode ? 16 : 64 * 1024,
      read: () => connection.resume(),
      write: (chunk: unknown, _encoding: BufferEncoding, done: Done) =>
        write(
          chunk,
          (data, eor) => {
            if (!connection.writable) return done(new Error(`vsock connection ${connection.peerPort}: not writable (${connection.state})`));
            if (connection.write(data, { eor })) return done();
            waiting = () => done();
          },
          done,
        ),
      final: (done: Done) => {
        connection.end();
        done();
      },
      destroy: (error: Error | null, done: Done) => {
        if (connection.state !== 'closed') {
          if (error === null) connection.close();
          else connection.reset();
        }
        done(error);
      },
    },
    bind(d: Duplex) {
      duplex = d;
      const view = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      connection.attach({
        data: (bytes, b) => deliver(objectMode ? { data: view(bytes), eor: b.eor } : view(bytes)),
        end: () => deliver(null),
        drain: wake,
        open: () => void d.emit('connect'),
        close: (reason) => {
          wake();
          if (CLEAN.has(reason) || d.destroyed) {
            // Ended, not destroyed: bytes the reader has not taken yet are still read (autoDestroy follows).
            d.push(null);
            if (!d.writableEnded) d.end();
          } else {
            d.destroy(Object.assign(new Error(`vsock connection ${connection.peerPort}: ${reason}`), { code: `VSOCK_${reason.toUpperCase().replace(/-/g, '_')}` }));
          }
        },
      });
    },
  };
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
export class VsockStream extends Duplex {
  /** The connection. */
  readonly connection: VsockConnection;

  /**
   * @param connection - a stream connection with no endpoint yet.
   * @throws TypeError for a seqpacket connection or one with an endpoint.
   */
  constructor(connection: VsockConnection) {
    if (connection.type !== 'stream') throw new TypeError('VsockStream: needs a stream connection (VsockMessageSocket for seqpacket)');
    const joined = duplexOptions(connection, false, (chunk, send) => send(chunk as Buffer, false));
    super(joined.options);
    this.connection = connection;
    joined.bind(this);
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
export class VsockMessageSocket extends Duplex {
  /** The connection. */
  readonly connection: VsockConnection;

  /**
   * @param connection - a seqpacket connection with no endpoint yet.
   * @throws TypeError for a stream connection or one with an endpoint.
   */
  constructor(connection: VsockConnection) {
    if (connection.type !== 'seqpacket') throw new TypeError('VsockMessageSocket: needs a seqpacket connection (VsockStream for stream)');
    const joined = duplexOptions(connection, true, (chunk, send, done) => {
      const message = chunk as VsockMessage;
      if (typeof message !== 'object' || message === null || !(message.data instanceof Uint8Array)) return done(new TypeError('VsockMessageSocket: write takes { data: Uint8Array, eor?: boolean }'));
      try {
        send(message.data, message.eor === true);
      } catch (error) {
        done(error as Error); // a message longer than the guest's receive buffer (RangeError)
      }
    });
    super(joined.options);
    this.connection = connection;
    joined.bind(this);
  }
}
