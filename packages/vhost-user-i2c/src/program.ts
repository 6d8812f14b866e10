/**
 * The vmv-vhost-user-i2c program, declared for the daemon kit (`@vmv/vhost-user/daemon`): the
 * flags of rust-vmm's vhost-device-i2c (`-l/--device-list` in its `<adapter>:<addr>[:<addr>],...`
 * syntax with decimal addresses, where the adapter names a simulated model here: `24c02:80,lm75:72`;
 * `-s`, `-c` from the kit), EEPROMs backed by files (`--eeprom-file`, ours) and control commands
 * (the LM75s' temperatures, the EEPROMs' bytes). Every socket's adapter reaches the one bus.
 * @module
 */
import { EEPROM_MODELS, Eeprom, I2cBus, I2cDevice, Lm75 } from '@vmv/i2c';
import type { EepromModel } from '@vmv/i2c';
import { openEepromFile, type EepromFile } from '@vmv/i2c/node';
import { ControlError, UsageError, daemonHelp, packageVersion } from '@vmv/vhost-user/daemon';
import type { ControlCommand, DaemonDefinition, FlagSpecs, FlagValues, ServedDevice } from '@vmv/vhost-user/daemon';

/** The program's name. @example `PROGRAM === 'vmv-vhost-user-i2c'` */
export const PROGRAM = 'vmv-vhost-user-i2c';

/** The simulated models `--device-list` names. @example `MODELS.includes('lm75')` */
export const MODELS: readonly string[] = [...Object.keys(EEPROM_MODELS), 'lm75'];

/**
 * One simulated device of `--device-list`.
 * @example `{ model: '24c02', address: 0x50 }`
 */
export interface SimulatedDevice {
  /** One of {@link MODELS}. */
  readonly model: string;
  /** Its 7-bit address. */
  readonly address: number;
}

/**
 * `--device-list` in vhost-device-i2c's syntax, `<adapter>:<addr>[:<addr>][,<adapter>:<addr>...]`
 * with decimal addresses (below 128, none twice), where each adapter is a model of
 * {@link MODELS}. An adapter number (a host `/dev/i2c-N`) is refused: passthrough is not offered.
 * @param text - the flag's value.
 * @returns the devices, in order.
 * @throws VhostUser.UsageError for anything else.
 * @example `parseDeviceList('24c02:80:81,lm75:72') // 24c02 at 0x50 and 0x51, lm75 at 0x48`
 */
export function parseDeviceList(text: string): SimulatedDevice[] {
  const out: SimulatedDevice[] = [];
  for (const part of text.split(',')) {
    const [adapter = '', ...addrs] = part.split(':').map((s) => s.trim());
    if (/^\d+$/.test(adapter)) throw new UsageError(`--device-list: adapter ${adapter}: passthrough of host adapters is not offered; name a simulated model (${MODELS.join(', ')})`);
    if (!MODELS.includes(adapter)) throw new UsageError(`--device-list: ${JSON.stringify(adapter)} is not a model: one of ${MODELS.join(', ')}`);
    if (addrs.length === 0) throw new UsageError(`--device-list: ${adapter} needs at least one address (decimal: 80 is 0x50)`);
    for (const a of addrs) {
      const address = /^\d{1,3}$/.test(a) ? Number(a) : NaN;
      if (!(address <= 0x77)) throw new UsageError(`--device-list: an address is a decimal number below 120 (0x78), got ${JSON.stringify(a)}`);
      if (out.some((d) => d.address === address)) throw new UsageError(`--device-list: address ${address} is given twice`);
      out.push({ model: adapter, address });
    }
  }
  return out;
}

/** `--eeprom-file ADDR=PATH`. */
function parseEepromFile(text: string): { address: number; path: string } {
  const m = /^(\d{1,3})=(.+)$/.exec(text);
  if (m === null) throw new UsageError(`--eeprom-file takes ADDR=PATH (ADDR decimal, as in --device-list), got ${JSON.stringify(text)}`);
  return { address: Number(m[1]), path: m[2]! };
}

/** The daemon's own flags (the kit adds `-s`, `-c` and the rest). @example `Object.keys(I2C_FLAGS)` */
export const I2C_FLAGS: FlagSpecs = {
  'device-list': { short: 'l', type: 'string', required: true, value: 'MODEL:ADDR[:ADDR],...', validate: parseDeviceList, help: `simulated devices at decimal addresses (vhost-device-i2c's syntax, the adapter naming a model: ${MODELS.join(', ')}); e.g. 24c02:80,lm75:72` },
  'eeprom-file': { type: 'string', repeatable: true, value: 'ADDR=PATH', validate: parseEepromFile, help: 'ours: the EEPROM at ADDR keeps its contents in PATH (created blank if missing; each page write lands in it before the guest is answered)' },
};

/**
 * What serves one socket: its adapter, on the daemon's one bus.
 * @example `served.bus.addresses()`
 */
export interface I2cService extends ServedDevice {
  /** The adapter served on this socket. */
  readonly device: I2cDevice;
  /** The bus every socket shares. */
  readonly bus: I2cBus;
}

function address(args: Readonly<Record<string, unknown>>, bus: I2cBus): number {
  const a = args['address'];
  if (typeof a !== 'number' || !Number.isInteger(a) || a < 0 || a > 0x77 || bus.target(a) === undefined) throw new ControlError(`"address" must be the address of a device on the bus (${bus.addresses().join(', ')}), got ${JSON.stringify(a) ?? 'nothing'}`);
  return a;
}
function acceptOnly(args: Readonly<Record<string, unknown>>, names: readonly string[]): void {
  for (const k of Object.keys(args)) if (!names.includes(k)) throw new ControlError(`unknown argument "${k}" (takes ${names.map((n) => `"${n}"`).join(', ') || 'none'})`);
}
const busOf = (devices: readonly I2cService[]): I2cBus => devices[0]!.bus;

