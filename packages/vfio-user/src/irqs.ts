/**
 * Interrupt state of one connection (vfio-user.rst "VFIO_USER_DEVICE_SET_IRQS",
 * "VFIO_USER_DEVICE_GET_IRQ_INFO"), with the semantics of Linux's vfio-pci: the eventfd of every
 * vector (ACTION_TRIGGER with DATA_EVENTFD assigns, without fds de-assigns, count 0 disables an
 * index); INTx level-triggered and automasked, masked and unmasked by the client (MASKABLE);
 * MSI and MSI-X signal their eventfd; a client's TRIGGER with DATA_NONE or DATA_BOOL signals as
 * the device would. Masking anything but INTx, or masking through an eventfd, is answered ENOTTY
 * as VFIO's ioctl answers an action an index does not have.
 *
 * @module
 */
import { Errno, IrqIndex, IrqInfoFlags, IrqSetFlags, PCI_NUM_IRQS } from './constants.js';
import { InvalidArgumentError } from './errors.js';
import type { SetIrqsRequest } from './codec.js';
import type { VfioUserIrqs } from './device.js';

/** The most vectors per index (PCI: INTx 1, MSI 32, MSI-X 2048, ERR 1, REQ 1). @example `count <= MAX_IRQ_COUNTS[IrqIndex.MSIX]` */
export const MAX_IRQ_COUNTS: readonly number[] = [1, 32, 2048, 1, 1];

/**
 * The interrupt table of one connection. Not exported from the package.
 * @internal
 */
export class IrqTable implements VfioUserIrqs {
  private readonly fds: (number | null)[][];
  private intxMasked = false;
  private intxLevel = false;

  /**
   * @param counts - vectors per index
   * @param signal - adds 1 to an eventfd; false when that failed
   * @param close - closes an fd the table no longer holds
   */
  constructor(
    private readonly counts: readonly number[],
    private readonly signal: (fd: number) => boolean,
    private readonly close: (fd: number) => void,
  ) {
    this.fds = counts.map((n) => new Array<number | null>(n).fill(null));
  }

  /** GET_IRQ_INFO flags of an index. */
  static infoFlags(index: number): number {
    if (index === IrqIndex.INTX) return IrqInfoFlags.EVENTFD | IrqInfoFlags.MASKABLE | IrqInfoFlags.AUTOMASKED;
    if (index === IrqIndex.MSIX) return IrqInfoFlags.EVENTFD;
    return IrqInfoFlags.EVENTFD | IrqInfoFlags.NORESIZE;
  }

  /**
   * Applies a SET_IRQS. Takes ownership of `req.fds` only when it returns normally.
   * @throws VfioUser.InvalidArgumentError (index, range: EINVAL; an unsupported action: ENOTTY)
   */
  set(req: SetIrqsRequest): void {
    const { index, start, count } = req;
    if (index >= PCI_NUM_IRQS) throw new InvalidArgumentError('no such IRQ index', { index });
    const vectors = this.counts[index]!;
    if (count === 0) {
      this.disable(index);
      return;
    }
    if (start >= vectors || count > vectors - start) throw new InvalidArgumentError('vectors outside the index', { index, start, count, vectors });
    if (req.action !== IrqSetFlags.ACTION_TRIGGER) {
      if (index !== IrqIndex.INTX || req.data === IrqSetFlags.DATA_EVENTFD) throw new InvalidArgumentError('mask or unmask not supported here', { index, data: req.data }, Errno.ENOTTY);
      if (req.bools !== null && req.bools[0] === 0) return;
      if (req.action === IrqSetFlags.ACTION_MASK) this.intxMasked = true;
      else {
        this.intxMasked = false;
        if (this.intxLevel) this.fireIntx();
      }
      return;
    }
    if (req.data === IrqSetFlags.DATA_EVENTFD) {
      const list = this.fds[index]!;
      for (let i = 0; i < count; i++) {
        const old = list[start + i];
        if (old !== null && old !== undefined) this.close(old);
        list[start + i] = req.fds[i] ?? null;
      }
      return;
    }
    for (let i = 0; i < count; i++) if (req.bools === null || req.bools[i] === 1) this.trigger(index, start + i);
  }

  trigger(index: number, vector = 0): boolean {
    const fd = this.slot(index, vector);
    if (index === IrqIndex.INTX) {
      this.intxLevel = true;
      return this.intxMasked ? false : this.fireIntx();
    }
    return fd !== null && this.signal(fd);
  }

  lowerIntx(): void {
    this.intxLevel = false;
  }

  enabled(index: number, vector = 0): boolean {
    return this.slot(index, vector) !== null;
  }

  /** DEVICE_RESET: the INTx line low and unmasked; eventfds stay as the client set them. */
  reset(): void {
    this.intxLevel = false;
    this.intxMasked = false;
  }

  /** Closes every eventfd (the client left). */
  clear(): void {
    for (let i = 0; i < this.fds.length; i++) this.disable(i);
  }

  private disable(index: number): void {
    const list = this.fds[index] ?? [];
    for (let i = 0; i < list.length; i++) {
      const fd = list[i];
      if (fd !== null && fd !== undefined) this.close(fd);
      list[i] = null;
    }
    if (index === IrqIndex.INTX) this.reset();
  }

  /** Signals INTx and masks it (AUTOMASKED). */
  private fireIntx(): boolean {
    const fd = this.fds[IrqIndex.INTX]?.[0] ?? null;
    if (fd === null) return false;
    this.intxMasked = true;
    return this.signal(fd);
  }

  private slot(index: number, vector: number): number | null {
    const list = this.fds[index];
    if (list === undefined || !Number.isInteger(vector) || vector < 0 || vector >= list.length) {
      throw new RangeError(`VfioUserIrqs: no vector ${vector} at IRQ index ${index}`);
    }
    return list[vector]!;
  }
}
