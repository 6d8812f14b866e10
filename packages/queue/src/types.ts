/**
 * The device-facing virtqueue interface, shared by the split ring (VIRTIO 1.2 §2.7) and the
 * packed ring (VIRTIO 1.2 §2.8), with descriptor chains and their byte cursors.
 *
 * A device sees only these interfaces; {@link createVirtqueue} picks the ring format from the
 * negotiated features.
 * @module
 */
import type { QueueError } from './errors.js';

/**
 * A guest physical address: a number when below 2^53, a bigint otherwise (as @vmv/memory).
 * @example
 * ```ts
 * const a: GuestAddress = chain.address(0);
 * ```
 */
export type GuestAddress = number | bigint;

/** The two ring formats. @example `if (queue.format === 'packed') { ... }` */
export type RingFormat = 'split' | 'packed';

/**
 * One buffer of a descriptor chain, as {@link DescriptorChain.descriptors} returns it.
 * @example
 * ```ts
 * for (const d of chain.descriptors()) console.log(d.address, d.length, d.writable);
 * ```
 */
export interface Descriptor {
  /** Guest physical address of the buffer. */
  readonly address: GuestAddress;
  /** Length of the buffer in bytes. */
  readonly length: number;
  /** Device-writable (VIRTQ_DESC_F_WRITE) rather than device-readable. */
  readonly writable: boolean;
  /** The descriptor's flags as the driver wrote them (NEXT, WRITE; packed: also AVAIL/USED). */
  readonly flags: number;
}

/**
 * A byte cursor over the device-readable buffers of a chain: little-endian integers and byte
 * ranges read across descriptor boundaries, so a device accepts any descriptor layout
 * (VIRTIO 1.2 §2.7.4.1 "Message Framing").
 *
 * Reading past the end throws `Queue.BufferTooShortError` and consumes nothing. A cursor is valid
 * until its chain is returned with `addUsed`; after that every call throws a `TypeError`.
 *
 * @example
 * ```ts
 * const r = chain.reader();
 * const type = r.readU32(); r.skip(4); const sector = r.readU64();
 * ```
 */
export interface Reader {
  /** Bytes left to read. */
  readonly remaining: number;
  /** Bytes read (or skipped) so far. */
  readonly consumed: number;
  /**
   * Reads one byte.
   * @returns the byte.
   * @throws Queue.BufferTooShortError when no byte remains.
   */
  readU8(): number;
  /**
   * Reads a little-endian u16.
   * @returns the value.
   * @throws Queue.BufferTooShortError when fewer than 2 bytes remain.
   */
  readU16(): number;
  /**
   * Reads a little-endian u32.
   * @returns the value.
   * @throws Queue.BufferTooShortError when fewer than 4 bytes remain.
   */
  readU32(): number;
  /**
   * Reads a little-endian u64.
   * @returns the value as a bigint.
   * @throws Queue.BufferTooShortError when fewer than 8 bytes remain.
   */
  readU64(): bigint;
  /**
   * Reads a little-endian u64 that must fit a number.
   * @returns the value.
   * @throws Queue.BufferTooShortError when fewer than 8 bytes remain.
   * @throws GuestMemory.ValueTooLargeError when the value is above 2^53-1.
   */
  readU64Number(): number;
  /**
   * Copies exactly `dst.length` bytes into `dst`.
   * @param dst - the destination.
   * @throws Queue.BufferTooShortError when fewer bytes remain.
   */
  read(dst: Uint8Array): void;
  /**
   * Copies the next `length` bytes into a new array.
   * @param length - number of bytes.
   * @returns a copy.
   * @throws Queue.BufferTooShortError when fewer bytes remain.
   */
  readBytes(length: number): Uint8Array;
  /**
   * A zero-copy view of the next `length` bytes when they lie in one buffer (and one memory
   * region); advances past them. The view aliases guest memory: the guest may change it.
   * @param length - number of bytes.
   * @returns the view, or null (nothing consumed) when the range is not contiguous.
   * @throws Queue.BufferTooShortError when fewer bytes remain.
   */
  view(length: number): Uint8Array | null;
  /**
   * Zero-copy views of the next `length` bytes, one per contiguous piece (scatter-gather I/O);
   * advances past them.
   * @param length - number of bytes (default: all remaining).
   * @returns the views, in order.
   * @throws Queue.BufferTooShortError when fewer bytes remain.
   */
  views(length?: number): Uint8Array[];
  /**
   * Skips `length` bytes.
   * @param length - number of bytes.
   * @throws Queue.BufferTooShortError when fewer bytes remain.
   */
  skip(length: number): void;
  /**
   * Splits the cursor at `offset`: this cursor keeps the next `offset` bytes, the returned one
   * covers the rest.
   * @param offset - bytes kept by this cursor.
   * @returns a cursor over the bytes after `offset`.
   * @throws Queue.BufferTooShortError when `offset` exceeds `remaining`.
   */
  split(offset: number): Reader;
}

