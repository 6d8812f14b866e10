/**
 * The main-thread side of the backend's `queueWorkers` option: a pool of worker threads
 * (node:worker_threads, each running {@link runQueueWorker} with its own instance of the device)
 * and the lending of running rings to them. Ring `i` goes to worker `i mod count`. The control
 * plane stays here (vhost-user.rst "Ring states"): a ring is lent once the device runs, with its
 * positions, inflight counter and copies of its eventfds, and taken back, drained, before
 * GET_VRING_BASE answers, before the memory table changes, and when it stops or is disabled.
 *
 * @module
 */

import { Worker } from 'node:worker_threads';
import type { QueueState } from '@vmv/queue';
import { dupFd } from '@vmv/sys';
import { safeClose } from '../channel/fd.js';
import { QueueWorkerError } from '../errors.js';
import type { QueueWorkerInit, QueueWorkerMessage, QueueWorkerRequest } from './queue-worker.js';
import type { ConnectionEvent } from './connection.js';
import { toGuestAddress as addr, type RegionTable } from './region-table.js';
import { startState, type Vring } from './vring.js';

/**
 * The backend's `queueWorkers` option: serve rings in worker threads.
 * @example
 * ```ts
 * new VhostUserBackend(device, { queueWorkers: { count: 2, script: '/usr/lib/blk-worker.js', data: { image: 'disk.img' } } });
 * ```
 */
export interface QueueWorkerOptions {
  /** Worker threads (1..64): ring `i` is served by worker `i mod count`. */
  readonly count: number;
  /** The script each worker runs (a path or file URL): it calls `runQueueWorker` with how to build the device. */
  readonly script: string | URL;
  /** Handed to the script's `createDevice` (structured-cloned). */
  readonly data?: unknown;
}

/** Distributes a Omit type over a union. */
type Request = QueueWorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'seq'> : never) : never;
type Reply = QueueWorkerMessage & { type: 'reply' };

/** What a worker reports to the connection it serves. @internal */
export interface QueueWorkerListener {
  /** The worker's device asked for DEVICE_NEEDS_RESET, or the worker died. */
  failed(error: unknown): void;
  /** The worker's device reported a configuration change. */
  configChanged(): void;
}

/** One worker thread. */
class QueueWorkerThread {
  readonly worker: Worker;
  private seq = 0;
  private readonly pending = new Map<number, (reply: Reply | null) => void>();
  /** How long closing waits for the worker's device before the thread is ended anyway (ms). */
  private readonly closeTimeoutMs: number;
  /** Null while it runs; why it stopped otherwise. */
  dead: QueueWorkerError | null = null;
  listener: QueueWorkerListener | null = null;
  /** The table generation and session epoch it has been given (per connection, see RingLender). */
  memoryGeneration = -1;
  activatedEpoch = -1;
  owner: object | null = null;
  readonly exited: Promise<void>;
  /**
   * Fds sent to the thread that it has not released: closed here when it releases them, or when it
   * has exited (it never closes one itself, so none of these numbers can have been reused).
   */
  private readonly lent = new Set<number>();

  constructor(
    readonly number: number,
    script: string | URL,
    init: QueueWorkerInit,
  ) {
    this.closeTimeoutMs = 2 * init.drainTimeoutMs + 1000;
    this.worker = new Worker(script, { workerData: { vmvQueueWorker: init } });
    this.worker.on('message', (m: QueueWorkerMessage) => this.onMessage(m));
    this.worker.on('error', (e) => this.die(`it threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`));
    this.exited = new Promise((resolve) =>
      this.worker.on('exit', (code) => {
        this.die(`it exited (code ${code})`);
        for (const fd of this.lent) safeClose(fd);
        this.lent.clear();
        resolve();
      }),
    );
  }

  private onMessage(m: QueueWorkerMessage): void {
    switch (m.type) {
      case 'reply': {
        for (const fd of m.released) if (this.lent.delete(fd)) safeClose(fd);
        const resolve = this.pending.get(m.seq);
        this.pending.delete(m.seq);
        resolve?.(m);
        return;
      }
      case 'failed':
        this.die(`its device could not be built: ${m.reason}`);
        void this.worker.terminate();
        return;
      case 'needs-reset':
        this.listener?.failed(new QueueWorkerError(this.number, `its device needs a reset: ${m.reason}`));
        return;
      case 'config-changed':
        this.listener?.configChanged();
        return;
      default:
        return;
    }
  }

  private die(reason: string): void {
    if (this.dead !== null) return;
    this.dead = new QueueWorkerError(this.number, reason);
    for (const resolve of this.pending.values()) resolve(null);
    this.pending.clear();
    this.listener?.failed(this.dead);
  }

