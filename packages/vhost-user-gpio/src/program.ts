/**
 * The vmv-vhost-user-gpio program, declared for the daemon kit (`@vmv/vhost-user/daemon`): the
 * flags of rust-vmm's vhost-device-gpio (`-l/--device-list`, one chip per socket; the kit's
 * `-s/--socket-path` and `-c/--socket-count` suffix the path with 0..c-1 as it does), with
 * simulated chips (`sN`, as its mock_gpio feature: N lines) served by @vmv/gpio, line names
 * (`--line-names`, ours), and control commands to drive inputs and read lines while the guest runs.
 * @module
 */
import { GpioChip, GpioDevice } from '@vmv/gpio';
import { ControlError, UsageError, daemonHelp, packageVersion } from '@vmv/vhost-user/daemon';
import type { ControlCommand, DaemonDefinition, FlagSpecs, FlagValues, ServedDevice } from '@vmv/vhost-user/daemon';

/** The program's name. @example `PROGRAM === 'vmv-vhost-user-gpio'` */
export const PROGRAM = 'vmv-vhost-user-gpio';

/**
 * `--device-list` as vhost-device-gpio reads it (`<device>[:<device>]`, one per socket), where a
 * device is a simulated chip `sN` with N lines (1 to 65535). A host chip number is refused:
 * passthrough of host gpiochips is not offered.
 * @param text - the flag's value.
 * @returns the number of lines of each chip, one per socket.
 * @throws VhostUser.UsageError for anything else.
 * @example `parseDeviceList('s4:s8') // [4, 8]`
 */
export function parseDeviceList(text: string): number[] {
  return text.split(':').map((d) => {
    if (/^\d+$/.test(d)) throw new UsageError(`--device-list: host gpiochip ${d}: passthrough of host chips is not offered; give a simulated chip sN (N lines)`);
    const m = /^s(\d{1,5})$/.exec(d);
    const n = m ? Number(m[1]) : 0;
    if (n < 1 || n > 0xffff) throw new UsageError(`--device-list: each device is sN, a simulated chip of N lines (1 to 65535), got ${JSON.stringify(d)}`);
    return n;
  });
}

/** The daemon's own flags (the kit adds `-s`, `-c` and the rest). @example `Object.keys(GPIO_FLAGS)` */
export const GPIO_FLAGS: FlagSpecs = {
  'device-list': { short: 'l', type: 'string', required: true, value: 'sN[:sN]', validate: parseDeviceList, help: 'one simulated chip per socket, in socket order: sN has N lines (host chip numbers are refused: no passthrough)' },
  'line-names': { type: 'string', value: 'NAME,...', validate: (t) => t.split(','), help: 'names of the lines of every chip, from line 0 (ours; an empty name leaves a line unnamed)' },
};

/**
 * What serves one socket: its chip and device.
 * @example `const { chip } = served; await chip.setInput(0, 1);`
 */
export interface GpioService extends ServedDevice {
  /** The device served on this socket. */
  readonly device: GpioDevice;
  /** Its chip. */
  readonly chip: GpioChip;
}

