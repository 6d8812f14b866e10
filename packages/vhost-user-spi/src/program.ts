/**
 * The vmv-vhost-user-spi program, declared for the daemon kit (`@vmv/vhost-user/daemon`): the
 * flags of rust-vmm's vhost-device-spi (`-s`, `-c` from the kit; `-l/--device`, a host spidev to
 * pass through, is refused: passthrough is not offered), chip selects wired to @vmv/spi's
 * simulated peripherals (`--cs`, ours), the controller's limits (`--max-freq-hz`,
 * `--bits-per-word`) and a control command. Every socket's controller reaches the same peripherals.
 * @module
 */
import { FLASH_MODELS, LoopbackPeripheral, SpiDevice, SpiNorFlash } from '@vmv/spi';
import type { FlashModel, SpiPeripheral } from '@vmv/spi';
import { openFlashFile, type FlashFile } from '@vmv/spi/node';
import { ControlError, UsageError, daemonHelp, packageVersion } from '@vmv/vhost-user/daemon';
import type { ControlCommand, DaemonDefinition, FlagSpecs, FlagValues, ServedDevice } from '@vmv/vhost-user/daemon';

/** The program's name. @example `PROGRAM === 'vmv-vhost-user-spi'` */
export const PROGRAM = 'vmv-vhost-user-spi';

/**
 * One `--cs` wiring.
 * @example `{ chipSelect: 0, kind: 'flash', path: '/tmp/f.bin', model: 'w25q32' }`
 */
export interface ChipSelectWiring {
  /** The chip select, 0 to 254. */
  readonly chipSelect: number;
  /** What is wired there. */
  readonly kind: 'loopback' | 'flash';
  /** The flash's part (a flash only). */
  readonly model?: FlashModel;
  /** The file holding the flash's array (a flash only; none: in memory). */
  readonly path?: string;
}

/**
 * `--cs N=loopback` or `--cs N=flash[:PATH][,model=MODEL]`: chip select N (0 to 254) wired to a
 * loopback or to a W25Q flash (its array in PATH, created blank if missing; in memory without one).
 * @param text - the flag's value.
 * @returns the wiring.
 * @throws VhostUser.UsageError for anything else.
 * @example `parseChipSelect('0=flash:/tmp/f.bin,model=w25q80bl')`
 */
export function parseChipSelect(text: string): ChipSelectWiring {
  const m = /^(\d{1,3})=(loopback|flash)(?::([^,]+))?((?:,[^,=]+=[^,]*)*)$/.exec(text);
  const chipSelect = m === null ? NaN : Number(m[1]);
  if (m === null || !(chipSelect <= 254)) throw new UsageError(`--cs takes N=loopback or N=flash[:PATH][,model=${Object.keys(FLASH_MODELS).join('|')}] with N 0 to 254, got ${JSON.stringify(text)}`);
  const options = Object.fromEntries((m[4] ?? '').split(',').filter((s) => s !== '').map((s) => s.split('=') as [string, string]));
  if (m[2] === 'loopback') {
    if (m[3] !== undefined || Object.keys(options).length > 0) throw new UsageError(`--cs ${chipSelect}=loopback takes no path or options, got ${JSON.stringify(text)}`);
    return { chipSelect, kind: 'loopback' };
  }
  for (const k of Object.keys(options)) if (k !== 'model') throw new UsageError(`--cs ${chipSelect}=flash: unknown option ${JSON.stringify(k)} (takes model=)`);
  const model = options['model'] ?? 'w25q32';
  if (!Object.prototype.hasOwnProperty.call(FLASH_MODELS, model)) throw new UsageError(`--cs ${chipSelect}=flash: model is one of ${Object.keys(FLASH_MODELS).join(', ')}, got ${JSON.stringify(model)}`);
  return m[3] === undefined ? { chipSelect, kind: 'flash', model: model as FlashModel } : { chipSelect, kind: 'flash', model: model as FlashModel, path: m[3] };
}

