/**
 * @packageDocumentation
 * @vmv/vhost-user-spi: the `vmv-vhost-user-spi` daemon, a vhost-user virtio-spi backend serving
 * @vmv/spi's controller (VIRTIO 1.4 §5.21) over chip selects wired to simulated peripherals (a W25Q
 * SPI NOR flash kept in a file, a loopback) through @vmv/vhost-user's backend, with the flags of
 * rust-vmm's vhost-device-spi. The program is `@vmv/vhost-user/daemon`'s `runDaemon` over
 * {@link createSpiDaemon} ({@link runCli}).
 */
export { HELP, PROGRAM, SPI_CONTROL, SPI_FLAGS, createSpiDaemon, parseBitsPerWord, parseChipSelect } from './program.js';
export type { ChipSelectWiring, SpiService } from './program.js';
export { runCli } from './cli.js';
