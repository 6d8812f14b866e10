/**
 * vhost-user wire constants: request codes, header flags, protocol feature bits and limits,
 * as QEMU 7.2 defines them (docs/interop/vhost-user.rst, hw/virtio/vhost-user.c).
 *
 * All numbers on the wire are in the host's native byte order (the frontend and backend share
 * a machine). Every Linux host Node supports today is little-endian; the codecs read the native
 * order so they stay correct elsewhere.
 *
 * @module
 */

/**
 * Frontend → backend request codes ("front-end message types" of vhost-user.rst).
 * Code 21 is named SET_SLAVE_REQ_FD in QEMU 7.2 and SET_BACKEND_REQ_FD in later releases.
 *
 * @example
 * ```ts
 * if (header.request === VhostUserRequest.GET_FEATURES) reply(features);
 * ```
 */
export const VhostUserRequest = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
  SET_BACKEND_REQ_FD: 21,
  IOTLB_MSG: 22,
  SET_VRING_ENDIAN: 23,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  CREATE_CRYPTO_SESSION: 26,
  CLOSE_CRYPTO_SESSION: 27,
  POSTCOPY_ADVISE: 28,
  POSTCOPY_LISTEN: 29,
  POSTCOPY_END: 30,
  GET_INFLIGHT_FD: 31,
  SET_INFLIGHT_FD: 32,
  GPU_SET_SOCKET: 33,
  RESET_DEVICE: 34,
  VRING_KICK: 35,
  GET_MAX_MEM_SLOTS: 36,
  ADD_MEM_REG: 37,
  REM_MEM_REG: 38,
  SET_STATUS: 39,
  GET_STATUS: 40,
} as const;

/**
 * Backend → frontend request codes, sent on the backend request channel
 * (VHOST_USER_BACKEND_*, "back-end message types" of vhost-user.rst; `SLAVE_*` in QEMU 7.2).
 * QEMU 7.2 serves 1-3; 4-8 came later.
 *
 * @example
 * ```ts
 * if (header.request === VhostUserBackendRequest.CONFIG_CHANGE_MSG) rereadConfig();
 * ```
 */
export const VhostUserBackendRequest = {
  IOTLB_MSG: 1,
  CONFIG_CHANGE_MSG: 2,
  VRING_HOST_NOTIFIER_MSG: 3,
  VRING_CALL: 4,
  VRING_ERR: 5,
  SHARED_OBJECT_ADD: 6,
  SHARED_OBJECT_REMOVE: 7,
  SHARED_OBJECT_LOOKUP: 8,
} as const;

/**
 * Whether `code` is a backend request code vhost-user.rst defines (1-8).
 *
 * @param code - a request code from a backend request header
 * @returns true for a {@link VhostUserBackendRequestCode}
 * @example
 * ```ts
 * isKnownBackendRequest(2); // true: CONFIG_CHANGE_MSG
 * ```
 */
export function isKnownBackendRequest(code: number): code is VhostUserBackendRequestCode {
  return Number.isInteger(code) && code >= 1 && code <= 8;
}

/**
 * Numeric code of a backend request.
 *
 * @example
 * ```ts
 * const code: VhostUserBackendRequestCode = VhostUserBackendRequest.CONFIG_CHANGE_MSG; // 2
 * ```
 */
export type VhostUserBackendRequestCode = (typeof VhostUserBackendRequest)[keyof typeof VhostUserBackendRequest];

/**
 * Name of a frontend request (`'GET_FEATURES'`, ...).
 *
 * @example
 * ```ts
 * const name: VhostUserRequestName | undefined = requestName(header.request); // 'SET_MEM_TABLE'
 * ```
 */
export type VhostUserRequestName = keyof typeof VhostUserRequest;
/**
 * Numeric code of a frontend request.
 *
 * @example
 * ```ts
 * const code: VhostUserRequestCode = VhostUserRequest.GET_VRING_BASE; // 11
 * if (isKnownRequest(n)) handle(n); // n is a VhostUserRequestCode here
 * ```
 */
