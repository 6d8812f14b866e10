/**
 * The numbers of the vfio-user protocol (QEMU docs/interop/vfio-user.rst, "Commands", "Header")
 * and of the VFIO structures it reuses from `<linux/vfio.h>`: command codes, header flags, the
 * PCI region and IRQ indexes, region, IRQ and DMA flags, and the Linux errno values a reply
 * carries. All data is little-endian (the spec says host order; every vfio-user host is x86 or
 * arm64 little-endian).
 *
 * @module
 */

/**
 * Command codes (vfio-user.rst "Commands").
 * @example `if (header.command === VfioUserCommand.REGION_READ) ...`
 */
export const VfioUserCommand = {
  /** Protocol version and capabilities (client -> server). */
  VERSION: 1,
  /** Client memory the server may access. */
  DMA_MAP: 2,
  /** Client memory withdrawn. */
  DMA_UNMAP: 3,
  /** Device flags, region and IRQ index counts. */
  DEVICE_GET_INFO: 4,
  /** One region: size, flags, mmap offset. */
  DEVICE_GET_REGION_INFO: 5,
  /** ioeventfd / ioregionfd sub-regions (not served). */
  DEVICE_GET_REGION_IO_FDS: 6,
  /** One IRQ index: flags and vector count. */
  DEVICE_GET_IRQ_INFO: 7,
  /** Eventfds, masks and triggers of IRQ vectors. */
  DEVICE_SET_IRQS: 8,
  /** A read of a region. */
  REGION_READ: 9,
  /** A write of a region. */
  REGION_WRITE: 10,
  /** A read of client memory (server -> client). */
  DMA_READ: 11,
  /** A write of client memory (server -> client). */
  DMA_WRITE: 12,
  /** Reset the device. */
  DEVICE_RESET: 13,
  /** Several small posted writes in one message (not served). */
  REGION_WRITE_MULTI: 15,
  /** Get, set or probe a device feature (migration, dirty tracking; not served). */
  DEVICE_FEATURE: 16,
  /** Migration data out (not served). */
  MIG_DATA_READ: 17,
  /** Migration data in (not served). */
  MIG_DATA_WRITE: 18,
} as const;

/** One of {@link VfioUserCommand}. @example `const c: VfioUserCommandCode = VfioUserCommand.VERSION;` */
export type VfioUserCommandCode = (typeof VfioUserCommand)[keyof typeof VfioUserCommand];

/**
 * Header flag bits (vfio-user.rst "Header"): bits 0-3 the message type, bit 4 No_reply, bit 5 Error.
 * @example `(flags & HeaderFlags.TYPE_MASK) === HeaderFlags.REPLY`
 */
export const HeaderFlags = {
  /** The bits of the message type. */
  TYPE_MASK: 0xf,
  /** Type: a command. */
  COMMAND: 0x0,
  /** Type: a reply. */
  REPLY: 0x1,
  /** A command that wants no reply. */
  NO_REPLY: 0x10,
  /** A reply reporting an error (the header's error field holds the errno). */
  ERROR: 0x20,
  /** Every bit the protocol defines. */
  KNOWN: 0x3f,
} as const;

/** Bytes of the message header. @example `message.subarray(VFIO_USER_HEADER_SIZE)` */
export const VFIO_USER_HEADER_SIZE = 16;

/**
 * The protocol version this server speaks: 0.0, the version QEMU 11.1's client proposes.
 * @example `if (major !== VFIO_USER_VERSION.major) refuse();`
 */
export const VFIO_USER_VERSION = {
  /** Major version. */
  major: 0,
  /** Minor version. */
  minor: 0,
} as const;

/**
 * PCI region indexes (`VFIO_PCI_*_REGION_INDEX`): BAR0-5, the expansion ROM, config space, VGA.
 * @example `device.read(PciRegion.CONFIG, 0, id)`
 */
export const PciRegion = {
  /** Base address register 0. */
  BAR0: 0,
  /** Base address register 1. */
  BAR1: 1,
  /** Base address register 2. */
  BAR2: 2,
  /** Base address register 3. */
  BAR3: 3,
  /** Base address register 4. */
  BAR4: 4,
  /** Base address register 5. */
  BAR5: 5,
  /** Expansion ROM. */
  ROM: 6,
  /** Configuration space. */
  CONFIG: 7,
  /** Legacy VGA ranges (not offered: size 0). */
  VGA: 8,
} as const;

/** Number of regions a PCI device reports (`VFIO_PCI_NUM_REGIONS`). @example `info.numRegions === PCI_NUM_REGIONS` */
export const PCI_NUM_REGIONS = 9;

/**
 * PCI interrupt indexes (`VFIO_PCI_*_IRQ_INDEX`).
 * @example `irqs.trigger(IrqIndex.MSIX, 2)`
 */
export const IrqIndex = {
  /** The legacy interrupt pin. */
  INTX: 0,
  /** MSI vectors. */
  MSI: 1,
  /** MSI-X vectors. */
  MSIX: 2,
  /** Error reporting (AER) notification. */
  ERR: 3,
  /** Device request (the host wants the device back). */
  REQ: 4,
} as const;

