/**
 * One served function: a @vmv virtio device (virtio-blk of @vmv/block through vmv-vhost-user-blk's
 * `BlockService`, or virtio-rng of @vmv/rng) behind `@vmv/transport-pci`'s virtio-pci function
 * (VIRTIO 1.2 §4.1), served by `@vmv/vfio-user`'s server on a unix socket through
 * `pciFunctionDevice` (vfio-user.rst). One client at a time; when it leaves the image is flushed
 * and the function is back at power-on for the next one.
 * @module
 */
import type { VirtioDevice } from '@vmv/device-trait';
import { RngDevice } from '@vmv/rng';
import { VirtioPciFunction, type PciDiagnostic } from '@vmv/transport-pci';
import { pciFunctionDevice, type VfioUserEvent, type VfioUserPciDevice } from '@vmv/vfio-user';
import { VfioUserServer, type VfioUserConnectionEvent } from '@vmv/vfio-user/node';
import { BlockService } from '@vmv/vhost-user-blk';
import { checkSocketPath, listenError, type DaemonLog } from '@vmv/vhost-user/daemon';
import type { DaemonOptions } from './flags.js';

/** One log line of an error: a @vmv error's short message with its details, else the first line. */
export function describe(error: unknown): string {
  const { shortMessage, details } = (typeof error === 'object' && error !== null ? error : {}) as { shortMessage?: unknown; details?: unknown };
  if (typeof shortMessage === 'string') return typeof details === 'string' ? `${shortMessage} (${details.replace(/\s*\n\s*/g, ' ')})` : shortMessage;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

/** The device behind the function, and its hooks. */
interface Served {
  readonly device: VirtioDevice;
  connection?(event: VfioUserConnectionEvent): void;
  drain?(): Promise<void>;
  close?(): Promise<void>;
}

async function openDevice(options: DaemonOptions, log: DaemonLog): Promise<Served> {
  if (options.device === 'rng') return { device: new RngDevice() };
  const svc = await BlockService.open(
    {
      socket: options.socket,
      image: options.image!,
      readonly: options.readOnly,
      queues: options.queues,
      ...(options.serial === undefined ? {} : { serial: options.serial }),
      // Interrupts are eventfd writes and notifications REGION_WRITE messages: nothing to coalesce or poll.
      coalesce: false,
      poll: false,
    },
    log,
  );
  return {
    device: svc.device,
    // Counts clients, and flushes the image when one leaves.
    connection: (e) => {
      if (e.type === 'connected') svc.onEvent({ type: 'connected' });
      else if (e.type === 'disconnected') svc.onEvent({ type: 'disconnected' });
    },
    drain: () => svc.drain(),
    close: () => svc.close(),
  };
}

function logDiagnostic(log: DaemonLog, d: PciDiagnostic): void {
  if (d.kind === 'needs-reset' || d.kind === 'device-error') log.error(`device: ${d.message}`);
  else log.debug(`refused access (${d.kind}): ${d.message}`);
}

function logSessionEvent(log: DaemonLog, e: VfioUserEvent): void {
  switch (e.type) {
    case 'negotiated':
      return log.debug('vfio-user version negotiated');
    case 'command-failed':
      return log.warn(`vfio-user ${e.command} refused: ${describe(e.error)}`);
    case 'dma-mapped':
      return log.debug(`DMA window 0x${e.address.toString(16)}+0x${e.size.toString(16)} ${e.fd ? 'mapped' : 'through messages'}`);
    case 'dma-unmapped':
      return log.debug(`${e.windows} DMA window${e.windows === 1 ? '' : 's'} unmapped`);
    case 'reset':
      return log.info('device reset (DEVICE_RESET)');
    case 'stray-reply':
      return log.warn(`stray reply dropped: ${describe(e.error)}`);
    case 'signal-failed':
      return log.warn(`interrupt not sent: fd ${e.fd} is not an eventfd (${describe(e.error)})`);
  }
}

/**
 * The daemon: a device served as a virtio-pci function over vfio-user on one socket.
 * @example
 * ```ts
 * const d = await VfioUserDaemon.start({ socket: '/tmp/rng.sock', device: 'rng', readOnly: false, queues: 1, logLevel: 'info', logFormat: 'text' }, log);
 * await d.stop();
 * ```
 */
export class VfioUserDaemon {
  /** Clients served so far. */
  connections = 0;

  private constructor(
    /** The vfio-user device (the function is `pci.fn`). */
    readonly pci: VfioUserPciDevice<VirtioPciFunction>,
    private readonly server: VfioUserServer,
    private readonly served: Served,
  ) {}

  /**
   * Opens the device and listens.
   * @param options - parsed options
   * @param log - the log
   * @returns the running daemon
   * @throws VhostUser.SocketError when the socket cannot be listened on; VhostUserBlk.ImageError for an image that cannot be served
   */
  static async start(options: DaemonOptions, log: DaemonLog): Promise<VfioUserDaemon> {
    checkSocketPath(options.socket);
    const served = await openDevice(options, log);
    const pci = pciFunctionDevice((wiring) => new VirtioPciFunction(served.device, { ...wiring, onDiagnostic: (d) => logDiagnostic(log, d) }));
    let daemon: VfioUserDaemon | null = null;
    const server = new VfioUserServer(pci, {
      onEvent: (e) => logSessionEvent(log, e),
      onConnection: (e) => {
        if (e.type === 'connected') log.info(`client connected (connection ${++daemon!.connections})`);
        else if (e.type === 'refused') log.warn('connection refused: a client is already connected');
        else log.info(`client disconnected${e.error === null ? '' : ` (${describe(e.error)})`}; waiting for the next one`);
        served.connection?.(e);
      },
    });
    daemon = new VfioUserDaemon(pci, server, served);
    try {
      server.listen(options.socket, { removeStale: true });
    } catch (e) {
      await served.close?.();
      throw listenError(options.socket, e);
    }
    const f = pci.fn;
    log.info(`listening on ${options.socket}: virtio ${options.device} as PCI ${hex(0x1af4)}:${hex(0x1040 + f.device.deviceId)}, BARs ${f.bars.map((b) => `${b.index} (${b.size} bytes)`).join(', ')}, ${f.msixVectors} MSI-X vectors`);
    return daemon;
  }

  /**
   * Stops listening, drops the client, waits for the device's requests and flushes, closes.
   * @returns a promise
   */
  async stop(): Promise<void> {
    this.server.close();
    await this.served.drain?.();
    await this.served.close?.();
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(4, '0');
}
