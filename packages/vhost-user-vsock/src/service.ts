/**
 * {@link VsockService}: one guest's virtio-vsock device (VIRTIO 1.2 §5.10) with its hybrid unix
 * socket ({@link serveHybrid}), and {@link VsockGroups}, the guests of one daemon that reach each
 * other by CID when they share a group (vhost-device-vsock's `groups=`). A guest-to-guest
 * connection is two connections, one on each device, joined with back-pressure both ways.
 * @module
 */
import { VsockDevice, type VsockConnection, type VsockEvent, type VsockListener } from '@vmv/vsock';
import { serveHybrid, type HybridBackend } from '@vmv/vsock/node';
import type { VhostUserBackendEvent } from '@vmv/vhost-user';
import type { DaemonLog, ServedDevice } from '@vmv/vhost-user/daemon';
import type { VmConfig, VsockOptions } from './args.js';

/**
 * Joins two connections: bytes (or messages, with EOR) each way with back-pressure, a SHUTDOWN
 * SEND passed on, a close or a reset passed on. `b` is one this side just asked for
 * (`connecting`): `a`, a guest's request held with `manualAccept`, is accepted when `b` opens, and
 * reset when `b` is refused.
 * @param a - the requesting guest's connection (`requested`).
 * @param b - the connection to the other guest (`connecting`).
 * @example `relay(fromGuest3, device4.connect(port, { cid: 3, port: fromGuest3.peerPort, type: fromGuest3.type }))`
 */
export function relay(a: VsockConnection, b: VsockConnection): void {
  const pass = (from: VsockConnection, to: VsockConnection) => ({
    data: (bytes: Uint8Array, { eor }: { eor: boolean }) => {
      try {
        return to.write(bytes, { eor });
      } catch {
        // a message longer than the other guest can ever receive: both ends reset
        from.reset();
        to.reset();
        return false;
      }
    },
    end: () => to.end(),
    drain: () => from.resume(),
    close: (reason: string) => {
      if (to.state === 'closed') return;
      if (reason === 'closed') to.close();
      else to.reset();
    },
  });
  const ab = pass(a, b);
  const ba = pass(b, a);
  a.attach({ ...ab, drain: ba.drain });
  b.attach({ ...ba, drain: ab.drain, open: () => a.accept() });
}

/**
 * The guests of one daemon, by CID; two that share a group reach each other.
 * @example `const groups = new VsockGroups(); groups.join(service);`
 */
export class VsockGroups {
  private readonly members = new Map<number, { readonly service: VsockService; readonly links: VsockListener[] }>();

  /**
   * Adds a guest: each guest it shares a group with can connect to it by CID, and it to them.
   * @param service - the guest's service.
   * @throws TypeError when its CID is taken.
   */
  join(service: VsockService): void {
    const cid = service.vm.guestCid;
    if (this.members.has(cid)) throw new TypeError(`VsockGroups: guest CID ${cid} is taken`);
    const mine: VsockListener[] = [];
    for (const [, other] of this.members) {
      if (!other.service.vm.groups.some((g) => service.vm.groups.includes(g))) continue;
      mine.push(route(service, other.service));
      other.links.push(route(other.service, service));
    }
    this.members.set(cid, { service, links: mine });
  }

  /**
   * Removes a guest: no new connection reaches it or leaves it for another guest.
   * @param service - the guest's service.
   */
  leave(service: VsockService): void {
    const cid = service.vm.guestCid;
    const entry = this.members.get(cid);
    if (entry?.service !== service) return;
    this.members.delete(cid);
    for (const l of entry.links) l.close();
    for (const [, other] of this.members) {
      for (let i = other.links.length - 1; i >= 0; i--) {
        if (other.links[i]!.cid === cid) other.links.splice(i, 1)[0]!.close();
      }
    }
  }
}

/** `from`'s guest connecting to `to`'s CID: the request held, a connection asked of `to`'s guest, the two joined. */
function route(from: VsockService, to: VsockService): VsockListener {
  return from.device.listen(
    'any',
    (conn) => {
      let other: VsockConnection;
      try {
        other = to.device.connect(conn.localPort, { cid: from.vm.guestCid, port: conn.peerPort, type: conn.type });
      } catch (error) {
        from.log.warn(`guest ${from.vm.guestCid} → guest ${to.vm.guestCid} port ${conn.localPort}: ${(error as Error).message}`);
        return conn.reset();
      }
      relay(conn, other);
    },
    { cid: to.vm.guestCid, manualAccept: true },
  );
}

/**
 * One guest's device and its host end.
 * @example `const s = await VsockService.open(vm, options, groups, log); await s.close();`
 */
export class VsockService implements ServedDevice {
  private hybrid: HybridBackend | null = null;

  private constructor(
    /** The device served on the guest's socket. */
    readonly device: VsockDevice,
    /** The guest's settings. */
    readonly vm: VmConfig,
    /** The daemon's log. */
    readonly log: DaemonLog,
    private readonly groups: VsockGroups,
  ) {}

  /**
   * Builds the guest's device, listens on its hybrid unix socket and joins its groups. The device
   * starts with a TRANSPORT_RESET owed to the guest: after a daemon restart the guest's old
   * connections are gone, and its driver must hear so (§5.10.6.8).
   * @param vm - the guest.
   * @param options - the daemon's options.
   * @param groups - the daemon's guests.
   * @param log - the daemon's log.
   * @returns the service, listening.
   * @throws the unix socket's listen error (EADDRINUSE...).
   */
  static async open(vm: VmConfig, options: VsockOptions, groups: VsockGroups, log: DaemonLog): Promise<VsockService> {
    const device = new VsockDevice({
      guestCid: vm.guestCid,
      queueSize: vm.queueSize,
      bufAlloc: vm.txBufferSize,
      maxConnections: options.maxConnections,
      seqpacket: options.seqpacket,
      onEvent: (e) => logEvent(log, vm.guestCid, e),
    });
    device.transportReset();
    const service = new VsockService(device, vm, log, groups);
    service.hybrid = await serveHybrid(device, { udsPath: vm.udsPath, log: (line) => log.warn(line, { cid: vm.guestCid }) });
    groups.join(service);
    log.info('guest ready', { cid: vm.guestCid, uds: vm.udsPath, groups: vm.groups.join('+') });
    return service;
  }

  /** A frontend gone (QEMU quit) took its guest's connections with it: they are reset here. */
  onEvent(event: VhostUserBackendEvent): void {
    if (event.type === 'disconnected') this.device.transportReset();
  }

  /** Leaves the groups and closes the hybrid socket and its connections. */
  async close(): Promise<void> {
    this.groups.leave(this);
    await this.hybrid?.close();
    this.hybrid = null;
  }
}

function logEvent(log: DaemonLog, cid: number, e: VsockEvent): void {
  if (e.type === 'reset') log.debug(`RST to the guest: ${e.reason}`, { cid, port: e.port, peerPort: e.peerPort });
  else if (e.type === 'dropped') log.warn(`dropped a packet from the guest: ${e.reason}`, { cid, ...(e.op === undefined ? {} : { op: e.op }) });
  else log.warn(`queue ${e.queue}: a buffer of ${e.length} bytes is too small for a header`, { cid });
}
