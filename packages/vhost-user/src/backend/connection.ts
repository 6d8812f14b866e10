/**
 * One frontend connection: reads framed messages (with their SCM_RIGHTS fds) from a
 * non-blocking unix stream, decodes them with the validating decoder, applies them to the
 * device, and answers. vhost-user.rst "Communication", "Ring states", "REPLY_ACK".
 *
 * Failure policy: framing errors (bad version, reserved flags, oversized payload, too many fds,
 * a truncated stream) disconnect. A well-framed bad request is answered with a failure when
 * the frontend asked for a reply (need_reply: u64 1; GET_CONFIG: an empty payload) and
 * disconnects otherwise; a request whose reply carries data (GET_FEATURES, ...) cannot signal
 * an error and disconnects. Nothing a frontend sends makes the backend throw out of the event
 * loop.
 *
 * @module
 */

import type { ActivationContext, VirtioDevice } from '@vmv/device-trait';
import { QueueConfig, createVirtqueue, type QueueState, type Virtqueue } from '@vmv/queue';
import { GuestMemory } from '@vmv/memory';
import { PollEvents, isSysError, memfdCreate, mmap, setNonBlocking, type FdWatcher, type Mapping, type UnixStream } from '@vmv/sys';
import {
  ConfigFlags,
  HeaderFlags,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_FDS,
  VhostFeature,
  VhostUserRequest as Q,
} from '../protocol/constants.js';
import { decodeRequest, hasBit } from '../protocol/decoder.js';
import {
  encodeAckReply,
  encodeConfigReply,
  encodeInflightReply,
  encodeU64Reply,
  encodeVringStateReply,
} from '../protocol/encoder.js';
import { readHeader, validateRequestHeader, type VhostUserHeader } from '../protocol/header.js';
import type { InflightDescription } from '../protocol/inflight.js';
import type { VhostUserDecodeContext, VhostUserRequestMessage } from '../protocol/messages.js';
import {
  DisconnectedError,
  IncorrectFdsError,
  InvalidConfigError,
  InvalidInflightError,
  InvalidOperationError,
  InvalidParamError,
  UnsupportedRequestError,
  isVhostUserError,
} from '../errors.js';
import { INFLIGHT_VERSION, InflightQueue, inflightQueueRegionSize } from './inflight-region.js';
import { RegionTable, safeClose, type MappedRegion } from './region-table.js';
import { Vring } from './vring.js';
import { addPollStats, noPollStats, type KickPollStats } from './kick-poll.js';

/** Settings a connection runs with (resolved backend options). @internal */
export interface ConnectionSettings {
  readonly offeredFeatures: bigint;
  readonly offeredProtocolFeatures: bigint;
  readonly maxMemSlots: number;
  readonly drainTimeoutMs: number;
  readonly pollIntervalMs: number;
  /** Interrupt coalescing per ring, or null. */
  readonly coalesce: { readonly quietUs: number; readonly maxDelayUs: number } | null;
  /** Predictive polling settings, or null (off). */
  readonly poll: { readonly spinUs: number; readonly maxGapUs: number } | null;
  readonly emit: (event: ConnectionEvent) => void;
}

/** What a connection reports to its backend. @internal */
export type ConnectionEvent =
  | { readonly type: 'request-failed'; readonly request: number; readonly error: unknown }
  | { readonly type: 'activated' }
  | { readonly type: 'device-reset' }
  | { readonly type: 'needs-reset'; readonly reason: unknown }
  | { readonly type: 'ring-error'; readonly index: number; readonly error: unknown }
  | { readonly type: 'memory-held'; readonly regions: number };

/** vhost bits that are not device features. */
const VHOST_ONLY_FEATURES = (1n << BigInt(VhostFeature.PROTOCOL_FEATURES)) | (1n << BigInt(VhostFeature.LOG_ALL));
const STATUS_DRIVER_OK = 0x04;
const STATUS_FEATURES_OK = 0x08;
const STATUS_NEEDS_RESET = 0x40;

/** Messages handled per socket callback before the loop gets a turn. */
const MESSAGES_PER_TURN = 64;
/** Messages a first kick may process before activation (a whole setup sequence, bounded). */
const PRE_ACTIVATION_MESSAGES = 4096;

/** Requests whose reply carries data. */
const EXPLICIT_REPLY: ReadonlySet<number> = new Set<number>([
  Q.GET_FEATURES,
  Q.GET_PROTOCOL_FEATURES,
  Q.GET_VRING_BASE,
  Q.GET_QUEUE_NUM,
  Q.GET_MAX_MEM_SLOTS,
  Q.GET_STATUS,
  Q.GET_CONFIG,
  Q.GET_INFLIGHT_FD,
]);

interface PendingWrite {
  bytes: Uint8Array;
  fds: readonly number[];
  /** fds we own and close once they have been sent */
  closeAfter: readonly number[];
}

interface Inflight {
  readonly mapping: Mapping;
  readonly numQueues: number;
  readonly queueSize: number;
  readonly regionSize: number;
}

interface Session {
  readonly queues: (Virtqueue | null)[];
}

/**
 * A connection to one frontend. Not exported from the package.
 * @internal
 */
