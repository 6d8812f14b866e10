/**
 * The rings of one connection (vhost-user.rst "Ring states"): SET_VRING_NUM / BASE / ADDR /
 * KICK / CALL / ERR / ENABLE and GET_VRING_BASE, when a ring starts (size, addresses, a kick and
 * memory known), runs (enabled, device not in DEVICE_NEEDS_RESET) and stops, how it is rebuilt
 * when the memory table changes, and the kick path into the device.
 *
 * A ring that cannot go on (its memory removed, its inflight buffer replaced) fails alone: it
 * stops and its err eventfd is signalled; the request that caused it still succeeds.
 *
 * @module
 */

import { Feature, Status, hasFeature, type DeviceSession } from '@vmv/device-trait';
import type { GuestMemory } from '@vmv/memory';
import { createVirtqueue, packedRingSizes, splitRingSizes } from '@vmv/queue';
import { setNonBlocking } from '@vmv/sys';
import { VhostFeature, VhostUserRequest as Q } from '../protocol/constants.js';
import { encodeVringStateReply } from '../protocol/encoder.js';
import type { VringAddr } from '../protocol/vring.js';
import { InvalidOperationError, InvalidParamError, isVhostUserError } from '../errors.js';
import type { ConnectionSettings } from './connection.js';
import type { InflightSession } from './inflight-session.js';
import { addPollStats, noPollStats, type KickPollStats } from './kick-poll.js';
import type { RingLender } from './queue-workers.js';
import { safeClose } from '../channel/fd.js';
import type { RegionTable } from './region-table.js';
import { kickRing, ringBase, ringConfig, type Vring } from './vring.js';

/** What the rings need from the connection around them. @internal */
export interface RingControlHost {
  /** Whether the connection has ended. */
  readonly isClosed: boolean;
  /** The features the frontend acked, vhost bits included (0n before SET_FEATURES). */
  readonly ackedFeatures: bigint;
  /** Runs `fn`; an exception ends the connection. */
  guard(fn: () => void): void;
  /** Before activation: handles the control messages already sent (a bounded number). */
  pumpBeforeActivation(): void;
  /** Sends a reply. */
  send(bytes: Uint8Array): void;
}

/**
 * The rings of a connection. Not exported from the package.
 * @internal
 */
