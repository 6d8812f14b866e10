/**
 * The vhost-user backend: serves one {@link VirtioDevice} (the same object the MMIO transport
 * serves) to a frontend such as QEMU over a unix socket. One frontend at a time; after it
 * disconnects the backend keeps listening for the next, with a fresh session.
 *
 * What it offers:
 * - features: the device's features (without VIRTIO_F_ACCESS_PLATFORM: IOTLB is not served)
 *   plus VHOST_USER_F_PROTOCOL_FEATURES;
 * - protocol features: MQ, REPLY_ACK, BACKEND_REQ, CONFIG, INFLIGHT_SHMFD, RESET_DEVICE,
 *   CONFIGURE_MEM_SLOTS, STATUS (a subset can be chosen).
 *
 * @module
 */

import { existsSync } from 'node:fs';
import { Feature, featureBit, hasFeature, type DeviceHost, type VirtioDevice } from '@vmv/device-trait';
import { UnixListener, type UnixStream } from '@vmv/sys';
import { ProtocolFeature, VHOST_USER_MAX_MEM_TABLE_REGIONS, VhostFeature, protocolFeatureMask } from '../protocol/constants.js';
import { DEFAULT_COALESCE_MAX_DELAY_US, DEFAULT_COALESCE_QUIET_US, type CoalesceOptions } from './coalesce.js';
import { addPollStats, noPollStats, DEFAULT_POLL_MAX_GAP_US, DEFAULT_POLL_SPIN_US, type KickPollOptions, type KickPollStats } from './kick-poll.js';
import { Connection, type ConnectionEvent } from './connection.js';
import { QueueWorkerPool, type QueueWorkerOptions } from './queue-workers.js';

/**
 * Protocol features the backend implements (and offers by default): MQ, REPLY_ACK, BACKEND_REQ, CONFIG,
 * INFLIGHT_SHMFD, RESET_DEVICE, CONFIGURE_MEM_SLOTS, STATUS.
 *
 * @example
 * ```ts
 * new VhostUserBackend(device, { protocolFeatures: SUPPORTED_PROTOCOL_FEATURES & ~(1n << 16n) });
 * ```
 */
export const SUPPORTED_PROTOCOL_FEATURES: bigint = protocolFeatureMask([
  ProtocolFeature.MQ,
  ProtocolFeature.REPLY_ACK,
  ProtocolFeature.BACKEND_REQ,
  ProtocolFeature.CONFIG,
  ProtocolFeature.INFLIGHT_SHMFD,
  ProtocolFeature.RESET_DEVICE,
  ProtocolFeature.CONFIGURE_MEM_SLOTS,
  ProtocolFeature.STATUS,
]);

/**
 * What the backend reports through {@link VhostUserBackendOptions.onEvent}: `listening`,
 * `connected`, `disconnected` (with the error that ended the connection, if any), `rejected` (a
 * second frontend, a failed accept), `request-failed` (a request answered with a failure),
 * `activated` / `device-reset` (device sessions), `needs-reset` (the device failed),
 * `ring-error` (a ring stopped alone, its err eventfd signalled), `memory-held` (regions the
 * frontend removed stay mapped past the drain timeout because the device still holds chains) and
 * `backend-request-failed` (the frontend refused, answered wrongly, late or not at all a
 * CONFIG_CHANGE_MSG on the backend request channel, or closed that channel).
 *
 * @example
 * ```ts
 * const onEvent = (e: VhostUserBackendEvent): void => {
 *   if (e.type === 'request-failed') console.error('request', e.request, 'failed:', e.error);
 * };
 * ```
 */
export type VhostUserBackendEvent =
  | {
      /** The socket is listening. */
      readonly type: 'listening';
      /** Its path. */
      readonly path: string;
    }
  | {
      /** A frontend connected. */
      readonly type: 'connected';
    }
  | {
      /** The frontend went away (or was dropped). */
      readonly type: 'disconnected';
      /** What ended the connection, when it did not end cleanly. */
      readonly error?: unknown;
    }
  | {
      /** A connection was refused: a second frontend, or a failed accept. */
      readonly type: 'rejected';
      /** Why, for a log. */
      readonly reason: string;
    }
  | ConnectionEvent;

