/**
 * The numbers of virtio-spi (VIRTIO 1.4 §5.21, device ID 45): the queue, the `mode` bits of
 * `virtio_spi_transfer_head`, the `mode_func_supported` and n-bit bits of `virtio_spi_config`,
 * the results, and the wire sizes. One source for every number the package uses.
 * @module
 */


/** The one virtqueue (§5.21.2). @example `ctx.queues[SpiQueue.REQUESTQ]` */
export const SpiQueue = {
  /** Requests, each one SPI transfer. */
  REQUESTQ: 0,
} as const;

/** `virtio_spi_transfer_head.mode` bits (§5.21.6.1). @example `SpiMode.CPHA | SpiMode.CPOL // SPI mode 3` */
export const SpiMode = {
  /** Clock phase: sample on the trailing edge. */
  CPHA: 1 << 0,
  /** Clock polarity: the clock idles high. */
  CPOL: 1 << 1,
  /** Chip select active high. */
  CS_HIGH: 1 << 2,
  /** Words go least significant bit first. */
  LSB_FIRST: 1 << 3,
  /** The controller's loopback: what it sends is what it receives. */
  LOOP: 1 << 4,
} as const;

/** `virtio_spi_config.mode_func_supported` bits (§5.21.4). @example `SpiModeFunc.CPHA_0 | SpiModeFunc.CPOL_0` */
export const SpiModeFunc = {
  /** CPHA=0 is supported. */
  CPHA_0: 1 << 0,
  /** CPHA=1 is supported. */
  CPHA_1: 1 << 1,
  /** CPOL=0 is supported. */
  CPOL_0: 1 << 2,
  /** CPOL=1 is supported. */
  CPOL_1: 1 << 3,
  /** Chip select active high is supported (active low always is). */
  CS_HIGH: 1 << 4,
  /** LSB first is supported (MSB first always is). */
  LSB_FIRST: 1 << 5,
  /** The loopback mode is supported. */
  LOOPBACK: 1 << 6,
} as const;

/** `tx_nbits_supported` / `rx_nbits_supported` bits (§5.21.4); single is always supported. @example `SpiNbitsSupport.QUAD` */
export const SpiNbitsSupport = {
  /** 2-bit transfers. */
  DUAL: 1 << 0,
  /** 4-bit transfers. */
  QUAD: 1 << 1,
  /** 8-bit transfers. */
  OCTAL: 1 << 2,
} as const;

/** `virtio_spi_transfer_result.result` (§5.21.6.1). @example `SpiResult.PARAM_ERR` */
export const SpiResult = {
  /** VIRTIO_SPI_TRANS_OK. */
  TRANS_OK: 0,
  /** VIRTIO_SPI_PARAM_ERR: a head field outside what the config offers, or a malformed request. */
  PARAM_ERR: 1,
  /** VIRTIO_SPI_TRANS_ERR: valid parameters, but the transfer failed. */
  TRANS_ERR: 2,
} as const;

/** Wire sizes and offsets in bytes. @example `SpiLayout.HEAD_SIZE` */
export const SpiLayout = {
  /** `virtio_spi_transfer_head`: five u8, three reserved bytes, six le32. */
  HEAD_SIZE: 32,
  /** `virtio_spi_transfer_result`: u8 result. */
  RESULT_SIZE: 1,
  /** `virtio_spi_config`: four u8, seven le32. */
  CONFIG_SIZE: 32,
  /** Longest transfer the device takes (16 MiB, more than Linux's largest kmalloc'ed buffer). */
  MAX_TRANSFER: 16 << 20,
} as const;

/** Offsets in `virtio_spi_config` (§5.21.4). @example `config.getU32(SpiConfigOffset.MAX_FREQ_HZ)` */
export const SpiConfigOffset = {
  /** u8 cs_max_number. */
  CS_MAX_NUMBER: 0,
  /** u8 cs_change_supported. */
  CS_CHANGE_SUPPORTED: 1,
  /** u8 tx_nbits_supported. */
  TX_NBITS_SUPPORTED: 2,
  /** u8 rx_nbits_supported. */
  RX_NBITS_SUPPORTED: 3,
  /** le32 bits_per_word_mask. */
  BITS_PER_WORD_MASK: 4,
  /** le32 mode_func_supported. */
  MODE_FUNC_SUPPORTED: 8,
  /** le32 max_freq_hz. */
  MAX_FREQ_HZ: 12,
  /** le32 max_word_delay_ns. */
  MAX_WORD_DELAY_NS: 16,
  /** le32 max_cs_setup_ns. */
  MAX_CS_SETUP_NS: 20,
  /** le32 max_cs_hold_ns. */
  MAX_CS_HOLD_NS: 24,
  /** le32 max_cs_inactive_ns. */
  MAX_CS_INACTIVE_NS: 28,
} as const;