/**
 * A byte cursor over the device-writable buffers of a chain; the mirror of {@link Reader}.
 * `written` is what the device reports in `addUsed`.
 *
 * @example
 * ```ts
 * const w = chain.writer();
 * w.write(data); w.writeU8(0); queue.addUsed(chain, w.written);
 * ```
 */
export interface Writer {
  /** Bytes left to write. */
  readonly remaining: number;
  /** Bytes written (or skipped) so far. */
  readonly written: number;
  /**
   * Writes one byte.
   * @param value - the byte (0..255).
   * @throws Queue.BufferTooShortError when no byte remains.
   */
  writeU8(value: number): void;
  /**
   * Writes a little-endian u16.
   * @param value - the value.
   * @throws Queue.BufferTooShortError when fewer than 2 bytes remain.
   */
  writeU16(value: number): void;
  /**
   * Writes a little-endian u32.
   * @param value - the value.
   * @throws Queue.BufferTooShortError when fewer than 4 bytes remain.
   */
  writeU32(value: number): void;
  /**
   * Writes a little-endian u64.
   * @param value - the value (a number must be a non-negative safe integer).
   * @throws Queue.BufferTooShortError when fewer than 8 bytes remain.
   */
  writeU64(value: bigint | number): void;
  /**
   * Writes all of `src`.
   * @param src - the bytes.
   * @throws Queue.BufferTooShortError when fewer bytes remain (nothing is written).
   */
  write(src: Uint8Array): void;
  /**
   * Writes `length` copies of `byte`.
   * @param length - number of bytes.
   * @param byte - the value (default 0).
   * @throws Queue.BufferTooShortError when fewer bytes remain (nothing is written).
   */
  fill(length: number, byte?: number): void;
  /**
   * A writable zero-copy view of the next `length` bytes when they lie in one buffer (and one
   * memory region); advances past them and counts them as written.
   * @param length - number of bytes.
   * @returns the view, or null (nothing consumed) when the range is not contiguous.
   * @throws Queue.BufferTooShortError when fewer bytes remain.
   */
  view(length: number): Uint8Array | null;
  /**
   * Writable zero-copy views of the next `length` bytes, one per contiguous piece; advances
   * past them and counts them as written.
   * @param length - number of bytes (default: all remaining).
   * @returns the views, in order.
   * @throws Queue.BufferTooShortError when fewer bytes remain.
   */
  views(length?: number): Uint8Array[];
  /**
   * Skips `length` bytes (they count as written).
   * @param length - number of bytes.
   * @throws Queue.BufferTooShortError when fewer bytes remain.
   */
  skip(length: number): void;
  /**
   * Splits the cursor at `offset`: this cursor keeps the next `offset` bytes, the returned one
   * covers the rest (its `written` starts at 0).
   * @param offset - bytes kept by this cursor.
   * @returns a cursor over the bytes after `offset`.
   * @throws Queue.BufferTooShortError when `offset` exceeds `remaining`.
   */
  split(offset: number): Writer;
}

/**
 * A descriptor chain popped from a virtqueue, fully walked and validated by `pop()`: the
 * descriptors (direct or from an indirect table) are copied out of guest memory, so the guest
 * cannot change them afterwards. Device-readable descriptors come first (`0 .. readableCount-1`),
 * then the device-writable ones.
 *
 * **Lifetime.** Chain objects are pooled: a chain is valid until it is passed to `addUsed`; the
 * queue then reuses the object for a later `pop()`. Do not keep a chain (or its cursors) after
 * `addUsed`; copy `head` if you need it. A chain popped before the queue's last `reset()` or
 * `restoreState()` is *stale*: its cursors throw a `TypeError` (the guest may own its buffers
 * again) and `addUsed` of it drops the completion (see "Late completions" in {@link Virtqueue}).
 *
 * @example
 * ```ts
 * const chain = queue.pop();
 * if (chain) { const hdr = chain.reader().readBytes(16); queue.addUsed(chain, 0); }
 * ```
 */