/**
 * The control commands (`--control-socket PATH`; one JSON request a line).
 * @example `echo '{"execute": "set-temperature", "arguments": {"address": 72, "celsius": 42.5}}' | socat - UNIX-CONNECT:i2c.ctl`
 */
export const I2C_CONTROL: Readonly<Record<string, ControlCommand<I2cService>>> = {
  devices: {
    help: 'the devices on the bus: address, model, and the temperature (LM75) or the word address counter (EEPROM)',
    run: (args, d) => {
      acceptOnly(args, []);
      const bus = busOf(d);
      return bus.addresses().map((a) => {
        const t = bus.target(a);
        return t instanceof Lm75 ? { address: a, model: 'lm75', temperature: t.temperature, reported: t.reported } : t instanceof Eeprom ? { address: a, model: t.model, size: t.memory.length, pointer: t.address } : { address: a };
      });
    },
  },
  'set-temperature': {
    help: "sets an LM75's temperature (°C; the register holds it in 0.5 °C steps, -55..125)",
    arguments: '{"address": N, "celsius": NUMBER}',
    run: (args, d) => {
      acceptOnly(args, ['address', 'celsius']);
      const t = busOf(d).target(address(args, busOf(d)));
      if (!(t instanceof Lm75)) throw new ControlError('"address" is not an LM75');
      const c = args['celsius'];
      if (typeof c !== 'number' || !Number.isFinite(c)) throw new ControlError(`"celsius" must be a number, got ${JSON.stringify(c) ?? 'nothing'}`);
      t.temperature = c;
      return { reported: t.reported };
    },
  },
  'eeprom-read': {
    help: "an EEPROM's bytes, as hex",
    arguments: '{"address": N, "offset"?: N, "length"?: N}',
    run: (args, d) => {
      acceptOnly(args, ['address', 'offset', 'length']);
      const t = busOf(d).target(address(args, busOf(d)));
      if (!(t instanceof Eeprom)) throw new ControlError('"address" is not an EEPROM');
      const size = t.memory.length;
      const offset = args['offset'] ?? 0;
      if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset >= size) throw new ControlError(`"offset" must be in 0..${size - 1}`);
      const length = args['length'] ?? size - offset;
      if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || offset + length > size) throw new ControlError(`"length" must be in 0..${size - offset}`);
      return { hex: Array.from(t.memory.subarray(offset, offset + length), (b) => b.toString(16).padStart(2, '0')).join('') };
    },
  },
};

/**
 * A fresh definition of the daemon for `runDaemon` (each run builds its own bus).
 * @returns the definition.
 * @example `runDaemon(createI2cDaemon()).then((code) => process.exit(code));`
 */
export function createI2cDaemon(): DaemonDefinition<I2cService> {
  let shared: { bus: I2cBus; files: EepromFile[]; users: number } | null = null;
  const build = (values: FlagValues) => {
    const list = values['device-list'] as SimulatedDevice[];
    const files = values['eeprom-file'] as { address: number; path: string }[];
    for (const f of files) {
      const d = list.find((x) => x.address === f.address);
      if (d === undefined || d.model === 'lm75') throw new UsageError(`--eeprom-file ${f.address}=${f.path}: no EEPROM at address ${f.address} in --device-list`);
    }
    const bus = new I2cBus();
    const opened: EepromFile[] = [];
    try {
      for (const d of list) {
        const file = files.find((f) => f.address === d.address);
        if (d.model === 'lm75') bus.attach(d.address, new Lm75());
        else if (file === undefined) bus.attach(d.address, new Eeprom(d.model as EepromModel));
        else {
          const f = openEepromFile(file.path, d.model as EepromModel);
          opened.push(f);
          bus.attach(d.address, f.eeprom);
        }
      }
    } catch (e) {
      for (const f of opened) f.close();
      throw new UsageError(`--eeprom-file: ${(e as Error).message}`);
    }
    return { bus, files: opened, users: 0 };
  };
  return {
    program: PROGRAM,
    deviceType: 'i2c',
    description: `Serves a virtio-i2c adapter over vhost-user, its bus holding simulated devices (@vmv/i2c: 24Cxx
EEPROMs, LM75 sensors), with the flags of rust-vmm's vhost-device-i2c. -s PATH listens on PATH0 (-c N:
PATH0..PATH(N-1), every guest on the one bus). QEMU connects with:
  -chardev socket,id=c0,path=PATH0 -device vhost-user-i2c-pci,chardev=c0
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
Set temperatures and read EEPROMs through --control-socket (commands: devices, set-temperature, eeprom-read).`,
    version: packageVersion('@vmv/vhost-user-i2c', typeof __dirname === 'string' ? __dirname : undefined),
    flags: I2C_FLAGS,
    socketSuffix: 'always',
    createDevice: (values, log, socket) => {
      shared ??= build(values);
      const s = shared;
      s.users++;
      const device = new I2cDevice({ bus: s.bus });
      return {
        device,
        bus: s.bus,
        drain: () => {
          const st = device.stats;
          log.info(`answered ${st.requests} requests in ${st.transactions} transactions (${st.errors} errors)`, { socket });
          return Promise.resolve();
        },
        close: () => {
          if (--s.users === 0) for (const f of s.files) f.close();
          return Promise.resolve();
        },
      };
    },
    control: I2C_CONTROL,
  };
}

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(createI2cDaemon());
