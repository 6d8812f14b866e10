/**
 * One frontend connection: takes framed messages from its {@link MessageChannel}, decodes them
 * with the validating decoder, applies each through one method per request (rust-vmm's
 * `VhostUserBackendReqHandler`), and answers. vhost-user.rst "Communication", "Ring states",
 * "REPLY_ACK".
 *
 * Failure policy: framing errors disconnect (in the channel). A well-framed bad request is
 * answered with a failure when the frontend asked for a reply (need_reply: u64 1; GET_CONFIG: an
 * empty payload) and disconnects otherwise; a request whose reply carries data (GET_FEATURES,
 * ...) cannot signal an error and disconnects. Nothing a frontend sends makes the backend throw
 * out of the event loop.
 *
 * @module
 */

import { DeviceSession, Feature, featureBit, type SessionActivation, type SessionEvent, type SessionTransport, type VirtioDevice } from '@vmv/device-trait';
import { UnixStream } from '@vmv/sys';
import { ConfigFlags, HeaderFlags, ProtocolFeature, VhostFeature, VhostUserRequest as Q, replyCarriesData } from '../protocol/constants.js';
import { decodeRequest } from '../protocol/decoder.js';
import { encodeAckReply, encodeConfigReply, encodeU64Reply } from '../protocol/encoder.js';
import { validateRequestHeader, type VhostUserHeader } from '../protocol/header.js';
import type { ConfigAccess } from '../protocol/config.js';
import type { InflightDescription } from '../protocol/inflight.js';
import type { MemoryRegionDescription } from '../protocol/memory-table.js';
import type { VhostUserDecodeContext, VhostUserRequestMessage } from '../protocol/messages.js';
import { InvalidConfigError, InvalidOperationError, InvalidParamError, UnsupportedRequestError } from '../errors.js';
import { BackendChannel, type BackendChannelFailure } from './backend-channel.js';
import { InflightSession } from './inflight-session.js';
import type { KickPollStats } from './kick-poll.js';
import { MessageChannel, type MessageChannelHost } from '../channel/message-channel.js';
import { RegionRelease } from './region-release.js';
import { safeClose } from '../channel/fd.js';
import { RegionTable } from './region-table.js';
import { RingControl, type RingControlHost } from './ring-control.js';
import { RingLender, type QueueWorkerPool } from './queue-workers.js';
import { Vring } from './vring.js';

/** Settings a connection runs with (resolved backend options). @internal */
export interface ConnectionSettings {
  readonly offeredFeatures: bigint;
  readonly offeredProtocolFeatures: bigint;
  readonly maxMemSlots: number;
  readonly drainTimeoutMs: number;
  /** How long the frontend may take to answer a backend request. */
  readonly backendRequestTimeoutMs: number;
  readonly pollIntervalMs: number;
  /** Rings that, started but disabled, return their chains unused instead of holding them. */
  readonly discardWhileDisabled: ReadonlySet<number>;
  /** Interrupt coalescing per ring, or null. */
  readonly coalesce: { readonly quietUs: number; readonly maxDelayUs: number } | null;
  /** Predictive polling settings, or null (off). */
  readonly poll: { readonly spinUs: number; readonly maxGapUs: number } | null;
  /** Queue worker threads that running rings are lent to, or null (every ring is served in this thread). */
  readonly workers: QueueWorkerPool | null;
  readonly emit: (event: ConnectionEvent) => void;
}

/**
 * What a connection reports to its backend; part of `VhostUserBackendEvent`.
 *
 * @example
 * ```ts
 * function log(e: ConnectionEvent): void {
 *   if (e.type === 'ring-error') console.error(`ring ${e.index} stopped:`, e.error);
 * }
 * ```
 */
