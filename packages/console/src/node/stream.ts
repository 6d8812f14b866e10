/**
 * {@link connectStream}: a Node Duplex (a socket, a pty's master, a PassThrough pair) as the host
 * end of a console port, with back-pressure both ways: the stream is paused while the port's
 * buffer is at its high-water mark, and the guest's transmit buffers are returned only when the
 * stream's write callback fired.
 * @module
 */
import type { ConsolePort } from '../port.js';

/**
 * The parts of a Node Duplex the adapter uses (a `net.Socket`, `process.stdin` + `process.stdout`
 * through {@link connectStreams}, a `stream.Duplex`).
 * @example `const s: DuplexLike = net.connect(12345);`
 */
export interface DuplexLike {
  /** Subscribes to data. */
  on(event: 'data', listener: (chunk: Uint8Array | string) => void): unknown;
  /** Subscribes to the end. */
  on(event: 'end' | 'close', listener: () => void): unknown;
  /** Subscribes to errors. */
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** Unsubscribes. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: string, listener: (...args: any[]) => void): unknown;
  /** Stops data events. */
  pause(): unknown;
  /** Starts data events again. */
  resume(): unknown;
  /** Writes, calling back once the chunk is handed on. */
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): boolean;
}

/**
 * Connects `stream` to `port` until the stream ends or closes (then the port is disconnected).
 * @param port - the port's host end (`device.port(id)`).
 * @param stream - the stream.
 * @returns a function that disconnects them (and leaves the stream open).
 * @throws TypeError when the port already has an endpoint.
 * @example
 * ```ts
 * net.createServer((socket) => connectStream(device.port(0), socket)).listen(12345);
 * ```
 */
export function connectStream(port: ConsolePort, stream: DuplexLike): () => void {
  return connectStreams(port, stream, stream);
}

/**
 * Like {@link connectStream} with separate readable and writable sides (a terminal's stdin and stdout).
 * @param port - the port's host end.
 * @param input - where host bytes come from.
 * @param output - where guest bytes go.
 * @returns a function that disconnects them.
 * @throws TypeError when the port already has an endpoint.
 * @example `connectStreams(device.port(0), process.stdin, process.stdout);`
 */
export function connectStreams(port: ConsolePort, input: Pick<DuplexLike, 'on' | 'off' | 'pause' | 'resume'>, output: Pick<DuplexLike, 'write'>): () => void {
  let connected = true;
  const onData = (chunk: Uint8Array | string) => {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
    if (!port.write(bytes)) input.pause();
  };
  const stop = () => {
    if (!connected) return;
    connected = false;
    input.off('data', onData);
    input.off('end', stop);
    input.off('close', stop);
    input.off('error', stop);
    port.disconnect();
  };
  port.connect({
    write: (data, done) => {
      if (!connected) return done();
      output.write(data, () => done());
    },
    drain: () => {
      if (connected) input.resume();
    },
  });
  input.on('data', onData);
  input.on('end', stop);
  input.on('close', stop);
  input.on('error', stop);
  input.resume();
  return stop;
}