export class Connection {
  private readonly rings: Vring[];
  private readonly table: RegionTable;
  private ackedFeatures = 0n;
  private ackedProtocolFeatures = 0n;
  private owned = false;
  private status = 0;
  private inflight: Inflight | null = null;
  private session: Session | null = null;
  private watcher: FdWatcher | null = null;
  private closed = false;
  private busy = false;
  private pumping = false;
  private readonly tx: PendingWrite[] = [];
  /**
   * Regions out of the table that chains still held by the device may point into: kept mapped until
   * the device returns them or is reset (or the connection ends), so memory never disappears under
   * a live device session.
   */
  private graveyard: MappedRegion[] = [];
  private graveyardTimer: ReturnType<typeof setTimeout> | null = null;
  // receive state of the message being read
  private readonly rxHeader = new Uint8Array(VHOST_USER_HEADER_SIZE);
  private rxHeaderGot = 0;
  private rxBody: Uint8Array | null = null;
  private rxBodyGot = 0;
  private rxFds: number[] = [];
  private rxParsed: VhostUserHeader | null = null;
  private rxHeaderError: unknown = null;

  /**
   * @param stream - the connected socket (owned from now on)
   * @param device - the device served
   * @param settings - resolved options
   * @param onClose - called once when the connection ends (with the error that ended it, if any)
   */
  constructor(
    private readonly stream: UnixStream,
    private readonly device: VirtioDevice,
    private readonly settings: ConnectionSettings,
    private readonly onClose: (error: unknown) => void,
  ) {
    this.rings = device.queueMaxSizes.map((max, i) => new Vring(i, max, settings.coalesce, settings.poll));
    for (const ring of this.rings) ring.onPoll = () => this.guard(() => this.onKick(ring, true));
    this.table = new RegionTable(settings.maxMemSlots);
  }

  /** Starts reading. */
  start(): void {
    this.watcher = this.stream.watch((err, events) => this.guard(() => this.onSocket(err, events)), {
      events: PollEvents.READABLE | PollEvents.DISCONNECT,
    });
  }

  /** Used-buffer notifications the device asked for and call eventfd writes, over all rings. */
  get callStats(): { requested: number; sent: number } {
    let requested = 0;
    let sent = 0;
    for (const r of this.rings) {
      requested += r.callsRequested;
      sent += r.callsSent;
    }
    return { requested, sent };
  }

  /** Predictive polling counters, over all rings. */
  get pollStats(): KickPollStats {
    const t: KickPollStats = noPollStats();
    for (const r of this.rings) {
      const s = r.poller?.stats;
      if (s !== undefined) addPollStats(t, s);
    }
    return t;
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends the connection and releases everything (rings, mappings, fds, the device session). */
  close(error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.watcher?.close();
    } catch {
      // already closed with the stream
    }
    for (const ring of this.rings) ring.clear();
    this.resetDevice();
    // Guest memory stays mapped until the device's I/O from before the reset has finished
    // (a zero-copy read may still be landing in a guest buffer): VirtioDevice.drain().
    const table = this.table;
    this.afterDeviceDrain(() => table.clear());
    this.releaseGraveyard();
    this.dropInflight();
    for (const w of this.tx) for (const fd of w.closeAfter) safeClose(fd);
    this.tx.length = 0;
    for (const fd of this.rxFds) safeClose(fd);
    this.rxFds = [];
    try {
      this.stream.close();
    } catch {
      // nothing left to release
    }
    this.onClose(error);
  }

  /** Runs `fn`; any exception ends the connection instead of escaping into the event loop. */
  private guard(fn: () => void): void {
    if (this.closed) return;
    try {
      fn();
    } catch (e) {
      this.close(e);
    }
  }

  // ---------------------------------------------------------------- socket

  private onSocket(err: unknown, events: number): void {
    if (err !== null) {
      this.close(err);
      return;
    }
    if ((events & PollEvents.WRITABLE) !== 0) this.flush();
    if (this.closed) return;
    if ((events & PollEvents.DISCONNECT) !== 0 && (events & PollEvents.READABLE) === 0) {
      this.close(new DisconnectedError());
      return;
    }
    if ((events & PollEvents.READABLE) !== 0) this.pump();
  }

  /**
   * Reads and handles complete messages until one is asynchronous, the socket is drained, replies
   * are backed up, or `limit` messages were handled.
   */
  private pump(limit = MESSAGES_PER_TURN): void {
    if (this.pumping || this.busy || this.closed) return;
    this.pumping = true;
    try {
      // At most MESSAGES_PER_TURN messages per turn of the loop: a frontend that keeps the socket
      // full cannot starve kicks, timers and signals (the watcher is level-triggered, so the rest
      // is read on the next turn).
      for (let n = 0; n < limit && !this.busy && !this.closed && this.tx.length === 0; n++) {
        const raw = this.readMessage();
        if (raw === null) break;
        const pending = this.dispatch(raw.header, raw.body, raw.fds, raw.headerError);
        if (pending !== undefined) {
          this.busy = true;
          this.updateInterest();
          pending.then(
            () => this.guard(() => this.afterAsync()),
            (e: unknown) => this.guard(() => this.close(e)),
          );
        }
      }
    } finally {
      this.pumping = false;
    }
    if (!this.closed) this.updateInterest();
  }

  private afterAsync(): void {
    this.busy = false;
    this.updateInterest();
    this.pump();
  }

  private updateInterest(): void {
    if (this.closed || this.watcher === null) return;
    let events: number = PollEvents.DISCONNECT;
    if (this.tx.length > 0) events |= PollEvents.WRITABLE;
    else if (!this.busy) events |= PollEvents.READABLE;
    if (this.watcher.events !== events || !this.watcher.active) this.watcher.start(events);
  }

