/**
 * The worker-thread side of the backend's `queueWorkers` option: a thread that serves the rings
 * the main thread lends it with its own instance of the device. It maps guest memory itself from
 * copies of the memory table's fds, waits on each ring's kick eventfd and writes its call eventfd
 * itself (vhost-user.rst "Ring states", "Memory access"), and tracks split rings in the inflight
 * buffer as the main thread does. Everything else (messages, features, activation, stop, reset,
 * the memory table) stays in the main thread, which lends a ring once the device runs and takes
 * it back, drained, before GET_VRING_BASE answers or the memory table changes.
 *
 * A script passed as `queueWorkers.script` calls {@link runQueueWorker} with how to build the
 * device; the same device code runs here as in the main thread.
 *
 * The fds a request carries (copies the main thread made) are never closed here: the worker
 * lists those it has stopped using in its next reply, and the main thread closes them then, or
 * closes every one it lent once the thread has exited, however it ended. A thread that dies
 * leaks none, and an fd number is never closed twice (after a worker had closed it, it could
 * name another file by the time the main thread learnt of the death).
 *
 * @module
 */

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { ActivationContext, VirtioDevice } from '@vmv/device-trait';
import type { GuestMemory } from '@vmv/memory';
import { createVirtqueue, type QueueState } from '@vmv/queue';
import { mmap, type Mapping } from '@vmv/sys';
import type { MemoryRegionDescription } from '../protocol/memory-table.js';
import { InflightQueue } from './inflight-region.js';
import { buildMemory, mapRegion, sameRegion, unmapAll, type MappedRegion } from './region-table.js';
import { kickRing, ringConfig, Vring, type RingAreas } from './vring.js';

/**
 * How a queue worker builds its device: the script given as `queueWorkers.script` calls
 * {@link runQueueWorker} with it.
 * @example
 * ```ts
 * runQueueWorker({ createDevice: (data) => new NullDevice(data as number) });
 * ```
 */
export interface QueueWorkerDevice {
  /**
   * Builds this worker's instance of the device, of the same shape (queues, features) as the
   * main thread's. Called once, when the thread starts.
   * @param data - `queueWorkers.data`, as the main thread gave it (structured-cloned).
   * @returns the device, or a promise of it.
   */
  createDevice(data: unknown): VirtioDevice | Promise<VirtioDevice>;
  /**
   * The main thread's device changed its state on its own (a configuration change it reported,
   * a resized disk): bring this instance in line. Without it such changes reach the worker's
   * device at its next activation (from `snapshot`/`restore`).
   * @param device - this worker's device.
   * @param snapshot - the main thread's `device.snapshot()`.
   */
  stateChanged?(device: VirtioDevice, snapshot: unknown): void | Promise<void>;
  /**
   * The backend is closing: release what `createDevice` opened (the device's I/O has drained).
   * The thread ends after it.
   * @param device - this worker's device.
   */
  close?(device: VirtioDevice): void | Promise<void>;
}

/** What the main thread starts a worker with. @internal */
export interface QueueWorkerInit {
  readonly number: number;
  readonly data: unknown;
  readonly coalesce: { readonly quietUs: number; readonly maxDelayUs: number } | null;
  readonly poll: { readonly spinUs: number; readonly maxGapUs: number } | null;
  readonly drainTimeoutMs: number;
}

/** A split ring's region of the inflight buffer, for the worker to map. @internal */
export interface LentInflight {
  readonly fd: number;
  readonly mmapOffset: number;
  readonly length: number;
  readonly offset: number;
  readonly capacity: number;
}

/** Requests of the main thread; each is answered with its `seq`. @internal */
export type QueueWorkerRequest = { readonly seq: number } & (
  | { readonly op: 'memory'; readonly regions: readonly { readonly desc: MemoryRegionDescription; readonly fd: number }[] }
  | { readonly op: 'activate'; readonly features: bigint; readonly indices: readonly number[]; readonly snapshot: unknown }
  | {
      readonly op: 'start';
      readonly index: number;
      readonly size: number;
      readonly features: bigint;
      readonly areas: RingAreas;
      readonly state: QueueState;
      readonly counter: number;
      readonly kickFd: number;
      readonly callFd: number | null;
      readonly inflight: LentInflight | null;
    }
  | { readonly op: 'stop'; readonly index: number; readonly drain: boolean }
  | { readonly op: 'call'; readonly index: number; readonly fd: number | null }
  | { readonly op: 'config'; readonly offset: number; readonly data: Uint8Array }
  | { readonly op: 'state'; readonly snapshot: unknown }
  | { readonly op: 'reset'; readonly unmap: boolean }
  | { readonly op: 'close' }
);