/**
 * `--bits-per-word LIST`: widths and ranges, 1 to 32 (`8,16,32`, `1-32`), as `bits_per_word_mask`.
 * @param text - the flag's value.
 * @returns the mask.
 * @throws VhostUser.UsageError for anything else.
 * @example `parseBitsPerWord('8,16') // 0x8080`
 */
export function parseBitsPerWord(text: string): number {
  let mask = 0;
  for (const part of text.split(',')) {
    const m = /^(\d{1,2})(?:-(\d{1,2}))?$/.exec(part.trim());
    const lo = m === null ? NaN : Number(m[1]);
    const hi = m === null ? NaN : Number(m[2] ?? m[1]);
    if (!(lo >= 1 && hi <= 32 && lo <= hi)) throw new UsageError(`--bits-per-word takes widths and ranges from 1 to 32 (8,16,32 or 1-32), got ${JSON.stringify(text)}`);
    for (let b = lo; b <= hi; b++) mask |= 1 << (b - 1);
  }
  return mask >>> 0;
}

/** The daemon's own flags (the kit adds `-s`, `-c` and the rest). @example `Object.keys(SPI_FLAGS)` */
export const SPI_FLAGS: FlagSpecs = {
  device: {
    short: 'l',
    type: 'string',
    value: '/dev/spidevX.Y',
    validate: (path: string) => {
      throw new UsageError(`--device ${path}: passthrough of a host spidev is not offered (nothing here could test it); wire simulated peripherals with --cs`);
    },
    help: "vhost-device-spi's host spidev to pass through: refused (use --cs)",
  },
  cs: { type: 'string', repeatable: true, required: true, value: 'N=loopback|N=flash[:PATH][,model=M]', validate: parseChipSelect, help: `ours: wires chip select N to a loopback or to a W25Q SPI NOR flash (${Object.keys(FLASH_MODELS).join(', ')}; default w25q32) whose array is PATH (created blank if missing; each program and erase lands in it before the guest is answered)` },
  'max-freq-hz': { type: 'integer', min: 0, max: 0xffff_ffff, default: 0, value: 'HZ', help: 'the highest clock a transfer may ask for (0: no limit); faster ones answer VIRTIO_SPI_PARAM_ERR' },
  'bits-per-word': { type: 'string', default: 0xffff_ffff, value: 'LIST', validate: parseBitsPerWord, help: 'the word widths offered, e.g. 8,16,32 (default 1-32)' },
};

/**
 * What serves one socket: its controller, over the daemon's one set of peripherals.
 * @example `served.peripherals[0]`
 */
export interface SpiService extends ServedDevice {
  /** The controller served on this socket. */
  readonly device: SpiDevice;
  /** The peripheral on each chip select (shared by every socket). */
  readonly peripherals: readonly (SpiPeripheral | null)[];
}

/**
 * The control commands (`--control-socket PATH`; one JSON request a line).
 * @example `echo '{"execute": "chip-selects"}' | socat - UNIX-CONNECT:spi.ctl`
 */
export const SPI_CONTROL: Readonly<Record<string, ControlCommand<SpiService>>> = {
  'chip-selects': {
    help: "each wired chip select: a loopback's transfers and bytes, a flash's model, size, status register and counts of programs, erases and status writes",
    run: (args, d) => {
      for (const k of Object.keys(args)) throw new ControlError(`unknown argument "${k}" (takes none)`);
      return d[0]!.peripherals.flatMap((p, cs): Record<string, unknown>[] =>
        p instanceof LoopbackPeripheral ? [{ cs, kind: 'loopback', transfers: p.transfers, bytes: p.bytes }]
        : p instanceof SpiNorFlash ? [{ cs, kind: 'flash', model: p.model, size: p.storage.size, status: p.status, ...p.counts }]
        : [],
      );
    },
  },
};