  private readMessage(): { header: VhostUserHeader; body: Uint8Array; fds: number[]; headerError: unknown } | null {
    for (;;) {
      if (this.rxHeaderGot < VHOST_USER_HEADER_SIZE) {
        if (!this.receive(this.rxHeader.subarray(this.rxHeaderGot))) return null;
        continue;
      }
      if (this.rxParsed === null) {
        const header = readHeader(new DataView(this.rxHeader.buffer));
        try {
          validateRequestHeader(header);
        } catch (e) {
          // An unknown request code still has trustworthy framing: read its payload, then answer.
          if (!isVhostUserError(e, 'VhostUser.UnknownRequestError')) throw e;
          this.rxHeaderError = e;
        }
        this.rxParsed = header;
        this.rxBody = new Uint8Array(header.size);
        this.rxBodyGot = 0;
      }
      const body = this.rxBody!;
      if (this.rxBodyGot < body.length) {
        if (!this.receive(body.subarray(this.rxBodyGot), true)) return null;
        continue;
      }
      const msg = { header: this.rxParsed, body, fds: this.rxFds, headerError: this.rxHeaderError };
      this.rxHeaderGot = 0;
      this.rxParsed = null;
      this.rxBody = null;
      this.rxBodyGot = 0;
      this.rxFds = [];
      this.rxHeaderError = null;
      return msg;
    }
  }

  /** One recvmsg into `into`; false when nothing is available. Throws on end of stream. */
  private receive(into: Uint8Array, body = false): boolean {
    const got = this.stream.recvmsg(into);
    if (got === null) return false;
    for (const fd of got.fds) this.rxFds.push(fd);
    if (got.fdsTruncated || this.rxFds.length > VHOST_USER_MAX_FDS) {
      throw new IncorrectFdsError({ count: this.rxFds.length, max: VHOST_USER_MAX_FDS, truncated: got.fdsTruncated });
    }
    if (got.bytesRead === 0) throw new DisconnectedError({ midMessage: this.rxHeaderGot > 0 || body });
    if (body) this.rxBodyGot += got.bytesRead;
    else this.rxHeaderGot += got.bytesRead;
    return true;
  }

  private send(bytes: Uint8Array, fds: readonly number[] = [], closeAfter: readonly number[] = []): void {
    this.tx.push({ bytes, fds, closeAfter });
    this.flush();
  }

  private flush(): void {
    while (this.tx.length > 0 && !this.closed) {
      const w = this.tx[0]!;
      let n: number;
      try {
        n = this.stream.sendmsg(w.bytes, w.fds);
      } catch (e) {
        if (isSysError(e, 'EAGAIN')) break;
        this.close(e);
        return;
      }
      if (n < w.bytes.length) {
        // the fds went with the first byte
        w.bytes = w.bytes.subarray(n);
        w.fds = [];
        break;
      }
      this.tx.shift();
      for (const fd of w.closeAfter) safeClose(fd);
    }
    if (!this.closed) this.updateInterest();
  }

  // ---------------------------------------------------------------- dispatch

  private decodeContext(): VhostUserDecodeContext {
    return {
      offeredFeatures: this.settings.offeredFeatures,
      ackedFeatures: this.ackedFeatures,
      offeredProtocolFeatures: this.settings.offeredProtocolFeatures,
      ackedProtocolFeatures: this.ackedProtocolFeatures,
      queueCount: this.rings.length,
      maxQueueSize: Math.max(...this.device.queueMaxSizes),
    };
  }

  private dispatch(header: VhostUserHeader, body: Uint8Array, fds: number[], headerError: unknown): Promise<void> | undefined {
    const needReply = (header.flags & HeaderFlags.NEED_REPLY) !== 0;
    if (headerError !== null) {
      for (const fd of fds) safeClose(fd);
      this.failed(header.request, needReply, headerError);
      return undefined;
    }
    let msg: VhostUserRequestMessage;
    try {
      msg = decodeRequest(header, body, fds, this.decodeContext());
    } catch (e) {
      for (const fd of fds) safeClose(fd);
      this.failed(header.request, needReply, e);
      return undefined;
    }
    let result: Promise<void> | undefined;
    try {
      result = this.handle(msg);
    } catch (e) {
      this.failed(msg.request, needReply, e);
      return undefined;
    }
    if (result === undefined) {
      this.acknowledge(msg);
      return undefined;
    }
    return result.then(
      () => this.acknowledge(msg),
      (e: unknown) => this.failed(msg.request, needReply, e),
    );
  }

  private acknowledge(msg: VhostUserRequestMessage): void {
    if (msg.needReply && !EXPLICIT_REPLY.has(msg.request) && !this.closed) this.send(encodeAckReply(msg.request, true));
  }

  private failed(request: number, needReply: boolean, error: unknown): void {
    if (this.closed) return;
    if (request === Q.GET_CONFIG) {
      this.settings.emit({ type: 'request-failed', request, error });
      this.send(encodeConfigReply(null));
      return;
    }
    if (needReply && !EXPLICIT_REPLY.has(request)) {
      this.settings.emit({ type: 'request-failed', request, error });
      this.send(encodeAckReply(request, false));
      return;
    }
    this.close(error);
  }