/** What a worker sends: answers, and events of its own. @internal */
export type QueueWorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly reason: string }
  | {
      readonly type: 'reply';
      readonly seq: number;
      readonly error?: string;
      readonly state?: QueueState | null;
      readonly counter?: number;
      /** Fds of earlier requests this thread no longer uses: the main thread closes them. */
      readonly released: readonly number[];
    }
  | { readonly type: 'needs-reset'; readonly reason: string }
  | { readonly type: 'config-changed' };

function describe(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const { name, message } = e as { name?: unknown; message?: unknown };
    return `${typeof name === 'string' ? name : 'Error'}: ${typeof message === 'string' ? message.split('\n')[0] : String(e)}`;
  }
  return String(e);
}

/**
 * Serves the rings the main thread lends this worker thread, with the device `spec` builds. Call
 * it from the script named by the backend's `queueWorkers.script` (a CommonJS or ES module file);
 * it returns at once and the thread lives until the backend closes it.
 * @param spec - how to build the device.
 * @throws TypeError when not called in a queue worker thread.
 * @example
 * ```ts
 * // blk-worker.js, given as queueWorkers: { count: 2, script: require.resolve('./blk-worker.js'), data: { image } }
 * runQueueWorker({ createDevice: async (data) => new BlockDevice({ backend: await open(data) }) });
 * ```
 */
export function runQueueWorker(spec: QueueWorkerDevice): void {
  const init = workerData as { vmvQueueWorker?: QueueWorkerInit } | null;
  if (parentPort === null || typeof init?.vmvQueueWorker !== 'object') throw new TypeError('runQueueWorker: not in a queue worker thread (see the queueWorkers option)');
  if (typeof spec?.createDevice !== 'function') throw new TypeError('runQueueWorker: spec.createDevice must be a function');
  new WorkerServer(parentPort, init.vmvQueueWorker, spec).start();
}

/** The rings and device of one worker thread. */
class WorkerServer {
  private device: VirtioDevice | null = null;
  private memory: GuestMemory | null = null;
  private regions: MappedRegion[] = [];
  /** Regions replaced while the device still held chains: unmapped once it has drained. */
  private retired: MappedRegion[] = [];
  private readonly rings = new Map<number, Vring>();
  private readonly inflightMaps = new Map<number, Mapping>();
  private ctx: ActivationContext | null = null;
  private failed = false;
  private applyingState = false;
  /** Requests are handled one after another, in the order the main thread sent them. */
  private chain: Promise<void> = Promise.resolve();
  /** Lent fds this thread has stopped using, for the next reply. */
  private released: number[] = [];
  private readonly release = (fd: number | null): void => {
    if (fd !== null && fd >= 0) this.released.push(fd);
  };

  constructor(
    private readonly port: MessagePort,
    private readonly init: QueueWorkerInit,
    private readonly spec: QueueWorkerDevice,
  ) {}

  start(): void {
    this.port.on('message', (m: QueueWorkerRequest) => {
      this.chain = this.chain.then(() => this.handle(m));
    });
    this.chain = this.chain.then(async () => {
      try {
        const device = await this.spec.createDevice(this.init.data);
        if (typeof device !== 'object' || device === null || !Array.isArray(device.queueMaxSizes)) throw new TypeError('createDevice did not return a VirtioDevice');
        // a change the main thread's device made (stateChanged) has been signalled there already
        device.attach?.({ configChanged: () => this.applyingState || this.post({ type: 'config-changed' }) });
        this.device = device;
        this.post({ type: 'ready' });
      } catch (e) {
        this.failed = true;
        this.post({ type: 'failed', reason: describe(e) });
      }
    });
  }

  private post(m: QueueWorkerMessage): void {
    this.port.postMessage(m);
  }

