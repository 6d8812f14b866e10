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
  /** Get the device feature bits the backend offers (with the vhost bits of {@link VhostFeature}). */
  GET_FEATURES: 1,
  /** Set the feature bits the driver accepted. */
  SET_FEATURES: 2,
  /** Claim the backend for this frontend's session (sent first). */
  SET_OWNER: 3,
  /** Deprecated: release the session; backends may ignore it. */
  RESET_OWNER: 4,
  /** Share guest memory: a region table, one memory fd per region. */
  SET_MEM_TABLE: 5,
  /** Give the shared dirty-page log for live migration (an fd). */
  SET_LOG_BASE: 6,
  /** Give an eventfd to signal when the dirty log is updated. */
  SET_LOG_FD: 7,
  /** Set the size of a vring (its number of descriptors). */
  SET_VRING_NUM: 8,
  /** Set the addresses of a vring's parts, as frontend virtual addresses. */
  SET_VRING_ADDR: 9,
  /** Set where a vring starts: the next available index (and wrap counters for packed rings). */
  SET_VRING_BASE: 10,
  /** Stop a vring and get where it stopped. */
  GET_VRING_BASE: 11,
  /** Give a vring's kick eventfd; the driver's notifications arrive on it. */
  SET_VRING_KICK: 12,
  /** Give a vring's call eventfd; the backend signals used buffers on it. */
  SET_VRING_CALL: 13,
  /** Give a vring's error eventfd. */
  SET_VRING_ERR: 14,
  /** Get the protocol feature bits the backend offers ({@link ProtocolFeature}). */
  GET_PROTOCOL_FEATURES: 15,
  /** Set the protocol feature bits the frontend accepted. */
  SET_PROTOCOL_FEATURES: 16,
  /** Get the most queues the backend supports (ProtocolFeature.MQ). */
  GET_QUEUE_NUM: 17,
  /** Enable or disable a vring (when PROTOCOL_FEATURES was negotiated). */
  SET_VRING_ENABLE: 18,
  /** Ask a network backend to broadcast a RARP for a MAC address after migration. */
  SEND_RARP: 19,
  /** Tell a network backend the MTU the guest uses. */
  NET_SET_MTU: 20,
  /** Give the socket of the backend request channel (ProtocolFeature.BACKEND_REQ). */
  SET_BACKEND_REQ_FD: 21,
  /** Update or invalidate the device IOTLB (vIOMMU). */
  IOTLB_MSG: 22,
  /** Set a legacy vring's endianness (ProtocolFeature.CROSS_ENDIAN). */
  SET_VRING_ENDIAN: 23,
  /** Read the device configuration space (ProtocolFeature.CONFIG). */
  GET_CONFIG: 24,
  /** Write the device configuration space (ProtocolFeature.CONFIG). */
  SET_CONFIG: 25,
  /** Create a virtio-crypto session (ProtocolFeature.CRYPTO_SESSION). */
  CREATE_CRYPTO_SESSION: 26,
  /** Close a virtio-crypto session. */
  CLOSE_CRYPTO_SESSION: 27,
  /** Postcopy migration: open a userfaultfd and give it to the frontend. */
  POSTCOPY_ADVISE: 28,
  /** Postcopy migration: start serving page faults. */
  POSTCOPY_LISTEN: 29,
  /** Postcopy migration: it is over; close the userfaultfd. */
  POSTCOPY_END: 30,
  /** Get the shared buffer that tracks in-flight descriptors (ProtocolFeature.INFLIGHT_SHMFD). */
  GET_INFLIGHT_FD: 31,
  /** Give back the in-flight buffer after a reconnection, to resubmit what was in flight. */
  SET_INFLIGHT_FD: 32,
  /** Give a vhost-user-gpu backend the socket of its GPU protocol. */
  GPU_SET_SOCKET: 33,
  /** Reset the device and its vrings (ProtocolFeature.RESET_DEVICE). */
  RESET_DEVICE: 34,
  /** A kick sent in band, instead of through an eventfd (ProtocolFeature.INBAND_NOTIFICATIONS). */
  VRING_KICK: 35,
  /** Get the most memory regions the backend takes (ProtocolFeature.CONFIGURE_MEM_SLOTS). */
  GET_MAX_MEM_SLOTS: 36,
  /** Add one guest memory region, with its fd (ProtocolFeature.CONFIGURE_MEM_SLOTS). */
  ADD_MEM_REG: 37,
  /** Remove one guest memory region. */
  REM_MEM_REG: 38,
  /** Set the VIRTIO device status byte (ProtocolFeature.STATUS). */
  SET_STATUS: 39,
  /** Get the VIRTIO device status byte (ProtocolFeature.STATUS). */
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
  /** Ask the frontend for an IOTLB translation, or report an access failure (vIOMMU). */
  IOTLB_MSG: 1,
  /** The device configuration changed: the frontend rereads it and tells the driver. */
  CONFIG_CHANGE_MSG: 2,
  /** Offer a memory area the driver can write to kick a vring without an exit (with an fd). */
  VRING_HOST_NOTIFIER_MSG: 3,
  /** Signal used buffers in band, instead of through the call eventfd (INBAND_NOTIFICATIONS). */
  VRING_CALL: 4,
  /** Signal a vring error in band, instead of through the error eventfd. */
  VRING_ERR: 5,
  /** Add a virtio shared object (a UUID) to the frontend's table. */
  SHARED_OBJECT_ADD: 6,
  /** Remove a virtio shared object from the frontend's table. */
  SHARED_OBJECT_REMOVE: 7,
  /** Look up a virtio shared object by UUID; the answer carries its fd. */
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
  /** Multiple queues: GET_QUEUE_NUM is served. */
  MQ: 0,
  /** The dirty log is shared memory given by SET_LOG_BASE with an fd. */
  LOG_SHMFD: 1,
  /** SEND_RARP is served (network backends). */
  RARP: 2,
  /** A request with the NEED_REPLY flag is answered with a u64 status (0 for success). */
  REPLY_ACK: 3,
  /** NET_SET_MTU is served (network backends). */
  MTU: 4,
  /** The backend request channel: SET_BACKEND_REQ_FD is served. */
  BACKEND_REQ: 5,
  /** SET_VRING_ENDIAN is served (legacy devices of the other endianness). */
  CROSS_ENDIAN: 6,
  /** CREATE_CRYPTO_SESSION and CLOSE_CRYPTO_SESSION are served. */
  CRYPTO_SESSION: 7,
  /** Postcopy migration: the POSTCOPY_* requests are served. */
  PAGEFAULT: 8,
  /** GET_CONFIG and SET_CONFIG are served, and CONFIG_CHANGE_MSG may be sent. */
  CONFIG: 9,
  /** Backend requests may carry file descriptors. */
  BACKEND_SEND_FD: 10,
  /** VRING_HOST_NOTIFIER_MSG may be sent. */
  HOST_NOTIFIER: 11,
  /** GET_INFLIGHT_FD and SET_INFLIGHT_FD are served: requests in flight survive a reconnection. */
  INFLIGHT_SHMFD: 12,
  /** RESET_DEVICE is served. */
  RESET_DEVICE: 13,
  /** Kicks and calls may travel as messages (VRING_KICK, VRING_CALL) instead of eventfds. */
  INBAND_NOTIFICATIONS: 14,
  /** Memory regions come one at a time: GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG. */
  CONFIGURE_MEM_SLOTS: 15,
  /** SET_STATUS and GET_STATUS are served. */
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
  /** A u64 (features, protocol features, a vring fd's index bits, a status reply). */
  U64: 8,
  /** `struct vhost_vring_state`: u32 index, u32 num. */
  VRING_STATE: 8,
  /** `struct vhost_vring_addr`: u32 index, u32 flags, four u64 addresses (desc, used, avail, log). */
  VRING_ADDR: 40,
  /** One entry of the SET_MEM_TABLE table: guest address, size, user address, mmap offset. */
  MEMORY_REGION: 32,
  /** The SET_MEM_TABLE header: u32 region count, u32 padding. */
  MEM_TABLE_HEADER: 8,
  /** The ADD_MEM_REG / REM_MEM_REG payload: u64 padding, then one region. */
  SINGLE_MEMORY_REGION: 40,
  /** The SET_LOG_BASE payload: u64 size, u64 offset. */
  LOG: 16,
  /** The GET/SET_INFLIGHT_FD payload: mmap size and offset, queue count and size. */
  INFLIGHT: 24,
  /** `struct vhost_iotlb_msg`: iova, size, user address, permissions, type. */
  IOTLB: 32,
  /** The VRING_HOST_NOTIFIER_MSG payload: u64 index, u64 size, u64 offset. */
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