/**
 * Options of {@link VhostUserBackend}.
 *
 * @example
 * ```ts
 * const options: VhostUserBackendOptions = { maxMemSlots: 8, drainTimeoutMs: 500, onEvent: (e) => console.log(e.type) };
 * const backend = new VhostUserBackend(device, options);
 * ```
 */
export interface VhostUserBackendOptions {
  /** Protocol features to offer: a subset of {@link SUPPORTED_PROTOCOL_FEATURES} (the default). */
  readonly protocolFeatures?: bigint;
  /** Memory slots reported by GET_MAX_MEM_SLOTS and enforced (1..32, default 32). */
  readonly maxMemSlots?: number;
  /**
   * How long GET_VRING_BASE, and a memory table change that removes regions, wait for requests the
   * device popped to complete before replying (ms, default 1000).
   */
  readonly drainTimeoutMs?: number;
  /**
   * How long the frontend may take to answer a backend request sent with need_reply
   * (CONFIG_CHANGE_MSG under REPLY_ACK) before the backend request channel is closed and a
   * `backend-request-failed` event reports a `VhostUser.ReplyTimeoutError` (ms, default 5000).
   */
  readonly backendRequestTimeoutMs?: number;
  /** Poll interval of rings whose frontend sent no kick eventfd (ms, default 1). */
  readonly pollIntervalMs?: number;
  /**
   * Rings that a started but disabled ring (VHOST_USER_F_PROTOCOL_FEATURES negotiated, no
   * SET_VRING_ENABLE 1 yet, or disabled since) processes by returning each available chain used
   * with length 0, the device never seeing it: vhost-user's "processed without side effects", as
   * a network backend discards transmit packets. Name only rings whose buffers may be dropped
   * (a console's or net device's transmit queue). Every other ring holds its chains until it is
   * enabled: for a request that changes state (a block write) or a receive buffer (which must not
   * be filled), holding is the only processing without side effects. Default: none.
   */
  readonly discardWhileDisabled?: readonly number[];
  /**
   * Interrupt coalescing (default off): used-buffer notifications to a driver that keeps several
   * requests in flight are held while it keeps kicking (its kicks switched off meanwhile, a timer
   * looking at the ring instead) and sent as one when it goes quiet for `quietUs`, or after
   * `maxDelayUs`. A driver that waits for each request is signalled at once after a short
   * back-off (the per-ring `InterruptCoalescer` in backend/coalesce.ts). `true` uses the defaults
   * ({@link DEFAULT_COALESCE_QUIET_US} µs quiet, {@link DEFAULT_COALESCE_MAX_DELAY_US} µs at most).
   */
  readonly interruptCoalescing?: boolean | CoalesceOptions;
  /**
   * Predictive polling (default off): after each used-buffer notification the ring is looked at
   * in a short busy loop, kicks off, around the time the driver's next request is expected (learnt
   * per ring), so a driver that waits for each request is served without a kick and without
   * waking the event loop (the per-ring `KickPoller` in backend/kick-poll.ts). Costs at most
   * `spinUs` of CPU per notification, and nothing for a driver that submits rarely. `true` uses
   * the defaults ({@link DEFAULT_POLL_SPIN_US} µs windows, drivers up to
   * {@link DEFAULT_POLL_MAX_GAP_US} µs).
   */
  readonly kickPolling?: boolean | KickPollOptions;
  /**
   * Queue workers (default none: every ring is served in the calling thread): `count` worker
   * threads (node:worker_threads) each run `script`, which calls `runQueueWorker` to build its own
   * instance of the device (from `data`), and serve the rings lent to them, ring `i` by worker
   * `i mod count`. A worker maps guest memory itself from copies of the memory table's fds, waits
   * on the ring's kick eventfd and signals its call eventfd itself, so rings run on several cores.
   * The vhost-user messages, negotiation, activation, reset and the memory table stay in this
   * thread, which lends a ring once the device runs and takes it back, drained, before
   * GET_VRING_BASE answers, before the memory table changes, and when the ring stops. A worker
   * that dies or whose device fails puts the device in DEVICE_NEEDS_RESET
   * (`VhostUser.QueueWorkerError`). Rings without a kick eventfd, and packed rings tracked in an
   * inflight buffer, stay in this thread.
   */
  readonly queueWorkers?: QueueWorkerOptions;
  /** Observer of connections, failures and device activations (for logs and tests). */
  readonly onEvent?: (event: VhostUserBackendEvent) => void;
}

