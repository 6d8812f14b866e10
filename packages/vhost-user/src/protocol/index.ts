/**
 * @packageDocumentation
 * The vhost-user wire protocol (QEMU docs/interop/vhost-user.rst, as QEMU 7.2 speaks it):
 * constants, the header, every payload codec, the validating request decoder and the
 * request/reply encoders. Pure TypeScript: no Node built-ins, no native code.
 */

export * from './constants.js';
export * from './header.js';
export * from './u64.js';
export * from './vring.js';
export * from './memory-table.js';
export * from './config.js';
export * from './inflight.js';
export * from './log.js';
export * from './messages.js';
export * from './decoder.js';
export * from './encoder.js';
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
  type VhostUserErrorName,
  type VhostUserErrorOptions,
  type VhostUserFacts,
} from '../errors.js';