export interface DescriptorChain {
  /** The ID reported in the used element: the head index (split) or the buffer ID (packed). */
  readonly head: number;
  /** Number of buffers (an indirect descriptor itself is not counted; its table entries are). */
  readonly descriptorCount: number;
  /** Number of device-readable buffers; they are the first ones. */
  readonly readableCount: number;
  /** Total bytes of the device-readable buffers. */
  readonly readableBytes: number;
  /** Total bytes of the device-writable buffers (the bound for `addUsed`'s written length). */
  readonly writableBytes: number;
  /** Whether the chain used an indirect descriptor table. */
  readonly indirect: boolean;
  /**
   * Guest address of buffer `i`.
   * @param i - 0 .. descriptorCount-1.
   * @returns the address.
   * @throws RangeError when `i` is out of range.
   */
  address(i: number): GuestAddress;
  /**
   * Length of buffer `i`.
   * @param i - 0 .. descriptorCount-1.
   * @returns the length in bytes.
   * @throws RangeError when `i` is out of range.
   */
  length(i: number): number;
  /**
   * Flags of buffer `i` as the driver wrote them.
   * @param i - 0 .. descriptorCount-1.
   * @returns the flags (see {@link @vmv/queue!DescFlags}).
   * @throws RangeError when `i` is out of range.
   */
  flags(i: number): number;
  /**
   * Whether buffer `i` is device-writable.
   * @param i - 0 .. descriptorCount-1.
   * @returns true for a device-writable buffer.
   * @throws RangeError when `i` is out of range.
   */
  isWritable(i: number): boolean;
  /**
   * The buffers as objects (allocates; for tests and slow paths).
   * @returns one {@link Descriptor} per buffer.
   */
  descriptors(): Descriptor[];
  /**
   * A new cursor over the device-readable buffers, at their start.
   * @returns the reader.
   */
  reader(): Reader;
  /**
   * A new cursor over the device-writable buffers, at their start.
   * @returns the writer.
   */
  writer(): Writer;
}

/**
 * Saved state of a virtqueue, plain JSON-serialisable data. Addresses are numbers below 2^53 and
 * decimal strings above. `nextAvail`/`nextUsed` are free-running u16 indices (split) or ring
 * positions (packed, with their wrap counters).
 * @example
 * ```ts
 * const saved = JSON.stringify(queue.saveState());
 * ```
 */
export interface QueueState {
  /** Ring format. */
  readonly format: RingFormat;
  /** Queue size. */
  readonly size: number;
  /** Descriptor area address. */
  readonly descTable: number | string;
  /** Driver area address (split: available ring; packed: driver event suppression). */
  readonly driverArea: number | string;
  /** Device area address (split: used ring; packed: device event suppression). */
  readonly deviceArea: number | string;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  readonly eventIdx: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated. */
  readonly indirectDesc: boolean;
  /** Next available index (split: u16 free-running; packed: ring position). */
  readonly nextAvail: number;
  /** Next used index (split: u16 free-running; packed: ring position). When absent on restore (split), read from `used.idx`. */
  readonly nextUsed?: number;
  /** Used entries (split) or ring slots (packed) added since the last `needsNotification()`. */
  readonly numAdded?: number;
  /** Packed: driver ring wrap counter the device expects next (0 or 1). */
  readonly availWrapCounter?: 0 | 1;
  /** Packed: device ring wrap counter (0 or 1). */
  readonly usedWrapCounter?: 0 | 1;
  /** Packed: chains popped and not yet used, as [buffer ID, ring descriptors] pairs. */
  readonly inflight?: readonly (readonly [number, number])[];
}

/**
 * The device side of one virtqueue, split or packed (VIRTIO 1.2 §2.6-2.8).
 *
 * **Errors.** Malformed guest data makes `pop()` throw a typed {@link QueueError}; the queue is
 * then *broken*: `error` holds that first error, and `pop()` throws `Queue.BrokenError` (its
 * `cause` is the first error) until `reset()` or `restoreState()`. The pop loop is where a device
 * learns the ring broke: it reports DEVICE_NEEDS_RESET (VIRTIO 1.2 §2.1.2) and the driver must
 * reset it. Every other operation on a broken queue is harmless and never throws for that reason:
 * `addUsed` / `addUsedBatch` drop the completion (nothing is written to guest memory; a chain
 * object goes back to the pool), `needsNotification()` and `enableNotification()` answer false,
 * `disableNotification()` does nothing. A used element cannot be delivered through a ring the
 * driver corrupted, and the driver resets the device anyway.
 *
 * **Late completions.** Devices complete asynchronously (file I/O, sockets, timers), so a
 * completion can always arrive after the queue broke, or after the queue or the device was reset.
 * Both are safe when the device passes the chain object:
 * - on a broken queue the completion is dropped (above);
 * - a chain popped before the queue's last `reset()` or `restoreState()` is *stale*: `addUsed` /
 *   `addUsedBatch` of it drop the completion silently (the chain object goes back to the pool),
 *   so nothing is written into a ring the driver has taken back or set up again.
 *
 * Misuse stays an error in any state: a chain completed twice within the same epoch, a chain of
 * another queue (`TypeError`), a bad `writtenLen` on a live chain (`RangeError`). The number form
 * (`addUsed(head, len)`) cannot be told from a live completion after a reset, so a completion that
 * may outlive a reset must pass the chain.
 *
 * **Notifications.** The usual loop:
 * ```ts
 * do { queue.disableNotification(); while ((c = queue.pop())) handle(c); } while (queue.enableNotification());
 * ```
 * and after adding used elements, `if (queue.needsNotification()) interrupt()`.
 *
 * **Threads.** A queue object is used from one thread at a time (the guest driver may run
 * concurrently on shared memory: ring index accesses are atomic with the orderings §2.7.13
 * requires).
 * @example
 * ```ts
 * const q = createVirtqueue(memory, config);
 * for (let c = q.pop(); c; c = q.pop()) q.addUsed(c, 0);
 * if (q.needsNotification()) irq();
 * ```
 */