  /** Applies one request. Takes ownership of every fd in it. */
  private handle(msg: VhostUserRequestMessage): Promise<void> | undefined {
    switch (msg.request) {
      case Q.GET_FEATURES:
        this.send(encodeU64Reply(msg.request, this.settings.offeredFeatures));
        return undefined;
      case Q.SET_FEATURES:
        this.setFeatures(msg.value);
        return undefined;
      case Q.SET_OWNER:
        if (this.owned) throw new InvalidOperationError('the session is already owned');
        this.owned = true;
        return undefined;
      case Q.RESET_OWNER:
        // deprecated: "disable all rings" is the safe reading (vhost-user.rst)
        this.stopAllRings();
        this.resetDevice();
        this.owned = false;
        return undefined;
      case Q.GET_PROTOCOL_FEATURES:
        this.send(encodeU64Reply(msg.request, this.settings.offeredProtocolFeatures));
        return undefined;
      case Q.SET_PROTOCOL_FEATURES:
        this.ackedProtocolFeatures = msg.value;
        return undefined;
      case Q.GET_QUEUE_NUM:
        this.send(encodeU64Reply(msg.request, BigInt(this.rings.length)));
        return undefined;
      case Q.GET_MAX_MEM_SLOTS:
        this.send(encodeU64Reply(msg.request, BigInt(this.settings.maxMemSlots)));
        return undefined;
      case Q.SET_MEM_TABLE: {
        const removed = this.table.replace(msg.regions, msg.fds);
        this.memoryChanged();
        return this.releaseWhenIdle(removed);
      }
      case Q.ADD_MEM_REG:
        this.table.add(msg.region, msg.fd);
        this.memoryChanged();
        return undefined;
      case Q.REM_MEM_REG: {
        safeClose(msg.fd);
        const removed = this.table.remove(msg.region);
        this.memoryChanged();
        return this.releaseWhenIdle(removed);
      }
      case Q.SET_VRING_NUM: {
        const ring = this.rings[msg.index]!;
        if (msg.num > ring.maxSize) throw new InvalidParamError('ring size above the queue maximum', { index: msg.index, num: msg.num, max: ring.maxSize });
        this.unstartForReconfig(ring);
        ring.size = msg.num;
        this.tryStart(ring);
        return undefined;
      }
      case Q.SET_VRING_BASE: {
        const ring = this.rings[msg.index]!;
        if (hasBit(this.ackedFeatures, VhostFeature.RING_PACKED)) {
          // bits 0-14 / 16-30: the available and used positions, which must lie inside the ring
          const avail = msg.num & 0x7fff;
          const used = (msg.num >>> 16) & 0x7fff;
          if (avail >= ring.size || used >= ring.size) {
            throw new InvalidParamError('packed ring position outside the ring', { index: msg.index, num: msg.num, size: ring.size });
          }
        }
        this.unstartForReconfig(ring);
        ring.base = msg.num;
        this.tryStart(ring);
        return undefined;
      }
      case Q.SET_VRING_ADDR: {
        const ring = this.rings[msg.addr.index]!;
        this.unstartForReconfig(ring);
        const packed = hasBit(this.ackedFeatures, VhostFeature.RING_PACKED);
        const n = ring.size;
        ring.areas = {
          desc: this.table.translate(msg.addr.descUserAddr, 16 * n),
          driver: this.table.translate(msg.addr.availUserAddr, packed ? 4 : 6 + 2 * n),
          device: this.table.translate(msg.addr.usedUserAddr, packed ? 4 : 6 + 8 * n),
        };
        this.tryStart(ring);
        return undefined;
      }
      case Q.GET_VRING_BASE:
        return this.getVringBase(msg.index);
      case Q.SET_VRING_KICK: {
        const ring = this.rings[msg.index]!;
        ring.setKick(nonBlocking(msg.fd));
        if (ring.started) ring.watchKick(() => this.guard(() => this.onKick(ring)), this.settings.pollIntervalMs);
        else this.tryStart(ring);
        return undefined;
      }
      case Q.SET_VRING_CALL:
        this.rings[msg.index]!.setCall(nonBlocking(msg.fd));
        return undefined;
      case Q.SET_VRING_ERR:
        this.rings[msg.index]!.setErr(nonBlocking(msg.fd));
        return undefined;
      case Q.SET_VRING_ENABLE: {
        const ring = this.rings[msg.index]!;
        ring.enabled = msg.num === 1;
        this.updateRunning(ring);
        if (this.isEnabled(ring) && ring.started && ring.pendingKick) this.deferKick(ring);
        return undefined;
      }
      case Q.GET_CONFIG:
        this.send(encodeConfigReply({ ...msg.config, data: this.readConfig(msg.config.offset, msg.config.size) }));
        return undefined;
      case Q.SET_CONFIG: {
        const { offset, size, flags, data } = msg.config;
        if (offset + size > this.device.configSize) {
          throw new InvalidConfigError('write beyond the device config space', { offset, size, configSize: this.device.configSize });
        }
        if (flags !== ConfigFlags.WRITABLE && flags !== ConfigFlags.LIVE_MIGRATION) throw new InvalidConfigError('unknown flags', { flags });
        this.device.writeConfig(offset, data);
        return undefined;
      }
      case Q.GET_INFLIGHT_FD:
        this.getInflight(msg.inflight);
        return undefined;
      case Q.SET_INFLIGHT_FD:
        this.setInflight(msg.inflight, msg.fd);
        return undefined;
      case Q.RESET_DEVICE:
        this.stopAllRings();
        this.resetDevice();
        this.ackedFeatures = 0n;
        this.status = 0;
        return undefined;
      case Q.SET_STATUS:
        this.setStatus(Number(msg.value));
        return undefined;
      case Q.GET_STATUS:
        this.send(encodeU64Reply(msg.request, BigInt(this.status)));
        return undefined;
      case Q.SET_LOG_BASE:
      case Q.SET_LOG_FD:
      case Q.SET_BACKEND_REQ_FD:
        safeClose(msg.fd);
        throw new UnsupportedRequestError(msg.request);
      case Q.SEND_RARP:
      case Q.NET_SET_MTU:
      case Q.SET_VRING_ENDIAN:
      case Q.VRING_KICK:
        throw new UnsupportedRequestError(msg.request);
    }
  }

