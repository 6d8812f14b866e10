/**
 * One served function: a @vmv virtio device (virtio-blk of @vmv/block through vmv-vhost-user-blk's
 * `BlockService`, virtio-rng of @vmv/rng, virtio-console and virtio-gpio as their vhost-user
 * daemons serve them: see {@link DEVICE_KINDS}) behind `@vmv/transport-pci`'s virtio-pci function
 * (VIRTIO 1.2 §4.1), served by `@vmv/vfio-user`'s server on a unix socket through
 * `pciFunctionDevice` (vfio-user.rst). One client at a time; when it leaves the image is flushed
 * and the function is back at power-on for the next one.
 * @module
 */
import { VIRTIO_BAR, VirtioBarOffset, VirtioPciFunction, type PciDiagnostic } from '@vmv/transport-pci';
import { PciRegion, pciFunctionDevice, type VfioUserEvent, type VfioUserPciDevice } from '@vmv/vfio-user';
import { VfioUserServer } from '@vmv/vfio-user/node';
import { ControlServer, checkSocketPath, listenError, type DaemonLog, type ServedDevice } from '@vmv/vhost-user/daemon';
import { DEVICE_KINDS, type Served } from './devices.js';
import type { DaemonOptions } from './flags.js';

/** One log line of an error: a @vmv error's short message with its details, else the first line. */
export function describe(error: unknown): string {
  const { shortMessage, details } = (typeof error === 'object' && error !== null ? error : {}) as { shortMessage?: unknown; details?: unknown };
  if (typeof shortMessage === 'string') return typeof details === 'string' ? `${shortMessage} (${details.replace(/\s*\n\s*/g, ' ')})` : shortMessage;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
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
 * What crossed the socket as messages since the start: every REGION_WRITE and REGION_READ the client
 * sent (QEMU's vfio-user-pci forwards each guest access to a BAR, the queue notifications among
 * them, as one message; writes to a memory BAR are posted, no reply awaited), and the MSI-X
 * interrupts the function fired (each one eventfd write, no message). Logged at the stop.
 * @example `const perIo = daemon.traffic.notifyWrites / ios;`
 */
export interface VfioUserTraffic {
  /** REGION_WRITE to the notification addresses (§4.1.4.4): one per queue notification. */
  notifyWrites: number;
  /** REGION_WRITE to the rest of the virtio BAR (common and device configuration). */
  virtioWrites: number;
  /** REGION_WRITE to configuration space or another BAR. */
  otherWrites: number;
  /** REGION_READ of any region (the ISR byte, configuration). */
  reads: number;
  /** MSI-X vectors fired (eventfd writes). */
  interrupts: number;
}

/** The traffic as one log line. */
function trafficLine(t: VfioUserTraffic): string {
  return `traffic: region writes notify ${t.notifyWrites}, virtio ${t.virtioWrites}, other ${t.otherWrites}; region reads ${t.reads}; MSI-X interrupts ${t.interrupts}`;
}

/**
 * The daemon: a device served as a virtio-pci function over vfio-user on one socket.
 * @example
 * ```ts
 * const d = await VfioUserDaemon.start({ socket: '/tmp/rng.sock', device: 'rng', flags: {}, logLevel: 'info', logFormat: 'text' }, log);
 * await d.stop();
 * ```
 */
export class VfioUserDaemon {
  /** Clients served so far. */
  connections = 0;
  /** Messages and interrupts so far (see {@link VfioUserTraffic}). */
  readonly traffic: VfioUserTraffic;

  private constructor(
    /** The vfio-user device (the function is `pci.fn`). */
    readonly pci: VfioUserPciDevice<VirtioPciFunction>,
    private readonly server: VfioUserServer,
    private readonly served: Served,
    private readonly control: ControlServer<ServedDevice> | null,
    traffic: VfioUserTraffic,
    private readonly log: DaemonLog,
  ) {
    this.traffic = traffic;
  }

  /**
   * Opens the device and listens.
   * @param options - parsed options
   * @param log - the log
   * @returns the running daemon
   * @throws VhostUser.SocketError when the socket cannot be listened on; VhostUserBlk.ImageError for an image that cannot be served; the listen error (EADDRINUSE...) of a console port's TCP port or unix socket, or of the control socket
   */
  static async start(options: DaemonOptions, log: DaemonLog): Promise<VfioUserDaemon> {
    checkSocketPath(options.socket);
    if (options.controlSocket !== undefined) checkSocketPath(options.controlSocket);
    const kind = DEVICE_KINDS[options.device];
    const served = await kind.open(options.flags, log, options.socket);
    const traffic: VfioUserTraffic = { notifyWrites: 0, virtioWrites: 0, otherWrites: 0, reads: 0, interrupts: 0 };
    const pci = pciFunctionDevice((wiring) => new VirtioPciFunction(served.device, {
      ...wiring,
      interrupts: {
        msix: (vector) => {
          traffic.interrupts++;
          wiring.interrupts.msix(vector);
        },
        intx: (level) => wiring.interrupts.intx(level),
      },
      onDiagnostic: (d) => logDiagnostic(log, d),
    }));
    // The same device, counting the accesses it is sent.
    const counted: VfioUserPciDevice<VirtioPciFunction> = {
      ...pci,
      read(region, offset, data) {
        traffic.reads++;
        pci.read(region, offset, data);
      },
      write(region, offset, data) {
        if (region !== PciRegion.BAR0 + VIRTIO_BAR) traffic.otherWrites++;
        else if (offset >= VirtioBarOffset.NOTIFY) traffic.notifyWrites++;
        else traffic.virtioWrites++;
        pci.write(region, offset, data);
      },
    };
    let daemon: VfioUserDaemon | null = null;
    const server = new VfioUserServer(counted, {
      onEvent: (e) => logSessionEvent(log, e),
      onConnection: (e) => {
        if (e.type === 'connected') log.info(`client connected (connection ${++daemon!.connections})`);
        else if (e.type === 'refused') log.warn('connection refused: a client is already connected');
        else log.info(`client disconnected${e.error === null ? '' : ` (${describe(e.error)})`}; waiting for the next one`);
        served.connection?.(e);
      },
    });
    let control: ControlServer<ServedDevice> | null = null;
    try {
      if (kind.control !== undefined && options.controlSocket !== undefined) control = await ControlServer.listen(options.controlSocket, kind.control, () => [served], log);
    } catch (e) {
      await served.close?.();
      throw e;
    }
    daemon = new VfioUserDaemon(pci, server, served, control, traffic, log);
    try {
      server.listen(options.socket, { removeStale: true });
    } catch (e) {
      await control?.close();
      await served.close?.();
      throw listenError(options.socket, e);
    }
    const f = pci.fn;
    log.info(`listening on ${options.socket}: virtio ${options.device} as PCI ${hex(0x1af4)}:${hex(0x1040 + f.device.deviceId)}, BARs ${f.bars.map((b) => `${b.index} (${b.size} bytes)`).join(', ')}, ${f.msixVectors} MSI-X vectors`);
    return daemon;
  }

  /**
   * Stops listening (the control socket too), drops the client, waits for the device's requests and flushes, closes.
   * @returns a promise
   */
  async stop(): Promise<void> {
    this.server.close();
    await this.control?.close();
    await this.served.drain?.();
    await this.served.close?.();
    this.log.info(trafficLine(this.traffic));
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(4, '0');
}
