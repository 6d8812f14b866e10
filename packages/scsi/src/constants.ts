/**
 * Numbers of virtio-scsi (VIRTIO 1.2 §5.6: feature bits §5.6.3, config layout §5.6.4, request,
 * control and event structures §5.6.6) and of the SCSI commands the target answers (SAM-5 status
 * codes, SPC-4 sense keys and operation codes, SBC-3 block commands; Linux's
 * include/scsi/scsi_proto.h names them the same way). One source for every number of the package.
 * @module
 */

/** virtio-scsi feature bits (§5.6.3). @example `hasFeature(ctx.features, ScsiFeature.HOTPLUG)` */
export const ScsiFeature = {
  /** A request may carry both dataout and datain (not offered: no command here is bidirectional). */
  INOUT: 0,
  /** TRANSPORT_RESET events for LUNs added and removed. */
  HOTPLUG: 1,
  /** PARAM_CHANGE events for a LUN's changed parameters (capacity). */
  CHANGE: 2,
  /** T10 protection information fields in the request header (not offered). */
  T10_PI: 3,
} as const;
export type ScsiFeature = (typeof ScsiFeature)[keyof typeof ScsiFeature];

/** Byte offsets of `struct virtio_scsi_config` (§5.6.4). @example `cfg.getU32(ScsiConfigOffset.SENSE_SIZE)` */
export const ScsiConfigOffset = {
  NUM_QUEUES: 0,
  SEG_MAX: 4,
  MAX_SECTORS: 8,
  CMD_PER_LUN: 12,
  EVENT_INFO_SIZE: 16,
  /** Writable by the driver; 96 after a reset. */
  SENSE_SIZE: 20,
  /** Writable by the driver; 32 after a reset. */
  CDB_SIZE: 24,
  MAX_CHANNEL: 28,
  MAX_TARGET: 30,
  MAX_LUN: 32,
} as const;

/** Size of `struct virtio_scsi_config`. @example `new ConfigSpace(SCSI_CONFIG_SIZE)` */
export const SCSI_CONFIG_SIZE = 36;
/** `sense_size` after a reset (§5.6.4.2: MUST be 96). @example `SENSE_SIZE_DEFAULT === 96` */
export const SENSE_SIZE_DEFAULT = 96;
/** `cdb_size` after a reset (§5.6.4.2: MUST be 32). @example `CDB_SIZE_DEFAULT === 32` */
export const CDB_SIZE_DEFAULT = 32;
/** lun[8] + id + task_attr + prio + crn, before the CDB. @example `CMD_REQ_HEADER_SIZE + cdbSize` */
export const CMD_REQ_HEADER_SIZE = 19;
/** sense_len + residual + status_qualifier + status + response, before the sense bytes. @example `CMD_RESP_HEADER_SIZE + senseSize` */
export const CMD_RESP_HEADER_SIZE = 12;
/** `struct virtio_scsi_event` (and the `event_info_size` the device reports). @example `EVENT_SIZE === 16` */
export const EVENT_SIZE = 16;
/** Device-readable part of `struct virtio_scsi_ctrl_tmf`. @example `TMF_REQ_SIZE === 24` */
export const TMF_REQ_SIZE = 24;
/** Device-readable part of `struct virtio_scsi_ctrl_an`. @example `AN_REQ_SIZE === 16` */
export const AN_REQ_SIZE = 16;
/** Device-writable part of `struct virtio_scsi_ctrl_an` (event_actual, response). @example `AN_RESP_SIZE === 5` */
export const AN_RESP_SIZE = 5;

/** The virtio-scsi `response` byte (§5.6.6.1, §5.6.6.2). @example `resp.response === VirtioScsiResponse.BAD_TARGET` */
export const VirtioScsiResponse = {
  OK: 0,
  OVERRUN: 1,
  ABORTED: 2,
  BAD_TARGET: 3,
  RESET: 4,
  BUSY: 5,
  TRANSPORT_FAILURE: 6,
  TARGET_FAILURE: 7,
  NEXUS_FAILURE: 8,
  FAILURE: 9,
  /** TMF: the function completed (the same value as OK). */
  FUNCTION_COMPLETE: 0,
  FUNCTION_SUCCEEDED: 10,
  FUNCTION_REJECTED: 11,
  INCORRECT_LUN: 12,
} as const;
export type VirtioScsiResponse = (typeof VirtioScsiResponse)[keyof typeof VirtioScsiResponse];

