/**
 * A read-only view of any {@link BlockBackend}: reads, flushes and lifetime reports pass through;
 * every write-type operation throws `Block.ReadOnlyError`. A device over it offers
 * VIRTIO_BLK_F_RO and answers OUT, DISCARD, WRITE_ZEROES and SECURE_ERASE with IOERR without
 * calling the backend.
 * @module
 */
import type { BlockBackend } from './backend.js';
import { ReadOnlyError } from './errors.js';
import type { BlockLifetime } from './wire.js';

class ReadOnlyBackend implements BlockBackend {
  readonly readOnly = true;
  readonly canUnmap = false;
  readonly lifetime?: () => BlockLifetime | Promise<BlockLifetime>;

  constructor(private readonly inner: BlockBackend) {
    if (typeof inner.lifetime === 'function') this.lifetime = () => inner.lifetime!();
  }

  get size(): number {
    return this.inner.size;
  }

  read(offset: number, buffers: readonly Uint8Array[]): void | Promise<void> {
    return this.inner.read(offset, buffers);
  }

  write(): never {
    throw new ReadOnlyError('write');
  }

  flush(): void | Promise<void> {
    return this.inner.flush();
  }

  discard(): never {
    throw new ReadOnlyError('discard');
  }

  writeZeroes(): never {
    throw new ReadOnlyError('writeZeroes');
  }

  secureErase(): never {
    throw new ReadOnlyError('secureErase');
  }
}

/**
 * Wraps a backend so that it cannot be written through.
 * @param backend - any backend.
 * @returns a read-only backend over it (`readOnly: true`).
 * @throws TypeError when `backend` lacks `read`, `write` or `flush`.
 * @example
 * ```ts
 * const device = new BlockDevice({ backend: readOnlyBackend(await FileBackend.open('base.img')) });
 * ```
 */
export function readOnlyBackend(backend: BlockBackend): BlockBackend {
  if (typeof backend !== 'object' || backend === null || typeof backend.read !== 'function' || typeof backend.write !== 'function' || typeof backend.flush !== 'function') {
    throw new TypeError('readOnlyBackend: backend must implement read, write and flush');
  }
  return new ReadOnlyBackend(backend);
}
