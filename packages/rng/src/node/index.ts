/**
 * @packageDocumentation
 * `@vmv/rng/node`: entropy from a file or character device for Node ({@link FileSource}).
 */
export { FileSource } from './file-source.js';
