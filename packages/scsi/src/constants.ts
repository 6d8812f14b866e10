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
  /** `num_queues` (offset 0). */
  NUM_QUEUES: 0,
  /** `seg_max` (offset 4). */
  SEG_MAX: 4,
  /** `max_sectors` (offset 8). */
  MAX_SECTORS: 8,
  /** `cmd_per_lun` (offset 12). */
  CMD_PER_LUN: 12,
  /** `event_info_size` (offset 16). */
  EVENT_INFO_SIZE: 16,
  /** Writable by the driver; 96 after a reset. */
  SENSE_SIZE: 20,
  /** Writable by the driver; 32 after a reset. */
  CDB_SIZE: 24,
  /** `max_channel` (offset 28). */
  MAX_CHANNEL: 28,
  /** `max_target` (offset 30). */
  MAX_TARGET: 30,
  /** `max_lun` (offset 32). */
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
  /** VIRTIO_SCSI_S_OK (0). */
  OK: 0,
  /** VIRTIO_SCSI_S_OVERRUN (1). */
  OVERRUN: 1,
  /** VIRTIO_SCSI_S_ABORTED (2). */
  ABORTED: 2,
  /** VIRTIO_SCSI_S_BAD_TARGET (3). */
  BAD_TARGET: 3,
  /** VIRTIO_SCSI_S_RESET (4). */
  RESET: 4,
  /** VIRTIO_SCSI_S_BUSY (5). */
  BUSY: 5,
  /** VIRTIO_SCSI_S_TRANSPORT_FAILURE (6). */
  TRANSPORT_FAILURE: 6,
  /** VIRTIO_SCSI_S_TARGET_FAILURE (7). */
  TARGET_FAILURE: 7,
  /** VIRTIO_SCSI_S_NEXUS_FAILURE (8). */
  NEXUS_FAILURE: 8,
  /** VIRTIO_SCSI_S_FAILURE (9). */
  FAILURE: 9,
  /** TMF: the function completed (the same value as OK). */
  FUNCTION_COMPLETE: 0,
  /** VIRTIO_SCSI_S_FUNCTION_SUCCEEDED (10). */
  FUNCTION_SUCCEEDED: 10,
  /** VIRTIO_SCSI_S_FUNCTION_REJECTED (11). */
  FUNCTION_REJECTED: 11,
  /** VIRTIO_SCSI_S_INCORRECT_LUN (12). */
  INCORRECT_LUN: 12,
} as const;
export type VirtioScsiResponse = (typeof VirtioScsiResponse)[keyof typeof VirtioScsiResponse];

/** controlq request types (§5.6.6.2). @example `type === ControlType.TMF` */
export const ControlType = {
  /** VIRTIO_SCSI_T_TMF (0): a task management function. */
  TMF: 0,
  /** VIRTIO_SCSI_T_AN_QUERY (1). */
  AN_QUERY: 1,
  /** VIRTIO_SCSI_T_AN_SUBSCRIBE (2). */
  AN_SUBSCRIBE: 2,
} as const;
export type ControlType = (typeof ControlType)[keyof typeof ControlType];

/** Task management function subtypes (§5.6.6.2). @example `subtype === TmfSubtype.LOGICAL_UNIT_RESET` */
export const TmfSubtype = {
  /** VIRTIO_SCSI_T_TMF_ABORT_TASK (0). */
  ABORT_TASK: 0,
  /** VIRTIO_SCSI_T_TMF_ABORT_TASK_SET (1). */
  ABORT_TASK_SET: 1,
  /** VIRTIO_SCSI_T_TMF_CLEAR_ACA (2). */
  CLEAR_ACA: 2,
  /** VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET (3). */
  CLEAR_TASK_SET: 3,
  /** VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET (4). */
  I_T_NEXUS_RESET: 4,
  /** VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET (5). */
  LOGICAL_UNIT_RESET: 5,
  /** VIRTIO_SCSI_T_TMF_QUERY_TASK (6). */
  QUERY_TASK: 6,
  /** VIRTIO_SCSI_T_TMF_QUERY_TASK_SET (7). */
  QUERY_TASK_SET: 7,
} as const;
export type TmfSubtype = (typeof TmfSubtype)[keyof typeof TmfSubtype];

