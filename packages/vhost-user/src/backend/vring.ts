/**
 * Per-ring state of a backend connection (vhost-user.rst "Ring states"): what SET_VRING_NUM /
 * BASE / ADDR / KICK / CALL / ERR / ENABLE configured, the eventfds the ring owns, and the
 * {@link BackendQueue} the device sees; and the ring positions a vring base value starts a ring
 * at or reports.
 *
 * @module
 */

import { QueueConfig, type QueueState, type Virtqueue } from '@vmv/queue';
import { eventfdWrite, TimerFd, watchEventFd, type FdWatcher } from '@vmv/sys';
import { decodeVringBase, encodeVringBase } from '../protocol/vring.js';
import { BackendQueue } from './backend-queue.js';
import { InterruptCoalescer, type CoalescerHost } from './coalesce.js';
import { KickPoller, type KickPollerHost } from './kick-poll.js';
import { safeClose } from '../channel/fd.js';
import { toGuestAddress as addr } from './region-table.js';

/** Guest physical addresses of a ring's three areas. */
export interface RingAreas {
  readonly desc: bigint;
  readonly driver: bigint;
  readonly device: bigint;
}

/** Monotonic time in µs. */
const microseconds = (): number => performance.now() * 1000;

/** A one-shot timer in µs whose timerfd is created at its first use (not referenced: it never keeps the process alive). */
class LazyTimer {
  private fd: TimerFd | null = null;

  constructor(private readonly onExpiry: () => void) {}

  arm(us: number): void {
    if (this.fd === null) this.fd = new TimerFd(this.onExpiry, { ref: false });
    this.fd.arm(Math.round(us * 1000));
  }

  disarm(): void {
    this.fd?.disarm();
  }

  close(): void {
    this.fd?.close();
    this.fd = null;
  }
}

/**
 * One ring of a connection. Not exported from the package.
 * @internal
 */
export class Vring {
  /** The queue handed to the device (same object for the whole connection). */
  readonly queue: BackendQueue;
  /** Ring size (SET_VRING_NUM; the device's maximum until then). */
  size: number;
  /** Next available index to start from (SET_VRING_BASE). */
  base = 0;
  /** Guest physical addresses (translated from SET_VRING_ADDR), or null. */
  areas: RingAreas | null = null;
  /** Kick mode: none yet, an eventfd, or polling (SET_VRING_KICK with the no-fd bit). */
  kick: 'none' | 'fd' | 'poll' = 'none';
  kickFd: number | null = null;
  callFd: number | null = null;
  errFd: number | null = null;
  /** SET_VRING_ENABLE state. */
  enabled = false;
  /** A real ring is attached to {@link Vring.queue}. */
  started = false;
  /** A kick arrived while the ring could not be processed; handle it once it can. */
  pendingKick = false;
  /**
   * This backend took the ring over from one that died (inflight recovery): the dead one may have
   * published used buffers and never sent their interrupt (held by its coalescer), leaving the
   * driver's used_event behind the used index, where no later completion satisfies EVENT_IDX's
   * test again. One call, once the ring runs and has its call fd, lets the driver look (Linux's
   * vhost and QEMU start a ring with signalled_used_valid false for the same reason).
   */
  owedCall = false;
  /** The queue worker serving this ring while it is lent to one (the backend's `queueWorkers`), else null. */
  lent: object | null = null;
  /**
   * Lets go of an fd the ring no longer uses (kick, call, err): closes it. A queue worker's rings
   * hand theirs back instead: the main thread lent them and alone closes them.
   */
  releaseFd: (fd: number | null) => void = safeClose;
  private watcher: FdWatcher | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Interrupt coalescing (null: every notification is sent at once). */
  readonly coalescer: InterruptCoalescer | null;
  /** The coalescer's timer. */
  private readonly callTimer = new LazyTimer(() => this.coalescer?.onTimer());
  /** Predictive polling (null: the ring is looked at only on kicks). */
  readonly poller: KickPoller | null;
  /** The poller's timer. */
  private readonly pollTimer = new LazyTimer(() => this.poller?.onTimer());
  /** Who wants the driver's kicks off (the queue's switch is on while either does): the coalescer during a hold, the poller during a window. */
  private holdSuppress = false;
  private pollSuppress = false;