  private async handle(m: QueueWorkerRequest): Promise<void> {
    let reply: Omit<QueueWorkerMessage & { type: 'reply' }, 'released'> = { type: 'reply', seq: m.seq };
    try {
      if (this.failed && m.op !== 'memory' && m.op !== 'start' && m.op !== 'call') throw new Error('the device could not be built');
      switch (m.op) {
        case 'memory':
          this.setMemory(m.regions);
          break;
        case 'activate':
          this.activate(m.features, m.indices, m.snapshot);
          break;
        case 'start':
          this.startRing(m);
          break;
        case 'stop':
          reply = { ...reply, ...(await this.stopRing(m.index, m.drain)) };
          break;
        case 'call':
          this.setCall(m.index, m.fd);
          break;
        case 'config':
          this.device!.writeConfig(m.offset, m.data);
          break;
        case 'state':
          this.applyingState = true;
          try {
            await this.spec.stateChanged?.(this.device!, m.snapshot);
          } finally {
            this.applyingState = false;
          }
          break;
        case 'reset':
          await this.reset(m.unmap);
          break;
        case 'close':
          await this.reset(true);
          if (this.device !== null) await this.spec.close?.(this.device);
          break;
      }
    } catch (e) {
      reply = { ...reply, error: describe(e) };
    }
    const released = this.released;
    this.released = [];
    this.post({ ...reply, released });
  }

  /**
   * Maps the new table (from copies of its fds, released once mapped). A region the table had already (the
   * same frontend mapping) keeps its mapping, as the main thread's table does: the device's
   * memory from its activation stays valid over it. Regions no longer in the table are unmapped
   * once the device holds no chains.
   */
  private setMemory(regions: readonly { readonly desc: MemoryRegionDescription; readonly fd: number }[]): void {
    const fresh: MappedRegion[] = [];
    try {
      const kept = new Set<MappedRegion>();
      const list = regions.map((r) => {
        const same = this.regions.find((m) => !kept.has(m) && sameRegion(m.desc, r.desc));
        if (same !== undefined) {
          kept.add(same);
          return same;
        }
        const mapped = mapRegion(r.desc, r.fd);
        fresh.push(mapped);
        return mapped;
      });
      const memory = list.length === 0 ? null : buildMemory(list);
      this.retired.push(...this.regions.filter((m) => !kept.has(m)));
      this.regions = list;
      this.memory = memory;
      this.releaseRetired();
    } catch (e) {
      unmapAll(fresh);
      throw e;
    } finally {
      for (const r of regions) this.release(r.fd);
    }
  }

  private idle(): boolean {
    for (const ring of this.rings.values()) if (ring.queue.outstanding > 0 || ring.queue.orphaned > 0) return false;
    return true;
  }

  private releaseRetired(): void {
    if (this.retired.length === 0 || !this.idle()) return;
    unmapAll(this.retired);
    this.retired = [];
  }

  /** The device starts with this worker's rings (lent or not yet) at their indices, null elsewhere. */
  private activate(features: bigint, indices: readonly number[], snapshot: unknown): void {
    const device = this.device!;
    const memory = this.memory;
    if (memory === null) throw new Error('no guest memory');
    if (this.ctx !== null) {
      this.ctx = null;
      device.reset();
    }
    if (snapshot !== undefined) device.restore?.(snapshot);
    const queues = device.queueMaxSizes.map((max, i) => (indices.includes(i) ? this.ring(i, max).queue : null));
    let live = true;
    const ctx: ActivationContext = {
      memory,
      queues,
      features,
      interrupt: {
        signalUsedBuffer: (i) => {
          if (live && this.ctx === ctx) this.rings.get(i)?.requestCall();
        },
        signalConfigChange: () => {
          if (live && this.ctx === ctx) this.post({ type: 'config-changed' });
        },
      },
      needsReset: (reason) => {
        if (!live || this.ctx !== ctx) return;
        live = false;
        this.needsReset(reason);
      },
    };
    this.ctx = ctx;
    device.activate(ctx);
  }

  /** The device failed: its rings stop here at once, and the main thread puts it in DEVICE_NEEDS_RESET. */
  private needsReset(reason: unknown): void {
    for (const ring of this.rings.values()) ring.queue.setRunning(false);
    this.post({ type: 'needs-reset', reason: describe(reason) });
  }

  private ring(index: number, maxSize: number): Vring {
    let ring = this.rings.get(index);
    if (ring === undefined) {
      ring = new Vring(index, maxSize, this.init.coalesce, this.init.poll);
      ring.releaseFd = this.release;
      const r = ring;
      ring.onPoll = () => this.notify(r);
      this.rings.set(index, ring);
    }
    return ring;
  }

