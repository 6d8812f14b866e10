/**
 * The flags of vmv-vhost-user-input. rust-vmm's vhost-device-input has `-s/--socket-path` (the
 * kit's, suffixed `0` as theirs) and `-e/--event-list` (host evdev passthrough, refused here: see
 * {@link PASSTHROUGH_REFUSED}); ours choose the device (`--device`), its identity, and where host
 * events come from (`--events-stdin`, `--events-socket`).
 * @module
 */
import { readFileSync } from 'node:fs';
import { PRESETS, isInputError, validateDescription, type InputDescription, type PresetName } from '@vmv/input';
import { UsageError, type FlagSpecs, type FlagValues } from '@vmv/vhost-user/daemon';

/** The program's name. @example `PROGRAM === 'vmv-vhost-user-input'` */
export const PROGRAM = 'vmv-vhost-user-input';

/**
 * Why `-e/--event-list` is refused, in one line: this machine has no /dev/uinput and no
 * /dev/input, so no test here can drive a host evdev device, and a feature no test drives is not offered.
 * @example `PASSTHROUGH_REFUSED.startsWith('--event-list')`
 */
export const PASSTHROUGH_REFUSED = '--event-list (host evdev passthrough, as vhost-device-input) is not offered yet: it cannot be tested where this daemon is built (no /dev/input, no /dev/uinput); use --device and send events with --events-stdin or --events-socket';

const hex16 = (label: string) => (t: string): number => {
  if (!/^(0x)?[0-9a-fA-F]{1,4}$/.test(t)) throw new UsageError(`${label} must be a 16-bit hexadecimal number, got ${JSON.stringify(t)}`);
  return parseInt(t.replace(/^0x/, ''), 16);
};

/** The daemon's own flags. @example `Object.keys(INPUT_FLAGS)` */
export const INPUT_FLAGS: FlagSpecs = {
  'event-list': { short: 'e', type: 'string', value: 'DEVS', help: 'host evdev devices to pass through (vhost-device-input): not offered yet, refused' },
  device: { type: 'string', value: 'KIND', default: 'keyboard', help: 'keyboard, mouse, tablet, touchscreen, or a JSON description file (see the README)' },
  name: { type: 'string', value: 'NAME', help: "the device's name (ID_NAME; printable ASCII, up to 63 bytes)" },
  serial: { type: 'string', value: 'SERIAL', help: "the device's serial (ID_SERIAL; printable ASCII, up to 63 bytes)" },
  vendor: { type: 'string', value: 'HEX', validate: hex16('--vendor'), help: 'ID_DEVIDS vendor (hexadecimal)' },
  product: { type: 'string', value: 'HEX', validate: hex16('--product'), help: 'ID_DEVIDS product (hexadecimal)' },
  'id-version': { type: 'string', value: 'HEX', validate: hex16('--id-version'), help: 'ID_DEVIDS version (hexadecimal)' },
  'events-stdin': { type: 'boolean', help: 'read host events as JSON lines on stdin; status events and errors go to stdout' },
  'events-socket': { type: 'string', value: 'PATH', help: 'a unix socket taking host events as JSON lines; status events and errors go back to every client' },
  'queue-capacity': { type: 'integer', min: 4, max: 65536, default: 256, value: 'N', help: 'events held while the guest posts no buffers (then evdev overflow: SYN_DROPPED)' },
};

/**
 * The description the flags ask for: a preset or a file, with the identity flags applied.
 * @param values - parsed flags.
 * @returns the description (checked).
 * @throws VhostUser.UsageError for `--event-list`, an unreadable file or a bad description (one line).
 * @example `descriptionOf(parseFlags(daemonFlags(inputDaemon), argv, PROGRAM))`
 */
export function descriptionOf(values: FlagValues): InputDescription {
  if (values['event-list'] !== undefined) throw new UsageError(PASSTHROUGH_REFUSED);
  const kind = values['device'] as string;
  let base: InputDescription;
  if (Object.hasOwn(PRESETS, kind)) base = PRESETS[kind as PresetName]();
  else {
    if (!kind.endsWith('.json')) throw new UsageError(`--device must be keyboard, mouse, tablet, touchscreen or a .json description file, got ${JSON.stringify(kind)}`);
    let text: string;
    try {
      text = readFileSync(kind, 'utf8');
    } catch (e) {
      throw new UsageError(`--device ${kind}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    try {
      base = JSON.parse(text) as InputDescription;
    } catch (e) {
      throw new UsageError(`--device ${kind}: not JSON (${(e as Error).message})`);
    }
  }
  const ids = { ...(typeof base === 'object' && base !== null ? base.ids : {}) } as Record<string, number>;
  if (values['vendor'] !== undefined) ids['vendor'] = values['vendor'] as number;
  if (values['product'] !== undefined) ids['product'] = values['product'] as number;
  if (values['id-version'] !== undefined) ids['version'] = values['id-version'] as number;
  const d = {
    ...base,
    ...(values['name'] === undefined ? {} : { name: values['name'] as string }),
    ...(values['serial'] === undefined ? {} : { serial: values['serial'] as string }),
    ids,
  };
  try {
    validateDescription(d);
  } catch (e) {
    if (isInputError(e)) throw new UsageError(`--device ${kind}: ${(e as { shortMessage: string }).shortMessage.replace(/^Invalid input device description: /, 'bad description: ')}`);
    throw e;
  }
  return d;
}
