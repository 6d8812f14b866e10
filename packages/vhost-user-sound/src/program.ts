/**
 * The vmv-vhost-user-sound program, declared for the daemon kit (`@vmv/vhost-user/daemon`): the
 * flags of rust-vmm's vhost-device-sound (`--socket PATH`, `--backend null|alsa|...`) and ours for
 * the layout (`--layout`) and the backends' ends (`--output`, `--input` WAV files, `--alsa-device`),
 * over one {@link SoundDevice} (VIRTIO 1.2 §5.14). Everything else (sockets, signals, logs,
 * `--help`) is the kit's.
 * @module
 */
import { readFileSync } from 'node:fs';
import { Direction, SoundDevice, nullBackend, routeStreams, validateLayout } from '@vmv/sound';
import type { PcmEndpoint, SoundBackend, SoundLayout } from '@vmv/sound';
import { CaptureProcess, PlaybackProcess, WavFileReader, WavFileWriter } from '@vmv/sound/node';
import { UsageError, daemonHelp, packageVersion } from '@vmv/vhost-user/daemon';
import type { DaemonDefinition, FlagSpecs, FlagValues, ServedDevice } from '@vmv/vhost-user/daemon';

/** The program's name. @example `PROGRAM === 'vmv-vhost-user-sound'` */
export const PROGRAM = 'vmv-vhost-user-sound';

/** The backends `--backend` names. @example `BACKENDS.includes('wav')` */
export const BACKENDS = ['null', 'alsa', 'wav'] as const;
/** One of {@link BACKENDS}. @example `const b: BackendName = 'null';` */
export type BackendName = (typeof BACKENDS)[number];

/**
 * `--backend` as vhost-device-sound reads it, with our set: `null`, `alsa` (aplay and arecord),
 * `wav`; its `pipewire` and `gstreamer` are refused with the way to get them.
 * @param text - the flag's value.
 * @returns the backend.
 * @throws VhostUser.UsageError for another name.
 * @example `parseBackend('alsa') // 'alsa'`
 */