  /**
   * @param index - ring index
   * @param maxSize - the device's maximum size for this queue
   * @param coalesce - interrupt coalescing (quiet and maximum delays in µs), or null
   * @param poll - predictive polling (window and longest gap in µs), or null
   */
  constructor(
    readonly index: number,
    readonly maxSize: number,
    coalesce: { readonly quietUs: number; readonly maxDelayUs: number } | null = null,
    poll: { readonly spinUs: number; readonly maxGapUs: number } | null = null,
  ) {
    this.queue = new BackendQueue(index);
    this.size = maxSize;
    this.coalescer = coalesce === null ? null : new InterruptCoalescer(this.host(this.callTimer, 'holdSuppress'), coalesce.quietUs, coalesce.maxDelayUs);
    this.poller = poll === null ? null : new KickPoller(this.host(this.pollTimer, 'pollSuppress'), poll.spinUs, poll.maxGapUs);
  }

  /** Looks at the ring for a coalescer or a poller: true when the driver added buffers. */
  private look(): boolean {
    const before = this.queue.nextAvail;
    this.onPoll?.();
    return this.queue.nextAvail !== before;
  }

  /** What the coalescer and the poller both need: their timer, the clock, their kick switch, a look at the ring. */
  private host(timer: LazyTimer, flag: 'holdSuppress' | 'pollSuppress'): CoalescerHost & KickPollerHost {
    return {
      armTimer: (us) => timer.arm(us),
      disarmTimer: () => timer.disarm(),
      now: microseconds,
      suppress: (on: boolean) => {
        this[flag] = on;
        this.queue.suppressKicks = this.holdSuppress || this.pollSuppress;
      },
      poll: () => this.look(),
      signal: () => this.signalCall(),
      busy: () => this.coalescer?.holding === true || !this.started,
    };
  }

  /** Set by the connection: processes the ring (device.queueNotify) for the coalescer's and the poller's looks. */
  onPoll: (() => void) | null = null;

  /** Used-buffer notifications the device asked for, and call eventfd writes. */
  callsRequested = 0;
  callsSent = 0;

  /** The device asks for a used-buffer notification: sent now, or held by the coalescer. */
  requestCall(): void {
    this.callsRequested++;
    if (this.coalescer === null) this.signalCall();
    else this.coalescer.request();
  }

  /** Starts delivering kicks to `onKick` (eventfd watcher, or a poll timer). */
  watchKick(onKick: () => void, pollIntervalMs: number): void {
    this.unwatchKick();
    if (this.kick === 'fd' && this.kickFd !== null) {
      this.watcher = watchEventFd(this.kickFd, (err) => {
        if (err === null) onKick();
        else this.unwatchKick();
      });
    } else if (this.kick === 'poll') {
      this.timer = setInterval(onKick, pollIntervalMs);
    }
  }

