/**
 * @packageDocumentation
 * @vmv/i2c/node: the Node-only part of @vmv/i2c, an EEPROM backed by a file.
 */
export { openEepromFile } from './eeprom-file.js';
export type { EepromFile } from './eeprom-file.js';