/**
 * A fresh definition of the daemon for `runDaemon` (each run builds its own peripherals).
 * @returns the definition.
 * @example `runDaemon(createSpiDaemon()).then((code) => process.exit(code));`
 */
export function createSpiDaemon(): DaemonDefinition<SpiService> {
  let shared: { peripherals: (SpiPeripheral | null)[]; files: FlashFile[]; users: number } | null = null;
  const build = (values: FlagValues) => {
    const wiring = values['cs'] as ChipSelectWiring[];
    if (wiring.length === 0) throw new UsageError('--cs: wire at least one chip select (N=loopback or N=flash[:PATH])');
    const peripherals: (SpiPeripheral | null)[] = new Array<null>(Math.max(...wiring.map((w) => w.chipSelect)) + 1).fill(null);
    const files: FlashFile[] = [];
    try {
      for (const w of wiring) {
        if (peripherals[w.chipSelect] !== null) throw new UsageError(`--cs: chip select ${w.chipSelect} is wired twice`);
        if (w.kind === 'loopback') peripherals[w.chipSelect] = new LoopbackPeripheral();
        else if (w.path === undefined) peripherals[w.chipSelect] = new SpiNorFlash(w.model!);
        else {
          let f: FlashFile;
          try {
            f = openFlashFile(w.path, w.model!);
          } catch (e) {
            throw new UsageError(`--cs ${w.chipSelect}=flash: ${(e as Error).message}`);
          }
          files.push(f);
          peripherals[w.chipSelect] = f.flash;
        }
      }
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
    return { peripherals, files, users: 0 };
  };
  return {
    program: PROGRAM,
    deviceType: 'spi',
    description: `Serves a virtio-spi controller over vhost-user, its chip selects wired to simulated peripherals
(@vmv/spi: a W25Q SPI NOR flash kept in a file, a loopback), with the flags of rust-vmm's
vhost-device-spi. -s PATH listens on PATH0 (-c N: PATH0..PATH(N-1), every guest on the same
peripherals). QEMU connects with:
  -chardev socket,id=c0,path=PATH0 -device vhost-user-spi-pci,chardev=c0
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
In the guest, bind a driver to a chip select: echo spi-nor 0 > /sys/class/spi_master/spiN/new_device.`,
    version: packageVersion('@vmv/vhost-user-spi', typeof __dirname === 'string' ? __dirname : undefined),
    flags: SPI_FLAGS,
    socketSuffix: 'always',
    createDevice: (values, log, socket) => {
      shared ??= build(values);
      const s = shared;
      s.users++;
      const device = new SpiDevice({ chipSelects: s.peripherals, maxFreqHz: values['max-freq-hz'] as number, bitsPerWordMask: values['bits-per-word'] as number });
      device.onPeripheralError((e, cs) => log.warn(`the peripheral on chip select ${cs} failed: ${e instanceof Error ? e.message : String(e)}`, { socket }));
      return {
        device,
        peripherals: s.peripherals,
        drain: () => {
          const st = device.stats;
          log.info(`answered ${st.requests} transfers in ${st.messages} messages (${st.paramErrors} parameter errors, ${st.transferErrors} transfer errors)`, { socket });
          s.peripherals.forEach((p, cs) => {
            if (p instanceof LoopbackPeripheral) log.info(`chip select ${cs}: loopback, ${p.transfers} transfers, ${p.bytes} bytes`, { socket });
            else if (p instanceof SpiNorFlash) log.info(`chip select ${cs}: ${p.model}, ${p.counts.programs} programs, ${p.counts.erases} erases, ${p.counts.statusWrites} status writes`, { socket });
          });
          return Promise.resolve();
        },
        close: () => {
          if (--s.users === 0) for (const f of s.files) f.close();
          return Promise.resolve();
        },
      };
    },
    control: SPI_CONTROL,
  };
}

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(createSpiDaemon());