export class RingControl {
  /** Memory table changes in progress: no ring is lent meanwhile. */
  private lendingHeld = 0;
  /**
   * @param rings - one per device queue
   * @param session - the device session (activation, notifications, DEVICE_NEEDS_RESET)
   * @param table - the memory table (translation, memory)
   * @param inflight - the inflight buffer (ring starts under tracking)
   * @param settings - resolved options (poll interval, drain timeout, events)
   * @param host - the connection
   * @param lender - queue workers the rings are lent to, or null (every ring is served here)
   */
  constructor(
    readonly rings: readonly Vring[],
    private readonly session: DeviceSession,
    private readonly table: RegionTable,
    private readonly inflight: InflightSession,
    private readonly settings: ConnectionSettings,
    private readonly host: RingControlHost,
    private readonly lender: RingLender | null = null,
  ) {
    for (const ring of rings) ring.onPoll = () => host.guard(() => this.onKick(ring, true));
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

  /** SET_VRING_CALL (null: the frontend polls); a lent ring's worker switches before the answer. */
  setVringCall(index: number, fd: number | null): Promise<void> | undefined {
    const ring = this.rings[index]!;
    ring.setCall(nonBlocking(fd));
    ring.payOwedCall();
    return ring.lent === null ? undefined : this.lender!.setCall(ring);
  }

  /** SET_VRING_ERR. */
  setVringErr(index: number, fd: number | null): void {
    this.rings[index]!.setErr(nonBlocking(fd));
  }

  /**
   * Takes a lent ring back from its worker, drained, and serves it here again until it is lent
   * anew (at its next kick, if it still runs).
   */
  private takeBack(ring: Vring): Promise<void> {
    if (ring.lent === null) return Promise.resolve();
    return this.lender!.reclaim(ring, true).then(() => {
      if (this.host.isClosed || !ring.started || ring.lent !== null) return;
      ring.watchKick(() => this.host.guard(() => this.onKick(ring)), this.settings.pollIntervalMs);
      if (ring.queue.isRunning) this.deferKick(ring);
    });
  }

  /**
   * Every lent ring back from the workers, drained, before the memory table changes; none is lent
   * again (kicks wait) until {@link RingControl.resumeLending}, once the table has changed.
   * @returns a promise, or undefined when no ring is lent
   */
  takeBackAll(): Promise<void> | undefined {
    if (this.lender === null || !this.rings.some((r) => r.lent !== null)) return undefined;
    this.lendingHeld++;
    return Promise.all(this.rings.map((r) => this.takeBack(r))).then(() => undefined);
  }

  /** The memory table changed (or failed to): rings are lent again at their next kick, which every running ring gets now. */
  resumeLending(): void {
    if (--this.lendingHeld > 0) return;
    for (const ring of this.rings) if (ring.started && ring.queue.isRunning) this.deferKick(ring);
  }

  /** Fails every started ring with `error` (their buffers or memory went away). */
  failStarted(error: () => unknown): void {
    for (const ring of this.rings) if (ring.started) this.ringFailed(ring, error());
  }

  /** SET_VRING_NUM: the ring size (a started ring is rebuilt while the device has not been activated with it). */
  setVringNum(index: number, num: number): void {
    const ring = this.rings[index]!;
    if (num > ring.maxSize) throw new InvalidParamError('ring size above the queue maximum', { index, num, max: ring.maxSize });
    this.unstartForReconfig(ring);
    ring.size = num;
    this.tryStart(ring);
  }

  /** SET_VRING_BASE: where a fresh ring starts (packed positions must lie inside the ring). */
  setVringBase(index: number, num: number): void {
    const ring = this.rings[index]!;
    if (hasFeature(this.host.ackedFeatures, Feature.RING_PACKED)) {
      // bits 0-14 / 16-30: the available and used positions, which must lie inside the ring
      const avail = num & 0x7fff;
      const used = (num >>> 16) & 0x7fff;
      if (avail >= ring.size || used >= ring.size) {
        throw new InvalidParamError('packed ring position outside the ring', { index, num, size: ring.size });
      }
    }
    this.unstartForReconfig(ring);
    ring.base = num;
    this.tryStart(ring);
  }

  /** SET_VRING_ADDR: the three areas, translated to guest addresses (sizes from @vmv/queue). */
  setVringAddr(a: VringAddr): void {
    const ring = this.rings[a.index]!;
    this.unstartForReconfig(ring);
    const n = ring.size;
    let sizes: { desc: number; driver: number; device: number };
    if (hasFeature(this.host.ackedFeatures, Feature.RING_PACKED)) {
      const p = packedRingSizes(n);
      sizes = { desc: p.descRing, driver: p.driverEvent, device: p.deviceEvent };
    } else {
      const s = splitRingSizes(n);
      sizes = { desc: s.descTable, driver: s.availRing, device: s.usedRing };
    }
    ring.areas = {
      desc: this.table.translate(a.descUserAddr, sizes.desc),
      driver: this.table.translate(a.availUserAddr, sizes.driver),
      device: this.table.translate(a.usedUserAddr, sizes.device),
    };
    this.tryStart(ring);
  }

  /** GET_VRING_BASE: stop the ring, let the device finish what it popped, answer its next avail index. */
  getVringBase(index: number): Promise<void> | undefined {
    const ring = this.rings[index]!;
    // a lent ring comes back first, drained by its worker, with its positions
    if (ring.lent !== null) return this.takeBack(ring).then(() => (this.host.isClosed ? undefined : this.getVringBase(index)));
    if (!ring.started) {
      const base = ring.base;
      ring.stop(base);
      this.host.send(encodeVringStateReply(Q.GET_VRING_BASE, { index, num: base }));
      return undefined;
    }
    ring.unwatchKick();
    ring.queue.setRunning(false);
    const finish = (): void => {
      ring.queue.onIdle = null;
      const inner = ring.queue.current;
      const num = inner === null ? ring.base : ringBase(inner);
      ring.stop(num);
      // every ring stopped: the frontend stopped the device, and will start it again
      if (!this.rings.some((r) => r.started)) this.session.deactivate();
      this.host.send(encodeVringStateReply(Q.GET_VRING_BASE, { index, num }));
    };
    if (ring.queue.outstanding === 0 || !this.session.activated) {
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
      if (!this.host.isClosed) finish();
    });
  }

