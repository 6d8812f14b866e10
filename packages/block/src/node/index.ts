/**
 * @packageDocumentation
 * Node-only parts of @vmv/block: {@link FileBackend}, a disk image file as a block backend.
 */
export { FileBackend } from './file-backend.js';
export type { FileBackendOptions } from './file-backend.js';