  /** Stops delivering kicks. */
  unwatchKick(): void {
    if (this.watcher !== null) {
      this.watcher.close();
      this.watcher = null;
    }
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Replaces the kick fd (or sets polling with `fd === null`). Releases the previous fd. */
  setKick(fd: number | null): void {
    this.unwatchKick();
    this.releaseFd(this.kickFd);
    this.kickFd = fd;
    this.kick = fd === null ? 'poll' : 'fd';
  }

  /** Replaces the call fd (null: the frontend polls). Releases the previous fd. */
  setCall(fd: number | null): void {
    this.releaseFd(this.callFd);
    this.callFd = fd;
  }

  /** Replaces the error fd. Releases the previous fd. */
  setErr(fd: number | null): void {
    this.releaseFd(this.errFd);
    this.errFd = fd;
  }

  /** Used-buffer notification through the call eventfd. */
  signalCall(): void {
    const fd = this.callFd;
    if (fd === null) return;
    this.callsSent++;
    try {
      eventfdWrite(fd, 1);
    } catch {
      // the frontend closed its end; it is going away
      return;
    }
    this.poller?.signalled();
  }

  /** Sends the call {@link Vring.owedCall} asks for, once the ring runs and its call fd is there. */
  payOwedCall(): void {
    if (!this.owedCall || !this.started || this.callFd === null) return;
    this.owedCall = false;
    this.signalCall();
  }

  /** Error notification through the err eventfd. */
  signalError(): void {
    const fd = this.errFd;
    if (fd === null) return;
    try {
      eventfdWrite(fd, 1);
    } catch {
      // as above
    }
  }

  /**
   * GET_VRING_BASE: stops the ring and closes its kick and call fds (the frontend sends new ones
   * when it starts the ring again). Size, addresses, the enable state and the err fd stay, as in
   * libvhost-user: QEMU sends SET_VRING_ERR only once, when it sets the device up.
   * @param base - where the ring stopped (its next available index)
   */
  stop(base: number): void {
    this.coalescer?.reset(); // sends a held interrupt first, while the call fd is still there
    this.poller?.reset();
    this.unwatchKick();
    this.queue.detach();
    this.started = false;
    this.pendingKick = false;
    this.owedCall = false;
    this.setKick(null);
    this.kick = 'none';
    this.setCall(null);
    this.base = base;
  }

  /** RESET_DEVICE / RESET_OWNER: back to the initial, disabled state; only the err fd stays. */
  reset(): void {
    this.stop(0);
    this.areas = null;
    this.size = this.maxSize;
    this.enabled = false;
  }

  /** Connection end: everything is released, the err fd too. */
  clear(): void {
    this.reset();
    this.setErr(null);
    this.callTimer.close();
    this.pollTimer.close();
  }
}

/**
 * The state that starts a fresh ring at a SET_VRING_BASE value (see `decodeVringBase`): split
 * rings read their used index from the ring; packed rings start with nothing in flight.
 */
export function startState(inner: Virtqueue, base: number): QueueState {
  const state = inner.saveState();
  const b = decodeVringBase(base, inner.format, inner.size);
  if (b.format === 'split') return { ...state, nextAvail: b.nextAvail, nextUsed: undefined, numAdded: 0 };
  return {
    ...state,
    nextAvail: b.nextAvail,
    availWrapCounter: b.availWrapCounter,
    nextUsed: b.nextUsed,
    usedWrapCounter: b.usedWrapCounter,
    numAdded: 0,
    inflight: [],
  };
}

/** The GET_VRING_BASE answer for a ring (the encoding of {@link startState}'s input). */
export function ringBase(inner: Virtqueue): number {
  if (inner.format === 'split') return encodeVringBase({ format: 'split', nextAvail: inner.nextAvail });
  const s = inner.saveState();
  return encodeVringBase({
    format: 'packed',
    nextAvail: s.nextAvail,
    availWrapCounter: s.availWrapCounter ?? 1,
    nextUsed: s.nextUsed ?? 0,
    usedWrapCounter: s.usedWrapCounter ?? 1,
  });
}

/** The configuration of a ring of `size` entries (at most `maxSize`) at `areas`, with the negotiated `features`. */
export function ringConfig(maxSize: number, size: number, features: bigint, areas: RingAreas): QueueConfig {
  const config = new QueueConfig(maxSize);
  config.setFeatures(features);
  config.setSize(size);
  config.setArea('descTable', addr(areas.desc));
  config.setArea('driverArea', addr(areas.driver));
  config.setArea('deviceArea', addr(areas.device));
  config.ready = true;
  return config;
}

/**
 * A kick of a running ring: `notify` serves the ring (the device's queueNotify), in the main thread
 * and in a queue worker alike, and the coalescer and the poller learn of it. A kick that found
 * nothing new (its buffers were taken by a poller's window or a hold's look before the eventfd was
 * read: kicks arrive tens of µs late) does not count for the hold under way: counted, it made the
 * hold "busy", and at one request in flight with polling on every completion was then held for the
 * quiet time (half the IOPS of polling off without a guest).
 */
export function kickRing(ring: Vring, notify: () => void): void {
  const coalescer = ring.coalescer;
  const held = coalescer?.holding === true;
  const poller = ring.poller;
  const before = ring.queue.nextAvail;
  poller?.kicked();
  notify();
  const found = ring.queue.nextAvail !== before;
  if (held && found) coalescer!.kicked();
  poller?.kickHandled(found);
}