/** eventq `event` values (§5.6.6.3). @example `event === (ScsiEvent.NO_EVENT | ScsiEvent.EVENTS_MISSED) >>> 0` */
export const ScsiEvent = {
  /** VIRTIO_SCSI_T_NO_EVENT (0). */
  NO_EVENT: 0,
  /** VIRTIO_SCSI_T_TRANSPORT_RESET (1). */
  TRANSPORT_RESET: 1,
  /** VIRTIO_SCSI_T_ASYNC_NOTIFY (2). */
  ASYNC_NOTIFY: 2,
  /** VIRTIO_SCSI_T_PARAM_CHANGE (3). */
  PARAM_CHANGE: 3,
  /** Flag: events were lost for want of a buffer. */
  EVENTS_MISSED: 0x8000_0000,
} as const;

/** TRANSPORT_RESET reasons (§5.6.6.3). @example `reason === TransportResetReason.RESCAN` */
export const TransportResetReason = {
  /** VIRTIO_SCSI_EVT_RESET_HARD (0): the unit was reset. */
  HARD: 0,
  /** VIRTIO_SCSI_EVT_RESET_RESCAN (1): a unit appeared. */
  RESCAN: 1,
  /** VIRTIO_SCSI_EVT_RESET_REMOVED (2): a unit went away. */
  REMOVED: 2,
} as const;
export type TransportResetReason = (typeof TransportResetReason)[keyof typeof TransportResetReason];

/** SAM-5 status codes. @example `result.status === ScsiStatus.CHECK_CONDITION` */
export const ScsiStatus = {
  /** SAM status GOOD (0x00). */
  GOOD: 0x00,
  /** SAM status CHECK CONDITION (0x02). */
  CHECK_CONDITION: 0x02,
  /** SAM status CONDITION MET (0x04). */
  CONDITION_MET: 0x04,
  /** SAM status BUSY (0x08). */
  BUSY: 0x08,
  /** SAM status RESERVATION CONFLICT (0x18). */
  RESERVATION_CONFLICT: 0x18,
  /** SAM status TASK SET FULL (0x28). */
  TASK_SET_FULL: 0x28,
} as const;
export type ScsiStatus = (typeof ScsiStatus)[keyof typeof ScsiStatus];

/** SPC-4 sense keys. @example `sense.key === SenseKey.ILLEGAL_REQUEST` */
export const SenseKey = {
  /** Sense key NO SENSE (0x0). */
  NO_SENSE: 0x0,
  /** Sense key RECOVERED ERROR (0x1). */
  RECOVERED_ERROR: 0x1,
  /** Sense key NOT READY (0x2). */
  NOT_READY: 0x2,
  /** Sense key MEDIUM ERROR (0x3). */
  MEDIUM_ERROR: 0x3,
  /** Sense key HARDWARE ERROR (0x4). */
  HARDWARE_ERROR: 0x4,
  /** Sense key ILLEGAL REQUEST (0x5). */
  ILLEGAL_REQUEST: 0x5,
  /** Sense key UNIT ATTENTION (0x6). */
  UNIT_ATTENTION: 0x6,
  /** Sense key DATA PROTECT (0x7). */
  DATA_PROTECT: 0x7,
  /** Sense key ABORTED COMMAND (0xb). */
  ABORTED_COMMAND: 0xb,
  /** Sense key MISCOMPARE (0xe). */
  MISCOMPARE: 0xe,
} as const;
export type SenseKey = (typeof SenseKey)[keyof typeof SenseKey];