  /**
   * Sends a request with the fds it carries (closed here at once when the worker is dead, else once
   * the worker releases them or has exited); resolves with the answer, or null when the worker is
   * dead.
   */
  request(request: Request, fds: readonly (number | null)[] = []): Promise<Reply | null> {
    if (this.dead !== null) {
      for (const fd of fds) safeClose(fd);
      return Promise.resolve(null);
    }
    for (const fd of fds) if (fd !== null) this.lent.add(fd);
    const seq = ++this.seq;
    // what the worker's device throws is a device error, for the connection that asked
    const listener = this.listener;
    return new Promise((resolve) => {
      this.pending.set(seq, (reply) => {
        if (reply !== null && reply.error !== undefined) listener?.failed(new QueueWorkerError(this.number, `${request.op}: ${reply.error}`));
        resolve(reply);
      });
      this.worker.postMessage({ ...request, seq });
    });
  }

  /** Lets the device finish and release what it opened (bounded: a device stuck in I/O does not hold the thread), then ends the thread. */
  async close(): Promise<void> {
    this.listener = null;
    // the thread holds the process until it has finished
    this.worker.ref();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.request({ op: 'close' }), new Promise((resolve) => (timer = setTimeout(resolve, this.closeTimeoutMs)))]);
    clearTimeout(timer);
    await this.worker.terminate();
    await this.exited;
  }
}

/**
 * The worker threads of one backend, for its whole life (a dead one is replaced at the next
 * connection). Not exported from the package.
 * @internal
 */
export class QueueWorkerPool {
  private readonly threads: QueueWorkerThread[];
  private closed = false;

  /**
   * @param options - count, script, data
   * @param init - the ring settings workers run with
   */
  constructor(
    private readonly options: QueueWorkerOptions,
    private readonly init: Omit<QueueWorkerInit, 'number' | 'data'>,
  ) {
    this.threads = Array.from({ length: options.count }, (_, i) => this.spawn(i));
  }

  private spawn(number: number): QueueWorkerThread {
    const t = new QueueWorkerThread(number, this.options.script, { ...this.init, number, data: this.options.data });
    // workers never keep the process alive on their own: the backend's socket does
    t.worker.unref();
    return t;
  }

  /** Worker threads. */
  get count(): number {
    return this.threads.length;
  }

  /** The worker of ring `index`. @internal */
  threadFor(index: number): QueueWorkerThread {
    return this.threads[index % this.threads.length]!;
  }

  /** A new connection starts: dead workers are replaced, and each forgets what the last one was given. */
  connect(owner: object, listener: QueueWorkerListener): void {
    if (this.closed) return;
    for (let i = 0; i < this.threads.length; i++) {
      if (this.threads[i]!.dead !== null) this.threads[i] = this.spawn(i);
      const t = this.threads[i]!;
      t.owner = owner;
      t.listener = listener;
      t.memoryGeneration = -1;
      t.activatedEpoch = -1;
    }
  }

  /** Drains and ends every worker. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.close()));
  }

  /** Every worker, for a connection's broadcast. @internal */
  all(): readonly QueueWorkerThread[] {
    return this.threads;
  }
}

/** A ring lent to a worker. */
interface Loan {
  readonly thread: QueueWorkerThread;
  /** Settles when the worker has given the ring back (set by reclaim). */
  returned: Promise<void> | null;
}

/**
 * The rings of one connection lent to the pool's workers. Not exported from the package.
 * @internal
 */
export class RingLender {
  /** Bumped at every activation of the main thread's session: workers activate their device again. */
  private epoch = 0;

  /**
   * @param pool - the backend's workers
   * @param table - the connection's memory table (its regions keep a copy of their fds)
   * @param emit - reports `ring-lent`
   * @param listener - where worker failures and configuration changes go
   */
  constructor(
    private readonly pool: QueueWorkerPool,
    private readonly table: RegionTable,
    private readonly emit: (event: ConnectionEvent) => void,
    listener: QueueWorkerListener,
  ) {
    pool.connect(this, listener);
  }

  private mine(t: QueueWorkerThread): boolean {
    return t.owner === this;
  }

  /** The main thread's device was activated (a new epoch for the workers' devices). */
  activated(): void {
    this.epoch++;
  }