export type VhostUserRequestCode = (typeof VhostUserRequest)[VhostUserRequestName];

const REQUEST_NAMES: readonly (VhostUserRequestName | undefined)[] = (() => {
  const names: (VhostUserRequestName | undefined)[] = [];
  for (const [name, code] of Object.entries(VhostUserRequest)) names[code] = name as VhostUserRequestName;
  return names;
})();

/**
 * The name of a request code, or `undefined` if the code is not a QEMU 7.2 request.
 *
 * @param code - request code from a header
 * @returns the name, e.g. `'SET_MEM_TABLE'`
 * @example
 * ```ts
 * requestName(5); // 'SET_MEM_TABLE'
 * ```
 */
export function requestName(code: number): VhostUserRequestName | undefined {
  return Number.isInteger(code) && code >= 0 ? REQUEST_NAMES[code] : undefined;
}

/**
 * True when `code` is a request code this protocol version defines.
 *
 * @param code - request code from a header
 * @returns whether it is known
 * @example
 * ```ts
 * isKnownRequest(40); // true (GET_STATUS)
 * ```
 */
export function isKnownRequest(code: number): code is VhostUserRequestCode {
  return requestName(code) !== undefined;
}

/**
 * Bits of the header `flags` word.
 *
 * @example
 * ```ts
 * const flags = HeaderFlags.VERSION | HeaderFlags.REPLY; // 0x5, what QEMU expects in replies
 * ```
 */
export const HeaderFlags = {
  /** Mask of the two version bits. */
  VERSION_MASK: 0x3,
  /** The only protocol version: 1. */
  VERSION: 0x1,
  /** Set on every reply from the backend. */
  REPLY: 0x4,
  /** The frontend wants a REPLY_ACK answer. */
  NEED_REPLY: 0x8,
  /** Bits that must be clear. */
  RESERVED_MASK: 0xffff_fff0,
} as const;

/**
 * Protocol feature bit numbers (VHOST_USER_PROTOCOL_F_*). Bits 5 and 10 are named SLAVE_REQ and
 * SLAVE_SEND_FD in QEMU 7.2.
 *
 * @example
 * ```ts
 * const offered = protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK]);
 * ```
 */
export const ProtocolFeature = {
  MQ: 0,
  LOG_SHMFD: 1,
  RARP: 2,
  REPLY_ACK: 3,
  MTU: 4,
  BACKEND_REQ: 5,
  CROSS_ENDIAN: 6,
  CRYPTO_SESSION: 7,
  PAGEFAULT: 8,
  CONFIG: 9,
  BACKEND_SEND_FD: 10,
  HOST_NOTIFIER: 11,
  INFLIGHT_SHMFD: 12,
  RESET_DEVICE: 13,
  INBAND_NOTIFICATIONS: 14,
  CONFIGURE_MEM_SLOTS: 15,
  STATUS: 16,
} as const;

/**
 * Name of a protocol feature.
 *
 * @example
 * ```ts
 * const wanted: ProtocolFeatureName[] = ['REPLY_ACK', 'CONFIG'];
 * const mask = protocolFeatureMask(wanted.map((n) => ProtocolFeature[n]));
 * ```
 */
export type ProtocolFeatureName = keyof typeof ProtocolFeature;
/**
 * Bit number of a protocol feature.
 *
 * @example
 * ```ts
 * const bit: ProtocolFeatureBit = ProtocolFeature.REPLY_ACK; // 3
 * const acked = ((protocolFeatures >> BigInt(bit)) & 1n) === 1n;
 * ```
 */
export type ProtocolFeatureBit = (typeof ProtocolFeature)[ProtocolFeatureName];

/**
 * Every protocol feature bit QEMU 7.2 knows (bits 0..16).
 *
 * @example
 * ```ts
 * (offered & ~KNOWN_PROTOCOL_FEATURES) === 0n
 * ```
 */
