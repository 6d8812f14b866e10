/**
 * {@link openEepromFile}: an {@link Eeprom} whose contents live in a file: read at open, each page
 * write written through (synchronously, before the guest's request completes), so the file always
 * holds what the guest was told it wrote.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { EEPROM_MODELS, Eeprom } from '../eeprom.js';
import type { EepromModel } from '../eeprom.js';

/**
 * A file-backed EEPROM and how to close its file.
 * @example `const { eeprom, close } = openEepromFile('board.bin', '24c32');`
 */
export interface EepromFile {
  /** The EEPROM, to attach to a bus. */
  readonly eeprom: Eeprom;
  /** Closes the file (later guest writes change memory only). */
  close(): void;
}

/**
 * Opens (or creates, filled with 0xff as a blank part) `path` as the contents of a `model` EEPROM.
 * @param path - the file: exactly the model's size, or empty or absent (created).
 * @param model - the part.
 * @returns the EEPROM and its closer.
 * @throws RangeError for an unknown model, or a file of another size (one line naming both sizes).
 * @throws Error from the file system (ENOENT for a missing directory, EACCES, ...).
 * @example
 * ```ts
 * const { eeprom } = openEepromFile('/tmp/board.bin', '24c02');
 * bus.attach(0x50, eeprom);
 * ```
 */
export function openEepromFile(path: string, model: EepromModel): EepromFile {
  const m = Object.prototype.hasOwnProperty.call(EEPROM_MODELS, model) ? EEPROM_MODELS[model] : undefined;
  if (m === undefined) throw new RangeError(`openEepromFile: the model is one of ${Object.keys(EEPROM_MODELS).join(', ')}, got ${String(model)}`);
  const fd = openSync(path, 'a+');
  closeSync(fd);
  let file: number | null = openSync(path, 'r+');
  try {
    const size = fstatSync(file).size;
    const memory = new Uint8Array(m.size).fill(0xff);
    if (size === 0) writeSync(file, memory, 0, memory.length, 0);
    else if (size !== m.size) throw new RangeError(`openEepromFile: ${path} has ${size} bytes; a ${model} holds ${m.size}`);
    else for (let at = 0; at < m.size; ) at += readSync(file, memory, at, m.size - at, at) || m.size;
    const eeprom = new Eeprom(model, {
      memory,
      onWrite: (offset, bytes) => {
        if (file !== null) writeSync(file, bytes, 0, bytes.length, offset);
      },
    });
    return {
      eeprom,
      close: () => {
        if (file !== null) closeSync(file);
        file = null;
      },
    };
  } catch (e) {
    closeSync(file);
    file = null;
    throw e;
  }
}
