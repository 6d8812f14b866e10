/**
 * @packageDocumentation
 * virtio-rng (VIRTIO 1.2 §5.4, entropy device) for @vmv: a transport-independent
 * {@link RngDevice} that fills every device-writable buffer from an {@link EntropySource}
 * (Web Crypto by default, or any function, synchronous or asynchronous), with an optional
 * {@link RateLimiter} shared between devices (rust-vmm vhost-device-rng's `--period` and
 * `--max-bytes`). A file or character-device source for Node is at `@vmv/rng/node`.
 */
export { RngDevice } from './device.js';
export type { RngDeviceOptions, RngStats } from './device.js';
export { MAX_SOURCE_REQUEST, webCryptoSource } from './source.js';
export type { EntropySource } from './source.js';
export { RateLimiter, systemClock } from './rate-limiter.js';
export type { RateClock, RateLimiterOptions } from './rate-limiter.js';
export { RNG_ERROR_NAMES, RngError, SourceError, SourceExhaustedError, isRngError } from './errors.js';
export type { RngErrorName, RngErrorOptions } from './errors.js';