export const KNOWN_PROTOCOL_FEATURES = (1n << 17n) - 1n;

/**
 * A protocol feature bitmask from bit numbers.
 *
 * @param bits - protocol feature bit numbers
 * @returns the mask as a bigint
 * @example
 * ```ts
 * protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.CONFIG]); // 0x201n
 * ```
 */
export function protocolFeatureMask(bits: Iterable<number>): bigint {
  let mask = 0n;
  for (const b of bits) {
    if (!Number.isInteger(b) || b < 0 || b > 63) throw new RangeError(`protocolFeatureMask: bit must be 0..63, got ${b}`);
    mask |= 1n << BigInt(b);
  }
  return mask;
}

/**
 * vhost feature bits carried in GET_FEATURES / SET_FEATURES next to the VIRTIO device feature
 * bits. They are not device features: a backend strips them before the device sees the set.
 * The VIRTIO reserved bits (VERSION_1, ACCESS_PLATFORM, RING_PACKED, ...) are `Feature` of
 * `@vmv/device-trait`.
 *
 * @example
 * ```ts
 * const offered = deviceFeatures | (1n << BigInt(VhostFeature.PROTOCOL_FEATURES));
 * ```
 */
export const VhostFeature = {
  /** VHOST_F_LOG_ALL: the backend logs dirty pages for live migration. */
  LOG_ALL: 26,
  /** VHOST_USER_F_PROTOCOL_FEATURES: GET/SET_PROTOCOL_FEATURES are available. */
  PROTOCOL_FEATURES: 30,
} as const;

/** Indexed by request code: true when the backend's reply to that request carries data. */
const DATA_REPLIES: readonly boolean[] = (() => {
  const table: boolean[] = [];
  for (const code of [
    VhostUserRequest.GET_FEATURES,
    VhostUserRequest.GET_PROTOCOL_FEATURES,
    VhostUserRequest.GET_VRING_BASE,
    VhostUserRequest.GET_QUEUE_NUM,
    VhostUserRequest.GET_MAX_MEM_SLOTS,
    VhostUserRequest.GET_STATUS,
    VhostUserRequest.GET_CONFIG,
    VhostUserRequest.GET_INFLIGHT_FD,
  ]) {
    table[code] = true;
  }
  return table;
})();

/**
 * Whether the backend's reply to `request` carries data (GET_FEATURES, GET_VRING_BASE,
 * GET_CONFIG, ...). Such a request is always answered, need_reply or not, and never with a
 * REPLY_ACK: its reply cannot signal a failure (vhost-user.rst "REPLY_ACK").
 *
 * @param request - a request code from a header (any number)
 * @returns true for the eight requests whose reply has a payload of its own
 * @example
 * ```ts
 * const expectsReply = replyCarriesData(msg.request) || msg.needReply;
 * replyCarriesData(VhostUserRequest.SET_MEM_TABLE); // false: answered only with need_reply
 * ```
 */
export function replyCarriesData(request: number): boolean {
  return DATA_REPLIES[request] === true;
}

/**
 * Flags of a vring address description (VHOST_VRING_F_*).
 *
 * @example
 * ```ts
 * (addr.flags & VringAddrFlags.LOG) !== 0
 * ```
 */
export const VringAddrFlags = {
  /** VHOST_VRING_F_LOG: log writes to the used ring at `logGuestAddr`. */
  LOG: 0x1,
} as const;

/**
 * Bits of the u64 payload of SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR.
 *
 * @example
 * ```ts
 * const index = Number(word) & VringFileBits.INDEX_MASK;
 * ```
 */
export const VringFileBits = {
  /** Bits 0-7: the vring index. */
  INDEX_MASK: 0xff,
  /** Bit 8: no file descriptor attached (poll instead). */
  NO_FD: 0x100,
} as const;

/**
 * Flags of a config space access (VHOST_SET_CONFIG_TYPE_*).
 *
 * @example
 * ```ts
 * if (access.flags === ConfigFlags.LIVE_MIGRATION) restoring = true;
 * ```
 */