export interface Virtqueue {
  /** Ring format. */
  readonly format: RingFormat;
  /** Queue size (number of descriptors). */
  readonly size: number;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  readonly eventIdx: boolean;
  /** The error that broke the queue, or null. */
  readonly error: QueueError | null;
  /** Next available index the device will read (split: u16 free-running; packed: ring position). */
  readonly nextAvail: number;
  /** Next used index the device will write (split: u16 free-running; packed: ring position). */
  readonly nextUsed: number;
  /**
   * Takes the next available descriptor chain, walked and validated.
   * @returns the chain (valid until `addUsed`), or null when the driver has made none available.
   * @throws a ring error (see {@link QueueError}) on malformed guest data, then `Queue.BrokenError`
   *   until `reset()` or `restoreState()`.
   */
  pop(): DescriptorChain | null;
  /**
   * Returns a chain to the driver: writes a used element and publishes it.
   * Completions may be in any order. On a broken queue, or for a stale chain (popped before the
   * last reset or restore), the completion is dropped: see "Late completions" above.
   * @param chainOrHead - the chain, or its `head` (a number form cannot recycle the chain object,
   *   nor be recognised as stale after a reset).
   * @param writtenLen - bytes the device wrote into the chain's writable buffers.
   * @throws RangeError when `writtenLen` is not a u32 or exceeds a live chain's `writableBytes`,
   *   or a head number is out of range (packed: not in flight).
   * @throws TypeError when the chain belongs to another queue or was already used.
   */
  addUsed(chainOrHead: DescriptorChain | number, writtenLen: number): void;
  /**
   * Returns several chains at once, publishing them with one index update. Stale chains in the
   * batch are dropped and the others published; on a broken queue the whole batch is dropped.
   * @param chainsOrHeads - the chains or heads.
   * @param writtenLens - bytes written, one per chain.
   * @param count - how many entries to take (default: `chainsOrHeads.length`).
   * @throws RangeError or TypeError as {@link Virtqueue.addUsed}, or TypeError for an entry that
   *   appears twice; nothing is published then.
   */
  addUsedBatch(chainsOrHeads: ArrayLike<DescriptorChain | number>, writtenLens: ArrayLike<number>, count?: number): void;
  /**
   * Whether the driver wants a used-buffer notification for what was added since the last call
   * (VIRTQ_AVAIL_F_NO_INTERRUPT, used_event with EVENT_IDX, or the packed driver event
   * suppression structure).
   * @returns true when the device should interrupt the driver; false on a broken queue.
   */
  needsNotification(): boolean;
  /**
   * Asks the driver for available-buffer notifications again (clears VIRTQ_USED_F_NO_NOTIFY, or
   * sets avail_event / the device event suppression structure), then re-checks the ring.
   * @returns true when more buffers arrived meanwhile: pop again before sleeping. False on a
   *   broken queue; true when the ring broke during this call (its memory became inaccessible),
   *   so that the next `pop()` reports it.
   */
  enableNotification(): boolean;
  /**
   * Asks the driver not to notify (VIRTQ_USED_F_NO_NOTIFY; with EVENT_IDX, avail_event set one
   * behind the next available index, which the driver has already passed; packed: the DISABLE
   * flag). Does nothing on a broken queue.
   */
  disableNotification(): void;
  /**
   * The queue's state as plain data.
   * @returns the state.
   */
  saveState(): QueueState;
  /**
   * Restores ring positions saved by `saveState` (the configuration fields must match this queue),
   * validated against the ring in guest memory. Clears a broken state; chains popped before become
   * stale (their completions are dropped).
   * @param state - saved state (any JSON-parsed value).
   * @throws Queue.InvalidStateError when the state is malformed or inconsistent.
   */
  restoreState(state: unknown): void;
  /**
   * Back to the initial positions (indices 0, wrap counters 1), not broken; guest memory is
   * untouched. Chains popped before become stale: their completions are dropped.
   */
  reset(): void;
}
