/**
 * @packageDocumentation
 * @vmv/i2c: virtio-i2c (VIRTIO 1.2 §5.16), an I2C adapter for guests over a bus of simulated
 * targets: 24Cxx EEPROMs, an LM75 temperature sensor, or any device a program implements. Pure
 * TypeScript, zero runtime dependencies outside @vmv; a file-backed EEPROM at `@vmv/i2c/node`.
 */
export { I2cDevice } from './device.js';
export type { I2cDeviceOptions, I2cStats } from './device.js';
export { I2cBus } from './bus.js';
export type { I2cSegment, I2cTarget } from './bus.js';
export { decodeAddress, encodeAddress } from './address.js';
export type { I2cAddress } from './address.js';
export { EEPROM_MODELS, Eeprom } from './eeprom.js';
export type { EepromGeometry, EepromModel, EepromOptions } from './eeprom.js';
export { Lm75, Lm75Register } from './lm75.js';
export type { Lm75Options } from './lm75.js';
export { I2cFeature, I2cFlags, I2cLayout, I2cQueue, I2cStatus } from './constants.js';
