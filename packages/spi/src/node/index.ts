/**
 * @packageDocumentation
 * @vmv/spi/node: the Node-only part of @vmv/spi, an SPI NOR flash whose array is a file.
 */
export { openFlashFile } from './flash-file.js';
export type { FlashFile } from './flash-file.js';
