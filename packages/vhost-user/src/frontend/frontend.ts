/**
 * A vhost-user frontend (the QEMU side; rust-vmm vhost's `Frontend`): connects to any
 * vhost-user backend over a unix socket and drives it: features, protocol features, owner,
 * memory table, rings (SET_VRING_NUM/ADDR/BASE/KICK/CALL/ERR/ENABLE, GET_VRING_BASE), config
 * space, REPLY_ACK and the backend request channel. vhost-user.rst "Communication",
 * "Front-end message types", "REPLY_ACK", "Back-end communication".
 *
 * The backend is not trusted: every reply is awaited with a bound and checked (request code,
 * flags, size, no fds); a malformed, missing or late reply rejects with a `VhostUser.*` error
 * and closes the frontend (socket, eventfds, timers). Requests go out one at a time, in call order.
 *
 * @module
 */

import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import { UnixStream } from '@vmv/sys';
import { checkReply, readU64Reply } from '../protocol/backend-request.js';
import { readConfigAccess } from '../protocol/config.js';
import { PayloadSize, ProtocolFeature, VhostUserRequest as Q, replyCarriesData } from '../protocol/constants.js';
import { encodeRequest } from '../protocol/encoder.js';
import { validateReplyHeader, type VhostUserHeader } from '../protocol/header.js';
import type { VhostUserRequestMessage } from '../protocol/messages.js';
import { DisconnectedError, InvalidOperationError, InvalidReplyError, ReplyTimeoutError, RequestRejectedError } from '../errors.js';
import { safeClose } from '../channel/fd.js';
import { MessageChannel, type MessageChannelHost } from '../channel/message-channel.js';
import { BackendRequestServer, type BackendRequestEvent } from './backend-requests.js';
import type { SharedGuestMemory } from './memory.js';
import { FrontendVring } from './vring.js';

/**
 * Default bound on a reply (ms): generous, for a loaded machine.
 *
 * @example
 * ```ts
 * VhostUserFrontend.connect(path, { replyTimeoutMs: 3 * DEFAULT_REPLY_TIMEOUT_MS }); // a very slow host
 * ```
 */
export const DEFAULT_REPLY_TIMEOUT_MS = 10_000;

/**
 * What a {@link VhostUserFrontend} reports through {@link VhostUserFrontendOptions.onEvent}:
 * `config-changed` (the backend sent CONFIG_CHANGE_MSG: re-read the config space),
 * `backend-request-refused` (a backend request answered with a failure), `backend-channel-closed`
 * (the backend broke or closed the backend request channel) and `closed` (the frontend ended,
 * with the error that ended it, if any).
 *
 * @example
 * ```ts
 * const onEvent = (e: VhostUserFrontendEvent): void => {
 *   if (e.type === 'config-changed') void fe.getConfig(0, 8).then(updateCapacity);
 * };
 * ```
 */
export type VhostUserFrontendEvent =
  | BackendRequestEvent
  | {
      /** The connection to the backend is closed. */
      readonly type: 'closed';
      /** What closed it, when it did not close cleanly. */
      readonly error?: unknown;
    };

/**
 * Options of {@link VhostUserFrontend}.
 *
 * @example
 * ```ts
 * const options: VhostUserFrontendOptions = { replyTimeoutMs: 5000, onEvent: (e) => console.log(e.type) };
 * ```
 */
export interface VhostUserFrontendOptions {
  /** Bound on every reply (ms); past it the frontend closes with `VhostUser.ReplyTimeoutError`. Default {@link DEFAULT_REPLY_TIMEOUT_MS}. */
  readonly replyTimeoutMs?: number;
  /** Observer of backend requests and of the end of the frontend. */
  readonly onEvent?: (event: VhostUserFrontendEvent) => void;
}

/**
 * Ring placement and options of {@link VhostUserFrontend.setupVring}.
 *
 * @example
 * ```ts
 * const setup: VringSetup<number> = { memory: ram, size: 128, address: 0x10000, onCall: (r) => drain(r) };
 * ```
 */