  // ---------------------------------------------------------------- features, status, config

  private setFeatures(value: bigint): void {
    const deviceFeatures = value & ~VHOST_ONLY_FEATURES;
    if (!hasBit(value, VhostFeature.VERSION_1)) throw new InvalidParamError('VIRTIO_F_VERSION_1 must be accepted', { features: value });
    if (this.device.validateFeatures !== undefined && !this.device.validateFeatures(deviceFeatures)) {
      throw new InvalidParamError('the device refuses this feature set', { features: value });
    }
    this.ackedFeatures = value;
    for (const ring of this.rings) this.updateRunning(ring);
  }

  private setStatus(value: number): void {
    const before = this.status;
    let next = value | (before & STATUS_NEEDS_RESET);
    if ((next & STATUS_FEATURES_OK) !== 0 && (before & STATUS_FEATURES_OK) === 0) {
      const deviceFeatures = this.ackedFeatures & ~VHOST_ONLY_FEATURES;
      const ok = this.device.validateFeatures === undefined || this.device.validateFeatures(deviceFeatures);
      if (!ok) next &= ~STATUS_FEATURES_OK;
    }
    if (value === 0) next = 0;
    this.status = next;
    if ((next & STATUS_DRIVER_OK) !== 0 && (before & STATUS_DRIVER_OK) === 0 && this.rings.some((r) => r.started)) {
      if (this.activate()) for (const ring of this.rings) if (ring.pendingKick) this.deferKick(ring);
    }
  }

  private readConfig(offset: number, size: number): Uint8Array {
    const data = new Uint8Array(size);
    const inside = Math.max(0, Math.min(size, this.device.configSize - offset));
    if (inside > 0) this.device.readConfig(offset, data.subarray(0, inside));
    return data;
  }

  // ---------------------------------------------------------------- rings

  private isEnabled(ring: Vring): boolean {
    return ring.enabled || !hasBit(this.ackedFeatures, VhostFeature.PROTOCOL_FEATURES);
  }

  private updateRunning(ring: Vring): void {
    const running = ring.started && this.isEnabled(ring) && (this.status & STATUS_NEEDS_RESET) === 0;
    const was = ring.queue.isRunning;
    ring.queue.setRunning(running);
    // A ring that starts running gets one notification even without a kick: buffers made
    // available before (a receive queue kicked once, long ago, by a driver that then waits) or
    // requests resubmitted from the inflight buffer are seen at once. Notifications may be
    // spurious (VIRTIO 1.2 §2.7.10), so this is always safe.
    if (running && !was) this.deferKick(ring);
  }

  /**
   * SET_VRING_NUM / BASE / ADDR arrived for a started ring: allowed (the ring is rebuilt) until
   * the device has been activated with it, refused after.
   */
  private unstartForReconfig(ring: Vring): void {
    if (!ring.started) return;
    if (this.session !== null || ring.queue.outstanding > 0) {
      throw new InvalidOperationError('ring is running', { index: ring.index });
    }
    ring.unwatchKick();
    ring.queue.detach();
    ring.started = false;
  }

  /** Attaches a real ring once size, addresses, a kick and memory are known. */
  private tryStart(ring: Vring): void {
    const memory = this.table.memory;
    if (ring.started || ring.areas === null || ring.kick === 'none' || memory === null) return;
    this.attachRing(ring, memory, true);
    ring.started = true;
    this.updateRunning(ring);
    ring.watchKick(() => this.guard(() => this.onKick(ring)), this.settings.pollIntervalMs);
    if (this.session !== null) this.session.queues[ring.index] = ring.queue;
  }

  /** Builds the real ring over `memory` and hands it to the ring's BackendQueue. */
  private attachRing(ring: Vring, memory: GuestMemory, fresh: boolean): void {
    const areas = ring.areas!;
    const config = new QueueConfig(ring.maxSize);
    config.setFeatures(this.ackedFeatures);
    config.setSize(ring.size);
    config.setDescTable(addr(areas.desc));
    config.setDriverArea(addr(areas.driver));
    config.setDeviceArea(addr(areas.device));
    config.ready = true;
    const inner = createVirtqueue(memory, config);
    if (!fresh) {
      // memory table changed under a running ring: same positions over the new memory
      const state = ring.queue.current!.saveState();
      inner.restoreState(state);
      ring.queue.attach(inner, this.trackerFor(ring, inner));
      return;
    }
    const tracker = this.trackerFor(ring, inner);
    if (tracker === null) {
      inner.restoreState(baseState(inner, ring.base));
      ring.queue.attach(inner, null);
      return;
    }
    // Inflight tracking: recover what a previous backend left in flight (vhost-user.rst
    // "When reconnecting"), then start after the entries consumed so far.
    const usedIdx = memory.atomicLoadU16(addr(areas.device + 2n));
    const recovery = tracker.version === INFLIGHT_VERSION && tracker.descNum === ring.size ? tracker.recover(usedIdx, ring.size) : null;
    if (recovery === null) {
      // a fresh buffer (version 0), or one that does not match this ring: start tracking anew
      tracker.initialize(ring.size);
      inner.restoreState(baseState(inner, ring.base));
      ring.queue.attach(inner, tracker, 1);
      return;
    }
    const { heads, nextCounter } = recovery;
    inner.restoreState({ ...inner.saveState(), nextAvail: (usedIdx + heads.length) & 0xffff, nextUsed: undefined, numAdded: 0 });
    ring.queue.attach(inner, tracker, nextCounter);
    if (heads.length > 0) {
      const shadow = resubmitQueue(memory, config, heads);
      if (shadow !== null) ring.queue.setResubmit(shadow.queue, shadow.count);
      ring.pendingKick = true;
    }
  }

