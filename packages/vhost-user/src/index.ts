/**
 * @packageDocumentation
 * @vmv/vhost-user: the backend side of the vhost-user protocol. Serves any @vmv VirtioDevice to
 * QEMU (and other frontends) out of process. The wire protocol layer is also available alone,
 * without native code, as `@vmv/vhost-user/protocol`.
 */

export * from './protocol/index.js';