/** An argument checked. */
function arg(args: Readonly<Record<string, unknown>>, name: string, ok: (v: unknown) => boolean, what: string, fallback?: unknown): unknown {
  const v = args[name] ?? fallback;
  if (!ok(v)) throw new ControlError(`"${name}" must be ${what}, got ${JSON.stringify(args[name]) ?? 'nothing'}`);
  return v;
}
const isIndex = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** The chip (`"chip"`, default 0) and line (`"line"`: a number or a line's name) of a command. */
function target(args: Readonly<Record<string, unknown>>, devices: readonly GpioService[]): { chip: GpioChip; line: number } {
  const index = arg(args, 'chip', (v) => isIndex(v) && (v as number) < devices.length, `a chip index in 0..${devices.length - 1}`, 0) as number;
  const chip = devices[index]!.chip;
  const line = args['line'];
  const n = typeof line === 'string' ? chip.find(line) : line;
  if (!isIndex(n) || (n as number) >= chip.ngpio) throw new ControlError(`"line" must be a line number in 0..${chip.ngpio - 1} or a line's name, got ${JSON.stringify(line) ?? 'nothing'}`);
  return { chip, line: n as number };
}
function acceptOnly(args: Readonly<Record<string, unknown>>, names: readonly string[]): void {
  for (const k of Object.keys(args)) if (!names.includes(k)) throw new ControlError(`unknown argument "${k}" (takes ${names.map((n) => `"${n}"`).join(', ') || 'none'})`);
}

/**
 * The control commands (`--control-socket PATH`; one JSON request a line). `set-input` and
 * `pulse` answer when the guest took the interrupt they raised (see @vmv/gpio's README, "Pacing").
 * @example `echo '{"execute": "set-input", "arguments": {"line": "button", "value": 0}}' | socat - UNIX-CONNECT:gpio.ctl`
 */
export const GPIO_CONTROL: Readonly<Record<string, ControlCommand<GpioService>>> = {
  lines: {
    help: "every line of a chip: name, direction (0 none, 1 out, 2 in), value, output, driven, pull, irqType, latched",
    arguments: '{"chip"?: N}',
    run: (args, d) => {
      acceptOnly(args, ['chip']);
      const chip = d[arg(args, 'chip', (v) => isIndex(v) && (v as number) < d.length, `a chip index in 0..${d.length - 1}`, 0) as number]!.chip;
      return Array.from({ length: chip.ngpio }, (_, i) => chip.line(i));
    },
  },
  'set-input': {
    help: 'drives a line from the host (null: stops driving, the pull decides); answers {"outcome"} once the interrupt it raised was delivered and the guest unmasked again ("delivered"), was discarded, or there was none',
    arguments: '{"line": N | NAME, "value": 0 | 1 | null, "chip"?: N}',
    run: async (args, d) => {
      acceptOnly(args, ['line', 'value', 'chip']);
      const { chip, line } = target(args, d);
      const value = arg(args, 'value', (v) => v === 0 || v === 1 || v === null, '0, 1 or null');
      return { outcome: await chip.setInput(line, value as 0 | 1 | null) };
    },
  },
  pulse: {
    help: 'toggles a line and back, each change paced as set-input; answers {"outcomes"}',
    arguments: '{"line": N | NAME, "chip"?: N}',
    run: async (args, d) => {
      acceptOnly(args, ['line', 'chip']);
      const { chip, line } = target(args, d);
      return { outcomes: await chip.pulse(line) };
    },
  },
};

/**
 * A fresh definition of the daemon for `runDaemon`.
 * @returns the definition.
 * @example `runDaemon(createGpioDaemon()).then((code) => process.exit(code));`
 */
export function createGpioDaemon(): DaemonDefinition<GpioService> {
  const chipFor = (values: FlagValues, socket: string): GpioChip => {
    const list = values['device-list'] as number[];
    const base = values['socket-path'] as string | undefined;
    const index = base !== undefined && socket.startsWith(base) ? Number(socket.slice(base.length)) || 0 : 0;
    const names = (values['line-names'] as string[] | undefined) ?? [];
    const lines = list[index] ?? list[0]!;
    try {
      return new GpioChip(Array.from({ length: lines }, (_, i) => names[i] ?? ''));
    } catch (e) {
      throw new UsageError(`--line-names: ${(e as Error).message}`);
    }
  };
  return {
    program: PROGRAM,
    deviceType: 'gpio',
    description: `Serves a virtio-gpio device over vhost-user: a simulated GPIO chip per socket (@vmv/gpio), with the
flags of rust-vmm's vhost-device-gpio. -s PATH listens on PATH0 (-c N: PATH0..PATH(N-1), one guest each,
one --device-list entry each). QEMU connects with:
  -chardev socket,id=c0,path=PATH0 -device vhost-user-gpio-pci,chardev=c0
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
Drive inputs and read lines through --control-socket (commands: lines, set-input, pulse).`,
    version: packageVersion('@vmv/vhost-user-gpio', typeof __dirname === 'string' ? __dirname : undefined),
    flags: GPIO_FLAGS,
    socketSuffix: 'always',
    check: (values) => {
      const count = (values['socket-count'] as number | undefined) ?? 1;
      const list = values['device-list'] as number[];
      if (values['socket-path'] !== undefined && list.length !== count) throw new UsageError(`--device-list names ${list.length} chip(s) for ${count} socket(s): give one per socket, as vhost-device-gpio does`);
      chipFor(values, '');
    },
    createDevice: (values, log, socket) => {
      const chip = chipFor(values, socket);
      const device = new GpioDevice({ chip });
      chip.onChange((e) => {
        if (e.kind === 'output') log.info(`line ${e.line} output ${e.value}`, { socket });
        else if (e.kind === 'direction') log.debug(`line ${e.line} direction ${e.direction}`, { socket });
        else log.debug(`line ${e.line} irq type ${e.irqType}`, { socket });
      });
      return {
        device,
        chip,
        drain: () => {
          const s = device.stats;
          log.info(`answered ${s.requests} requests (${s.errors} errors), delivered ${s.interrupts} interrupts`, { socket });
          return Promise.resolve();
        },
        close: () => Promise.resolve(),
      };
    },
    control: GPIO_CONTROL,
  };
}

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(createGpioDaemon());