/** Number of interrupt indexes a PCI device reports (`VFIO_PCI_NUM_IRQS`). @example `counts.length <= PCI_NUM_IRQS` */
export const PCI_NUM_IRQS = 5;

/** `vfio_device_info.flags`. @example `DeviceInfoFlags.PCI | DeviceInfoFlags.RESET` */
export const DeviceInfoFlags = {
  /** DEVICE_RESET is supported. */
  RESET: 1,
  /** A PCI device. */
  PCI: 2,
} as const;

/** `vfio_region_info.flags`. @example `(flags & RegionInfoFlags.WRITE) !== 0` */
export const RegionInfoFlags = {
  /** REGION_READ allowed. */
  READ: 1,
  /** REGION_WRITE allowed. */
  WRITE: 2,
  /** The reply carries an fd the client may mmap. */
  MMAP: 4,
  /** A capability chain follows the region info. */
  CAPS: 8,
} as const;

/** `vfio_irq_info.flags`. @example `IrqInfoFlags.EVENTFD | IrqInfoFlags.MASKABLE` */
export const IrqInfoFlags = {
  /** Vectors signal eventfds. */
  EVENTFD: 1,
  /** MASK and UNMASK are supported. */
  MASKABLE: 2,
  /** A signalled vector masks itself until the client unmasks it. */
  AUTOMASKED: 4,
  /** Vectors are set up as a set: the index must be disabled to grow it. */
  NORESIZE: 8,
} as const;

/** `vfio_irq_set.flags`: one data type and one action. @example `IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER` */
export const IrqSetFlags = {
  /** No data: the action applies to every vector of the range. */
  DATA_NONE: 1,
  /** One byte per vector: the action applies where it is 1. */
  DATA_BOOL: 2,
  /** One eventfd per vector in the message's fds (none: de-assign). */
  DATA_EVENTFD: 4,
  /** Mask the vectors. */
  ACTION_MASK: 8,
  /** Unmask the vectors. */
  ACTION_UNMASK: 16,
  /** Trigger the vectors (with DATA_EVENTFD: set the eventfds to signal). */
  ACTION_TRIGGER: 32,
  /** The data-type bits. */
  DATA_MASK: 7,
  /** The action bits. */
  ACTION_MASK_BITS: 56,
} as const;

/** DMA_MAP flags. @example `DmaMapFlags.READ | DmaMapFlags.WRITE` */
export const DmaMapFlags = {
  /** The server may read the window. */
  READ: 1,
  /** The server may write the window. */
  WRITE: 2,
} as const;

/** DMA_UNMAP flags (`VFIO_DMA_UNMAP_FLAG_*`). @example `flags === DmaUnmapFlags.ALL` */
export const DmaUnmapFlags = {
  /** Return the window's dirty bitmap (refused: no migration). */
  GET_DIRTY_BITMAP: 1,
  /** Unmap every window (address and size 0). */
  ALL: 2,
} as const;

/**
 * The Linux errno values this server puts in the error field of a reply.
 * @example `reply.error === Errno.EINVAL`
 */
export const Errno = {
  /** Operation not permitted. */
  EPERM: 1,
  /** No such window (DMA_UNMAP). */
  ENOENT: 2,
  /** The device failed the access. */
  EIO: 5,
  /** More than max_data_xfer_size. */
  E2BIG: 7,
  /** Bad file descriptor. */
  EBADF: 9,
  /** Out of memory. */
  ENOMEM: 12,
  /** Bad address (a mapping failed). */
  EFAULT: 14,
  /** Busy. */
  EBUSY: 16,
  /** The window overlaps a mapped one (DMA_MAP). */
  EEXIST: 17,
  /** No such device (the client left). */
  ENODEV: 19,
  /** A malformed or illegal command. */
  EINVAL: 22,
  /** An action or feature the device does not have (as VFIO's ioctl). */
  ENOTTY: 25,
  /** No room for another window. */
  ENOSPC: 28,
  /** A command this server does not serve. */
  ENOSYS: 38,
  /** No reply in time. */
  ETIMEDOUT: 110,
} as const;

/**
 * Protocol defaults (vfio-user.rst "Version"): what a peer assumes when a capability is absent.
 * @example `caps.maxMsgFds ?? PROTOCOL_DEFAULTS.maxMsgFds`
 */
export const PROTOCOL_DEFAULTS = {
  /** max_msg_fds when absent. */
  maxMsgFds: 1,
  /** max_data_xfer_size when absent. */
  maxDataXferSize: 1 << 20,
  /** max_dma_maps when absent. */
  maxDmaMaps: 65535,
  /** pgsizes when absent. */
  pgsizes: 4096,
} as const;

/** Command names, for logs. */
const NAMES = new Map<number, string>(Object.entries(VfioUserCommand).map(([k, v]) => [v, k]));

/**
 * The name of a command code, for logs.
 * @param command - a command code
 * @returns its name, or `COMMAND_<n>` for an unknown one
 * @example `commandName(9) // 'REGION_READ'`
 */
export function commandName(command: number): string {
  return NAMES.get(command) ?? `COMMAND_${command}`;
}
