/**
 * @packageDocumentation
 * Guest physical memory for virtio devices.
 */

/**
 * Placeholder replaced by the real implementation.
 * @example
 * ```ts
 * import { VERSION } from '@vmv/memory';
 * ```
 */
export const VERSION = '0.0.0';