  /** SET_VRING_KICK (null: the backend polls the ring); a lent ring is taken back first. */
  setVringKick(index: number, fd: number | null): Promise<void> | undefined {
    const ring = this.rings[index]!;
    if (ring.lent !== null) {
      return this.takeBack(ring).then(() => {
        if (this.host.isClosed) safeClose(fd);
        else this.setVringKick(index, fd);
      });
    }
    ring.setKick(nonBlocking(fd));
    if (ring.started) ring.watchKick(() => this.host.guard(() => this.onKick(ring)), this.settings.pollIntervalMs);
    else this.tryStart(ring);
    return undefined;
  }

  /** SET_VRING_ENABLE: a kick remembered while the ring was disabled is handled once it runs. */
  setVringEnable(index: number, num: number): void {
    const ring = this.rings[index]!;
    ring.enabled = num === 1;
    this.updateRunning(ring);
    if (this.isEnabled(ring) && ring.started && ring.pendingKick) this.deferKick(ring);
  }

  /** RESET_OWNER / RESET_DEVICE: every ring back to its initial state (err fds stay). */
  stopAll(): void {
    for (const ring of this.rings) {
      this.lender?.recall(ring);
      ring.reset();
    }
  }

  private needsReset(): boolean {
    return (this.session.status & Status.DEVICE_NEEDS_RESET) !== 0;
  }

  private isEnabled(ring: Vring): boolean {
    return ring.enabled || !hasFeature(this.host.ackedFeatures, VhostFeature.PROTOCOL_FEATURES);
  }

  /** whether `ring` runs follows its start, enable and the device state. */
  updateRunning(ring: Vring): void {
    const running = ring.started && this.isEnabled(ring) && !this.needsReset();
    // a lent ring that stops running comes back (disabled, DEVICE_NEEDS_RESET): its worker drains it
    if (!running && ring.lent !== null) void this.takeBack(ring);
    const was = ring.queue.isRunning;
    ring.queue.setRunning(running);
    // A ring that starts running gets one notification even without a kick: buffers made
    // available before (a receive queue kicked once, long ago, by a driver that then waits) or
    // requests resubmitted from the inflight buffer are seen at once. Notifications may be
    // spurious (VIRTIO 1.2 §2.7.10), so this is always safe.
    if (running && !was) this.deferKick(ring);
  }

  /** handles a remembered kick on the next turn of the loop (outside message handling). */
  deferKick(ring: Vring): void {
    setImmediate(() => this.host.guard(() => this.onKick(ring)));
  }