export type ConnectionEvent =
  | {
      /** A frontend message was refused (the connection goes on). */
      readonly type: 'request-failed';
      /** The request code of the refused message. */
      readonly request: number;
      /** Why: a typed `@vmv` error. */
      readonly error: unknown;
    }
  | {
      /** The device was activated: every ring it needs is set up and enabled. */
      readonly type: 'activated';
    }
  | {
      /** A running device was reset (by the frontend, or when its session ended). */
      readonly type: 'device-reset';
    }
  | {
      /** The device entered DEVICE_NEEDS_RESET (VIRTIO 1.2 §2.1.2). */
      readonly type: 'needs-reset';
      /** What made it give up, for a log. */
      readonly reason: unknown;
    }
  | {
      /** Serving a ring failed; the ring stops. */
      readonly type: 'ring-error';
      /** The ring's index. */
      readonly index: number;
      /** Why: a typed `@vmv` error. */
      readonly error: unknown;
    }
  | {
      /**
       * Requests a previous backend left in flight (the inflight region, INFLIGHT_SHMFD) are handed
       * to the device again, before any new one, as vhost-user.rst's "When reconnecting" asks.
       */
      readonly type: 'inflight-resubmitted';
      /** The ring's index. */
      readonly index: number;
      /** How many requests. */
      readonly count: number;
    }
  | {
      /** A running ring was lent to a queue worker (the backend's `queueWorkers`), which serves it from now on. */
      readonly type: 'ring-lent';
      /** The ring's index. */
      readonly index: number;
      /** The worker's number. */
      readonly worker: number;
    }
  | {
      /** Memory regions the frontend removed are still mapped, held by requests in flight. */
      readonly type: 'memory-held';
      /** How many regions are held. */
      readonly regions: number;
    }
  | BackendChannelFailure;

function hasProtocolFeature(features: bigint, bit: number): boolean {
  return ((features >> BigInt(bit)) & 1n) === 1n;
}

/** Messages a first kick may process before activation (a whole setup sequence, bounded). */
const PRE_ACTIVATION_MESSAGES = 4096;

/** vhost bits of SET_FEATURES that are not device features. */
const VHOST_ONLY_FEATURES = featureBit(VhostFeature.PROTOCOL_FEATURES) | featureBit(VhostFeature.LOG_ALL);

/**
 * A connection to one frontend, and the transport half ({@link SessionTransport}) of its
 * {@link DeviceSession}: the session (from `@vmv/device-trait`, as for every transport) holds the
 * status, the negotiated features, the device's activation and every way it leaves service; the
 * connection maps vhost-user requests onto it. Not exported from the package.
 * @internal
 */
export class Connection implements MessageChannelHost, RingControlHost, SessionTransport {
  private readonly rings: RingControl;
  private readonly table: RegionTable;
  private readonly channel: MessageChannel;
  private readonly session: DeviceSession;
  private readonly inflight: InflightSession;
  private readonly release: RegionRelease;
  private readonly vrings: readonly Vring[];
  /** The rings lent to queue workers, or null without workers. */
  private readonly lender: RingLender | null;
  /** The vhost-only bits of the last accepted SET_FEATURES (PROTOCOL_FEATURES). */
  private vhostFeatures = 0n;
  private ackedProtocolFeatures = 0n;
  /** Between the session's `activated` and `reset` events (a reset of a running device is reported). */
  private deviceRunning = false;
  private owned = false;
  private closed = false;
  /** The backend request channel (SET_BACKEND_REQ_FD), or null. */
  private backendChannel: BackendChannel | null = null;

  /**
   * @param stream - the connected socket (owned from now on)
   * @param device - the device served
   * @param settings - resolved options
   * @param onClose - called once when the connection ends (with the error that ended it, if any)
   */
  constructor(
    stream: UnixStream,
    private readonly device: VirtioDevice,
    private readonly settings: ConnectionSettings,
    private readonly onClose: (error: unknown) => void,
  ) {
    const vrings = device.queueMaxSizes.map((max, i) => new Vring(i, max, settings.coalesce, settings.poll));
    this.vrings = vrings;
    this.table = new RegionTable(settings.maxMemSlots, settings.workers !== null);
    this.channel = new MessageChannel(stream, this, validateRequestHeader);
    this.session = new DeviceSession(device, this, { negotiation: 'frontend', offeredFeatures: settings.offeredFeatures & ~VHOST_ONLY_FEATURES });
    this.inflight = new InflightSession(
      () => this.rings.failStarted(() => new InvalidOperationError('inflight buffer replaced under a running ring')),
      (settings.offeredFeatures & featureBit(Feature.RING_PACKED)) !== 0n,
    );
    this.lender =
      settings.workers === null
        ? null
        : new RingLender(settings.workers, this.table, settings.emit, {
            failed: (error) => {
              if (!this.closed) this.session.needsReset(error);
            },
            configChanged: () => this.configChanged(),
          });
    this.rings = new RingControl(vrings, this.session, this.table, this.inflight, settings, this, this.lender);
    this.release = new RegionRelease(this.table, () => this.session.drain(), settings.drainTimeoutMs, settings.emit, () => this.rings.deviceIdle());
  }

