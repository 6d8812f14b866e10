/**
 * @packageDocumentation
 * `@vmv/vfio-user-daemon`: the `vmv-vfio-user` daemon. It serves a virtio device of vmv (virtio-blk
 * over a raw image, virtio-rng, virtio-console, virtio-gpio) as a virtio-pci function (`@vmv/transport-pci`, VIRTIO 1.2 §4.1)
 * to QEMU's `-device vfio-user-pci` (`@vmv/vfio-user`, QEMU docs/interop/vfio-user.rst), with the
 * daemon kit's flags, log and socket checks (`@vmv/vhost-user/daemon`).
 */
export { runCli, HELP } from './cli.js';
export { VfioUserDaemon } from './daemon.js';
export type { VfioUserTraffic } from './daemon.js';
export { FLAGS, PROGRAM, daemonOptions } from './flags.js';
export type { DaemonOptions } from './flags.js';
export { DEVICES } from './devices.js';
export type { DeviceName } from './devices.js';
