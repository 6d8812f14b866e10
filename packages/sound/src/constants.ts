/**
 * The numbers of virtio-snd (VIRTIO 1.2 §5.14): queues, the feature bit, request, event and status
 * codes (§5.14.6), PCM features, sample formats and frame rates (§5.14.6.6.2), channel positions
 * (§5.14.6.9.1), control element roles, types, access bits and event masks (§5.14.6.10), and the
 * sizes of the wire structures. One source for every number the device puts on the wire.
 * @module
 */

/** The four virtqueues (§5.14.2). @example `device.queueNotify(SoundQueue.TXQ)` */
export const SoundQueue = {
  /** controlq: the driver's control requests (jack, PCM, channel map and control element requests). */
  CONTROLQ: 0,
  /** eventq: buffers the device fills with notifications (jack, PCM and control events). */
  EVENTQ: 1,
  /** txq: I/O messages with the frames of output streams. */
  TXQ: 2,
  /** rxq: I/O messages the device fills with the frames of input streams. */
  RXQ: 3,
} as const;

/** Device feature bits (§5.14.3). @example `featureBit(SoundFeature.CTLS)` */
export const SoundFeature = {
  /** VIRTIO_SND_F_CTLS: the device has control elements (config `controls`, CTL requests, §5.14.6.10). */
  CTLS: 0,
} as const;

/** Control request codes (virtio_snd_hdr.code of a request, §5.14.6). @example `Request.PCM_START` */
export const Request = {
  /** VIRTIO_SND_R_JACK_INFO: query the jacks' information (§5.14.6.4.1). */
  JACK_INFO: 1,
  /** VIRTIO_SND_R_JACK_REMAP: change a jack's association and sequence (§5.14.6.4.2). */
  JACK_REMAP: 2,
  /** VIRTIO_SND_R_PCM_INFO: query the streams' capabilities (§5.14.6.6.2). */
  PCM_INFO: 0x0100,
  /** VIRTIO_SND_R_PCM_SET_PARAMS: set a stream's format, rate, channels, buffer and period (§5.14.6.6.3). */
  PCM_SET_PARAMS: 0x0101,
  /** VIRTIO_SND_R_PCM_PREPARE: prepare a stream (allocate its resources) (§5.14.6.6.4). */
  PCM_PREPARE: 0x0102,
  /** VIRTIO_SND_R_PCM_RELEASE: release a stream, completing its pending I/O messages (§5.14.6.6.5). */
  PCM_RELEASE: 0x0103,
  /** VIRTIO_SND_R_PCM_START: start a stream (§5.14.6.6.6). */
  PCM_START: 0x0104,
  /** VIRTIO_SND_R_PCM_STOP: stop a stream (§5.14.6.6.7). */
  PCM_STOP: 0x0105,
  /** VIRTIO_SND_R_CHMAP_INFO: query the channel maps (§5.14.6.9.1). */
  CHMAP_INFO: 0x0200,
  /** VIRTIO_SND_R_CTL_INFO: query the control elements' information (§5.14.6.10.1). */
  CTL_INFO: 0x0300,
  /** VIRTIO_SND_R_CTL_ENUM_ITEMS: query the item names of an ENUMERATED element (§5.14.6.10.1). */
  CTL_ENUM_ITEMS: 0x0301,
  /** VIRTIO_SND_R_CTL_READ: read an element's value (§5.14.6.10.2). */
  CTL_READ: 0x0302,
  /** VIRTIO_SND_R_CTL_WRITE: write an element's value (§5.14.6.10.2). */
  CTL_WRITE: 0x0303,
  /** VIRTIO_SND_R_CTL_TLV_READ: read an element's metadata (§5.14.6.10.3). */
  CTL_TLV_READ: 0x0304,
  /** VIRTIO_SND_R_CTL_TLV_WRITE: write an element's metadata (§5.14.6.10.3). */
  CTL_TLV_WRITE: 0x0305,
  /** VIRTIO_SND_R_CTL_TLV_COMMAND: run a command on an element's metadata (§5.14.6.10.3). */
  CTL_TLV_COMMAND: 0x0306,
} as const;

