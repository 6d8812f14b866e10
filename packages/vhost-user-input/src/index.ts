/**
 * @packageDocumentation
 * @vmv/vhost-user-input: the `vmv-vhost-user-input` daemon, a vhost-user-input backend serving
 * @vmv/input's virtio-input device (VIRTIO 1.2 §5.8) to QEMU's `vhost-user-input-pci`, with the
 * flags of rust-vmm's vhost-device-input where they apply and host events as JSON lines.
 */
export { INPUT_FLAGS, PASSTHROUGH_REFUSED, PROGRAM, descriptionOf } from './args.js';
export { EventsSocket, MAX_LINE, applyLine, feedLines, statusLine } from './events.js';
export { InputService } from './service.js';
export { HELP, inputDaemon } from './program.js';
export { runCli } from './cli.js';
