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
  VERSION: 1,
  DMA_MAP: 2,
  DMA_UNMAP: 3,
  DEVICE_GET_INFO: 4,
  DEVICE_GET_REGION_INFO: 5,
  DEVICE_GET_REGION_IO_FDS: 6,
  DEVICE_GET_IRQ_INFO: 7,
  DEVICE_SET_IRQS: 8,
  REGION_READ: 9,
  REGION_WRITE: 10,
  DMA_READ: 11,
  DMA_WRITE: 12,
  DEVICE_RESET: 13,
  REGION_WRITE_MULTI: 15,
  DEVICE_FEATURE: 16,
  MIG_DATA_READ: 17,
  MIG_DATA_WRITE: 18,
} as const;

/** One of {@link VfioUserCommand}. @example `const c: VfioUserCommandCode = VfioUserCommand.VERSION;` */
export type VfioUserCommandCode = (typeof VfioUserCommand)[keyof typeof VfioUserCommand];

/**
 * Header flag bits (vfio-user.rst "Header"): bits 0-3 the message type, bit 4 No_reply, bit 5 Error.
 * @example `(flags & HeaderFlags.TYPE_MASK) === HeaderFlags.REPLY`
 */
export const HeaderFlags = {
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
export const VFIO_USER_VERSION = { major: 0, minor: 0 } as const;

/**
 * PCI region indexes (`VFIO_PCI_*_REGION_INDEX`): BAR0-5, the expansion ROM, config space, VGA.
 * @example `device.read(PciRegion.CONFIG, 0, id)`
 */
export const PciRegion = { BAR0: 0, BAR1: 1, BAR2: 2, BAR3: 3, BAR4: 4, BAR5: 5, ROM: 6, CONFIG: 7, VGA: 8 } as const;

/** Number of regions a PCI device reports (`VFIO_PCI_NUM_REGIONS`). @example `info.numRegions === PCI_NUM_REGIONS` */
export const PCI_NUM_REGIONS = 9;

/**
 * PCI interrupt indexes (`VFIO_PCI_*_IRQ_INDEX`).
 * @example `irqs.trigger(IrqIndex.MSIX, 2)`
 */
export const IrqIndex = { INTX: 0, MSI: 1, MSIX: 2, ERR: 3, REQ: 4 } as const;

/** Number of interrupt indexes a PCI device reports (`VFIO_PCI_NUM_IRQS`). @example `counts.length <= PCI_NUM_IRQS` */
export const PCI_NUM_IRQS = 5;

/** `vfio_device_info.flags`. @example `DeviceInfoFlags.PCI | DeviceInfoFlags.RESET` */
export const DeviceInfoFlags = { RESET: 1, PCI: 2 } as const;

/** `vfio_region_info.flags`. @example `(flags & RegionInfoFlags.WRITE) !== 0` */
export const RegionInfoFlags = { READ: 1, WRITE: 2, MMAP: 4, CAPS: 8 } as const;

/** `vfio_irq_info.flags`. @example `IrqInfoFlags.EVENTFD | IrqInfoFlags.MASKABLE` */
export const IrqInfoFlags = { EVENTFD: 1, MASKABLE: 2, AUTOMASKED: 4, NORESIZE: 8 } as const;

/** `vfio_irq_set.flags`: one data type and one action. @example `IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER` */
export const IrqSetFlags = {
  DATA_NONE: 1,
  DATA_BOOL: 2,
  DATA_EVENTFD: 4,
  ACTION_MASK: 8,
  ACTION_UNMASK: 16,
  ACTION_TRIGGER: 32,
  DATA_MASK: 7,
  ACTION_MASK_BITS: 56,
} as const;

/** DMA_MAP flags. @example `DmaMapFlags.READ | DmaMapFlags.WRITE` */
export const DmaMapFlags = { READ: 1, WRITE: 2 } as const;

/** DMA_UNMAP flags (`VFIO_DMA_UNMAP_FLAG_*`). @example `flags === DmaUnmapFlags.ALL` */
export const DmaUnmapFlags = { GET_DIRTY_BITMAP: 1, ALL: 2 } as const;

/**
 * The Linux errno values this server puts in the error field of a reply.
 * @example `reply.error === Errno.EINVAL`
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  ENOSYS: 38,
  ETIMEDOUT: 110,
} as const;

/**
 * Protocol defaults (vfio-user.rst "Version"): what a peer assumes when a capability is absent.
 * @example `caps.maxMsgFds ?? PROTOCOL_DEFAULTS.maxMsgFds`
 */
export const PROTOCOL_DEFAULTS = { maxMsgFds: 1, maxDataXferSize: 1 << 20, maxDmaMaps: 65535, pgsizes: 4096 } as const;

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