  /**
   * Lends a running ring to its worker: from now on the worker pops, completes, waits on its kick
   * and signals its call. The ring's kick stays unwatched here until it is taken back.
   * @param ring - a started, running ring with a kick eventfd and nothing popped here
   * @param features - the negotiated features: with the vhost bits (for the ring) and the device's (for its activation)
   * @param indices - the rings of the device (for the worker's activation context)
   * @param snapshot - the main device's state, for a worker device activated anew
   * @param inflight - the ring's region of the inflight buffer (a copy of its fd), or null
   * @returns whether the ring was lent (false: the worker is dead; the caller serves the ring itself)
   */
  lend(ring: Vring, features: { readonly ring: bigint; readonly device: bigint }, queueCount: number, snapshot: unknown, inflight: { fd: number; mmapOffset: number; length: number; offset: number; capacity: number } | null): boolean {
    const t = this.pool.threadFor(ring.index);
    const inner = ring.queue.current;
    if (t.dead !== null || !this.mine(t) || inner === null || ring.kickFd === null || ring.areas === null) {
      safeClose(inflight?.fd);
      return false;
    }
    if (t.memoryGeneration !== this.table.generation) {
      const regions = this.table.mapped.map((r) => ({ desc: r.desc, fd: dupFd(r.fd!) }));
      void t.request({ op: 'memory', regions }, regions.map((r) => r.fd));
      t.memoryGeneration = this.table.generation;
    }
    if (t.activatedEpoch !== this.epoch) {
      const indices: number[] = [];
      for (let i = t.number; i < queueCount; i += this.pool.count) indices.push(i);
      void t.request({ op: 'activate', features: features.device, indices, snapshot });
      t.activatedEpoch = this.epoch;
    }
    // held interrupts go out now, and the poller stops: the worker has its own
    ring.coalescer?.reset();
    ring.poller?.reset();
    ring.unwatchKick();
    const kickFd = dupFd(ring.kickFd);
    const callFd = ring.callFd === null ? null : dupFd(ring.callFd);
    void t.request(
      { op: 'start', index: ring.index, size: ring.size, features: features.ring, areas: ring.areas, state: inner.saveState(), counter: ring.queue.inflightCounter, kickFd, callFd, inflight },
      [kickFd, callFd, inflight?.fd ?? null],
    );
    ring.lent = { thread: t, returned: null } satisfies Loan;
    this.emit({ type: 'ring-lent', index: ring.index, worker: t.number });
    return true;
  }

  /**
   * Takes a lent ring back: the worker stops popping and (with `drain`) lets its device finish
   * the chains it popped, up to the drain timeout, then answers the ring's positions and inflight
   * counter, which the main thread's ring continues from. Without `drain` (the ring is reset or
   * failed) the positions are not wanted. A dead worker answers nothing (its device was put in
   * DEVICE_NEEDS_RESET): a split ring then continues from the used index in guest memory.
   * @returns a promise that settles once the ring is back (the same one for every call)
   */
  reclaim(ring: Vring, drain: boolean): Promise<void> {
    const loan = ring.lent as Loan | null;
    if (loan === null) return Promise.resolve();
    if (loan.returned !== null) return loan.returned;
    loan.returned = loan.thread.request({ op: 'stop', index: ring.index, drain }).then((reply) => {
      if (ring.lent !== loan) return;
      ring.lent = null;
      const inner = ring.queue.current;
      const state: QueueState | null | undefined = reply?.state;
      if (!drain || inner === null) return;
      if (state !== null && state !== undefined) {
        inner.restoreState(state);
        ring.queue.resumeCounter(reply!.counter ?? 1);
        return;
      }
      // A dead worker's positions went with it. A split ring's used index is in guest memory:
      // what was used is done, and what it had in flight is handed out again from there.
      const memory = this.table.memory;
      if (inner.format === 'split' && memory !== null && ring.areas !== null) {
        try {
          inner.restoreState(startState(inner, memory.atomicLoadU16(addr(ring.areas.device + 2n))));
        } catch {
          // the ring's memory is gone: the positions stay as they were lent
        }
      }
    });
    return loan.returned;
  }

  /** A ring taken back for good (reset, failure): the worker stops it without draining; here it is forgotten at once. */
  recall(ring: Vring): void {
    const loan = ring.lent as Loan | null;
    if (loan === null) return;
    void this.reclaim(ring, false);
    ring.lent = null;
  }

  /** Every lent ring back, drained (before the memory table changes). */
  reclaimAll(rings: readonly Vring[]): Promise<void> {
    return Promise.all(rings.map((r) => this.reclaim(r, true))).then(() => undefined);
  }

  /** The session was reset: the workers' devices are reset too. */
  deviceReset(): void {
    for (const t of this.pool.all()) {
      if (!this.mine(t) || t.activatedEpoch === -1) continue;
      t.activatedEpoch = -1;
      void t.request({ op: 'reset', unmap: false });
    }
  }

  /** A driver's configuration write, applied to the workers' devices too. */
  configWritten(offset: number, data: Uint8Array): void {
    for (const t of this.pool.all()) if (this.mine(t) && t.activatedEpoch !== -1) void t.request({ op: 'config', offset, data });
  }

  /** The main device changed its state on its own (a resize): workers bring theirs in line. */
  stateChanged(snapshot: unknown): void {
    for (const t of this.pool.all()) if (this.mine(t)) void t.request({ op: 'state', snapshot });
  }

  /** A new call eventfd for a lent ring: the worker switches to a copy before the request is answered. */
  setCall(ring: Vring): Promise<void> {
    const loan = ring.lent as Loan | null;
    if (loan === null) return Promise.resolve();
    const fd = ring.callFd === null ? null : dupFd(ring.callFd);
    return loan.thread.request({ op: 'call', index: ring.index, fd }, [fd]).then(() => undefined);
  }

  /** The connection ended: workers reset their devices and unmap guest memory once drained. */
  close(): void {
    for (const t of this.pool.all()) {
      if (!this.mine(t)) continue;
      void t.request({ op: 'reset', unmap: true });
      t.owner = null;
      t.listener = null;
    }
  }
}
