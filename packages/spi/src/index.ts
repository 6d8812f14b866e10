/**
 * @packageDocumentation
 * @vmv/spi: virtio-spi (VIRTIO 1.4 §5.21), an SPI controller for guests whose chip selects reach
 * simulated peripherals: a W25Q SPI NOR flash, a loopback, or any device a program implements.
 * Pure TypeScript, zero runtime dependencies outside @vmv; a file-backed flash at `@vmv/spi/node`.
 */
export { SpiDevice } from './device.js';
export type { SpiControllerConfig, SpiDeviceOptions, SpiStats } from './device.js';
export { LoopbackPeripheral, wireCopy, wordBytes } from './peripheral.js';
export type { SpiPeripheral, SpiTransfer } from './peripheral.js';
export { FLASH_MODELS, MemoryFlashStorage, SpiNorFlash } from './flash.js';
export type { FlashCounts, FlashGeometry, FlashModel, SpiFlashStorage, SpiNorFlashOptions } from './flash.js';
export { SpiConfigOffset, SpiLayout, SpiMode, SpiModeFunc, SpiNbitsSupport, SpiQueue, SpiResult } from './constants.js';
