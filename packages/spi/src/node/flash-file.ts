/**
 * {@link openFlashFile}: a {@link SpiNorFlash} whose array is a file: every read of the guest reads
 * it and every program or erase writes it (synchronously, before the guest's transfer completes),
 * so the file always holds what the guest was told it wrote.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { FLASH_MODELS, SpiNorFlash } from '../flash.js';
import type { FlashModel, SpiFlashStorage, SpiNorFlashOptions } from '../flash.js';

/**
 * A file-backed flash and how to close its file.
 * @example `const { flash, close } = openFlashFile('spi.bin', 'w25q32');`
 */
export interface FlashFile {
  /** The flash, to wire to a chip select. */
  readonly flash: SpiNorFlash;
  /** Closes the file (later guest reads and writes fail with VIRTIO_SPI_TRANS_ERR). */
  close(): void;
}

/** The array as a file descriptor: pread and pwrite, nothing cached. */
class FileStorage implements SpiFlashStorage {
  fd: number | null;
  constructor(fd: number, readonly size: number) {
    this.fd = fd;
  }
  private open(): number {
    if (this.fd === null) throw new Error('openFlashFile: the file is closed');
    return this.fd;
  }
  read(offset: number, into: Uint8Array): void {
    const fd = this.open();
    for (let at = 0; at < into.length; ) {
      const n = readSync(fd, into, at, into.length - at, offset + at);
      if (n === 0) throw new Error(`openFlashFile: the file ended at ${offset + at}`);
      at += n;
    }
  }
  write(offset: number, bytes: Uint8Array): void {
    const fd = this.open();
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at, offset + at);
  }
}

/**
 * Opens (or creates, filled with 0xff as a blank part) `path` as the array of a `model` flash.
 * @param path - the file: exactly the model's size, or empty or absent (created).
 * @param model - the part.
 * @param options - the busy time (the storage is the file).
 * @returns the flash and its closer.
 * @throws RangeError for an unknown model, or a file of another size (one line naming both sizes).
 * @throws Error from the file system (ENOENT for a missing directory, EACCES, ...).
 * @example
 * ```ts
 * const { flash } = openFlashFile('/tmp/flash.bin', 'w25q32');
 * const device = new SpiDevice({ chipSelects: [flash] });
 * ```
 */
export function openFlashFile(path: string, model: FlashModel, options: Omit<SpiNorFlashOptions, 'storage'> = {}): FlashFile {
  const g = Object.prototype.hasOwnProperty.call(FLASH_MODELS, model) ? FLASH_MODELS[model] : undefined;
  if (g === undefined) throw new RangeError(`openFlashFile: the model is one of ${Object.keys(FLASH_MODELS).join(', ')}, got ${String(model)}`);
  closeSync(openSync(path, 'a+'));
  const fd = openSync(path, 'r+');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) {
      const blank = new Uint8Array(1 << 20).fill(0xff);
      for (let at = 0; at < g.size; at += blank.length) writeSync(fd, blank, 0, Math.min(blank.length, g.size - at), at);
    } else if (size !== g.size) {
      throw new RangeError(`openFlashFile: ${path} has ${size} bytes; a ${model} holds ${g.size}`);
    }
    const storage = new FileStorage(fd, g.size);
    const flash = new SpiNorFlash(model, { ...options, storage });
    return {
      flash,
      close: () => {
        if (storage.fd !== null) closeSync(storage.fd);
        storage.fd = null;
      },
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}