  /** The inflight tracker for a split ring, when an inflight buffer covers it. */
  private trackerFor(ring: Vring, inner: Virtqueue): InflightQueue | null {
    const inf = this.inflight;
    if (inf === null || inner.format !== 'split' || ring.index >= inf.numQueues || ring.size !== inf.queueSize) return null;
    return new InflightQueue(inf.mapping.buffer, ring.index * inf.regionSize, inf.queueSize);
  }

  /**
   * The table changed (and stays changed): rebuild running rings over the new memory and start
   * rings that were waiting for memory. A ring that cannot run over the new memory fails alone;
   * the request that changed the table still succeeds (and its removed regions are released).
   */
  private memoryChanged(): void {
    const memory = this.table.memory;
    for (const ring of this.rings) {
      try {
        if (!ring.started) {
          this.tryStart(ring);
          continue;
        }
        if (memory === null) throw new InvalidOperationError('no memory left under a running ring', { index: ring.index });
        this.attachRing(ring, memory, false);
      } catch (e) {
        this.ringFailed(ring, e);
      }
    }
  }

  /**
   * Whether the device holds no chain: none outstanding on a running ring, and none kept from a
   * ring stopped since (orphans). A reset device holds nothing (VirtioDevice contract).
   */
  private deviceIdle(): boolean {
    return this.closed || this.session === null || this.rings.every((r) => r.queue.outstanding === 0 && r.queue.orphaned === 0);
  }