/** Event codes (virtio_snd_event.hdr.code, §5.14.6). @example `Event.PCM_XRUN` */
export const Event = {
  /** VIRTIO_SND_EVT_JACK_CONNECTED: a device was plugged into jack `data` (§5.14.6.5). */
  JACK_CONNECTED: 0x1000,
  /** VIRTIO_SND_EVT_JACK_DISCONNECTED: a device was unplugged from jack `data` (§5.14.6.5). */
  JACK_DISCONNECTED: 0x1001,
  /** VIRTIO_SND_EVT_PCM_PERIOD_ELAPSED: a period of stream `data` elapsed (shared memory transport, §5.14.6.7). */
  PCM_PERIOD_ELAPSED: 0x1100,
  /** VIRTIO_SND_EVT_PCM_XRUN: an underrun (output) or overrun (input) of stream `data` (§5.14.6.7). */
  PCM_XRUN: 0x1101,
  /** VIRTIO_SND_EVT_CTL_NOTIFY: a control element changed; `data` is its id and the VIRTIO_SND_CTL_EVT_MASK_* bits (§5.14.6.10.4). */
  CTL_NOTIFY: 0x1200,
} as const;

/** Status codes of a response or an I/O message (§5.14.6). @example `SoundStatus.BAD_MSG` */
export const SoundStatus = {
  /** VIRTIO_SND_S_OK: success. */
  OK: 0x8000,
  /** VIRTIO_SND_S_BAD_MSG: the message is malformed or has invalid parameters. */
  BAD_MSG: 0x8001,
  /** VIRTIO_SND_S_NOT_SUPP: the operation or the parameters are not supported. */
  NOT_SUPP: 0x8002,
  /** VIRTIO_SND_S_IO_ERR: an I/O error occurred. */
  IO_ERR: 0x8003,
} as const;

/** Data flow directions (VIRTIO_SND_D_*). @example `Direction.OUTPUT` */
export const Direction = {
  /** VIRTIO_SND_D_OUTPUT: playback, frames from the driver to the device (txq). */
  OUTPUT: 0,
  /** VIRTIO_SND_D_INPUT: capture, frames from the device to the driver (rxq). */
  INPUT: 1,
} as const;
/** One of {@link Direction}. @example `const d: DirectionValue = Direction.INPUT;` */
export type DirectionValue = (typeof Direction)[keyof typeof Direction];

/** Jack feature bits (VIRTIO_SND_JACK_F_*, §5.14.6.4.1). @example `1 << JackFeature.REMAP` */
export const JackFeature = {
  /** VIRTIO_SND_JACK_F_REMAP: the jack accepts JACK_REMAP requests. */
  REMAP: 0,
} as const;

/** PCM stream feature bits (VIRTIO_SND_PCM_F_*, §5.14.6.6.2). @example `1 << PcmFeature.EVT_XRUNS` */
export const PcmFeature = {
  /** VIRTIO_SND_PCM_F_SHMEM_HOST: frames in host memory shared with the guest (a placeholder the driver must not select). */
  SHMEM_HOST: 0,
  /** VIRTIO_SND_PCM_F_SHMEM_GUEST: frames in guest memory shared with the host (a placeholder the driver must not select). */
  SHMEM_GUEST: 1,
  /** VIRTIO_SND_PCM_F_MSG_POLLING: no available-buffer notifications on txq and rxq; the device polls. */
  MSG_POLLING: 2,
  /** VIRTIO_SND_PCM_F_EVT_SHMEM_PERIODS: PERIOD_ELAPSED events for the shared memory transport. */
  EVT_SHMEM_PERIODS: 3,
  /** VIRTIO_SND_PCM_F_EVT_XRUNS: XRUN events for underruns and overruns. */
  EVT_XRUNS: 4,
} as const;
/** The PCM feature bits the spec defines. @example `(features & ~PCM_FEATURES_DEFINED) !== 0 // undefined bits` */
export const PCM_FEATURES_DEFINED = 0x1f;

/**
 * Sample formats (VIRTIO_SND_PCM_FMT_*, §5.14.6.6.2), by name.
 * @example `Format.S16`
 */