/**
 * Serves a VirtioDevice over vhost-user.
 *
 * @example
 * ```ts
 * const backend = new VhostUserBackend(device, { onEvent: (e) => console.log(e.type) });
 * backend.listen('/tmp/vhost-blk.sock', { removeStale: true });
 * // qemu-system-x86_64 ... -chardev socket,id=c0,path=/tmp/vhost-blk.sock \
 * //   -device vhost-user-blk-pci,chardev=c0 -object memory-backend-memfd,id=m,size=1G,share=on -numa node,memdev=m
 * process.on('SIGTERM', () => backend.close());
 * ```
 */
export class VhostUserBackend {
  /** The device served. */
  readonly device: VirtioDevice;
  /** GET_FEATURES answer. */
  readonly offeredFeatures: bigint;
  /** GET_PROTOCOL_FEATURES answer. */
  readonly offeredProtocolFeatures: bigint;
  private readonly maxMemSlots: number;
  private readonly drainTimeoutMs: number;
  private readonly backendRequestTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly discardWhileDisabled: ReadonlySet<number>;
  /** The interrupt coalescing in effect (the option resolved and checked), or null when off. */
  readonly interruptCoalescing: {
    /** A held notification is sent once the driver has not kicked for this long (µs). */
    readonly quietUs: number;
    /** A held notification is sent after this long at most (µs). */
    readonly maxDelayUs: number;
  } | null;
  /** The predictive polling in effect (the option resolved and checked), or null when off. */
  readonly kickPolling: {
    /** Width of a polling window (µs): the most CPU one notification can cost. */
    readonly spinUs: number;
    /** Drivers whose requests come further apart than this (µs) are not polled for. */
    readonly maxGapUs: number;
  } | null;
  private readonly onEvent: (event: VhostUserBackendEvent) => void;
  private listener: UnixListener | null = null;
  private connection: Connection | null = null;
  private readonly workers: QueueWorkerPool | null;
  private workersClosed: Promise<void> | null = null;
  /** Call statistics of connections that have ended. */
  private pastCalls = { requested: 0, sent: 0 };
  /** Polling counters of connections that have ended. */
  private readonly pastPolls: KickPollStats = noPollStats();

