/**
 * The frame socket (`--frame-socket [BUS=]PATH`): a unix stream socket on one of the daemon's CAN
 * buses (@vmv/can, VIRTIO 1.4 §5.20's devices on it) whose every connection is a node of that bus,
 * as a {@link CanEndpoint}. Frames travel both ways as lines of can-utils' text form
 * (`123#DEADBEEF`, `123#R4`, `12345678##0...`; see `parseFrame`): a line written is sent on the
 * bus once the frames before it are (the connection is paced by the bus: while a frame waits, the
 * daemon stops reading); every frame the other nodes send is written as a line, in bus order (a
 * client that does not read holds the bus once its buffer is full). A line that is not a frame is
 * answered `ERR <reason>`; a line longer than 4 KiB closes the connection.
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import { formatFrame, parseFrame, type CanBus, type CanEndpoint } from '@vmv/can';
import { listenUnix, type DaemonLog } from '@vmv/vhost-user/daemon';

/** Frames a connection holds before it holds the bus. */
const ENDPOINT_BUFFER = 1024;
const MAX_LINE = 4096;

/**
 * A listening frame socket.
 * @example
 * ```ts
 * const frames = await FrameSocket.listen('/run/can.frames', bus, log);
 * await frames.close();
 * ```
 */
export class FrameSocket {
  private readonly connections = new Set<Socket>();

  private constructor(
    /** The socket path. */
    readonly path: string,
    private readonly server: Server,
    private readonly bus: CanBus,
    private readonly log: DaemonLog,
  ) {
    server.on('connection', (socket) => this.serve(socket));
  }

  /**
   * Listens on `path` (a socket file nobody accepts on is replaced).
   * @param path - the socket path.
   * @param bus - the bus its connections join.
   * @param log - the daemon's log.
   * @returns the socket, listening.
   * @throws VhostUser.SocketError when the path cannot be listened on.
   */
  static async listen(path: string, bus: CanBus, log: DaemonLog): Promise<FrameSocket> {
    const server = createServer();
    await listenUnix(server, path);
    log.info(`frame socket: listening on ${path}`);
    return new FrameSocket(path, server, bus, log);
  }

  /**
   * Stops listening and closes the connections (their frames not yet on the bus are cancelled).
   * @returns a promise.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.destroy();
    await closed;
  }

  private serve(socket: Socket): void {
    const endpoint = this.bus.endpoint({ buffer: ENDPOINT_BUFFER });
    this.connections.add(socket);
    this.log.debug('frame socket: a client connected', { socket: this.path });
    let open = true;
    const end = () => {
      if (!open) return;
      open = false;
      endpoint.close();
      this.connections.delete(socket);
      this.log.debug('frame socket: a client left', { socket: this.path });
    };
    socket.on('close', end);
    socket.on('error', () => socket.destroy());
    void this.writeFrames(socket, endpoint);
    const lines: string[] = [];
    let pending = '';
    let running = false;
    const run = async () => {
      running = true;
      while (lines.length > 0 && open) {
        const line = lines.shift()!.trim();
        if (lines.length < 64) socket.resume();
        if (line === '') continue;
        let frame;
        try {
          frame = parseFrame(line);
        } catch (e) {
          socket.write(`ERR ${(e as Error).message}\n`);
          continue;
        }
        if (!(await endpoint.send(frame))) break; // closed meanwhile
      }
      running = false;
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        lines.push(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      if (pending.length > MAX_LINE) {
        socket.end(`ERR a line longer than ${MAX_LINE} bytes\n`);
        end();
        return;
      }
      if (lines.length > 256) socket.pause(); // paced by the bus
      if (!running) void run();
    });
  }

  /** Writes every frame the endpoint receives, batched, waiting for the socket to drain. */
  private async writeFrames(socket: Socket, endpoint: CanEndpoint): Promise<void> {
    for (let f = await endpoint.receive(); f !== null; f = await endpoint.receive()) {
      let text = `${formatFrame(f)}\n`;
      for (let g = text.length < 16384 ? endpoint.tryReceive() : null; g !== null; g = text.length < 16384 ? endpoint.tryReceive() : null) text += `${formatFrame(g)}\n`;
      if (socket.destroyed) return;
      if (!socket.write(text)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            socket.off('drain', done);
            socket.off('close', done);
            resolve();
          };
          socket.on('drain', done);
          socket.on('close', done);
        });
      }
    }
  }
}
