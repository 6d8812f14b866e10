/**
 * The numbers of virtio-snd (VIRTIO 1.2 §5.14): queues, the feature bit, request, event and status
 * codes (§5.14.6), PCM features, sample formats and frame rates (§5.14.6.6.2), channel positions
 * (§5.14.6.9.1), control element roles, types, access bits and event masks (§5.14.6.10), and the
 * sizes of the wire structures. One source for every number the device puts on the wire.
 * @module
 */

/** The four virtqueues (§5.14.2). @example `device.queueNotify(SoundQueue.TXQ)` */
export const SoundQueue = { CONTROLQ: 0, EVENTQ: 1, TXQ: 2, RXQ: 3 } as const;

/** Device feature bits (§5.14.3). @example `featureBit(SoundFeature.CTLS)` */
export const SoundFeature = { CTLS: 0 } as const;

/** Control request codes (virtio_snd_hdr.code of a request, §5.14.6). @example `Request.PCM_START` */
export const Request = {
  JACK_INFO: 1,
  JACK_REMAP: 2,
  PCM_INFO: 0x0100,
  PCM_SET_PARAMS: 0x0101,
  PCM_PREPARE: 0x0102,
  PCM_RELEASE: 0x0103,
  PCM_START: 0x0104,
  PCM_STOP: 0x0105,
  CHMAP_INFO: 0x0200,
  CTL_INFO: 0x0300,
  CTL_ENUM_ITEMS: 0x0301,
  CTL_READ: 0x0302,
  CTL_WRITE: 0x0303,
  CTL_TLV_READ: 0x0304,
  CTL_TLV_WRITE: 0x0305,
  CTL_TLV_COMMAND: 0x0306,
} as const;

/** Event codes (virtio_snd_event.hdr.code, §5.14.6). @example `Event.PCM_XRUN` */
export const Event = {
  JACK_CONNECTED: 0x1000,
  JACK_DISCONNECTED: 0x1001,
  PCM_PERIOD_ELAPSED: 0x1100,
  PCM_XRUN: 0x1101,
  CTL_NOTIFY: 0x1200,
} as const;

/** Status codes of a response or an I/O message (§5.14.6). @example `SoundStatus.BAD_MSG` */
export const SoundStatus = { OK: 0x8000, BAD_MSG: 0x8001, NOT_SUPP: 0x8002, IO_ERR: 0x8003 } as const;

/** Data flow directions (VIRTIO_SND_D_*). @example `Direction.OUTPUT` */
export const Direction = { OUTPUT: 0, INPUT: 1 } as const;
/** One of {@link Direction}. @example `const d: DirectionValue = Direction.INPUT;` */
export type DirectionValue = (typeof Direction)[keyof typeof Direction];

/** Jack feature bits (VIRTIO_SND_JACK_F_*, §5.14.6.4.1). @example `1 << JackFeature.REMAP` */
export const JackFeature = { REMAP: 0 } as const;

/** PCM stream feature bits (VIRTIO_SND_PCM_F_*, §5.14.6.6.2). @example `1 << PcmFeature.EVT_XRUNS` */
export const PcmFeature = { SHMEM_HOST: 0, SHMEM_GUEST: 1, MSG_POLLING: 2, EVT_SHMEM_PERIODS: 3, EVT_XRUNS: 4 } as const;
/** The PCM feature bits the spec defines. @example `(features & ~PCM_FEATURES_DEFINED) !== 0 // undefined bits` */
export const PCM_FEATURES_DEFINED = 0x1f;

/**
 * Sample formats (VIRTIO_SND_PCM_FMT_*, §5.14.6.6.2), by name.
 * @example `Format.S16`
 */
export const Format = {
  IMA_ADPCM: 0,
  MU_LAW: 1,
  A_LAW: 2,
  S8: 3,
  U8: 4,
  S16: 5,
  U16: 6,
  S18_3: 7,
  U18_3: 8,
  S20_3: 9,
  U20_3: 10,
  S24_3: 11,
  U24_3: 12,
  S20: 13,
  U20: 14,
  S24: 15,
  U24: 16,
  S32: 17,
  U32: 18,
  FLOAT: 19,
  FLOAT64: 20,
  DSD_U8: 21,
  DSD_U16: 22,
  DSD_U32: 23,
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
  NONE: 0, NA: 1, MONO: 2, FL: 3, FR: 4, RL: 5, RR: 6, FC: 7, LFE: 8, SL: 9, SR: 10, RC: 11, FLC: 12, FRC: 13, RLC: 14, RRC: 15,
  FLW: 16, FRW: 17, FLH: 18, FCH: 19, FRH: 20, TC: 21, TFL: 22, TFR: 23, TFC: 24, TRL: 25, TRR: 26, TRC: 27, TFLC: 28, TFRC: 29,
  TSL: 30, TSR: 31, LLFE: 32, RLFE: 33, BC: 34, BLC: 35, BRC: 36,
} as const;
/** A position's name: a key of {@link ChannelPosition}. @example `const p: ChannelPositionName = 'FL';` */
export type ChannelPositionName = keyof typeof ChannelPosition;
/** Most positions in a channel map (VIRTIO_SND_CHMAP_MAX_SIZE). @example `positions.length <= CHMAP_MAX_SIZE` */
export const CHMAP_MAX_SIZE = 18;

/** Control element roles (VIRTIO_SND_CTL_ROLE_*, §5.14.6.10.1). @example `ControlRole.VOLUME` */
export const ControlRole = { UNDEFINED: 0, VOLUME: 1, MUTE: 2, GAIN: 3 } as const;
/** Control element value types (VIRTIO_SND_CTL_TYPE_*). @example `ControlType.INTEGER` */
export const ControlType = { BOOLEAN: 0, INTEGER: 1, INTEGER64: 2, ENUMERATED: 3, BYTES: 4, IEC958: 5 } as const;
/** Control element access bits (VIRTIO_SND_CTL_ACCESS_*). @example `1 << ControlAccess.WRITE` */
export const ControlAccess = { READ: 0, WRITE: 1, VOLATILE: 2, INACTIVE: 3, TLV_READ: 4, TLV_WRITE: 5, TLV_COMMAND: 6 } as const;
/** Control event mask bits (VIRTIO_SND_CTL_EVT_MASK_*). @example `1 << ControlEventMask.VALUE` */
export const ControlEventMask = { VALUE: 0, INFO: 1, TLV: 2 } as const;

/**
 * Sizes of the wire structures, in bytes. struct virtio_snd_ctl_info is 96: its value union holds
 * le64s, so C aligns it to 8 (offset 72, after 4 bytes of padding), as Linux's uapi header lays it out.
 * @example `Size.PCM_INFO === 32`
 */
export const Size = {
  CONFIG: 16,
  HDR: 4,
  EVENT: 8,
  QUERY_INFO: 16,
  JACK_HDR: 8,
  JACK_INFO: 24,
  JACK_REMAP: 16,
  PCM_HDR: 8,
  PCM_INFO: 32,
  PCM_SET_PARAMS: 24,
  PCM_XFER: 4,
  PCM_STATUS: 8,
  CHMAP_INFO: 24,
  CTL_HDR: 8,
  CTL_INFO: 96,
  CTL_VALUE: 512,
  CTL_NAME: 44,
} as const;