  /**
   * @param device - the device; `attach` is called on it now
   * @param options - protocol features, limits, observer
   * @throws TypeError / RangeError on bad options or a device without queues or VERSION_1
   * @example
   * ```ts
   * const backend = new VhostUserBackend(new MyDevice());
   * ```
   */
  constructor(device: VirtioDevice, options: VhostUserBackendOptions = {}) {
    if (typeof device !== 'object' || device === null) throw new TypeError('VhostUserBackend: device must be a VirtioDevice');
    const sizes = device.queueMaxSizes;
    if (!Array.isArray(sizes) || sizes.length < 1 || sizes.length > 256) {
      throw new RangeError('VhostUserBackend: the device must have 1..256 queues (vring indices are 8 bits)');
    }
    for (const s of sizes) {
      if (!Number.isInteger(s) || s < 1 || s > 32768 || (s & (s - 1)) !== 0) {
        throw new RangeError(`VhostUserBackend: queue sizes must be powers of two in 1..32768, got ${String(s)}`);
      }
    }
    if (typeof device.deviceFeatures !== 'bigint' || !hasFeature(device.deviceFeatures, Feature.VERSION_1)) {
      throw new RangeError('VhostUserBackend: the device must offer VIRTIO_F_VERSION_1');
    }
    const protocol = options.protocolFeatures ?? SUPPORTED_PROTOCOL_FEATURES;
    if (typeof protocol !== 'bigint' || (protocol & ~SUPPORTED_PROTOCOL_FEATURES) !== 0n) {
      throw new RangeError('VhostUserBackend: protocolFeatures must be a subset of SUPPORTED_PROTOCOL_FEATURES');
    }
    const slots = options.maxMemSlots ?? VHOST_USER_MAX_MEM_TABLE_REGIONS;
    if (!Number.isInteger(slots) || slots < 1 || slots > VHOST_USER_MAX_MEM_TABLE_REGIONS) {
      throw new RangeError(`VhostUserBackend: maxMemSlots must be 1..${VHOST_USER_MAX_MEM_TABLE_REGIONS}`);
    }
    this.drainTimeoutMs = checkMs(options.drainTimeoutMs ?? 1000, 'drainTimeoutMs');
    this.pollIntervalMs = checkMs(options.pollIntervalMs ?? 1, 'pollIntervalMs');
    const discard = options.discardWhileDisabled ?? [];
    if (!Array.isArray(discard) || !discard.every((i) => Number.isInteger(i) && i >= 0 && i < sizes.length)) {
      throw new RangeError(`VhostUserBackend: discardWhileDisabled must list ring indices below ${sizes.length}`);
    }
    this.discardWhileDisabled = new Set(discard);
    this.backendRequestTimeoutMs = checkMs(options.backendRequestTimeoutMs ?? 5000, 'backendRequestTimeoutMs');
    this.interruptCoalescing = coalesceSettings(options.interruptCoalescing);
    this.kickPolling = pollSettings(options.kickPolling);
    const workers = workerSettings(options.queueWorkers);
    this.device = device;
    this.maxMemSlots = slots;
    this.offeredProtocolFeatures = protocol;
    const unsupported = featureBit(Feature.ACCESS_PLATFORM) | featureBit(VhostFeature.LOG_ALL);
    this.offeredFeatures = (device.deviceFeatures & ~unsupported) | featureBit(VhostFeature.PROTOCOL_FEATURES);
    const observer = options.onEvent;
    this.onEvent = (event) => {
      if (observer === undefined) return;
      try {
        observer(event);
      } catch {
        // an observer must not break the protocol
      }
    };
    // attached once for the backend's life; each connection's session takes the changes in turn
    const host: DeviceHost = {
      configChanged: () => {
        this.connection?.deviceStateChanged();
        this.connection?.configChanged();
      },
    };
    device.attach?.(host);
    this.workers = workers === null ? null : new QueueWorkerPool(workers, { coalesce: this.interruptCoalescing, poll: this.kickPolling, drainTimeoutMs: this.drainTimeoutMs });
  }

  /**
   * Queue worker threads (0 without the `queueWorkers` option).
   * @returns how many
   * @example
   * ```ts
   * console.log(`${backend.queueWorkerCount} queue workers`);
   * ```
   */
  get queueWorkerCount(): number {
    return this.workers?.count ?? 0;
  }

  /**
   * Settles once {@link VhostUserBackend.close} has let the queue workers' devices finish their
   * I/O and ended the workers (at once without queue workers, or before `close`).
   * @returns a promise that never rejects
   * @example
   * ```ts
   * backend.close();
   * await backend.stopped;
   * ```
   */
  get stopped(): Promise<void> {
    return this.workersClosed ?? Promise.resolve();
  }

  /**
   * Used-buffer notifications over all connections so far: how many the device asked for, and
   * how many were written to call eventfds. With {@link VhostUserBackendOptions.interruptCoalescing}
   * `sent` is lower: the difference is interrupts the guest was spared.
   * @returns the counters
   * @example
   * ```ts
   * const { requested, sent } = backend.callStats;
   * console.log(`${requested - sent} interrupts coalesced away`);
   * ```
   */
  get callStats(): {
    /** Used-buffer notifications the device asked for. */
    readonly requested: number;
    /** Notifications written to call eventfds. */
    readonly sent: number;
  } {
    const c = this.connection?.callStats ?? { requested: 0, sent: 0 };
    return { requested: this.pastCalls.requested + c.requested, sent: this.pastCalls.sent + c.sent };
  }

  /**
   * Predictive polling over all connections so far (all zero when
   * {@link VhostUserBackendOptions.kickPolling} is off): windows opened, requests they found
   * without a kick, windows that found none, kicks that came before a window, and the time spent
   * looking (µs).
   * @returns the counters
   * @example
   * ```ts
   * const { windows, hits, spinUs } = backend.pollStats;
   * console.log(`${hits}/${windows} requests found by polling, ${Math.round(spinUs / 1000)} ms spent`);
   * ```
   */
  get pollStats(): KickPollStats {
    const t: KickPollStats = { ...this.pastPolls };
    const c = this.connection?.pollStats;
    if (c !== undefined) addPollStats(t, c);
    return t;
  }

