/**
 * @packageDocumentation
 * virtio-vsock (VIRTIO 1.2 §5.10) for @vmv: a transport-independent {@link VsockDevice} with
 * stream and seqpacket connections, credit-based flow control both ways exactly as the spec
 * accounts it, bounded memory against a guest that lies, and TRANSPORT_RESET. The host side is
 * transport-free: `listen(port, onConnection)` and `connect(port)` give {@link VsockConnection}s.
 */
export { VsockDevice } from './device.js';
export type { ConnectOptions, ListenOptions, ResetReason, VsockDeviceOptions, VsockEvent, VsockListener } from './device.js';
export { VsockConnection } from './connection.js';
export type { Boundaries, CloseReason, ConnectionState, VsockEndpoint, VsockSocketType } from './connection.js';
export {
  EVENT_SIZE,
  EVENT_TRANSPORT_RESET,
  HEADER_SIZE,
  HOST_CID,
  MAX_PAYLOAD,
  SeqFlag,
  ShutdownFlag,
  VSOCK_CONFIG_SIZE,
  VsockFeature,
  VsockOp,
  VsockType,
  checkTxHeader,
  decodeHeader,
  encodeHeader,
  isGuestCid,
  opName,
} from './wire.js';
export type { DropReason, TxHeaderCheck, VsockFeature as VsockFeatureBit, VsockHeader, VsockOp as VsockOpValue, VsockType as VsockTypeValue } from './wire.js';