  /**
   * Unmaps regions taken out of the table once the device holds no chain (chains in flight may
   * point into them). The reply waits for that, up to the drain timeout, so the frontend normally
   * learns the region is unmapped only when it is. Past the timeout the reply goes out and the
   * regions stay mapped until the device returns its chains or is reset: unmapping memory under a
   * device that still uses it would turn its completion into an exception.
   */
  private releaseWhenIdle(removed: readonly MappedRegion[]): Promise<void> | undefined {
    if (removed.length === 0) return undefined;
    if (this.deviceIdle()) {
      this.table.release(removed);
      return undefined;
    }
    const deadline = Date.now() + this.settings.drainTimeoutMs;
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.deviceIdle()) {
          this.table.release(removed);
          resolve();
        } else if (Date.now() >= deadline) {
          this.bury(removed);
          resolve();
        } else {
          setTimeout(check, 1);
        }
      };
      setTimeout(check, 1);
    });
  }

  /** Keeps regions mapped until the device is idle or reset (see {@link Connection.graveyard}). */
  private bury(regions: readonly MappedRegion[]): void {
    this.graveyard.push(...regions);
    this.settings.emit({ type: 'memory-held', regions: this.graveyard.length });
    this.watchGraveyard();
  }

  private watchGraveyard(): void {
    if (this.graveyardTimer !== null || this.graveyard.length === 0) return;
    this.graveyardTimer = setTimeout(() => {
      this.graveyardTimer = null;
      if (this.deviceIdle()) this.releaseGraveyard();
      else this.watchGraveyard();
    }, 5);
  }

  /**
   * Runs `release` once the device's I/O from before its last reset has finished
   * (`VirtioDevice.drain()`), or after `drainTimeoutMs` if it never settles; at once for a device
   * without `drain`. A release never throws out of here.
   */
  private afterDeviceDrain(release: () => void): void {
    const run = (): void => {
      try {
        release();
      } catch {
        // unmapping failed: nothing more can be done for these regions
      }
    };
    const drain = this.device.drain;
    if (typeof drain !== 'function') {
      run();
      return;
    }
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      run();
    };
    const timer = setTimeout(finish, this.settings.drainTimeoutMs);
    timer.unref?.();
    try {
      Promise.resolve(drain.call(this.device)).then(finish, finish);
    } catch {
      finish();
    }
  }

  private releaseGraveyard(): void {
    if (this.graveyardTimer !== null) {
      clearTimeout(this.graveyardTimer);
      this.graveyardTimer = null;
    }
    const regions = this.graveyard;
    this.graveyard = [];
    this.table.release(regions);
  }

  private ringFailed(ring: Vring, error: unknown): void {
    ring.unwatchKick();
    ring.queue.detach();
    ring.started = false;
    ring.signalError();
    this.settings.emit({ type: 'ring-error', index: ring.index, error });
  }

  private onKick(ring: Vring, poll = false): void {
    if (!ring.started) return;
    if (!this.isEnabled(ring) || (this.status & STATUS_NEEDS_RESET) !== 0) {
      ring.pendingKick = true;
      return;
    }
    // Before activation, control messages sent before the kick are processed first (the
    // frontend wrote them before the driver could kick), so activation sees every ring set up.
    if (this.session === null) this.pump(PRE_ACTIVATION_MESSAGES);
    if (this.closed || !ring.started || !this.isEnabled(ring)) return;
    if (!this.activate()) {
      ring.pendingKick = true;
      return;
    }
    ring.pendingKick = false;
    if (poll) return this.notify(ring.index);
    ring.coalescer?.kicked();
    const poller = ring.poller;
    if (poller === null) return this.notify(ring.index);
    const before = ring.queue.nextAvail;
    poller.kicked();
    this.notify(ring.index);
    poller.kickHandled(ring.queue.nextAvail !== before);
  }

  /** Handles a remembered kick on the next turn of the loop (outside message handling). */
  private deferKick(ring: Vring): void {
    setImmediate(() => this.guard(() => this.onKick(ring)));
  }

  private notify(index: number): void {
    try {
      this.device.queueNotify(index);
    } catch (e) {
      this.needsReset(e);
    }
  }

  /** Activates the device once per session. Returns false when it refused. */
  private activate(): boolean {
    if (this.session !== null) return true;
    const memory = this.table.memory;
    if (memory === null || (this.status & STATUS_NEEDS_RESET) !== 0) return false;
    const queues: (Virtqueue | null)[] = this.rings.map((r) => (r.started ? r.queue : null));
    const session: Session = { queues };
    const context: ActivationContext = {
      memory,
      queues,
      features: this.ackedFeatures & ~VHOST_ONLY_FEATURES,
      interrupt: {
        signalUsedBuffer: (index: number) => {
          if (this.session === session) this.rings[index]?.requestCall();
        },
        signalConfigChange: () => undefined,
      },
      needsReset: (reason: unknown) => {
        if (this.session === session) this.needsReset(reason);
      },
    };
    this.session = session;
    try {
      this.device.activate(context);
    } catch (e) {
      this.session = null;
      this.needsReset(e);
      return false;
    }
    this.settings.emit({ type: 'activated' });
    return true;
  }

  private needsReset(reason: unknown): void {
    if ((this.status & STATUS_NEEDS_RESET) !== 0) return;
    this.status |= STATUS_NEEDS_RESET;
    for (const ring of this.rings) {
      this.updateRunning(ring);
      if (ring.started) ring.signalError();
    }
    this.settings.emit({ type: 'needs-reset', reason });
  }

  private resetDevice(): void {
    if (this.session === null) return;
    this.session = null;
    try {
      this.device.reset();
    } catch {
      // a device that fails to reset is dropped all the same
    }
    // after reset the device holds no chain (VirtioDevice contract); regions removed earlier are
    // unmapped once its I/O from before the reset has drained
    for (const ring of this.rings) ring.queue.forgetOrphans();
    if (this.graveyardTimer !== null) {
      clearTimeout(this.graveyardTimer);
      this.graveyardTimer = null;
    }
    const removed = this.graveyard;
    this.graveyard = [];
    if (removed.length > 0) this.afterDeviceDrain(() => this.table.release(removed));
    this.status &= ~STATUS_NEEDS_RESET;
    this.settings.emit({ type: 'device-reset' });
  }

  /** RESET_OWNER / RESET_DEVICE: every ring back to its initial state (err fds stay). */
  private stopAllRings(): void {
    for (const ring of this.rings) ring.reset();
  }

  /** GET_VRING_BASE: stop the ring, let the device finish what it popped, answer its next avail index. */
  private getVringBase(index: number): Promise<void> | undefined {
    const ring = this.rings[index]!;
    if (!ring.started) {
      const base = ring.base;
      ring.stop(base);
      this.send(encodeVringStateReply(Q.GET_VRING_BASE, { index, num: base }));
      return undefined;
    }
    ring.unwatchKick();
    ring.queue.setRunning(false);
    const finish = (): void => {
      ring.queue.onIdle = null;
      const inner = ring.queue.current;
      const num = inner === null ? ring.base : ringBase(inner);
      ring.stop(num);
      if (!this.rings.some((r) => r.started)) this.resetDevice();
      this.send(encodeVringStateReply(Q.GET_VRING_BASE, { index, num }));
    };
    if (ring.queue.outstanding === 0 || this.session === null) {
      finish();
      return undefined;
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.settings.drainTimeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      ring.queue.onIdle = done;
    }).then(() => {
      if (!this.closed) finish();
    });
  }

  // ---------------------------------------------------------------- inflight

  private getInflight(desc: InflightDescription): void {
    const regionSize = inflightQueueRegionSize(desc.queueSize);
    const size = regionSize * desc.numQueues;
    const fd = memfdCreate('vhost-user-inflight', size);
    let mapping: Mapping;
    try {
      mapping = mmap(fd, size);
    } catch (e) {
      safeClose(fd);
      throw e;
    }
    this.replaceInflight({ mapping, numQueues: desc.numQueues, queueSize: desc.queueSize, regionSize });
    this.send(
      encodeInflightReply({ mmapSize: BigInt(size), mmapOffset: 0n, numQueues: desc.numQueues, queueSize: desc.queueSize }),
      [fd],
      [fd],
    );
  }

  private setInflight(desc: InflightDescription, fd: number): void {
    try {
      const regionSize = inflightQueueRegionSize(desc.queueSize);
      const needed = regionSize * desc.numQueues;
      if (desc.mmapSize < BigInt(needed) || desc.mmapSize > BigInt(Number.MAX_SAFE_INTEGER) || desc.mmapOffset > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new InvalidInflightError('buffer size does not fit the queues', { mmapSize: desc.mmapSize, needed });
      }
      let mapping: Mapping;
      try {
        mapping = mmap(fd, needed, { offset: desc.mmapOffset });
      } catch (e) {
        throw new InvalidInflightError('cannot map the inflight buffer', { cause: String(e) });
      }
      this.replaceInflight({ mapping, numQueues: desc.numQueues, queueSize: desc.queueSize, regionSize });
    } finally {
      safeClose(fd);
    }
  }

  private replaceInflight(next: Inflight): void {
    const old = this.inflight;
    this.inflight = next;
    if (old !== null) {
      for (const ring of this.rings) if (ring.started) this.ringFailed(ring, new InvalidOperationError('inflight buffer replaced under a running ring'));
      try {
        old.mapping.close();
      } catch {
        // nothing more to release
      }
    }
  }

  private dropInflight(): void {
    if (this.inflight === null) return;
    try {
      this.inflight.mapping.close();
    } catch {
      // nothing more to release
    }
    this.inflight = null;
  }
}