  /** Starts reading. */
  start(): void {
    this.channel.start();
  }

  /** Used-buffer notifications the device asked for and call eventfd writes, over all rings. */
  get callStats(): { requested: number; sent: number } {
    return this.rings.callStats;
  }

  /** Predictive polling counters, over all rings. */
  get pollStats(): KickPollStats {
    return this.rings.pollStats;
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends the connection and releases everything (rings, mappings, fds, the device session). */
  close(error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
    this.backendChannel?.close();
    this.backendChannel = null;
    for (const ring of this.rings.rings) {
      this.lender?.recall(ring);
      ring.clear();
    }
    this.lender?.close();
    this.session.reset();
    // Guest memory stays mapped until the device's I/O from before the reset has finished
    // (a zero-copy read may still be landing in a guest buffer): VirtioDevice.drain().
    const table = this.table;
    this.release.afterDeviceDrain(() => table.clear());
    this.release.releaseGraveyard();
    this.inflight.drop();
    this.onClose(error);
  }

  /** {@link RingControlHost}: runs `fn`; any exception ends the connection instead of escaping into the event loop. */
  guard(fn: () => void): void {
    if (this.closed) return;
    try {
      fn();
    } catch (e) {
      this.close(e);
    }
  }

  /** {@link MessageChannelHost}: the channel cannot go on. */
  failed(error: unknown): void {
    this.close(error);
  }

  /** {@link RingControlHost}: sends a reply. */
  send(bytes: Uint8Array): void {
    this.channel.send(bytes);
  }

  /** {@link RingControlHost}: before activation, handles the control messages already sent. */
  pumpBeforeActivation(): void {
    this.channel.pump(PRE_ACTIVATION_MESSAGES);
  }

  /** {@link RingControlHost}: the features the frontend acked, vhost bits included (0n before SET_FEATURES). */
  get ackedFeatures(): bigint {
    return this.session.negotiatedFeatures | this.vhostFeatures;
  }

  /** The device changed its configuration on its own (the backend's DeviceHost routes here). */
  configChanged(): void {
    if (!this.closed) this.session.configChanged();
  }

  /** The device changed its state on its own (the backend's DeviceHost routes here): queue workers' devices follow. */
  deviceStateChanged(): void {
    if (this.closed || this.lender === null || this.device.snapshot === undefined) return;
    try {
      this.lender.stateChanged(this.device.snapshot());
    } catch {
      // a device that cannot say its state now: the workers' devices get it at their next activation
    }
  }

  // ---------------------------------------------------------------- the session's transport half

  /** {@link SessionTransport}: the device starts with the rings started so far, once there is memory. */
  activation(): SessionActivation | null {
    const memory = this.table.memory;
    if (memory === null || !this.vrings.some((r) => r.started)) return null;
    return { memory, queues: this.vrings.map((r) => (r.started ? r.queue : null)) };
  }

  /** {@link SessionTransport}: a call, through the ring's coalescer (the session checked the index). */
  signalUsedBuffer(queueIndex: number): void {
    this.vrings[queueIndex]!.requestCall();
  }

  /**
   * {@link SessionTransport}: CONFIG_CHANGE_MSG on the backend request channel, when there is one
   * and the frontend can act on it (it re-reads the config space with GET_CONFIG: CONFIG acked).
   */
  signalConfigChange(): void {
    if (this.backendChannel === null || this.backendChannel.isClosed) return;
    if (!hasProtocolFeature(this.ackedProtocolFeatures, ProtocolFeature.CONFIG)) return;
    this.backendChannel.configChanged();
  }

  /**
   * {@link SessionTransport}: the device holds no chain of this ring any more (reset, failed
   * activation). Forgetting them makes their late completions drop; the ring's positions stay,
   * for GET_VRING_BASE (a `reset()` of the queue would lose them).
   */
  retireQueue(queueIndex: number): void {
    this.vrings[queueIndex]!.queue.forgetOrphans();
  }

  /** {@link SessionTransport}: what the session did, mapped onto rings, memory and backend events. */
  event(e: SessionEvent): void {
    switch (e.type) {
      case 'activated':
        this.lender?.activated();
        this.deviceRunning = true;
        this.settings.emit({ type: 'activated' });
        return;
      case 'needs-reset':
        // rings stop (updateRunning sees DEVICE_NEEDS_RESET) and their err eventfds are signalled
        for (const ring of this.vrings) {
          this.rings.updateRunning(ring);
          if (ring.started) ring.signalError();
        }
        this.settings.emit({ type: 'needs-reset', reason: e.cause });
        return;
      case 'reset':
        // the device holds no chain now: regions kept for it go once its I/O has drained
        this.release.deviceReset();
        this.lender?.deviceReset();
        if (this.deviceRunning) this.settings.emit({ type: 'device-reset' });
        this.deviceRunning = false;
        return;
      default:
        // features-ok, needs-reset-announced (no config interrupt to send), reset-failed (the reset completed)
        return;
    }
  }

  // ---------------------------------------------------------------- dispatch and failure policy

  private decodeContext(): VhostUserDecodeContext {
    return {
      offeredFeatures: this.settings.offeredFeatures,
      ackedFeatures: this.ackedFeatures,
      offeredProtocolFeatures: this.settings.offeredProtocolFeatures,
      ackedProtocolFeatures: this.ackedProtocolFeatures,
      queueCount: this.rings.rings.length,
      maxQueueSize: Math.max(...this.device.queueMaxSizes),
    };
  }

  /** {@link MessageChannelHost}: decodes, applies and answers one message. Takes ownership of `fds`. */
  onMessage(header: VhostUserHeader, body: Uint8Array, fds: number[], headerError: unknown): Promise<void> | undefined {
    const needReply = (header.flags & HeaderFlags.NEED_REPLY) !== 0;
    if (headerError !== null) {
      for (const fd of fds) safeClose(fd);
      this.requestFailed(header.request, needReply, headerError);
      return undefined;
    }
    let msg: VhostUserRequestMessage;
    try {
      msg = decodeRequest(header, body, fds, this.decodeContext());
    } catch (e) {
      for (const fd of fds) safeClose(fd);
      this.requestFailed(header.request, needReply, e);
      return undefined;
    }
    let result: Promise<void> | undefined;
    try {
      result = this.handle(msg);
    } catch (e) {
      this.requestFailed(msg.request, needReply, e);
      return undefined;
    }
    if (result === undefined) {
      this.acknowledge(msg);
      return undefined;
    }
    return result.then(
      () => this.acknowledge(msg),
      (e: unknown) => this.requestFailed(msg.request, needReply, e),
    );
  }

  private acknowledge(msg: VhostUserRequestMessage): void {
    if (msg.needReply && !replyCarriesData(msg.request) && !this.closed) this.channel.send(encodeAckReply(msg.request, true));
  }

  /** A well-framed request failed: an error reply where the frontend can take one, else disconnect. */
  private requestFailed(request: number, needReply: boolean, error: unknown): void {
    if (this.closed) return;
    if (request === Q.GET_CONFIG) {
      this.settings.emit({ type: 'request-failed', request, error });
      this.channel.send(encodeConfigReply(null));
      return;
    }
    if (needReply && !replyCarriesData(request)) {
      this.settings.emit({ type: 'request-failed', request, error });
      this.channel.send(encodeAckReply(request, false));
      return;
    }
    this.close(error);
  }

  /** Applies one request; a promise while it completes asynchronously. Takes ownership of every fd in it. */
  private handle(msg: VhostUserRequestMessage): Promise<void> | undefined {
    switch (msg.request) {
      case Q.SET_MEM_TABLE: return this.afterTakeBack(() => this.setMemTable(msg.regions, msg.fds), msg.fds);
      case Q.REM_MEM_REG: return this.afterTakeBack(() => this.remMemReg(msg.region, msg.fd), [msg.fd]);
      case Q.ADD_MEM_REG: return this.afterTakeBack(() => {
        this.addMemReg(msg.region, msg.fd);
        return undefined;
      }, [msg.fd]);
      case Q.SET_VRING_CALL: return this.rings.setVringCall(msg.index, msg.fd);
      case Q.SET_VRING_KICK: return this.rings.setVringKick(msg.index, msg.fd);
      case Q.GET_VRING_BASE: return this.rings.getVringBase(msg.index);
      case Q.GET_FEATURES: this.replyU64(msg.request, this.settings.offeredFeatures); break;
      case Q.SET_FEATURES: this.setFeatures(msg.value); break;
      case Q.SET_OWNER: this.setOwner(); break;
      case Q.RESET_OWNER: this.resetOwner(); break;
      case Q.GET_PROTOCOL_FEATURES: this.replyU64(msg.request, this.settings.offeredProtocolFeatures); break;
      case Q.SET_PROTOCOL_FEATURES: this.ackedProtocolFeatures = msg.value; break;
      case Q.GET_QUEUE_NUM: this.replyU64(msg.request, BigInt(this.rings.rings.length)); break;
      case Q.GET_MAX_MEM_SLOTS: this.replyU64(msg.request, BigInt(this.settings.maxMemSlots)); break;
      case Q.SET_VRING_NUM: this.rings.setVringNum(msg.index, msg.num); break;
      case Q.SET_VRING_BASE: this.rings.setVringBase(msg.index, msg.num); break;
      case Q.SET_VRING_ADDR: this.rings.setVringAddr(msg.addr); break;
      case Q.SET_VRING_ERR: this.rings.setVringErr(msg.index, msg.fd); break;
      case Q.SET_VRING_ENABLE: this.rings.setVringEnable(msg.index, msg.num); break;
      case Q.GET_CONFIG: this.getConfig(msg.config); break;
      case Q.SET_CONFIG: this.setConfig(msg.config); break;
      case Q.GET_INFLIGHT_FD: this.getInflightFd(msg.inflight); break;
      case Q.SET_INFLIGHT_FD: this.inflight.set(msg.inflight, msg.fd); break;
      case Q.RESET_DEVICE: this.resetDevice(); break;
      case Q.SET_STATUS: this.setStatus(Number(msg.value)); break;
      case Q.GET_STATUS: this.replyU64(msg.request, BigInt(this.session.status)); break;
      case Q.SET_BACKEND_REQ_FD: this.setBackendReqFd(msg.fd); break;
      case Q.SET_LOG_BASE:
      case Q.SET_LOG_FD:
        safeClose(msg.fd);
        throw new UnsupportedRequestError(msg.request);
      default:
        // SEND_RARP, NET_SET_MTU, SET_VRING_ENDIAN, VRING_KICK (the decoder refuses the rest)
        throw new UnsupportedRequestError(msg.request);
    }
    return undefined;
  }

  // ---------------------------------------------------------------- one method per request

  /** SET_BACKEND_REQ_FD: the channel for backend requests; a previous one is closed. */
  private setBackendReqFd(fd: number): void {
    this.backendChannel?.close();
    this.backendChannel = null;
    let stream: UnixStream;
    try {
      stream = UnixStream.from(fd);
    } catch (e) {
      safeClose(fd);
      throw new InvalidParamError('the backend request fd is not a socket', { fd, cause: e instanceof Error ? e.message : String(e) });
    }
    const needReply = hasProtocolFeature(this.ackedProtocolFeatures, ProtocolFeature.REPLY_ACK);
    this.backendChannel = new BackendChannel(stream, needReply, this.settings.backendRequestTimeoutMs, this.settings.emit);
  }

  private replyU64(request: number, value: bigint): void {
    this.channel.send(encodeU64Reply(request, value));
  }

  private setOwner(): void {
    if (this.owned) throw new InvalidOperationError('the session is already owned');
    this.owned = true;
  }

  /**
   * SET_FEATURES: the device features go to the session (VIRTIO_F_VERSION_1, a subset of the
   * offer, and the device's own `validateFeatures`); the vhost bits stay here.
   * @throws VhostUser.InvalidParamError when the session refuses them (nothing changes)
   */
  private setFeatures(value: bigint): void {
    if (!this.session.acceptFeatures(value & ~VHOST_ONLY_FEATURES)) {
      throw new InvalidParamError('the features are not acceptable (VIRTIO_F_VERSION_1 is required; the device may refuse a combination)', { features: value });
    }
    this.vhostFeatures = value & VHOST_ONLY_FEATURES;
    for (const ring of this.vrings) this.rings.updateRunning(ring);
  }

  /**
   * SET_STATUS, recorded as the frontend relays it (QEMU sets FEATURES_OK right after
   * SET_FEATURES, and ACKNOWLEDGE | DRIVER | DRIVER_OK when it starts the device). FEATURES_OK is
   * dropped when the accepted features are not acceptable; DRIVER_OK activates the device once a
   * ring has started, and kicks remembered until then are handled.
   */
  private setStatus(value: number): void {
    const before = this.session.activated;
    this.session.writeStatus(value);
    if (!before && this.session.activated) for (const ring of this.vrings) if (ring.pendingKick) this.rings.deferKick(ring);
  }

  /**
   * Deprecated, and "either ignore this message, or use it to disable all rings" (vhost-user.rst):
   * every ring stops, so the device is deactivated as when the last ring stops; the negotiated
   * features and status stay (discarding connection state is the reading the spec warns against).
   */
  private resetOwner(): void {
    this.rings.stopAll();
    this.session.deactivate();
    this.owned = false;
  }

  /**
   * Runs a memory table change once every ring lent to a queue worker is back, drained (at once
   * without workers): a worker never holds chains over a table that changed under it.
   * @param fds - the request's fds, closed if the connection ends meanwhile
   */
  private afterTakeBack(change: () => Promise<void> | undefined, fds: readonly (number | null)[]): Promise<void> | undefined {
    const back = this.rings.takeBackAll();
    if (back === undefined) return change();
    return back
      .then(() => {
        if (!this.closed) return change();
        for (const fd of fds) safeClose(fd);
        return undefined;
      })
      .finally(() => this.rings.resumeLending());
  }

  private setMemTable(regions: readonly MemoryRegionDescription[], fds: readonly number[]): Promise<void> | undefined {
    const removed = this.table.replace(regions, fds);
    this.rings.memoryChanged();
    return this.release.releaseWhenIdle(removed);
  }

  private addMemReg(region: MemoryRegionDescription, fd: number): void {
    this.table.add(region, fd);
    this.rings.memoryChanged();
  }

  private remMemReg(region: MemoryRegionDescription, fd: number | null): Promise<void> | undefined {
    safeClose(fd);
    const removed = this.table.remove(region);
    this.rings.memoryChanged();
    return this.release.releaseWhenIdle(removed);
  }

  private getConfig(access: ConfigAccess): void {
    const data = new Uint8Array(access.size);
    const inside = Math.max(0, Math.min(access.size, this.device.configSize - access.offset));
    if (inside > 0) this.session.readConfig(access.offset, data.subarray(0, inside));
    this.channel.send(encodeConfigReply({ ...access, data }));
  }

  private setConfig({ offset, size, flags, data }: ConfigAccess): void {
    if (offset + size > this.device.configSize) {
      throw new InvalidConfigError('write beyond the device config space', { offset, size, configSize: this.device.configSize });
    }
    if (flags !== ConfigFlags.WRITABLE && flags !== ConfigFlags.LIVE_MIGRATION) throw new InvalidConfigError('unknown flags', { flags });
    this.session.writeConfig(offset, data);
    this.lender?.configWritten(offset, data);
  }

  private getInflightFd(desc: InflightDescription): void {
    const { reply, fd } = this.inflight.create(desc);
    this.channel.send(reply, [fd], [fd]);
  }

  /** RESET_DEVICE: every ring stops and the session is reset (device, status, features). */
  private resetDevice(): void {
    this.rings.stopAll();
    this.session.reset();
    this.vhostFeatures = 0n;
  }
}