  /**
   * SET_VRING_NUM / BASE / ADDR arrived for a started ring: allowed (the ring is rebuilt) until
   * the device has been activated with it, refused after.
   */
  private unstartForReconfig(ring: Vring): void {
    if (!ring.started) return;
    if (this.session.activated || ring.queue.outstanding > 0) {
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
    try {
      this.attachRing(ring, memory, true);
    } catch (e) {
      // an inflight region a previous backend left inconsistent: this ring fails alone (err eventfd, ring-error)
      if (!isVhostUserError(e, 'VhostUser.InvalidInflightError')) throw e;
      this.ringFailed(ring, e);
      return;
    }
    ring.started = true;
    this.updateRunning(ring);
    ring.watchKick(() => this.host.guard(() => this.onKick(ring)), this.settings.pollIntervalMs);
    ring.payOwedCall();
    // a ring started after activation joins the running device (one stopped and restarted is still its queue)
    if (this.session.activated && this.session.queue(ring.index) === null) this.session.enableQueue(ring.index, ring.queue);
  }

  /** Builds the real ring over `memory` and hands it to the ring's BackendQueue. */
  private attachRing(ring: Vring, memory: GuestMemory, fresh: boolean): void {
    const config = ringConfig(ring.maxSize, ring.size, this.host.ackedFeatures, ring.areas!);
    const inner = createVirtqueue(memory, config);
    if (fresh) {
      const resubmitted = this.inflight.attachFresh(ring, inner, memory, config);
      if (resubmitted > 0) this.settings.emit({ type: 'inflight-resubmitted', index: ring.index, count: resubmitted });
      return;
    }
    // memory table changed under a running ring: same positions over the new memory
    inner.restoreState(ring.queue.current!.saveState());
    ring.queue.attach(inner, this.inflight.trackerFor(ring, inner, memory));
  }

  /**
   * The table changed (and stays changed): rebuild running rings over the new memory and start
   * rings that were waiting for memory. A ring that cannot run over the new memory fails alone;
   * the request that changed the table still succeeds (and its removed regions are released).
   */
  memoryChanged(): void {
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
  deviceIdle(): boolean {
    return this.host.isClosed || !this.session.activated || this.rings.every((r) => r.queue.outstanding === 0 && r.queue.orphaned === 0);
  }

  /** A kick on a started, disabled ring that discards: its chains go back unused, the driver is told. */
  private discard(ring: Vring): void {
    let n: number;
    try {
      n = ring.queue.discardAvailable();
    } catch (error) {
      this.ringFailed(ring, error);
      return;
    }
    if (n === 0) return;
    if (ring.queue.needsNotification()) ring.requestCall();
    if (n === ring.queue.size) this.deferKick(ring);
  }

  private ringFailed(ring: Vring, error: unknown): void {
    this.lender?.recall(ring);
    ring.unwatchKick();
    ring.queue.detach();
    ring.started = false;
    ring.signalError();
    this.settings.emit({ type: 'ring-error', index: ring.index, error });
  }

  /**
   * A kick on a running ring of a device served by queue workers: the ring is lent to its worker
   * when nothing of it is held here (chains popped here, or chains a previous backend left in
   * flight, are served here first; the ring is lent once they are done), and a packed ring whose
   * requests are tracked in the inflight buffer stays here (only split rings are tracked by
   * workers). Returns true when the kick is the worker's or waits for the ring to drain here.
   */
  private lendOrWait(ring: Vring): boolean {
    const queue = ring.queue;
    // a memory table change waits for the rings to come back: the kick is served once it is done
    if (this.lendingHeld > 0) return true;
    if (ring.kick !== 'fd' || queue.resubmitPending) return false;
    const inner = queue.current;
    if (inner === null || (queue.tracked && inner.format !== 'split')) return false;
    if (queue.outstanding > 0) {
      // nothing more is popped here: the ring is lent as soon as what was popped is done
      queue.onIdle = () => {
        queue.onIdle = null;
        this.deferKick(ring);
      };
      return true;
    }
    const inflight = queue.tracked ? this.inflight.splitRegionFor(ring) : null;
    if (queue.tracked && inflight === null) return false;
    let snapshot: unknown;
    try {
      snapshot = this.session.device.snapshot?.();
    } catch {
      snapshot = undefined;
    }
    return this.lender!.lend(ring, { ring: this.host.ackedFeatures, device: this.session.negotiatedFeatures }, this.rings.length, snapshot, inflight);
  }

  private onKick(ring: Vring, poll = false): void {
    if (!ring.started) return;
    if (!this.isEnabled(ring) || this.needsReset()) {
      if (!this.needsReset() && this.settings.discardWhileDisabled.has(ring.index)) this.discard(ring);
      else ring.pendingKick = true;
      return;
    }
    // Before activation, control messages sent before the kick are processed first (the
    // frontend wrote them before the driver could kick), so activation sees every ring set up.
    if (!this.session.activated) this.host.pumpBeforeActivation();
    if (this.host.isClosed || !ring.started || !this.isEnabled(ring)) return;
    if (!this.session.activate()) {
      ring.pendingKick = true;
      return;
    }
    ring.pendingKick = false;
    if (ring.lent !== null) return;
    if (this.lender !== null && this.lendOrWait(ring)) return;
    if (poll) {
      this.session.notify(ring.index);
      return;
    }
    kickRing(ring, () => this.session.notify(ring.index));
  }
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