/** Operation codes the target answers (SPC-4, SBC-3). @example `cdb[0] === Opcode.INQUIRY` */
export const Opcode = {
  /** TEST UNIT READY (0x00). */
  TEST_UNIT_READY: 0x00,
  /** REQUEST SENSE (0x03). */
  REQUEST_SENSE: 0x03,
  /** READ(6) (0x08). */
  READ_6: 0x08,
  /** WRITE(6) (0x0a). */
  WRITE_6: 0x0a,
  /** INQUIRY (0x12). */
  INQUIRY: 0x12,
  /** MODE SELECT(6) (0x15). */
  MODE_SELECT_6: 0x15,
  /** MODE SENSE(6) (0x1a). */
  MODE_SENSE_6: 0x1a,
  /** START STOP UNIT (0x1b). */
  START_STOP_UNIT: 0x1b,
  /** READ CAPACITY(10) (0x25). */
  READ_CAPACITY_10: 0x25,
  /** READ(10) (0x28). */
  READ_10: 0x28,
  /** WRITE(10) (0x2a). */
  WRITE_10: 0x2a,
  /** VERIFY(10) (0x2f). */
  VERIFY_10: 0x2f,
  /** SYNCHRONIZE CACHE(10) (0x35). */
  SYNCHRONIZE_CACHE_10: 0x35,
  /** WRITE SAME(10) (0x41). */
  WRITE_SAME_10: 0x41,
  /** UNMAP (0x42). */
  UNMAP: 0x42,
  /** MODE SELECT(10) (0x55). */
  MODE_SELECT_10: 0x55,
  /** MODE SENSE(10) (0x5a). */
  MODE_SENSE_10: 0x5a,
  /** READ(16) (0x88). */
  READ_16: 0x88,
  /** WRITE(16) (0x8a). */
  WRITE_16: 0x8a,
  /** VERIFY(16) (0x8f). */
  VERIFY_16: 0x8f,
  /** SYNCHRONIZE CACHE(16) (0x91). */
  SYNCHRONIZE_CACHE_16: 0x91,
  /** WRITE SAME(16) (0x93). */
  WRITE_SAME_16: 0x93,
  /** SERVICE ACTION IN(16): READ CAPACITY(16) is service action 0x10. */
  SERVICE_ACTION_IN_16: 0x9e,
  /** REPORT LUNS (0xa0). */
  REPORT_LUNS: 0xa0,
  /** MAINTENANCE IN: REPORT SUPPORTED OPERATION CODES is service action 0x0c. */
  MAINTENANCE_IN: 0xa3,
  /** READ(12) (0xa8). */
  READ_12: 0xa8,
  /** WRITE(12) (0xaa). */
  WRITE_12: 0xaa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Service actions of the opcodes that have them. @example `ServiceAction.READ_CAPACITY_16 === 0x10` */
export const ServiceAction = {
  /** READ CAPACITY(16), of SERVICE ACTION IN(16) (10h). */
  READ_CAPACITY_16: 0x10,
  /** REPORT SUPPORTED OPERATION CODES, of MAINTENANCE IN (0Ch). */
  REPORT_SUPPORTED_OPCODES: 0x0c,
} as const;

/** Mode pages the target has (SPC-4 §7.5, SBC-3 §6.4). @example `ModePage.CACHING === 0x08` */
export const ModePage = {
  /** Read-write error recovery (01h). */
  READ_WRITE_ERROR_RECOVERY: 0x01,
  /** Caching (08h): WCE. */
  CACHING: 0x08,
  /** Control (0Ah): D_SENSE. */
  CONTROL: 0x0a,
  /** All pages (3Fh), in MODE SENSE. */
  ALL: 0x3f,
} as const;

/** VPD pages the target has (SPC-4 §7.8, SBC-3 §6.5). @example `VpdPage.BLOCK_LIMITS === 0xb0` */
export const VpdPage = {
  /** VPD page supported pages (0x00). */
  SUPPORTED_PAGES: 0x00,
  /** VPD page unit serial number (0x80). */
  UNIT_SERIAL_NUMBER: 0x80,
  /** VPD page device identification (0x83). */
  DEVICE_IDENTIFICATION: 0x83,
  /** VPD page block limits (0xb0). */
  BLOCK_LIMITS: 0xb0,
  /** VPD page block device characteristics (0xb1). */
  BLOCK_DEVICE_CHARACTERISTICS: 0xb1,
  /** VPD page logical block provisioning (0xb2). */
  LOGICAL_BLOCK_PROVISIONING: 0xb2,
} as const;

/** The logical block size of every LUN: @vmv/block's sector. @example `capacity = size / BLOCK_SIZE` */
export const BLOCK_SIZE = 512;
/** Largest target number (§5.6.4: max_target SHOULD be at most 255). @example `target <= MAX_TARGET` */
export const MAX_TARGET = 255;
/** Largest LUN in the single-level flat format (§5.6.6.1: 16384 LUNs per target). @example `lun <= MAX_LUN` */
export const MAX_LUN = 16383;
