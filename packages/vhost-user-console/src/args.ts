/**
 * The command line of vmv-vhost-user-console: rust-vmm vhost-device-console's flags (`-s/--socket-path`,
 * `-c/--socket-count`, `-b/--backend nested|network`, `-p/--tcp-port`, `-q/--max-queue-size`, same
 * meanings), plus ours: `unix` and `pty` backends, named ports, a console size, the host-side buffer bound.
 * @module
 */
import type { ConsoleSize } from '@vmv/console';
import { UsageError, type FlagSpecs, type FlagValues } from '@vmv/vhost-user/daemon';

/** The program name used in messages. @example `console.error(`${PROGRAM}: error: ...`)` */
export const PROGRAM = 'vmv-vhost-user-console';

/** Where port bytes go: the daemon's terminal, TCP (rust-vmm's two), unix sockets or a pty per port (ours). @example `const b: BackendName = 'network';` */
export type BackendName = 'nested' | 'network' | 'unix' | 'pty';

/**
 * Everything the daemon needs, as {@link consoleOptions} returns it.
 * @example `const o = consoleOptions(values); o.ports // ['org.test.0']`
 */
export interface ConsoleOptions {
  /** The `--socket-path` given (sockets are PATH0..PATH(N-1)). */
  readonly socketPath: string;
  /** Number of sockets (guests). */
  readonly socketCount: number;
  /** Where the ports' bytes go. */
  readonly backend: BackendName;
  /** First TCP port (network): socket i, port k listens on tcpPort + i × ports + k. */
  readonly tcpPort: number;
  /** Address TCP listeners bind to. */
  readonly tcpHost: string;
  /** Unix socket prefix (unix): socket i, port k listens on `<prefix><i>-<k>`. */
  readonly consoleSocket: string | undefined;
  /** Largest ring size. */
  readonly maxQueueSize: number;
  /** Names of ports 1..n (port 0 is the console). */
  readonly ports: readonly string[];
  /** Console size offered with F_SIZE, or undefined. */
  readonly size: ConsoleSize | undefined;
  /** Host → guest bytes buffered per port before the host side is paused. */
  readonly bufferSize: number;
}

const BACKENDS: readonly BackendName[] = ['nested', 'network', 'unix', 'pty'];

/**
 * The daemon's own flags (the kit adds `-s/--socket-path`, `-c/--socket-count`, `--fd`, `-v`,
 * `--quiet`, `--log-format`, `--print-capabilities`, `-h`, `-V`). `-q` is rust-vmm's
 * `--max-queue-size` here, so `--quiet` has no short form.
 * @example `Object.keys(CONSOLE_FLAGS).includes('tcp-port') // true`
 */