export const Format = {
  /** VIRTIO_SND_PCM_FMT_IMA_ADPCM: IMA ADPCM, 4 bits a sample. */
  IMA_ADPCM: 0,
  /** VIRTIO_SND_PCM_FMT_MU_LAW: µ-law, 8 bits. */
  MU_LAW: 1,
  /** VIRTIO_SND_PCM_FMT_A_LAW: A-law, 8 bits. */
  A_LAW: 2,
  /** VIRTIO_SND_PCM_FMT_S8: signed 8-bit. */
  S8: 3,
  /** VIRTIO_SND_PCM_FMT_U8: unsigned 8-bit. */
  U8: 4,
  /** VIRTIO_SND_PCM_FMT_S16: signed 16-bit. */
  S16: 5,
  /** VIRTIO_SND_PCM_FMT_U16: unsigned 16-bit. */
  U16: 6,
  /** VIRTIO_SND_PCM_FMT_S18_3: signed 18 bits in 3 bytes. */
  S18_3: 7,
  /** VIRTIO_SND_PCM_FMT_U18_3: unsigned 18 bits in 3 bytes. */
  U18_3: 8,
  /** VIRTIO_SND_PCM_FMT_S20_3: signed 20 bits in 3 bytes. */
  S20_3: 9,
  /** VIRTIO_SND_PCM_FMT_U20_3: unsigned 20 bits in 3 bytes. */
  U20_3: 10,
  /** VIRTIO_SND_PCM_FMT_S24_3: signed 24 bits in 3 bytes. */
  S24_3: 11,
  /** VIRTIO_SND_PCM_FMT_U24_3: unsigned 24 bits in 3 bytes. */
  U24_3: 12,
  /** VIRTIO_SND_PCM_FMT_S20: signed 20 bits in 4 bytes. */
  S20: 13,
  /** VIRTIO_SND_PCM_FMT_U20: unsigned 20 bits in 4 bytes. */
  U20: 14,
  /** VIRTIO_SND_PCM_FMT_S24: signed 24 bits in 4 bytes. */
  S24: 15,
  /** VIRTIO_SND_PCM_FMT_U24: unsigned 24 bits in 4 bytes. */
  U24: 16,
  /** VIRTIO_SND_PCM_FMT_S32: signed 32-bit. */
  S32: 17,
  /** VIRTIO_SND_PCM_FMT_U32: unsigned 32-bit. */
  U32: 18,
  /** VIRTIO_SND_PCM_FMT_FLOAT: 32-bit float. */
  FLOAT: 19,
  /** VIRTIO_SND_PCM_FMT_FLOAT64: 64-bit float. */
  FLOAT64: 20,
  /** VIRTIO_SND_PCM_FMT_DSD_U8: DSD (digital), 8 bits. */
  DSD_U8: 21,
  /** VIRTIO_SND_PCM_FMT_DSD_U16: DSD (digital), 16 bits. */
  DSD_U16: 22,
  /** VIRTIO_SND_PCM_FMT_DSD_U32: DSD (digital), 32 bits. */
  DSD_U32: 23,
  /** VIRTIO_SND_PCM_FMT_IEC958_SUBFRAME: IEC958 (S/PDIF) subframes (digital), 32 bits. */
  IEC958_SUBFRAME: 24,
} as const;
/** A format's name: a key of {@link Format}. @example `const f: FormatName = 'S16';` */
export type FormatName = keyof typeof Format;

/**
 * Physical bits per sample of each format, indexed by its code (IMA ADPCM is 4 bits a sample:
 * a frame's size in bytes is then `channels / 2`).
 * @example `FORMAT_BITS[Format.S24_3] // 24`
 */
export const FORMAT_BITS: readonly number[] = [4, 8, 8, 8, 8, 16, 16, 24, 24, 24, 24, 24, 24, 32, 32, 32, 32, 32, 32, 32, 64, 8, 16, 32, 32];

/**
 * Frame rates (VIRTIO_SND_PCM_RATE_*, §5.14.6.6.2): code to frames per second.
 * @example `RATE_HZ[7] === 48000`
 */
export const RATE_HZ: readonly number[] = [5512, 8000, 11025, 16000, 22050, 32000, 44100, 48000, 64000, 88200, 96000, 176400, 192000, 384000, 12000, 24000];

/**
 * Channel positions (VIRTIO_SND_CHMAP_*, §5.14.6.9.1), by name.
 * @example `[ChannelPosition.FL, ChannelPosition.FR]`
 */
