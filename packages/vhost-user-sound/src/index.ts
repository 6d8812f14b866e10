/**
 * @packageDocumentation
 * @vmv/vhost-user-sound: the `vmv-vhost-user-sound` daemon, a vhost-user virtio-snd backend serving
 * @vmv/sound's device (VIRTIO 1.2 §5.14) through @vmv/vhost-user's backend, with the flags of
 * rust-vmm's vhost-device-sound (`--socket`, `--backend`) and ours for the layout and the WAV and
 * ALSA backends. The program is `@vmv/vhost-user/daemon`'s `runDaemon` over
 * {@link createSoundDaemon} ({@link runCli}).
 */
export { BACKENDS, HELP, PROGRAM, SOUND_FLAGS, createSoundDaemon, parseBackend, parseLayout } from './program.js';
export type { BackendName, SoundService } from './program.js';
export { runCli } from './cli.js';