export const CONSOLE_FLAGS: FlagSpecs = {
  backend: {
    short: 'b', type: 'string', value: 'NAME', default: 'nested', help: 'nested (the daemon\'s terminal, one socket), network (TCP), unix (unix sockets) or pty (a pty per port, its path printed)',
    validate: (t) => {
      if (!(BACKENDS as readonly string[]).includes(t)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(t)}`);
      return t;
    },
  },
  'tcp-port': { short: 'p', type: 'integer', min: 1, max: 65535, default: 12345, value: 'PORT', help: 'network: first TCP port; socket i, port k listens on PORT + i*ports + k' },
  'tcp-host': { type: 'string', value: 'ADDR', default: '127.0.0.1', help: 'network: address the TCP listeners bind to' },
  'console-socket': { type: 'string', value: 'PREFIX', help: 'unix: socket i, port k listens on PREFIX<i>-<k>' },
  'max-queue-size': {
    short: 'q', type: 'integer', min: 2, max: 32768, default: 128, value: 'N', help: 'largest virtqueue size, a power of two',
    validate: (n) => {
      if ((n & (n - 1)) !== 0) throw new UsageError(`--max-queue-size must be a power of two, got ${n}`);
      return n;
    },
  },
  ports: { type: 'string', value: 'NAME[,NAME...]', help: 'named ports besides port 0 (the console), in order: /dev/vportNp1... with these names', validate: parsePortNames },
  size: { type: 'string', value: 'COLSxROWS', help: 'console size offered with VIRTIO_CONSOLE_F_SIZE (nested: the terminal\'s, followed)', validate: parseSize },
  'buffer-size': { type: 'integer', min: 1, max: 1 << 30, default: 64 * 1024, value: 'B', help: 'host bytes buffered per port while the guest reads nothing, before the host side is paused' },
  quiet: { type: 'boolean', help: 'log errors only' },
};

/**
 * `--ports a,b,c`: 1..255 port names, each 1..255 bytes, printable without `,`, all different.
 * @param text - the flag's value.
 * @returns the names.
 * @throws VhostUser.UsageError for a bad list.
 * @example `parsePortNames('org.test.0,org.test.1') // ['org.test.0', 'org.test.1']`
 */
export function parsePortNames(text: string): string[] {
  const names = text.split(',');
  if (names.length > 255) throw new UsageError(`--ports: at most 255 names, got ${names.length}`);
  for (const n of names) {
    if (!/^[\x21-\x7e]{1,255}$/.test(n)) throw new UsageError(`--ports: names are 1..255 printable characters without spaces, got ${JSON.stringify(n)}`);
  }
  if (new Set(names).size !== names.length) throw new UsageError('--ports: two ports have the same name');
  return names;
}

/**
 * `--size 80x25`.
 * @param text - the flag's value.
 * @returns the size.
 * @throws VhostUser.UsageError for a bad size.
 * @example `parseSize('80x25') // { cols: 80, rows: 25 }`
 */
export function parseSize(text: string): ConsoleSize {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(text);
  const cols = m ? Number(m[1]) : NaN;
  const rows = m ? Number(m[2]) : NaN;
  if (!(cols <= 0xffff && rows <= 0xffff)) throw new UsageError(`--size must be COLSxROWS (each 0..65535), got ${JSON.stringify(text)}`);
  return { cols, rows };
}

/**
 * The daemon's options from the parsed flags, checked together.
 * @param values - what `parseFlags` returned.
 * @returns the options.
 * @throws VhostUser.UsageError for flags that do not go together.
 * @example `consoleOptions(parseFlags(daemonFlags(consoleDaemon), argv))`
 */
export function consoleOptions(values: FlagValues): ConsoleOptions {
  const backend = values['backend'] as BackendName;
  const socketCount = (values['socket-count'] as number | undefined) ?? 1;
  const ports = (values['ports'] as string[] | undefined) ?? [];
  const tcpPort = values['tcp-port'] as number;
  // rust-vmm: "the nested backend works only with one socket"; it has one terminal, so one port too.
  if (backend === 'nested' && socketCount !== 1) throw new UsageError('--backend nested serves one socket: use --socket-count 1 or --backend network');
  if (backend === 'nested' && ports.length > 0) throw new UsageError('--backend nested has one terminal for port 0: named ports need --backend network or unix');
  if (backend === 'unix' && values['console-socket'] === undefined) throw new UsageError('--backend unix needs --console-socket PREFIX');
  if (backend === 'network' && tcpPort + socketCount * (ports.length + 1) - 1 > 65535) throw new UsageError(`--tcp-port ${tcpPort}: ${socketCount * (ports.length + 1)} ports from it go past 65535`);
  return {
    socketPath: values['socket-path'] as string,
    socketCount,
    backend,
    tcpPort,
    tcpHost: values['tcp-host'] as string,
    consoleSocket: values['console-socket'] as string | undefined,
    maxQueueSize: values['max-queue-size'] as number,
    ports,
    size: values['size'] as ConsoleSize | undefined,
    bufferSize: values['buffer-size'] as number,
  };
}
