/**
 * The vmv-vhost-user-rng program, declared for the daemon kit (`@vmv/vhost-user/daemon`): the
 * flags of rust-vmm's vhost-device-rng (`-f/--rng-source`, `-p/--period`, `-m/--max-bytes`; the
 * kit's `-s/--socket-path` and `-c/--socket-count` suffix the path with 0..c-1 as it does) and
 * one {@link RngDevice} per socket, all reading one source and drawing on one rate budget.
 * Everything else (sockets, signals, logs, `--help`) is the kit's.
 * @module
 */
import { RateLimiter, RngDevice } from '@vmv/rng';
import type { RngError } from '@vmv/rng';
import { FileSource } from '@vmv/rng/node';
import { UsageError, daemonHelp, packageVersion } from '@vmv/vhost-user/daemon';
import type { DaemonDefinition, DaemonLog, FlagSpecs, FlagValues, ServedDevice } from '@vmv/vhost-user/daemon';

/** The program's name. @example `PROGRAM === 'vmv-vhost-user-rng'` */
export const PROGRAM = 'vmv-vhost-user-rng';

/** vhost-device-rng's longest period (QEMU's virtio-rng limit), also its default. @example `MAX_PERIOD_MS === 65536` */
export const MAX_PERIOD_MS = 65536;

/** u64's largest value: what `--max-bytes` may say (vhost-device-rng's default, usize::MAX). */
const U64_MAX = (1n << 64n) - 1n;

/**
 * `--max-bytes` as vhost-device-rng reads it (a usize): any whole number from 1; beyond what a
 * byte count can reach (2^53) it means no limit, as its default usize::MAX does.
 * @param text - the flag's value.
 * @returns the bytes per period, or Infinity for no limit.
 * @throws VhostUser.UsageError when it is not a whole number in 1..2^64-1.
 * @example
 * ```ts
 * parseMaxBytes('4096'); // 4096
 * parseMaxBytes('18446744073709551615'); // Infinity
 * ```
 */
export function parseMaxBytes(text: string): number {
  if (!/^\d+$/.test(text) || BigInt(text) < 1n || BigInt(text) > U64_MAX) throw new UsageError(`--max-bytes must be a whole number in 1..${U64_MAX}, got ${JSON.stringify(text)}`);
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : Infinity;
}

/** The daemon's own flags (the kit adds `-s`, `-c` and the rest). @example `Object.keys(RNG_FLAGS)` */
export const RNG_FLAGS: FlagSpecs = {
  'rng-source': { short: 'f', type: 'string', value: 'PATH', default: '/dev/urandom', help: 'where the entropy comes from: a character device, a FIFO or a regular file (one that runs out makes the guest wait, logged as an error)' },
  period: { short: 'p', type: 'integer', min: 1, max: MAX_PERIOD_MS, default: MAX_PERIOD_MS, value: 'MS', help: 'rate-limit period in milliseconds' },
  'max-bytes': { short: 'm', type: 'string', value: 'B', validate: parseMaxBytes, help: 'bytes per period, one budget shared by all sockets; a request beyond it waits for the next period (default: no limit)' },
};

/**
 * What serves one socket: its device, and the stats line logged at stop.
 * @example
 * ```ts
 * const served: RngService = await createRngDaemon().createDevice(values, log, '/tmp/rng.sock0');
 * ```
 */
export interface RngService extends ServedDevice {
  /** The device served on this socket. */
  readonly device: RngDevice;
}

/** What the sockets of one daemon share: the source and the budget. */
interface Shared {
  readonly source: FileSource;
  readonly limiter: RateLimiter | null;
  users: number;
  failureLogged: boolean;
}

/**
 * A fresh definition of the daemon for `runDaemon` (each run opens its own source and budget).
 * @returns the definition.
 * @example
 * ```ts
 * runDaemon(createRngDaemon()).then((code) => process.exit(code));
 * ```
 */
export function createRngDaemon(): DaemonDefinition<RngService> {
  let shared: Promise<Shared> | null = null;
  const open = async (values: FlagValues): Promise<Shared> => {
    const source = await FileSource.open(values['rng-source'] as string);
    const maxBytes = values['max-bytes'] as number | undefined;
    const limiter = maxBytes === undefined || maxBytes === Infinity ? null : new RateLimiter({ periodMs: values['period'] as number, maxBytes });
    return { source, limiter, users: 0, failureLogged: false };
  };
  const onSourceError = (s: Shared, log: DaemonLog) => (e: RngError) => {
    if (s.failureLogged) return;
    s.failureLogged = true;
    log.error(`rng source ${s.source.path}: ${e.shortMessage} (${e.details ?? ''}); the guest's requests wait until the device is reset. Point --rng-source at a device such as /dev/urandom, or at a larger file`);
  };
  return {
    program: PROGRAM,
    deviceType: 'rng',
    description: `Serves a virtio-rng (entropy) device over vhost-user, with the flags of rust-vmm's vhost-device-rng.
-s PATH listens on PATH0 (-c N: PATH0..PATH(N-1), one guest each). QEMU connects with:
  -chardev socket,id=c0,path=PATH0 -device vhost-user-rng-pci,chardev=c0
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
Every socket reads the one --rng-source and shares the one --max-bytes budget per --period.`,
    version: packageVersion('@vmv/vhost-user-rng', typeof __dirname === 'string' ? __dirname : undefined),
    flags: RNG_FLAGS,
    socketSuffix: 'always',
    createDevice: async (values, log, socket) => {
      shared ??= open(values);
      const s = await shared;
      s.users++;
      const device = new RngDevice({ source: s.source.read, ...(s.limiter ? { rateLimiter: s.limiter } : {}), onSourceError: onSourceError(s, log) });
      return {
        device,
        drain: () => {
          log.info(`served ${device.stats.bytes} bytes in ${device.stats.requests} requests`, { socket });
          return Promise.resolve();
        },
        close: async () => {
          if (--s.users > 0) return;
          await s.source.close();
          log.info(`read ${s.source.bytesRead} bytes from ${s.source.path}`);
        },
      };
    },
  };
}

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(createRngDaemon());
