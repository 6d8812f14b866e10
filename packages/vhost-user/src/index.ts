/**
 * `@vmv/vhost-user`: the backend side of the vhost-user protocol. Serves any `@vmv` VirtioDevice to
 * QEMU (and other frontends) out of process. The wire protocol layer is also available alone,
 * without native code, as `@vmv/vhost-user/protocol`.
 *
 * @packageDocumentation
 */

export * from './protocol/index.js';
export { VhostUserBackend, SUPPORTED_PROTOCOL_FEATURES } from './backend/backend.js';
export type { VhostUserBackendOptions, VhostUserBackendEvent } from './backend/backend.js';
export type { ConnectionEvent } from './backend/connection.js';
export type { BackendChannelFailure } from './backend/backend-channel.js';
export { DEFAULT_COALESCE_QUIET_US, DEFAULT_COALESCE_MAX_DELAY_US } from './backend/coalesce.js';
export type { CoalesceOptions, CoalesceStats } from './backend/coalesce.js';
export { DEFAULT_POLL_SPIN_US, DEFAULT_POLL_MAX_GAP_US } from './backend/kick-poll.js';
export type { KickPollOptions, KickPollStats } from './backend/kick-poll.js';
export { inflightQueueRegionSize, INFLIGHT_VERSION } from './backend/inflight-region.js';
export { runQueueWorker } from './backend/queue-worker.js';
export type { QueueWorkerDevice } from './backend/queue-worker.js';
export type { QueueWorkerOptions } from './backend/queue-workers.js';
