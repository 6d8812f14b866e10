/**
 * @packageDocumentation
 * virtio-scsi (VIRTIO 1.2 §5.6) for @vmv: {@link ScsiDevice}, a transport-independent
 * VirtioDevice (controlq with task management, eventq with hot-plug and resize events, N request
 * queues), over a SCSI target (SPC-4, SBC-3 direct-access block devices) on @vmv/block's
 * `BlockBackend`, so every block backend serves SCSI too: {@link ScsiBus} holds targets and
 * logical units (added, removed, resized at run time) and executes CDBs; {@link parseCdb} and
 * {@link encodeSense} are the wire of the SCSI layer, `wire` functions that of virtio-scsi.
 */
export { ScsiBus } from './bus.js';
export type { BusChange } from './bus.js';
export { LogicalUnit } from './logical-unit.js';
export type { LogicalUnitOptions, ScsiRequest, ScsiResult } from './logical-unit.js';
export { SUPPORTED_COMMANDS, cdbLength, findCommand, parseCdb } from './cdb.js';
export type { Command, ParsedCdb, SupportedCommand } from './cdb.js';
export { FIXED_SENSE_SIZE, encodeSense, invalidCdbField, invalidParameterField, senses } from './sense.js';
export type { Sense, SenseField, SenseTable } from './sense.js';
export { STANDARD_INQUIRY_SIZE } from './inquiry.js';
export type { UnitIdentity, UnitLimits } from './inquiry.js';
export type { ModeState } from './mode.js';
export {
  AN_REQ_SIZE,
  AN_RESP_SIZE,
  BLOCK_SIZE,
  CDB_SIZE_DEFAULT,
  CMD_REQ_HEADER_SIZE,
  CMD_RESP_HEADER_SIZE,
  ControlType,
  EVENT_SIZE,
  MAX_LUN,
  MAX_TARGET,
  ModePage,
  Opcode,
  SCSI_CONFIG_SIZE,
  SENSE_SIZE_DEFAULT,
  ScsiConfigOffset,
  ScsiEvent,
  ScsiFeature,
  ScsiStatus,
  SenseKey,
  ServiceAction,
  TMF_REQ_SIZE,
  TmfSubtype,
  TransportResetReason,
  VirtioScsiResponse,
  VpdPage,
} from './constants.js';
export type {
  ControlType as ControlTypeValue,
  Opcode as OpcodeValue,
  ScsiFeature as ScsiFeatureBit,
  ScsiStatus as ScsiStatusValue,
  SenseKey as SenseKeyValue,
  TmfSubtype as TmfSubtypeValue,
  TransportResetReason as TransportResetReasonValue,
  VirtioScsiResponse as VirtioScsiResponseValue,
} from './constants.js';
export { ScsiDevice } from './device.js';
export type { ScsiDeviceOptions } from './device.js';
export { decodeCommandResponse, decodeEvent, decodeLun, encodeCommandResponse, encodeEvent, encodeEventLun, encodeLun } from './wire.js';
export type { CommandResponse, LunAddress, ScsiEventRecord } from './wire.js';