export const ChannelPosition = {
  /** VIRTIO_SND_CHMAP_NONE: undefined. */
  NONE: 0,
  /** VIRTIO_SND_CHMAP_NA: silent. */
  NA: 1,
  /** VIRTIO_SND_CHMAP_MONO: mono. */
  MONO: 2,
  /** VIRTIO_SND_CHMAP_FL: front left. */
  FL: 3,
  /** VIRTIO_SND_CHMAP_FR: front right. */
  FR: 4,
  /** VIRTIO_SND_CHMAP_RL: rear left. */
  RL: 5,
  /** VIRTIO_SND_CHMAP_RR: rear right. */
  RR: 6,
  /** VIRTIO_SND_CHMAP_FC: front center. */
  FC: 7,
  /** VIRTIO_SND_CHMAP_LFE: low frequency effects. */
  LFE: 8,
  /** VIRTIO_SND_CHMAP_SL: side left. */
  SL: 9,
  /** VIRTIO_SND_CHMAP_SR: side right. */
  SR: 10,
  /** VIRTIO_SND_CHMAP_RC: rear center. */
  RC: 11,
  /** VIRTIO_SND_CHMAP_FLC: front left center. */
  FLC: 12,
  /** VIRTIO_SND_CHMAP_FRC: front right center. */
  FRC: 13,
  /** VIRTIO_SND_CHMAP_RLC: rear left center. */
  RLC: 14,
  /** VIRTIO_SND_CHMAP_RRC: rear right center. */
  RRC: 15,
  /** VIRTIO_SND_CHMAP_FLW: front left wide. */
  FLW: 16,
  /** VIRTIO_SND_CHMAP_FRW: front right wide. */
  FRW: 17,
  /** VIRTIO_SND_CHMAP_FLH: front left high. */
  FLH: 18,
  /** VIRTIO_SND_CHMAP_FCH: front center high. */
  FCH: 19,
  /** VIRTIO_SND_CHMAP_FRH: front right high. */
  FRH: 20,
  /** VIRTIO_SND_CHMAP_TC: top center. */
  TC: 21,
  /** VIRTIO_SND_CHMAP_TFL: top front left. */
  TFL: 22,
  /** VIRTIO_SND_CHMAP_TFR: top front right. */
  TFR: 23,
  /** VIRTIO_SND_CHMAP_TFC: top front center. */
  TFC: 24,
  /** VIRTIO_SND_CHMAP_TRL: top rear left. */
  TRL: 25,
  /** VIRTIO_SND_CHMAP_TRR: top rear right. */
  TRR: 26,
  /** VIRTIO_SND_CHMAP_TRC: top rear center. */
  TRC: 27,
  /** VIRTIO_SND_CHMAP_TFLC: top front left center. */
  TFLC: 28,
  /** VIRTIO_SND_CHMAP_TFRC: top front right center. */
  TFRC: 29,
  /** VIRTIO_SND_CHMAP_TSL: top side left. */
  TSL: 30,
  /** VIRTIO_SND_CHMAP_TSR: top side right. */
  TSR: 31,
  /** VIRTIO_SND_CHMAP_LLFE: left LFE. */
  LLFE: 32,
  /** VIRTIO_SND_CHMAP_RLFE: right LFE. */
  RLFE: 33,
  /** VIRTIO_SND_CHMAP_BC: bottom center. */
  BC: 34,
  /** VIRTIO_SND_CHMAP_BLC: bottom left center. */
  BLC: 35,
  /** VIRTIO_SND_CHMAP_BRC: bottom right center. */
  BRC: 36,
} as const;
/** A position's name: a key of {@link ChannelPosition}. @example `const p: ChannelPositionName = 'FL';` */
export type ChannelPositionName = keyof typeof ChannelPosition;
/** Most positions in a channel map (VIRTIO_SND_CHMAP_MAX_SIZE). @example `positions.length <= CHMAP_MAX_SIZE` */
export const CHMAP_MAX_SIZE = 18;

