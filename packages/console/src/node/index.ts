/**
 * Node host ends for @vmv/console ports: Node streams ({@link connectStream}, {@link connectStreams}:
 * a terminal is `process.stdin` + `process.stdout`) and TCP or unix-socket listeners ({@link servePort}).
 * @module
 */
export { connectStream, connectStreams } from './stream.js';
export type { DuplexLike } from './stream.js';
export { servePort } from './server.js';
export type { PortAddress, PortListener } from './server.js';