export const ConfigFlags = {
  /** A driver write to a writable field. */
  WRITABLE: 0,
  /** Restoring config space during live migration. */
  LIVE_MIGRATION: 1,
} as const;

/**
 * Size of the message header (request, flags, size: three u32).
 *
 * @example
 * ```ts
 * const header = new Uint8Array(VHOST_USER_HEADER_SIZE);
 * ```
 */
export const VHOST_USER_HEADER_SIZE = 12;
/**
 * Largest payload accepted (MAX_MSG_SIZE of rust-vmm; QEMU 7.2's largest message is 268 bytes).
 *
 * @example
 * ```ts
 * if (size > VHOST_USER_MAX_PAYLOAD_SIZE) disconnect();
 * ```
 */
export const VHOST_USER_MAX_PAYLOAD_SIZE = 0x1000;
/**
 * Most file descriptors accepted with one message (MAX_ATTACHED_FD_ENTRIES).
 *
 * @example
 * ```ts
 * if (fds.length > VHOST_USER_MAX_FDS) disconnect();
 * ```
 */
export const VHOST_USER_MAX_FDS = 32;
/**
 * Most regions in one SET_MEM_TABLE (one fd each; QEMU 7.2 sends at most 8).
 *
 * @example
 * ```ts
 * new VhostUserBackend(device, { maxMemSlots: VHOST_USER_MAX_MEM_TABLE_REGIONS });
 * ```
 */
export const VHOST_USER_MAX_MEM_TABLE_REGIONS = 32;
/**
 * Size of the config access header (offset, size, flags).
 *
 * @example
 * ```ts
 * const payloadSize = VHOST_USER_CONFIG_HEADER_SIZE + access.size;
 * ```
 */
export const VHOST_USER_CONFIG_HEADER_SIZE = 12;
/**
 * Highest config space offset + size accepted (VHOST_USER_CONFIG_SIZE of rust-vmm).
 *
 * @example
 * ```ts
 * access.offset + access.size <= VHOST_USER_CONFIG_SPACE_LIMIT
 * ```
 */
export const VHOST_USER_CONFIG_SPACE_LIMIT = 0x1000;
/**
 * Largest config payload QEMU 7.2 sends (VHOST_USER_MAX_CONFIG_SIZE).
 *
 * @example
 * ```ts
 * device.configSize <= QEMU_MAX_CONFIG_SIZE
 * ```
 */
export const QEMU_MAX_CONFIG_SIZE = 256;
/**
 * Largest VIRTIO queue size (VIRTIO 1.2 §2.7: Queue Size ≤ 32768).
 *
 * @example
 * ```ts
 * size >= 1 && size <= VIRTIO_MAX_QUEUE_SIZE
 * ```
 */
export const VIRTIO_MAX_QUEUE_SIZE = 32768;
/**
 * Largest queue count a vring index can address in KICK/CALL/ERR (8 index bits).
 *
 * @example
 * ```ts
 * device.queueMaxSizes.length <= VHOST_USER_MAX_QUEUES
 * ```
 */
export const VHOST_USER_MAX_QUEUES = 256;

/**
 * Byte sizes of the fixed payloads.
 *
 * @example
 * ```ts
 * if (header.size !== PayloadSize.VRING_ADDR) fail();
 * ```
 */
export const PayloadSize = {
  U64: 8,
  VRING_STATE: 8,
  VRING_ADDR: 40,
  MEMORY_REGION: 32,
  MEM_TABLE_HEADER: 8,
  SINGLE_MEMORY_REGION: 40,
  LOG: 16,
  INFLIGHT: 24,
  IOTLB: 32,
  VRING_AREA: 24,
} as const;

/**
 * True on little-endian hosts. vhost-user numbers are in native byte order; every codec in this
 * package reads and writes with this flag.
 *
 * @example
 * ```ts
 * view.getUint32(0, NATIVE_LITTLE_ENDIAN);
 * ```
 */
export const NATIVE_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
