/**
 * @packageDocumentation
 * The vhost-user wire protocol (QEMU docs/interop/vhost-user.rst, as QEMU 7.2 speaks it):
 * constants, the header, every payload codec, the validating request decoder and the
 * request/reply encoders. Pure TypeScript: no Node built-ins, no native code.
 */

export {
  VhostUserRequest,
  VhostUserBackendRequest,
  isKnownBackendRequest,
  requestName,
  isKnownRequest,
  HeaderFlags,
  ProtocolFeature,
  KNOWN_PROTOCOL_FEATURES,
  protocolFeatureMask,
  VhostFeature,
  replyCarriesData,
  VringAddrFlags,
  VringFileBits,
  ConfigFlags,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_PAYLOAD_SIZE,
  VHOST_USER_MAX_FDS,
  VHOST_USER_MAX_MEM_TABLE_REGIONS,
  VHOST_USER_CONFIG_HEADER_SIZE,
  VHOST_USER_CONFIG_SPACE_LIMIT,
  QEMU_MAX_CONFIG_SIZE,
  VIRTIO_MAX_QUEUE_SIZE,
  VHOST_USER_MAX_QUEUES,
  PayloadSize,
} from './constants.js';
export type { VhostUserRequestName, VhostUserRequestCode, VhostUserBackendRequestCode, ProtocolFeatureName, ProtocolFeatureBit } from './constants.js';
export { readHeader, writeHeader, decodeHeader, validateRequestHeader, validateReplyHeader, validateBackendRequestHeader, decodeReplyHeader, needsReply } from './header.js';
export { encodeBackendRequest, decodeBackendRequest, checkReply, readU64Reply } from './backend-request.js';
export type { BackendRequestMessage } from './backend-request.js';
export type { VhostUserHeader } from './header.js';
export { readVringState, writeVringState, readVringAddr, writeVringAddr, validateVringAddr, parseVringFile, encodeVringFile, decodeVringBase, encodeVringBase } from './vring.js';
export type { VringState, VringAddr, VringFile, VringBase } from './vring.js';
export {
  readMemoryRegion,
  writeMemoryRegion,
  validateMemoryRegion,
  readMemoryTable,
  writeMemoryTable,
  validateRegionLayout,
  readSingleMemoryRegion,
  writeSingleMemoryRegion,
} from './memory-table.js';
export type { MemoryRegionDescription } from './memory-table.js';
export { readConfigAccess, writeConfigAccess } from './config.js';
export type { ConfigAccess } from './config.js';
export { readInflight, writeInflight, validateInflight } from './inflight.js';
export type { InflightDescription, InflightLimits } from './inflight.js';
export { readLog, writeLog, validateLog } from './log.js';
export type { LogDescription } from './log.js';
export type {
  RequestBase,
  NoPayloadRequestCode,
  NoPayloadRequest,
  U64RequestCode,
  U64Request,
  VringStateRequestCode,
  VringStateRequest,
  VringAddrRequest,
  VringFdRequestCode,
  VringFdRequest,
  SetMemTableRequest,
  AddMemRegRequest,
  RemMemRegRequest,
  SetLogBaseRequest,
  FdOnlyRequestCode,
  FdOnlyRequest,
  ConfigRequest,
  GetInflightRequest,
  SetInflightRequest,
  VhostUserRequestMessage,
  VhostUserDecodeContext,
} from './messages.js';
export { decodeMessage, decodeRequest } from './decoder.js';
export { encodeMessage, encodeRequest, encodeU64Reply, encodeAckReply, encodeVringStateReply, encodeConfigReply, encodeInflightReply, decodeReply } from './encoder.js';
export type { EncodedMessage, DecodedReply } from './encoder.js';
export {
  VhostUserError,
  isVhostUserError,
  VHOST_USER_ERROR_NAMES,
  DECODE_ERROR_NAMES,
  PartialMessageError,
  UnknownRequestError,
  OversizedMessageError,
  VersionError,
  InvalidFlagsError,
  BodySizeError,
  IncorrectFdsError,
  InactiveOperationError,
  UnsupportedRequestError,
  InvalidMemoryRegionError,
  InvalidVringIndexError,
  InvalidVringAddrError,
  InvalidParamError,
  UnsupportedFeaturesError,
  InvalidConfigError,
  InvalidInflightError,
  InvalidLogError,
  InvalidOperationError,
  MissingMemoryMappingError,
  MapFailedError,
  InvalidReplyError,
  DisconnectedError,
  ReplyTimeoutError,
  RequestRejectedError,
  QueueWorkerError,
  type VhostUserErrorName,
  type VhostUserErrorOptions,
  type VhostUserFacts,
} from '../errors.js';
