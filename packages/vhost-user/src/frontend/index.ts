/**
 * @packageDocumentation
 * A vhost-user frontend for JavaScript programs (emulators, VMMs, tests): connects to any
 * vhost-user backend over a unix socket, shares guest memory from a memfd, drives rings with the
 * driver side of `@vmv/queue`, and serves the backend request channel.
 */

export { VhostUserFrontend, DEFAULT_REPLY_TIMEOUT_MS } from './frontend.js';
export type { VhostUserFrontendOptions, VhostUserFrontendEvent, VringSetup } from './frontend.js';
export type { BackendRequestEvent } from './backend-requests.js';
export { SharedGuestMemory } from './memory.js';
export type { SharedGuestMemoryOptions } from './memory.js';
export { FrontendVring } from './vring.js';
export type { FrontendDriver } from './vring.js';