export function parseBackend(text: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(text)) return text as BackendName;
  if (text === 'pipewire') throw new UsageError('--backend pipewire: use --backend alsa, which reaches PipeWire (and PulseAudio) through their ALSA plugin');
  if (text === 'gstreamer') throw new UsageError('--backend gstreamer is not offered: use alsa, wav or null');
  throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(text)}`);
}

/**
 * `--layout`: a {@link SoundLayout} as JSON, inline or `@FILE`, checked as the device checks it.
 * @param text - the flag's value.
 * @returns the layout.
 * @throws VhostUser.UsageError when it cannot be read, is not JSON, or is not a valid layout.
 * @example `parseLayout('{"streams":[{"direction":"output","rates":[48000]}]}')`
 */
export function parseLayout(text: string): SoundLayout {
  let json = text;
  if (text.startsWith('@')) {
    try {
      json = readFileSync(text.slice(1), 'utf8');
    } catch (e) {
      throw new UsageError(`--layout ${text}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  let layout: SoundLayout;
  try {
    layout = JSON.parse(json) as SoundLayout;
  } catch (e) {
    throw new UsageError(`--layout is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    validateLayout(layout);
  } catch (e) {
    throw new UsageError(`--layout: ${e instanceof Error ? e.message : String(e)}`);
  }
  return layout;
}

/** The daemon's own flags (the kit adds `--socket-path`/`--socket` and the rest). @example `Object.keys(SOUND_FLAGS)` */
export const SOUND_FLAGS: FlagSpecs = {
  backend: { type: 'string', value: 'NAME', default: 'null', validate: parseBackend, help: "null (playback discarded, silence captured, both at the real rate), alsa (aplay and arecord: the system's sound; PipeWire and PulseAudio through their ALSA plugin) or wav (--output and --input files)" },
  layout: { type: 'string', value: 'JSON|@FILE', validate: parseLayout, help: "the streams, jacks, channel maps and controls (a @vmv/sound SoundLayout as JSON); default vhost-device-sound's: one output, one input" },
  output: { type: 'string', repeatable: true, value: 'FILE', help: 'wav: the WAV file the next output stream is played into (repeat for the next; streams without one are discarded)' },
  input: { type: 'string', repeatable: true, value: 'FILE', help: 'wav: the WAV file the next input stream captures, then silence (repeat for the next; streams without one capture silence)' },
  'alsa-device': { type: 'string', value: 'PCM', help: "alsa: the ALSA PCM of every stream (default: ALSA's default)" },
};

/**
 * What serves the socket: the device, and the endpoints to close at stop.
 * @example
 * ```ts
 * const served: SoundService = await createSoundDaemon().createDevice(values, log, '/tmp/snd.sock');
 * ```
 */
export interface SoundService extends ServedDevice {
  /** The device served. */
  readonly device: SoundDevice;
}

/** The ids of the layout's streams of one direction, in order. */
function streamsOf(layout: SoundLayout, direction: number): number[] {
  return validateLayout(layout).streams.filter((s) => s.direction === direction).map((s) => s.id);
}

/**
 * A fresh definition of the daemon for `runDaemon`.
 * @returns the definition.
 * @example
 * ```ts
 * runDaemon(createSoundDaemon()).then((code) => process.exit(code));
 * ```
 */
export function createSoundDaemon(): DaemonDefinition<SoundService> {
  return {
    program: PROGRAM,
    deviceType: 'sound',
    description: `Serves a virtio-snd (sound) device over vhost-user, with the flags of rust-vmm's vhost-device-sound
(--socket, --backend) and ours for the layout and the backends. QEMU connects with:
  -chardev socket,id=c0,path=PATH -device vhost-user-snd-pci,chardev=c0
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
Playback and capture run at each stream's real rate; --backend wav writes each output stream to its
--output file (the data chunk byte for byte what the guest played) and plays each --input file to
the guest.`,
    version: packageVersion('@vmv/vhost-user-sound', typeof __dirname === 'string' ? __dirname : undefined),
    flags: SOUND_FLAGS,
    socketPathAliases: ['socket'],
    maxSockets: 1,
    check: (values) => {
      const backend = values['backend'] as BackendName;
      const layout = (values['layout'] as SoundLayout | undefined) ?? {};
      const outputs = values['output'] as string[];
      const inputs = values['input'] as string[];
      if (backend !== 'wav' && outputs.length + inputs.length > 0) throw new UsageError('--output and --input are for --backend wav');
      if (backend !== 'alsa' && values['alsa-device'] !== undefined) throw new UsageError('--alsa-device is for --backend alsa');
      if (outputs.length > streamsOf(layout, Direction.OUTPUT).length) throw new UsageError(`${outputs.length} --output files for ${streamsOf(layout, Direction.OUTPUT).length} output streams`);
      if (inputs.length > streamsOf(layout, Direction.INPUT).length) throw new UsageError(`${inputs.length} --input files for ${streamsOf(layout, Direction.INPUT).length} input streams`);
    },
    createDevice: async (values: FlagValues, log) => {
      const layout = (values['layout'] as SoundLayout | undefined) ?? {};
      const endpoints: Record<number, PcmEndpoint & { close?(): Promise<void> }> = {};
      const closeAll = async () => {
        for (const e of Object.values(endpoints)) await e.close?.();
      };
      let backend: SoundBackend;
      try {
        switch (values['backend'] as BackendName) {
          case 'null':
            backend = nullBackend();
            break;
          case 'alsa': {
            const device = values['alsa-device'] as string | undefined;
            const options = device === undefined ? {} : { device };
            for (const id of streamsOf(layout, Direction.OUTPUT)) endpoints[id] = new PlaybackProcess(options);
            for (const id of streamsOf(layout, Direction.INPUT)) endpoints[id] = new CaptureProcess(options);
            backend = routeStreams(endpoints);
            break;
          }
          case 'wav': {
            const outs = streamsOf(layout, Direction.OUTPUT);
            const ins = streamsOf(layout, Direction.INPUT);
            for (const [i, path] of (values['output'] as string[]).entries()) endpoints[outs[i]!] = await WavFileWriter.create(path);
            for (const [i, path] of (values['input'] as string[]).entries()) endpoints[ins[i]!] = await WavFileReader.open(path);
            backend = routeStreams(endpoints);
            break;
          }
        }
      } catch (e) {
        await closeAll();
        throw e;
      }
      const device = new SoundDevice({
        layout,
        backend,
        onError: (e) => log.error(`${e.shortMessage}: ${e.details ?? ''}`),
        onControl: (c) => log.info(`the guest set ${c.name} (index ${c.index}) to ${c.value}`),
      });
      return {
        device,
        drain: () => {
          for (const s of device.streams) log.info(`stream ${s.info.id} (${s.info.direction === Direction.OUTPUT ? 'output' : 'input'}): ${s.stats.bytes} bytes in ${s.stats.buffers} buffers, ${s.stats.xruns} xruns (${s.stats.xrunEvents} reported to the guest), ${s.stats.ioErrors} I/O errors`);
          const { eventsDelivered, eventsDropped } = device.stats;
          log.info(`events: ${eventsDelivered} delivered into the guest's eventq, ${eventsDropped} dropped`);
          return Promise.resolve();
        },
        close: closeAll,
      };
    },
  };
}

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(createSoundDaemon());