/**
 * The state that starts a fresh ring at a SET_VRING_BASE value. Split: the next available index
 * (the used index is read from the ring). Packed (as QEMU encodes it): bits 0-14 the next available
 * position, bit 15 its wrap counter, and, when present, bits 16-30 / 31 the used position and
 * wrap counter (otherwise equal to the available ones: nothing in flight).
 */
function baseState(inner: Virtqueue, base: number): QueueState {
  const state = inner.saveState();
  if (inner.format === 'split') return { ...state, nextAvail: base & 0xffff, nextUsed: undefined, numAdded: 0 };
  const avail = base & 0x7fff;
  const availWrap = ((base >>> 15) & 1) as 0 | 1;
  const high = base >>> 16;
  return {
    ...state,
    nextAvail: avail % inner.size,
    availWrapCounter: availWrap,
    nextUsed: high === 0 ? avail % inner.size : (high & 0x7fff) % inner.size,
    usedWrapCounter: high === 0 ? availWrap : (((base >>> 31) & 1) as 0 | 1),
    numAdded: 0,
    inflight: [],
  };
}

/** The GET_VRING_BASE answer for a ring (the encoding of {@link baseState}). */
function ringBase(inner: Virtqueue): number {
  if (inner.format === 'split') return inner.nextAvail;
  const s = inner.saveState();
  return ((s.nextAvail | ((s.availWrapCounter ?? 1) << 15) | ((s.nextUsed ?? 0) << 16)) + (s.usedWrapCounter ?? 1) * 0x8000_0000) >>> 0;
}

/**
 * Puts a frontend's eventfd in non-blocking mode (the flag belongs to the open file description,
 * which the frontend shares; QEMU's eventfds are non-blocking already). A blocking call eventfd
 * whose counter the frontend filled, or a kick eventfd it drained itself, would otherwise stall
 * the event loop in write(2)/read(2). On failure the fd is closed and the error thrown.
 */
function nonBlocking(fd: number | null): number | null {
  if (fd === null) return null;
  try {
    setNonBlocking(fd, true);
  } catch (e) {
    safeClose(fd);
    throw e;
  }
  return fd;
}

function addr(a: bigint): number | bigint {
  return a < 2n ** 53n ? Number(a) : a;
}

/**
 * A private split ring over the same descriptor table whose available ring lists `heads`: popping
 * it yields fully validated chains for requests a previous backend left in flight. Its available
 * and used rings live in a private region placed above the guest's highest address.
 */
function resubmitQueue(memory: GuestMemory, config: QueueConfig, heads: readonly number[]): { queue: Virtqueue; count: number } | null {
  const n = config.size;
  const availLen = 6 + 2 * n;
  const usedOff = Math.ceil(availLen / 4) * 4;
  const size = Math.ceil((usedOff + 6 + 8 * n) / 4096) * 4096;
  let top = 0n;
  for (const r of memory.regions) {
    const end = r.start + BigInt(r.size);
    if (end > top) top = end;
  }
  const base = ((top + 4095n) / 4096n) * 4096n;
  if (base + BigInt(size) > 1n << 64n) return null;
  try {
    const shadowMemory = GuestMemory.fromRegions([...memory.regions, { start: addr(base), backing: new ArrayBuffer(size) }]);
    const shadow = new QueueConfig(config.maxSize);
    shadow.indirectDesc = config.indirectDesc;
    shadow.setSize(n);
    shadow.setDescTable(config.descTable);
    shadow.setDriverArea(addr(base));
    shadow.setDeviceArea(addr(base + BigInt(usedOff)));
    shadow.ready = true;
    const unique = [...new Set(heads)].filter((h) => h < n);
    const avail = addr(base);
    for (let i = 0; i < unique.length; i++) shadowMemory.writeU16(typeof avail === 'number' ? avail + 4 + 2 * i : avail + BigInt(4 + 2 * i), unique[i]!);
    shadowMemory.writeU16(typeof avail === 'number' ? avail + 2 : avail + 2n, unique.length);
    return { queue: createVirtqueue(shadowMemory, shadow), count: unique.length };
  } catch {
    return null;
  }
}