  private notify(ring: Vring): void {
    if (this.ctx === null || !ring.started) return;
    try {
      this.device!.queueNotify(ring.index);
    } catch (e) {
      this.ctx.needsReset(e);
    }
  }

  /** Takes a ring over: the same positions, inflight counter and eventfds (copies, held until the ring stops) as the main thread had. */
  private startRing(m: QueueWorkerRequest & { op: 'start' }): void {
    let kickFd: number | null = m.kickFd;
    let callFd: number | null = m.callFd;
    // the inflight buffer's fd is only for mapping it: released below in every case
    const inflightFd = m.inflight?.fd ?? null;
    try {
      const memory = this.memory;
      const device = this.device;
      if (memory === null || device === null) throw new Error('no guest memory or device');
      const ring = this.ring(m.index, device.queueMaxSizes[m.index]!);
      if (ring.started) throw new Error(`ring ${m.index} is already served`);
      const config = ringConfig(ring.maxSize, m.size, m.features, m.areas);
      const inner = createVirtqueue(memory, config);
      inner.restoreState(m.state);
      let tracker: InflightQueue | null = null;
      if (m.inflight !== null) {
        const mapping = mmap(m.inflight.fd, m.inflight.length, { offset: m.inflight.mmapOffset });
        this.inflightMaps.get(m.index)?.close();
        this.inflightMaps.set(m.index, mapping);
        tracker = new InflightQueue(mapping.buffer, m.inflight.offset, m.inflight.capacity);
      }
      ring.size = m.size;
      ring.areas = m.areas;
      ring.setKick(kickFd);
      kickFd = null;
      ring.setCall(callFd);
      callFd = null;
      ring.queue.attach(inner, tracker, m.counter);
      ring.started = true;
      ring.queue.setRunning(this.ctx !== null);
      ring.watchKick(() => kickRing(ring, () => this.notify(ring)), 1);
      // a kick may have come between the main thread's last look and now
      setImmediate(() => this.notify(ring));
    } finally {
      this.release(kickFd);
      this.release(callFd);
      this.release(inflightFd);
    }
  }

  /**
   * Gives a ring back: no more chains, and (with `drain`) the chains popped complete first, up to
   * the drain timeout. Answers the positions and inflight counter the main thread continues from.
   */
  private async stopRing(index: number, drain: boolean): Promise<{ state: QueueState | null; counter: number }> {
    const ring = this.rings.get(index);
    if (ring === undefined || !ring.started) return { state: null, counter: 1 };
    ring.unwatchKick();
    ring.queue.setRunning(false);
    if (drain && ring.queue.outstanding > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.init.drainTimeoutMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        ring.queue.onIdle = done;
      });
      ring.queue.onIdle = null;
    }
    const inner = ring.queue.current;
    const state = inner === null ? null : inner.saveState();
    const counter = ring.queue.inflightCounter;
    ring.stop(0);
    this.inflightMaps.get(index)?.close();
    this.inflightMaps.delete(index);
    this.releaseRetired();
    return { state, counter };
  }

  private setCall(index: number, fd: number | null): void {
    const ring = this.rings.get(index);
    if (ring === undefined || !ring.started) {
      this.release(fd);
      return;
    }
    ring.setCall(fd);
  }

  /** The device is reset (the main thread's session was): rings stop without draining; with `unmap`, guest memory goes once its I/O has drained. */
  private async reset(unmap: boolean): Promise<void> {
    for (const index of [...this.rings.keys()]) await this.stopRing(index, false);
    this.ctx = null;
    const device = this.device;
    if (device !== null) {
      try {
        device.reset();
      } catch {
        // the session was reset all the same
      }
    }
    for (const ring of this.rings.values()) ring.queue.forgetOrphans();
    if (!unmap) return;
    // guest memory goes once the device's I/O has drained, or after the drain timeout (as in the main thread)
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([device?.drain?.(), new Promise((resolve) => (timer = setTimeout(resolve, this.init.drainTimeoutMs)))]);
    clearTimeout(timer);
    this.retired.push(...this.regions);
    this.regions = [];
    this.memory = null;
    this.releaseRetired();
  }
}