  /**
   * Listens on a unix socket path and serves frontends one after another.
   *
   * @param path - the socket path (QEMU's `-chardev socket,path=...`)
   * @param options - `removeStale`: remove a dead socket file left at `path`
   * @throws Sys.Error when the socket cannot be created (EADDRINUSE, EACCES, ...)
   * @throws TypeError when already listening
   * @example
   * ```ts
   * backend.listen('/run/vmv/blk0.sock', { removeStale: true });
   * ```
   */
  listen(path: string, options: { removeStale?: boolean } = {}): void {
    if (this.listener !== null) throw new TypeError('VhostUserBackend.listen: already listening');
    this.listenOn(UnixListener.listen(path, { removeStale: options.removeStale === true }), path);
  }

  /**
   * Serves frontends one after another from a listener made elsewhere: one a manager handed over
   * as an inherited fd (`UnixListener.adopt(fd)`, a daemon's `--fd`), for instance. The backend
   * owns it from now on and closes it in {@link VhostUserBackend.close}.
   * @param listener - a listening unix socket.
   * @param name - how events name it (its path, or `fd 3`).
   * @throws TypeError when already listening
   * @example
   * ```ts
   * backend.listenOn(UnixListener.adopt(3), 'fd 3');
   * ```
   */
  listenOn(listener: UnixListener, name: string): void {
    if (this.listener !== null) throw new TypeError('VhostUserBackend.listenOn: already listening');
    this.listener = listener;
    const watcher = listener.watch((err) => {
      if (err !== null) {
        this.onEvent({ type: 'rejected', reason: `listener error: ${err.message}` });
        return;
      }
      for (;;) {
        let conn: UnixStream | null;
        try {
          conn = listener.accept();
        } catch (e) {
          // EMFILE and the like: leave the connection pending, report it, and retry a little
          // later rather than spinning on a listener that stays readable
          this.onEvent({ type: 'rejected', reason: `accept failed: ${e instanceof Error ? e.message : String(e)}` });
          watcher.stop();
          setTimeout(() => {
            if (this.listener === listener) watcher.start();
          }, 100);
          return;
        }
        if (conn === null) return;
        this.serve(conn);
      }
    });
    this.onEvent({ type: 'listening', path: name });
  }

  /**
   * Serves an already connected stream (a socket accepted elsewhere, or inherited with `--fd`).
   * If a frontend is already being served, the new stream is closed.
   *
   * @param stream - the connection; the backend owns it from now on
   * @example
   * ```ts
   * backend.serve(UnixStream.from(3));
   * ```
   */
  serve(stream: UnixStream): void {
    if (this.connection !== null && !this.connection.isClosed) {
      this.onEvent({ type: 'rejected', reason: 'a frontend is already connected' });
      try {
        stream.close();
      } catch {
        // nothing to release
      }
      return;
    }
    const connection = new Connection(
      stream,
      this.device,
      {
        offeredFeatures: this.offeredFeatures,
        offeredProtocolFeatures: this.offeredProtocolFeatures,
        maxMemSlots: this.maxMemSlots,
        drainTimeoutMs: this.drainTimeoutMs,
        backendRequestTimeoutMs: this.backendRequestTimeoutMs,
        pollIntervalMs: this.pollIntervalMs,
        discardWhileDisabled: this.discardWhileDisabled,
        coalesce: this.interruptCoalescing,
        poll: this.kickPolling,
        workers: this.workers,
        emit: this.onEvent,
      },
      (error) => {
        const c = connection.callStats;
        this.pastCalls.requested += c.requested;
        this.pastCalls.sent += c.sent;
        addPollStats(this.pastPolls, connection.pollStats);
        if (this.connection === connection) this.connection = null;
        this.onEvent(error === undefined ? { type: 'disconnected' } : { type: 'disconnected', error });
      },
    );
    this.connection = connection;
    this.onEvent({ type: 'connected' });
    try {
      connection.start();
    } catch (e) {
      connection.close(e);
    }
  }

