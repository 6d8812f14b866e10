/**
 * @packageDocumentation
 * Guest physical memory for virtio devices: an address space of regions over ArrayBuffer,
 * SharedArrayBuffer, WebAssembly.Memory or external buffers, with bounds-checked little-endian
 * access, all-or-nothing byte copies, zero-copy views, atomics for ring indices, a dirty-page
 * log and hot-add/remove. The TypeScript counterpart of rust-vmm's vm-memory.
 */
export type { GuestAddress } from './address.js';
export { MAX_GUEST_ADDRESS } from './address.js';
export {
  GuestMemoryError,
  OutOfBoundsError,
  AddressOverflowError,
  ReadOnlyError,
  MisalignedError,
  NotContiguousError,
  InvalidLayoutError,
  ValueTooLargeError,
  DetachedError,
  isGuestMemoryError,
  GUEST_MEMORY_ERROR_NAMES,
} from './errors.js';
export type { GuestMemoryAccess, GuestMemoryErrorOptions, GuestMemoryErrorName } from './errors.js';
export { GuestRegion } from './region.js';
export type { RegionSpec, RegionBacking, WasmMemoryLike } from './region.js';
export { DirtyPageLog } from './dirty-log.js';
export { GuestMemory } from './guest-memory.js';
export type { AccessKind, DirtyLogEntry } from './guest-memory.js';
export { GuestMemoryHolder, isMemorySource } from './holder.js';
export type { MemorySource } from './holder.js';