/** controlq request types (§5.6.6.2). @example `type === ControlType.TMF` */
export const ControlType = { TMF: 0, AN_QUERY: 1, AN_SUBSCRIBE: 2 } as const;
export type ControlType = (typeof ControlType)[keyof typeof ControlType];

/** Task management function subtypes (§5.6.6.2). @example `subtype === TmfSubtype.LOGICAL_UNIT_RESET` */
export const TmfSubtype = {
  ABORT_TASK: 0,
  ABORT_TASK_SET: 1,
  CLEAR_ACA: 2,
  CLEAR_TASK_SET: 3,
  I_T_NEXUS_RESET: 4,
  LOGICAL_UNIT_RESET: 5,
  QUERY_TASK: 6,
  QUERY_TASK_SET: 7,
} as const;
export type TmfSubtype = (typeof TmfSubtype)[keyof typeof TmfSubtype];

/** eventq `event` values (§5.6.6.3). @example `event === (ScsiEvent.NO_EVENT | ScsiEvent.EVENTS_MISSED) >>> 0` */
export const ScsiEvent = {
  NO_EVENT: 0,
  TRANSPORT_RESET: 1,
  ASYNC_NOTIFY: 2,
  PARAM_CHANGE: 3,
  /** Flag: events were lost for want of a buffer. */
  EVENTS_MISSED: 0x8000_0000,
} as const;

/** TRANSPORT_RESET reasons (§5.6.6.3). @example `reason === TransportResetReason.RESCAN` */
export const TransportResetReason = { HARD: 0, RESCAN: 1, REMOVED: 2 } as const;
export type TransportResetReason = (typeof TransportResetReason)[keyof typeof TransportResetReason];

/** SAM-5 status codes. @example `result.status === ScsiStatus.CHECK_CONDITION` */
export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
} as const;
export type ScsiStatus = (typeof ScsiStatus)[keyof typeof ScsiStatus];

/** SPC-4 sense keys. @example `sense.key === SenseKey.ILLEGAL_REQUEST` */
export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  ABORTED_COMMAND: 0xb,
  MISCOMPARE: 0xe,
} as const;
export type SenseKey = (typeof SenseKey)[keyof typeof SenseKey];

/** Operation codes the target answers (SPC-4, SBC-3). @example `cdb[0] === Opcode.INQUIRY` */
export const Opcode = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  VERIFY_10: 0x2f,
  SYNCHRONIZE_CACHE_10: 0x35,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  MODE_SELECT_10: 0x55,
  MODE_SENSE_10: 0x5a,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  VERIFY_16: 0x8f,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  /** SERVICE ACTION IN(16): READ CAPACITY(16) is service action 0x10. */
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  /** MAINTENANCE IN: REPORT SUPPORTED OPERATION CODES is service action 0x0c. */
  MAINTENANCE_IN: 0xa3,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Service actions of the opcodes that have them. @example `ServiceAction.READ_CAPACITY_16 === 0x10` */
export const ServiceAction = { READ_CAPACITY_16: 0x10, REPORT_SUPPORTED_OPCODES: 0x0c } as const;

/** Mode pages the target has (SPC-4 §7.5, SBC-3 §6.4). @example `ModePage.CACHING === 0x08` */
export const ModePage = { READ_WRITE_ERROR_RECOVERY: 0x01, CACHING: 0x08, CONTROL: 0x0a, ALL: 0x3f } as const;

/** VPD pages the target has (SPC-4 §7.8, SBC-3 §6.5). @example `VpdPage.BLOCK_LIMITS === 0xb0` */
export const VpdPage = {
  SUPPORTED_PAGES: 0x00,
  UNIT_SERIAL_NUMBER: 0x80,
  DEVICE_IDENTIFICATION: 0x83,
  BLOCK_LIMITS: 0xb0,
  BLOCK_DEVICE_CHARACTERISTICS: 0xb1,
  LOGICAL_BLOCK_PROVISIONING: 0xb2,
} as const;

/** The logical block size of every LUN: @vmv/block's sector. @example `capacity = size / BLOCK_SIZE` */
export const BLOCK_SIZE = 512;
/** Largest target number (§5.6.4: max_target SHOULD be at most 255). @example `target <= MAX_TARGET` */
export const MAX_TARGET = 255;
/** Largest LUN in the single-level flat format (§5.6.6.1: 16384 LUNs per target). @example `lun <= MAX_LUN` */
export const MAX_LUN = 16383;