  /**
   * Whether a frontend is connected.
   * @returns true while a connection is served
   * @example
   * ```ts
   * if (!backend.connected) console.log('waiting for QEMU');
   * ```
   */
  get connected(): boolean {
    return this.connection !== null;
  }

  /**
   * Whether the backend listens on a path.
   * @returns true between `listen` and `close`
   * @example
   * ```ts
   * backend.listening; // true after listen()
   * ```
   */
  get listening(): boolean {
    return this.listener !== null;
  }

  /**
   * Disconnects the frontend (resetting the device session and unmapping its memory).
   * @example
   * ```ts
   * backend.disconnect();
   * ```
   */
  disconnect(): void {
    this.connection?.close();
  }

  /**
   * Stops listening (removing the socket file) and disconnects the frontend. Idempotent.
   * @example
   * ```ts
   * process.on('SIGTERM', () => backend.close());
   * ```
   */
  close(): void {
    const listener = this.listener;
    this.listener = null;
    try {
      listener?.close();
    } catch {
      // already closed
    }
    this.disconnect();
    if (this.workers !== null) this.workersClosed ??= this.workers.close().catch(() => undefined);
  }
}

function workerSettings(option: QueueWorkerOptions | undefined): QueueWorkerOptions | null {
  if (option === undefined) return null;
  if (typeof option !== 'object' || option === null) throw new TypeError('VhostUserBackend: queueWorkers must be { count, script, data? }');
  const { count, script } = option;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 64) {
    throw new RangeError(`VhostUserBackend: queueWorkers.count must be an integer in 1..64, got ${String(count)}`);
  }
  if (!(typeof script === 'string' && script.length > 0) && !(script instanceof URL)) throw new TypeError('VhostUserBackend: queueWorkers.script must be a path or a file URL');
  // a missing script would only show as a device error at the first request: say it now
  if (!existsSync(script)) throw new RangeError(`VhostUserBackend: queueWorkers.script ${String(script)} does not exist`);
  return option;
}

function checkMs(value: number, label: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new RangeError(`VhostUserBackend: ${label} must be a number of milliseconds`);
  }
  return value;
}

/**
 * Resolves an option that is off (`undefined`, `false`), the defaults (`true`), or an object of two
 * µs values, each an integer in 1..1000000, the second at least the first.
 */
function microsecondPair<A extends string, B extends string>(
  option: unknown,
  name: string,
  [a, aDefault]: readonly [A, number],
  [b, bDefault]: readonly [B, number],
): Record<A | B, number> | null {
  if (option === undefined || option === false) return null;
  const pair = (x: number, y: number): Record<A | B, number> => ({ [a]: x, [b]: y }) as Record<A | B, number>;
  if (option === true) return pair(aDefault, bDefault);
  if (typeof option !== 'object' || option === null) throw new TypeError(`VhostUserBackend: ${name} must be a boolean or { ${a}, ${b} }`);
  const us = (v: unknown, label: string, def: number): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1_000_000) {
      throw new RangeError(`VhostUserBackend: ${name}.${label} must be an integer in 1..1000000 (µs), got ${String(v)}`);
    }
    return v;
  };
  const o = option as Partial<Record<A | B, unknown>>;
  const x = us(o[a], a, aDefault);
  const y = us(o[b], b, bDefault);
  if (y < x) throw new RangeError(`VhostUserBackend: ${name}.${b} must be at least ${a}`);
  return pair(x, y);
}

function coalesceSettings(option: boolean | CoalesceOptions | undefined): { quietUs: number; maxDelayUs: number } | null {
  return microsecondPair(option, 'interruptCoalescing', ['quietUs', DEFAULT_COALESCE_QUIET_US], ['maxDelayUs', DEFAULT_COALESCE_MAX_DELAY_US]);
}

function pollSettings(option: boolean | KickPollOptions | undefined): { spinUs: number; maxGapUs: number } | null {
  return microsecondPair(option, 'kickPolling', ['spinUs', DEFAULT_POLL_SPIN_US], ['maxGapUs', DEFAULT_POLL_MAX_GAP_US]);
}
