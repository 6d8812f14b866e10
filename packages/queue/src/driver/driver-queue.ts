/**
 * One virtqueue as a transport's driver model holds it: the ring (driver side) plus the
 * transport's available buffer notification (VIRTIO 1.2 §2.9: virtio-mmio's QueueNotify write,
 * §4.2.3.3; virtio-pci's write to the queue's notify address, §4.1.5.2).
 * @module
 */
import type { DriverBuffer, UsedBuffer } from './common.js';
import type { PackedDriver } from './packed-driver.js';
import type { SplitDriver } from './split-driver.js';

/**
 * A queue a driver model set up (`VirtioMmioDriver.setupQueue`, `VirtioPciDriver.setupQueue`).
 * @typeParam T - the token type returned with each used buffer.
 * @example
 * ```ts
 * const q = driver.setupQueue(0);
 * q.add([{ addr: req, len: 16 }], [{ addr: status, len: 1 }], 'req0');
 * q.kick();
 * ```
 */
export class DriverQueue<T = unknown> {
  /** The queue index. */
  readonly index: number;
  /** The ring, driver side: split or packed, as negotiated. */
  readonly ring: SplitDriver<T> | PackedDriver<T>;
  /** Descriptor area address given to the device. */
  readonly descTable: number;
  /** Driver area address given to the device. */
  readonly driverArea: number;
  /** Device area address given to the device. */
  readonly deviceArea: number;
  /** Called from the driver's interrupt handler when the ring has used buffers (Linux's vq callback). */
  readonly callback: ((queue: DriverQueue<T>) => void) | undefined;
  private readonly notifyDevice: (index: number) => void;

  /**
   * Built by a driver model's `setupQueue`.
   * @param index - queue index.
   * @param ring - the driver-side ring.
   * @param areas - the three area addresses.
   * @param notify - sends the transport's notification for queue `index`.
   * @param callback - the queue's callback, if any.
   */
  constructor(index: number, ring: SplitDriver<T> | PackedDriver<T>, areas: { descTable: number; driverArea: number; deviceArea: number }, notify: (index: number) => void, callback?: (queue: DriverQueue<T>) => void) {
    this.index = index;
    this.ring = ring;
    this.descTable = areas.descTable;
    this.driverArea = areas.driverArea;
    this.deviceArea = areas.deviceArea;
    this.notifyDevice = notify;
    this.callback = callback;
  }

  /**
   * Queue size.
   * @example `q.size // the size written for this queue`
   */
  get size(): number {
    return this.ring.size;
  }

  /**
   * Exposes buffers to the device (Linux `virtqueue_add_sgs`).
   * @param out - device-readable buffers.
   * @param inBufs - device-writable buffers.
   * @param token - returned with the used buffer (not undefined).
   * @returns the head index or buffer ID, or -1 when the ring is full.
   * @throws RangeError for bad buffers; Queue.BrokenError after the device misbehaved.
   * @example `q.add([{ addr: 0x20000, len: 16 }], [{ addr: 0x30000, len: 1 }], 1)`
   */
  add(out: readonly DriverBuffer[], inBufs: readonly DriverBuffer[], token: T): number {
    return this.ring.add(out, inBufs, token);
  }

  /**
   * Linux `virtqueue_kick`: notifies the device if it wants a notification for what was added
   * since the last kick.
   * @returns true when the notification was sent.
   * @example `if (!q.kick()) console.log('the device asked not to be notified');`
   */
  kick(): boolean {
    if (!this.ring.kickPrepare()) return false;
    this.notifyDevice(this.index);
    return true;
  }

  /**
   * Notifies the device unconditionally (Linux `virtqueue_notify`).
   * @example `q.notify()`
   */
  notify(): void {
    this.notifyDevice(this.index);
  }

  /**
   * Takes the next used buffer (Linux `virtqueue_get_buf`).
   * @returns the token and written length, or null.
   * @throws Queue.BadUsedElementError when the device wrote a bad used element.
   * @example `for (let u = q.getBuf(); u; u = q.getBuf()) done(u.token, u.len);`
   */
  getBuf(): UsedBuffer<T> | null {
    return this.ring.getBuf();
  }
}
