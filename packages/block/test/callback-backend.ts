/**
 * A backend with the completion-callback forms (`submitRead`, `submitWrite`) over a MemoryBackend,
 * whose operations wait until the test completes them: one by one, all together (as FileBackend
 * delivers a turn's completions), within the call, twice, or after throwing.
 */
import { MemoryBackend } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';

export interface PendingOp {
  readonly op: 'read' | 'write';
  readonly offset: number;
  readonly buffers: readonly Uint8Array[];
  readonly done: (error: unknown) => void;
}

/** What the next `submit*` call does besides recording the operation. */
export type SubmitBehaviour =
  /** Waits for the test (default). */
  | 'wait'
  /** Completes (successfully) within the call. */
  | 'sync'
  /** Fails within the call, through `done`. */
  | 'syncError'
  /** Throws without calling `done`. */
  | 'throw'
  /** Completes within the call, then throws. */
  | 'syncThenThrow';

export class CallbackBackend implements BlockBackend {
  readonly inner: MemoryBackend;
  readonly pending: PendingOp[] = [];
  /** Every `done` ever handed out, in order (to call them again, late). */
  readonly handedOut: ((error: unknown) => void)[] = [];
  /** Behaviours of the next submissions, taken in order; when empty, `behaviour` decides ('wait' without one). */
  readonly next: SubmitBehaviour[] = [];
  behaviour: ((op: PendingOp) => SubmitBehaviour) | null = null;
  promiseCalls = 0;
  flushes = 0;

  constructor(size: number) {
    this.inner = new MemoryBackend(size);
  }

  get size(): number {
    return this.inner.size;
  }

  // The promise forms: the device must not use them when the callback forms exist.
  read(offset: number, buffers: readonly Uint8Array[]): void {
    this.promiseCalls++;
    this.inner.read(offset, buffers);
  }

  write(offset: number, buffers: readonly Uint8Array[]): void {
    this.promiseCalls++;
    this.inner.write(offset, buffers);
  }

  flush(): void {
    this.flushes++;
  }

  submitRead(offset: number, buffers: readonly Uint8Array[], done: (error: unknown) => void): void {
    this.submit({ op: 'read', offset, buffers, done });
  }

  submitWrite(offset: number, buffers: readonly Uint8Array[], done: (error: unknown) => void): void {
    this.submit({ op: 'write', offset, buffers, done });
  }

  private submit(p: PendingOp): void {
    this.handedOut.push(p.done);
    const how = this.next.shift() ?? this.behaviour?.(p) ?? 'wait';
    switch (how) {
      case 'wait':
        this.pending.push(p);
        return;
      case 'sync':
        this.run(p);
        return p.done(null);
      case 'syncError':
        return p.done(new Error('injected failure'));
      case 'throw':
        throw new Error('injected throw');
      case 'syncThenThrow':
        this.run(p);
        p.done(null);
        throw new Error('injected throw after done');
    }
  }

  private run(p: PendingOp): void {
    if (p.op === 'read') this.inner.read(p.offset, p.buffers);
    else this.inner.write(p.offset, p.buffers);
  }

  /** Completes pending operation `i`: its data moves now; `error` fails it instead. */
  complete(i = 0, error?: unknown): void {
    const p = this.pending.splice(i, 1)[0]!;
    if (error === undefined) {
      this.run(p);
      p.done(null);
    } else {
      p.done(error);
    }
  }

  /** Completes every pending operation, in `order` (indices into `pending`) or as queued, in one go. */
  completeAll(order?: number[], errors?: (unknown | undefined)[]): void {
    const ops = this.pending.splice(0, this.pending.length);
    const idx = order ?? ops.map((_, i) => i);
    idx.forEach((i, k) => {
      const p = ops[i]!;
      const e = errors?.[k];
      if (e === undefined) {
        this.run(p);
        p.done(null);
      } else {
        p.done(e);
      }
    });
  }
}
