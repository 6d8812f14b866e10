/**
 * Node host ends for @vmv/vsock (VIRTIO 1.2 §5.10): Node Duplex streams over connections
 * ({@link VsockStream} for stream sockets, {@link VsockMessageSocket} for seqpacket) and the
 * Firecracker / vhost-device-vsock hybrid unix-socket backend ({@link serveHybrid}).
 * @module
 */
export { VsockMessageSocket, VsockStream } from './stream.js';
export type { VsockMessage } from './stream.js';
export { serveHybrid } from './hybrid.js';
export type { HybridBackend, HybridOptions } from './hybrid.js';
