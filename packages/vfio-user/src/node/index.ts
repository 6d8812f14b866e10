/**
 * `@vmv/vfio-user/node`: the vfio-user server on a unix socket (Linux, through @vmv/sys): fds
 * received with SCM_RIGHTS, DMA windows mapped with mmap, interrupts written to eventfds.
 *
 * @packageDocumentation
 */
export { VfioUserServer } from './server.js';
export type { VfioUserServerOptions, VfioUserConnectionEvent } from './server.js';
export { linuxHost, mapWindow } from './host.js';