export interface VringSetup<T> {
  /** The guest memory the ring lives in (the one given to SET_MEM_TABLE). */
  readonly memory: SharedGuestMemory;
  /** Ring size (split rings: a power of two). */
  readonly size: number;
  /** Guest address of the ring (descriptor table first, then driver and device areas; 4 KiB aligned is safe). */
  readonly address: number;
  /** Packed ring (VIRTIO_F_RING_PACKED must be negotiated). Default false. */
  readonly packed?: boolean;
  /** VIRTIO_F_RING_EVENT_IDX negotiated. Default false. */
  readonly eventIdx?: boolean;
  /** The ring's first available index (SET_VRING_BASE). Default 0. */
  readonly base?: number;
  /** Called on each used-buffer notification. */
  readonly onCall?: (ring: FrontendVring<T>) => void;
  /** Send SET_VRING_ENABLE 1 at the end (with PROTOCOL_FEATURES rings start disabled). Default true. */
  readonly enable?: boolean;
}

interface Waiter {
  readonly request: number;
  readonly size: number | undefined;
  /** Where the one fd the reply must carry goes (GET_INFLIGHT_FD), or undefined for none. */
  readonly fds: number[] | undefined;
  readonly resolve: (body: DataView) => void;
  readonly reject: (e: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * A connection to one vhost-user backend.
 *
 * @example
 * ```ts
 * const fe = VhostUserFrontend.connect('/tmp/vhost.sock');
 * const features = await fe.getFeatures();
 * await fe.setOwner();
 * await fe.setProtocolFeatures((await fe.getProtocolFeatures()) & wanted);
 * await fe.setFeatures(features & supported);
 * await fe.setMemTable(ram);
 * const ring = await fe.setupVring(0, { memory: ram, size: 128, address: 0x10000 });
 * fe.close();
 * ```
 */
export class VhostUserFrontend {
  private readonly channel: MessageChannel;
  private readonly replyTimeoutMs: number;
  private readonly observer: ((event: VhostUserFrontendEvent) => void) | undefined;
  private waiter: Waiter | null = null;
  /** The end of the previous request: requests go out one at a time. */
  private tail: Promise<unknown> = Promise.resolve();
  private ackedProtocol = 0n;
  private backendRequests: BackendRequestServer | null = null;
  private readonly rings = new Map<number, FrontendVring<unknown>>();
  private closedWith: { error: unknown } | null = null;

  /**
   * Takes over a connected stream (use {@link VhostUserFrontend.connect} for a socket path).
   * @param stream - connected to the backend (owned from now on)
   * @param options - reply bound, event observer
   * @throws RangeError on a bad `replyTimeoutMs`
   */
  constructor(stream: UnixStream, options: VhostUserFrontendOptions = {}) {
    const ms = options.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;
    if (!Number.isSafeInteger(ms) || ms < 1 || ms > 2 ** 31 - 1) throw new RangeError('VhostUserFrontend: replyTimeoutMs must be an integer in 1..2^31-1');
    this.replyTimeoutMs = ms;
    this.observer = options.onEvent;
    const host: MessageChannelHost = {
      onMessage: (header, body, fds) => this.onReply(header, body, fds),
      failed: (error) => void this.fail(error),
    };
    this.channel = new MessageChannel(stream, host, validateReplyHeader);
    this.channel.start();
  }

  /**
   * Connects to a backend's socket.
   * @param path - the unix socket path
   * @param options - reply bound, event observer
   * @returns the frontend
   * @throws Sys.SysError when the connection fails (ENOENT, ECONNREFUSED, ...)
   * @example
   * ```ts
   * const fe = VhostUserFrontend.connect('/run/vhost-blk.sock', { replyTimeoutMs: 5000 });
   * ```
   */
  static connect(path: string, options?: VhostUserFrontendOptions): VhostUserFrontend {
    return new VhostUserFrontend(UnixStream.connect(path), options);
  }

  /** Whether the frontend has ended (closed, or broken by the backend). */
  get isClosed(): boolean {
    return this.closedWith !== null;
  }

  /** The protocol features acknowledged with {@link VhostUserFrontend.setProtocolFeatures}. */
  get protocolFeatures(): bigint {
    return this.ackedProtocol;
  }

  // ---------------------------------------------------------------- requests

  /**
   * GET_FEATURES: the virtio and vhost feature bits the backend offers.
   * @returns the feature bits
   * @throws VhostUser.* errors (see the module notes) when the reply is bad, late or missing
   * @example
   * ```ts
   * const offered = await fe.getFeatures();
   * ```
   */
  async getFeatures(): Promise<bigint> {
    return this.u64(Q.GET_FEATURES);
  }

  /**
   * SET_FEATURES.
   * @param features - a subset of what {@link VhostUserFrontend.getFeatures} offered
   * @throws VhostUser.RequestRejectedError when refused (REPLY_ACK), other VhostUser.* errors on a bad reply
   * @example
   * ```ts
   * await fe.setFeatures(offered & (VERSION_1 | PROTOCOL_FEATURES));
   * ```
   */
  async setFeatures(features: bigint): Promise<void> {
    await this.plain({ request: Q.SET_FEATURES, needReply: false, value: features });
  }

  /**
   * GET_PROTOCOL_FEATURES (the backend must offer VHOST_USER_F_PROTOCOL_FEATURES).
   * @returns the protocol feature bits offered
   * @example
   * ```ts
   * const protocol = await fe.getProtocolFeatures();
   * ```
   */
  async getProtocolFeatures(): Promise<bigint> {
    return this.u64(Q.GET_PROTOCOL_FEATURES);
  }

  /**
   * SET_PROTOCOL_FEATURES. From here on, with REPLY_ACK among them, every request without a reply
   * of its own asks for an acknowledgement, and a failure rejects with `VhostUser.RequestRejectedError`.
   * @param features - a subset of what was offered
   * @example
   * ```ts
   * await fe.setProtocolFeatures(protocol & protocolFeatureMask([ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG]));
   * ```
   */
  async setProtocolFeatures(features: bigint): Promise<void> {
    await this.plain({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: features });
    this.ackedProtocol = features;
  }

  /**
   * SET_OWNER: starts the session.
   * @example
   * ```ts
   * await fe.setOwner();
   * ```
   */
  async setOwner(): Promise<void> {
    await this.plain({ request: Q.SET_OWNER, needReply: false });
  }

  /**
   * GET_QUEUE_NUM (needs the MQ protocol feature).
   * @returns the number of queues the backend serves
   * @example
   * ```ts
   * const queues = await fe.getQueueNum();
   * ```
   */
  async getQueueNum(): Promise<number> {
    const n = await this.u64(Q.GET_QUEUE_NUM);
    if (n > 0x1_0000n) throw this.fail(new InvalidReplyError('queue count out of range', { request: Q.GET_QUEUE_NUM, value: n }));
    return Number(n);
  }

  /**
   * SET_MEM_TABLE with one region: the memfd of `memory`.
   * @param memory - the guest memory to share
   * @example
   * ```ts
   * await fe.setMemTable(SharedGuestMemory.create(16 << 20));
   * ```
   */
  async setMemTable(memory: SharedGuestMemory): Promise<void> {
    await this.plain({ request: Q.SET_MEM_TABLE, needReply: false, regions: [memory.region], fds: [memory.fd] });
  }

  /**
   * SET_VRING_NUM.
   * @param index - ring index
   * @param num - ring size
   * @example
   * ```ts
   * await fe.setVringNum(0, 256);
   * ```
   */
  async setVringNum(index: number, num: number): Promise<void> {
    await this.plain({ request: Q.SET_VRING_NUM, needReply: false, index, num });
  }

  /**
   * SET_VRING_BASE.
   * @param index - ring index
   * @param base - the next available index (packed: position | wrap counter << 15)
   * @example
   * ```ts
   * await fe.setVringBase(0, 0);
   * ```
   */
  async setVringBase(index: number, base: number): Promise<void> {
    await this.plain({ request: Q.SET_VRING_BASE, needReply: false, index, num: base });
  }

  /**
   * SET_VRING_ADDR, from guest addresses of `memory`.
   * @param index - ring index
   * @param memory - the memory holding the ring
   * @param areas - guest addresses of the descriptor table, driver (avail) and device (used) areas
   * @example
   * ```ts
   * await fe.setVringAddr(0, ram, SplitDriver.layout(256, 0x10000));
   * ```
   */
  async setVringAddr(index: number, memory: SharedGuestMemory, areas: { readonly descTable: number; readonly driverArea: number; readonly deviceArea: number }): Promise<void> {
    const addr = {
      index,
      flags: 0,
      descUserAddr: memory.userAddress(areas.descTable),
      usedUserAddr: memory.userAddress(areas.deviceArea),
      availUserAddr: memory.userAddress(areas.driverArea),
      logGuestAddr: 0n,
    };
    await this.plain({ request: Q.SET_VRING_ADDR, needReply: false, addr });
  }

  /**
   * SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR: an eventfd for the ring, or none (the
   * backend then polls, or does not signal).
   * @param which - 'kick', 'call' or 'err'
   * @param index - ring index
   * @param fd - the eventfd (stays the caller's), or null
   * @example
   * ```ts
   * await fe.setVringFd('call', 0, callFd.fd);
   * ```
   */
  async setVringFd(which: 'kick' | 'call' | 'err', index: number, fd: number | null): Promise<void> {
    const request = which === 'kick' ? Q.SET_VRING_KICK : which === 'call' ? Q.SET_VRING_CALL : Q.SET_VRING_ERR;
    await this.plain({ request, needReply: false, index, fd });
  }

  /**
   * SET_VRING_ENABLE.
   * @param index - ring index
   * @param enable - start (true) or stop (false) processing the ring
   * @example
   * ```ts
   * await fe.setVringEnable(0, true);
   * ```
   */
  async setVringEnable(index: number, enable: boolean): Promise<void> {
    await this.plain({ request: Q.SET_VRING_ENABLE, needReply: false, index, num: enable ? 1 : 0 });
  }

  /**
   * GET_VRING_BASE: stops the ring and returns where it stopped. The ring object (if it was set up
   * with {@link VhostUserFrontend.setupVring}) is closed.
   * @param index - ring index
   * @returns the next available index (packed rings: as QEMU encodes it)
   * @example
   * ```ts
   * const base = await fe.getVringBase(0);
   * ```
   */
  async getVringBase(index: number): Promise<number> {
    const view = await this.send({ request: Q.GET_VRING_BASE, needReply: false, index, num: 0 }, PayloadSize.VRING_STATE);
    const replyIndex = view.getUint32(0, true);
    if (replyIndex !== index) throw this.fail(new InvalidReplyError('GET_VRING_BASE answered for another ring', { index: replyIndex, expected: index }));
    this.rings.get(index)?.close();
    this.rings.delete(index);
    return view.getUint32(4, true);
  }

  /**
   * GET_CONFIG (needs the CONFIG protocol feature).
   * @param offset - offset in the device config space
   * @param size - bytes to read (at most 0x1000 - 12)
   * @returns the bytes
   * @throws VhostUser.RequestRejectedError when the backend refuses (an empty reply)
   * @example
   * ```ts
   * const capacity = new DataView((await fe.getConfig(0, 8)).buffer).getBigUint64(0, true);
   * ```
   */
  async getConfig(offset: number, size: number): Promise<Uint8Array> {
    const config = { offset, size, flags: 0, data: new Uint8Array(size) };
    const view = await this.send({ request: Q.GET_CONFIG, needReply: false, config }, undefined);
    if (view.byteLength === 0) throw new RequestRejectedError({ request: Q.GET_CONFIG, offset, size });
    let access;
    try {
      access = readConfigAccess(view, 0, view.byteLength);
    } catch (e) {
      throw this.fail(e);
    }
    if (access.offset !== offset || access.size !== size) {
      throw this.fail(new InvalidReplyError('GET_CONFIG answered another range', { offset: access.offset, size: access.size, expectedOffset: offset, expectedSize: size }));
    }
    return access.data.slice();
  }

  /**
   * SET_CONFIG (needs the CONFIG protocol feature).
   * @param offset - offset in the device config space
   * @param data - bytes to write
   * @example
   * ```ts
   * await fe.setConfig(8, new Uint8Array([1]));
   * ```
   */
  async setConfig(offset: number, data: Uint8Array): Promise<void> {
    await this.plain({ request: Q.SET_CONFIG, needReply: false, config: { offset, size: data.byteLength, flags: 0, data } });
  }

  /**
   * SET_STATUS (needs the STATUS protocol feature): the device status the driver wrote.
   * @param status - the VIRTIO device status byte
   * @example
   * ```ts
   * await fe.setStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
   * ```
   */
  async setStatus(status: number): Promise<void> {
    await this.plain({ request: Q.SET_STATUS, needReply: false, value: BigInt(status) });
  }

  /**
   * GET_STATUS (needs the STATUS protocol feature).
   * @returns the device status byte
   * @example
   * ```ts
   * if ((await fe.getStatus()) & DEVICE_NEEDS_RESET) await fe.resetDevice();
   * ```
   */
  async getStatus(): Promise<number> {
    const v = await this.u64(Q.GET_STATUS);
    if (v > 0xffn) throw this.fail(new InvalidReplyError('status out of range', { request: Q.GET_STATUS, value: v }));
    return Number(v);
  }

  /**
   * RESET_DEVICE (needs the RESET_DEVICE protocol feature): every ring stops, the device resets.
   * @example
   * ```ts
   * await fe.resetDevice();
   * ```
   */
  async resetDevice(): Promise<void> {
    await this.plain({ request: Q.RESET_DEVICE, needReply: false });
  }

  /**
   * SET_BACKEND_REQ_FD: creates the backend request channel (a socketpair, one end passed to the
   * backend). Backend requests then come as events (`config-changed`, ...); needs BACKEND_REQ.
   * @example
   * ```ts
   * await fe.setBackendReqFd();
   * ```
   */
  async setBackendReqFd(): Promise<void> {
    this.assertOpen();
    const [ours, theirs] = UnixStream.pair();
    this.backendRequests?.close();
    this.backendRequests = new BackendRequestServer(ours, (e) => this.emit(e));
    try {
      await this.plain({ request: Q.SET_BACKEND_REQ_FD, needReply: false, fd: theirs.fd });
    } finally {
      theirs.close();
    }
  }

  /**
   * Sends any request the protocol module can encode, as given (need_reply included), for what
   * has no method of its own (GET_MAX_MEM_SLOTS, ADD_MEM_REG, GET/SET_INFLIGHT_FD, ...) and for
   * testing backends. Resolves with the reply when one is due (the request's own reply, or the
   * REPLY_ACK u64 with need_reply; a failure status is returned, not thrown), else null. The
   * reply's fds (GET_INFLIGHT_FD: exactly one) are the caller's. Fds in `msg` stay the caller's.
   * @param msg - the request
   * @returns the reply payload and fds, or null
   * @throws VhostUser.* errors as for every request (the frontend then closes)
   * @example
   * ```ts
   * const r = await fe.request({ request: VhostUserRequest.GET_MAX_MEM_SLOTS, needReply: false });
   * const slots = r!.body.getBigUint64(0, true);
   * ```
   */
  async request(msg: VhostUserRequestMessage): Promise<{
    /** The reply's payload (a u64 status for a REPLY_ACK). */
    readonly body: DataView;
    /** File descriptors that came with the reply (GET_INFLIGHT_FD); the caller closes them. */
    readonly fds: readonly number[];
  } | null> {
    const due = replyCarriesData(msg.request) || msg.needReply;
    const fds: number[] = [];
    const size = !due ? null : replyCarriesData(msg.request) ? undefined : PayloadSize.U64;
    const body = await this.send(msg, size, msg.request === Q.GET_INFLIGHT_FD ? fds : undefined);
    return due ? { body, fds } : null;
  }

  /**
   * Sets up a ring the way QEMU's vhost_virtqueue_start does: SET_VRING_NUM, BASE, ADDR, KICK,
   * CALL, then SET_VRING_ENABLE 1. The ring's eventfds are the frontend's, closed with it.
   * @param index - ring index
   * @param setup - memory, size, address, options
   * @returns the ring, with its driver
   * @throws RangeError on a bad size or address (from the driver)
   * @example
   * ```ts
   * const ring = await fe.setupVring<number>(0, { memory: ram, size: 128, address: 0x10000, onCall: (r) => reap(r) });
   * ```
   */
  async setupVring<T = unknown>(index: number, setup: VringSetup<T>): Promise<FrontendVring<T>> {
    this.assertOpen();
    const Driver = setup.packed === true ? PackedDriver : SplitDriver;
    const layout = Driver.layout(setup.size, setup.address);
    const driver = new Driver<T>(setup.memory.memory, { size: setup.size, descTable: layout.descTable, driverArea: layout.driverArea, deviceArea: layout.deviceArea, eventIdx: setup.eventIdx ?? false });
    this.rings.get(index)?.close();
    const ring = new FrontendVring<T>(index, driver, setup.onCall);
    this.rings.set(index, ring as FrontendVring<unknown>);
    await this.setVringNum(index, setup.size);
    await this.setVringBase(index, setup.base ?? 0);
    await this.setVringAddr(index, setup.memory, layout);
    await this.setVringFd('kick', index, ring.kickFd.fd);
    await this.setVringFd('call', index, ring.callFd.fd);
    if (setup.enable ?? true) await this.setVringEnable(index, true);
    return ring;
  }

  /**
   * Closes the connection, the backend request channel and every ring's eventfds; pending
   * requests reject with `VhostUser.DisconnectedError`. Idempotent. The shared memory stays the
   * caller's.
   * @example
   * ```ts
   * fe.close();
   * ram.close();
   * ```
   */
  close(): void {
    this.end(undefined);
  }

  // ---------------------------------------------------------------- the reply machinery

  /** A reply, from the channel. */
  private onReply(header: VhostUserHeader, body: Uint8Array, fds: number[]): undefined {
    const w = this.waiter;
    try {
      if (w === null) throw new InvalidReplyError('a reply to no request', { request: header.request });
      let view: DataView;
      if (w.fds !== undefined && fds.length === 1) {
        view = checkReply(header, body, [], w.request, w.size);
        w.fds.push(fds.pop()!);
      } else {
        view = checkReply(header, body, fds, w.request, w.size);
      }
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve(new DataView(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength)));
    } catch (e) {
      this.fail(e);
    } finally {
      for (const fd of fds) safeClose(fd);
    }
    return undefined;
  }

  private async u64(request: typeof Q.GET_FEATURES | typeof Q.GET_PROTOCOL_FEATURES | typeof Q.GET_QUEUE_NUM | typeof Q.GET_STATUS): Promise<bigint> {
    return readU64Reply(await this.send({ request, needReply: false }, PayloadSize.U64));
  }

  /** A request without a reply of its own: acknowledged under REPLY_ACK. */
  private async plain(msg: VhostUserRequestMessage): Promise<void> {
    const ack = ((this.ackedProtocol >> BigInt(ProtocolFeature.REPLY_ACK)) & 1n) === 1n;
    if (!ack) {
      await this.send(msg, null);
      return;
    }
    const status = readU64Reply(await this.send({ ...msg, needReply: true } as VhostUserRequestMessage, PayloadSize.U64));
    if (status !== 0n) throw new RequestRejectedError({ request: msg.request, status });
  }

  /**
   * Sends one request after the previous one has finished; resolves with the reply payload
   * (`size` bytes, any size when undefined), or at once when `size` is null (no reply).
   */
  private send(msg: VhostUserRequestMessage, size: number | null | undefined, replyFds?: number[]): Promise<DataView> {
    const run = (): Promise<DataView> => {
      this.assertOpen();
      const expectsReply = size !== null && (replyCarriesData(msg.request) || msg.needReply);
      const { bytes, fds } = encodeRequest(msg);
      if (!expectsReply) {
        this.channel.send(bytes, fds);
        return Promise.resolve(new DataView(new ArrayBuffer(0)));
      }
      return new Promise<DataView>((resolve, reject) => {
        const timer = setTimeout(() => this.fail(new ReplyTimeoutError({ request: msg.request, timeoutMs: this.replyTimeoutMs })), this.replyTimeoutMs);
        this.waiter = { request: msg.request, size, fds: replyFds, resolve, reject, timer };
        this.channel.send(bytes, fds);
      });
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private assertOpen(): void {
    if (this.closedWith !== null) {
      const cause = this.closedWith.error;
      throw cause !== undefined && cause !== null ? cause : new InvalidOperationError('the frontend is closed');
    }
  }

  /** The backend broke the protocol: close everything; returns the error (to throw). */
  private fail(error: unknown): unknown {
    this.end(error ?? new DisconnectedError());
    return error;
  }

  private end(error: unknown): void {
    if (this.closedWith !== null) return;
    this.closedWith = { error };
    this.channel.close();
    this.backendRequests?.close();
    this.backendRequests = null;
    for (const ring of this.rings.values()) ring.close();
    this.rings.clear();
    const w = this.waiter;
    this.waiter = null;
    if (w !== null) {
      clearTimeout(w.timer);
      w.reject(error ?? new DisconnectedError({ reason: 'closed by the frontend' }));
    }
    this.emit(error === undefined ? { type: 'closed' } : { type: 'closed', error });
  }

  private emit(event: VhostUserFrontendEvent): void {
    if (this.observer === undefined) return;
    try {
      this.observer(event);
    } catch {
      // an observer must not break the protocol
    }
  }
}
