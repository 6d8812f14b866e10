/**
 * {@link ConsoleService}: one socket's console device and its ports' host ends: TCP listeners
 * (`network`), unix-socket listeners (`unix`), a pty per port (`pty`) or the daemon's own terminal
 * (`nested`).
 * @module
 */
import { ConsoleDevice, type ConsoleEvent } from '@vmv/console';
import { connectStreams, servePort, type PortListener } from '@vmv/console/node';
import type { DaemonLog, ServedDevice } from '@vmv/vhost-user/daemon';
import type { ConsoleOptions } from './args.js';
import { servePty, type PtyEndpoint } from './pty.js';

/**
 * The TCP port of port `k` of socket `i`: rust-vmm's `tcp_port + i` when each socket has one port.
 * @param options - the daemon's options.
 * @param socketIndex - the socket (0..socketCount-1).
 * @param port - the console port (0..ports).
 * @returns the TCP port.
 * @example `tcpPortOf({ tcpPort: 12345, ports: [] } as ConsoleOptions, 1, 0) === 12346`
 */
export function tcpPortOf(options: Pick<ConsoleOptions, 'tcpPort' | 'ports'>, socketIndex: number, port: number): number {
  return options.tcpPort + socketIndex * (options.ports.length + 1) + port;
}

/**
 * One socket's device and the host ends of its ports.
 * @example `const s = await ConsoleService.open(options, 0, log); await s.close();`
 */
export class ConsoleService implements ServedDevice {
  private readonly listeners: PortListener[] = [];
  private readonly ptys: PtyEndpoint[] = [];
  private restoreTerminal: (() => void) | null = null;

  /** The device served on the socket. */
  readonly device: ConsoleDevice;

  private constructor(device: ConsoleDevice) {
    this.device = device;
  }

  /**
   * Builds the device for socket `socketIndex` and starts its ports' host ends.
   * @param options - the daemon's options.
   * @param socketIndex - which socket (TCP ports and unix paths depend on it).
   * @param log - the daemon's log.
   * @returns the service, listening.
   * @throws the listen error of a TCP port or unix socket (EADDRINUSE...).
   * @example `await ConsoleService.open(consoleOptions(values), 0, log)`
   */
  static async open(options: ConsoleOptions, socketIndex: number, log: DaemonLog): Promise<ConsoleService> {
    const stdout = process.stdout;
    const terminalSize = options.backend === 'nested' && stdout.isTTY ? { cols: stdout.columns, rows: stdout.rows } : undefined;
    const device = new ConsoleDevice({
      ports: [{}, ...options.ports.map((name) => ({ name }))],
      multiport: true, // as rust-vmm's daemon: the control queues always
      size: options.size ?? terminalSize,
      queueSize: options.maxQueueSize,
      highWaterMark: options.bufferSize,
      onEvent: (e) => logEvent(log, socketIndex, e),
    });
    const service = new ConsoleService(device);
    try {
      if (options.backend === 'nested') service.nested(log);
      if (options.backend === 'pty') service.pty(options, socketIndex, log);
      for (let k = 0; (options.backend === 'network' || options.backend === 'unix') && k < device.portCount; k++) {
        const address = options.backend === 'network' ? { tcp: tcpPortOf(options, socketIndex, k), host: options.tcpHost } : { unix: `${options.consoleSocket!}${socketIndex}-${k}` };
        const where = 'tcp' in address ? `${address.host}:${address.tcp}` : address.unix;
        service.listeners.push(await servePort(device.port(k), address, (connected) => log.info(connected ? 'client connected' : 'client left', { socket: socketIndex, port: k, at: where })));
        log.info('port listening', { socket: socketIndex, port: k, name: options.ports[k - 1] ?? '(console)', at: where });
      }
    } catch (error) {
      await service.close();
      throw error;
    }
    return service;
  }

  /** Port 0 on the daemon's terminal, raw, its size followed. */
  private nested(log: DaemonLog): void {
    const { stdin, stdout } = process;
    const raw = stdin.isTTY === true;
    if (raw) stdin.setRawMode(true);
    const onResize = () => this.device.resize(stdout.columns, stdout.rows);
    if (stdout.isTTY) stdout.on('resize', onResize);
    const stop = connectStreams(this.device.port(0), stdin, stdout);
    log.info('port 0 on this terminal', { raw });
    this.restoreTerminal = () => {
      stop();
      stdout.off('resize', onResize);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
    };
  }

  /**
   * A pty per port; its slave path on one line of standard output (`port K: pty PATH`, with
   * `socket I ` first when there are several sockets), whatever the log level.
   */
  private pty(options: ConsoleOptions, socketIndex: number, log: DaemonLog): void {
    for (let k = 0; k < this.device.portCount; k++) {
      const pty = servePty(this.device.port(k));
      this.ptys.push(pty);
      process.stdout.write(`${options.socketCount > 1 ? `socket ${socketIndex} ` : ''}port ${k}: pty ${pty.path}\n`);
      log.debug('port on a pty', { socket: socketIndex, port: k, name: options.ports[k - 1] ?? '(console)', at: pty.path });
    }
  }

  /** Stops listening, closes the ptys and releases the terminal. */
  close(): Promise<void> {
    for (const l of this.listeners.splice(0)) l.close();
    for (const p of this.ptys.splice(0)) p.close();
    this.restoreTerminal?.();
    this.restoreTerminal = null;
    return Promise.resolve();
  }
}

function logEvent(log: DaemonLog, socket: number, e: ConsoleEvent): void {
  switch (e.type) {
    case 'bad-control':
      return log.warn(`bad control message from the guest: ${e.reason}`, { socket, ...(e.id === undefined ? {} : { id: e.id }), ...(e.event === undefined ? {} : { event: e.event }) });
    case 'guest-open':
      return log.info(e.open ? 'guest opened port' : 'guest closed port', { socket, port: e.port });
    case 'device-ready':
    case 'port-ready':
      return log.debug(e.type, { socket, ...('port' in e ? { port: e.port } : {}), ok: e.ok });
    default:
      return log.debug(e.type, { socket });
  }
}