/** Control element roles (VIRTIO_SND_CTL_ROLE_*, §5.14.6.10.1). @example `ControlRole.VOLUME` */
export const ControlRole = {
  /** VIRTIO_SND_CTL_ROLE_UNDEFINED: no particular role. */
  UNDEFINED: 0,
  /** VIRTIO_SND_CTL_ROLE_VOLUME: a volume control. */
  VOLUME: 1,
  /** VIRTIO_SND_CTL_ROLE_MUTE: a mute switch. */
  MUTE: 2,
  /** VIRTIO_SND_CTL_ROLE_GAIN: a gain control. */
  GAIN: 3,
} as const;
/** Control element value types (VIRTIO_SND_CTL_TYPE_*). @example `ControlType.INTEGER` */
export const ControlType = {
  /** VIRTIO_SND_CTL_TYPE_BOOLEAN: values 0 (off) and 1 (on), as le32s. */
  BOOLEAN: 0,
  /** VIRTIO_SND_CTL_TYPE_INTEGER: 32-bit integers between min and max. */
  INTEGER: 1,
  /** VIRTIO_SND_CTL_TYPE_INTEGER64: 64-bit integers between min and max. */
  INTEGER64: 2,
  /** VIRTIO_SND_CTL_TYPE_ENUMERATED: indexes of named items (CTL_ENUM_ITEMS). */
  ENUMERATED: 3,
  /** VIRTIO_SND_CTL_TYPE_BYTES: 8-bit values. */
  BYTES: 4,
  /** VIRTIO_SND_CTL_TYPE_IEC958: a digital audio interface's channel status and subcode (virtio_snd_ctl_iec958). */
  IEC958: 5,
} as const;
/** Control element access bits (VIRTIO_SND_CTL_ACCESS_*). @example `1 << ControlAccess.WRITE` */
export const ControlAccess = {
  /** VIRTIO_SND_CTL_ACCESS_READ: the value can be read (CTL_READ). */
  READ: 0,
  /** VIRTIO_SND_CTL_ACCESS_WRITE: the value can be written (CTL_WRITE). */
  WRITE: 1,
  /** VIRTIO_SND_CTL_ACCESS_VOLATILE: the value may change without a notification. */
  VOLATILE: 2,
  /** VIRTIO_SND_CTL_ACCESS_INACTIVE: the element does nothing for now, but may be updated. */
  INACTIVE: 3,
  /** VIRTIO_SND_CTL_ACCESS_TLV_READ: the metadata can be read (CTL_TLV_READ). */
  TLV_READ: 4,
  /** VIRTIO_SND_CTL_ACCESS_TLV_WRITE: the metadata can be written (CTL_TLV_WRITE). */
  TLV_WRITE: 5,
  /** VIRTIO_SND_CTL_ACCESS_TLV_COMMAND: a metadata command can be run (CTL_TLV_COMMAND). */
  TLV_COMMAND: 6,
} as const;
/** Control event mask bits (VIRTIO_SND_CTL_EVT_MASK_*). @example `1 << ControlEventMask.VALUE` */
export const ControlEventMask = {
  /** VIRTIO_SND_CTL_EVT_MASK_VALUE: the element's value changed. */
  VALUE: 0,
  /** VIRTIO_SND_CTL_EVT_MASK_INFO: the element's information changed. */
  INFO: 1,
  /** VIRTIO_SND_CTL_EVT_MASK_TLV: the element's metadata changed. */
  TLV: 2,
} as const;

/**
 * Sizes of the wire structures, in bytes. struct virtio_snd_ctl_info is 96: its value union holds
 * le64s, so C aligns it to 8 (offset 72, after 4 bytes of padding), as Linux's uapi header lays it out.
 * @example `Size.PCM_INFO === 32`
 */
export const Size = {
  /** struct virtio_snd_config: jacks, streams, chmaps, controls (§5.14.4). */
  CONFIG: 16,
  /** struct virtio_snd_hdr: a request's code or a response's status. */
  HDR: 4,
  /** struct virtio_snd_event: hdr and data. */
  EVENT: 8,
  /** struct virtio_snd_query_info: hdr, start_id, count, size (§5.14.6.1). */
  QUERY_INFO: 16,
  /** struct virtio_snd_jack_hdr: hdr and jack_id. */
  JACK_HDR: 8,
  /** struct virtio_snd_jack_info: one jack of a JACK_INFO response. */
  JACK_INFO: 24,
  /** struct virtio_snd_jack_remap: jack header, association, sequence. */
  JACK_REMAP: 16,
  /** struct virtio_snd_pcm_hdr: hdr and stream_id. */
  PCM_HDR: 8,
  /** struct virtio_snd_pcm_info: one stream of a PCM_INFO response. */
  PCM_INFO: 32,
  /** struct virtio_snd_pcm_set_params: the PCM_SET_PARAMS request. */
  PCM_SET_PARAMS: 24,
  /** struct virtio_snd_pcm_xfer: an I/O message's header (stream_id). */
  PCM_XFER: 4,
  /** struct virtio_snd_pcm_status: an I/O message's status and latency_bytes. */
  PCM_STATUS: 8,
  /** struct virtio_snd_chmap_info: one channel map of a CHMAP_INFO response. */
  CHMAP_INFO: 24,
  /** struct virtio_snd_ctl_hdr: hdr and control_id. */
  CTL_HDR: 8,
  /** struct virtio_snd_ctl_info: one element of a CTL_INFO response (its value union aligned to 8). */
  CTL_INFO: 96,
  /** struct virtio_snd_ctl_value: an element's value, of CTL_READ and CTL_WRITE. */
  CTL_VALUE: 512,
  /** virtio_snd_ctl_info.name: an element's 0-terminated name. */
  CTL_NAME: 44,
} as const;
