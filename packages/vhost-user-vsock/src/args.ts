/**
 * The command line of vmv-vhost-user-vsock: rust-vmm vhost-device-vsock's flags, same meanings.
 * One guest from flat flags (`--guest-cid`, `--socket`, `--uds-path`, `--tx-buffer-size`,
 * `--queue-size`, `--groups`), several from repeatable `--vm key=value,...` or from a `--config`
 * YAML file (`vms:`, a list of the same keys). Ours: `--max-connections` and `--no-seqpacket`.
 * @module
 */
import { readFileSync } from 'node:fs';
import { UsageError, parseInteger, type FlagSpecs, type FlagValues } from '@vmv/vhost-user/daemon';

/** The program name used in messages. @example `console.error(`${PROGRAM}: error: ...`)` */
export const PROGRAM = 'vmv-vhost-user-vsock';

/**
 * One guest's device: vhost-device-vsock's `VsockConfig`.
 * @example `const vm: VmConfig = { guestCid: 3, socket: '/tmp/vhost3.socket', udsPath: '/tmp/vm3.vsock', txBufferSize: 65536, queueSize: 1024, groups: ['default'] };`
 */
export interface VmConfig {
  /** The guest's CID (3..0xfffffffe). */
  readonly guestCid: number;
  /** The vhost-user socket the frontend connects to. */
  readonly socket: string;
  /** The hybrid unix socket host programs connect to (`<udsPath>_<port>` for the guest's connections). */
  readonly udsPath: string;
  /** Guest → host bytes buffered per connection (the credit, buf_alloc, advertised to the guest). */
  readonly txBufferSize: number;
  /** Largest ring size. */
  readonly queueSize: number;
  /** Groups: guests sharing one reach each other by CID. */
  readonly groups: readonly string[];
}

/** vhost-device-vsock's defaults. */
const DEFAULTS = { guestCid: 3, txBufferSize: 64 * 1024, queueSize: 1024, groups: ['default'] } as const;
const KEYS = ['guest_cid', 'socket', 'uds_path', 'tx_buffer_size', 'queue_size', 'groups'] as const;
type Key = (typeof KEYS)[number];

/**
 * The daemon's own flags (the kit adds `--socket-path`, alias `--socket` here, and `-v`, `-q`,
 * `--log-format`, `--print-capabilities`, `-h`, `-V`).
 * @example `Object.keys(VSOCK_FLAGS).includes('uds-path') // true`
 */
export const VSOCK_FLAGS: FlagSpecs = {
  'guest-cid': { type: 'integer', min: 3, max: 0xffff_fffe, value: 'CID', help: `the guest's context id (default ${DEFAULTS.guestCid})` },
  'uds-path': { type: 'string', value: 'PATH', help: 'hybrid unix socket host programs connect to (CONNECT <port>); the guest reaches PATH_<port>' },
  'tx-buffer-size': { type: 'integer', min: 1, max: 0x7fff_ffff, value: 'B', help: `guest-to-host bytes buffered per connection (the credit given to the guest; default ${DEFAULTS.txBufferSize})` },
  'queue-size': {
    type: 'integer', min: 2, max: 32768, value: 'N', help: `largest virtqueue size, a power of two (default ${DEFAULTS.queueSize})`,
    validate: (n) => {
      if ((n & (n - 1)) !== 0) throw new UsageError(`--queue-size must be a power of two, got ${n}`);
      return n;
    },
  },
  groups: { type: 'string', value: 'G1+G2', help: 'groups this guest belongs to; guests sharing a group reach each other by CID (default "default")' },
  vm: { type: 'string', repeatable: true, value: 'KEY=VAL,...', help: 'one guest: guest-cid=,socket=,uds-path=,tx-buffer-size=,queue-size=,groups= (socket and uds-path required); repeat for more guests', validate: parseVm },
  config: { type: 'string', value: 'FILE', help: 'YAML file: vms: a list of guests with the keys of --vm (guest_cid, socket, uds_path, ...)' },
  'max-connections': { type: 'integer', min: 1, max: 1 << 20, default: 1024, value: 'N', help: 'connections at once per guest; past it a connection request gets RST' },
  'no-seqpacket': { type: 'boolean', help: 'do not offer VIRTIO_VSOCK_F_SEQPACKET (stream sockets only, as vhost-device-vsock)' },
};

/**
 * One guest from `key=value` pairs: vhost-device-vsock's `--vm` syntax (`-` or `_` in keys).
 * @param text - the `--vm` value, or a config file entry as pairs.
 * @param where - how messages name it.
 * @returns the guest.
 * @throws VhostUser.UsageError for an unknown or repeated key, a bad value, a missing `socket` or `uds-path`.
 * @example `parseVm('guest-cid=4,socket=/tmp/v4.sock,uds-path=/tmp/vm4.vsock,groups=a+b').groups // ['a', 'b']`
 */
export function parseVm(text: string, where = '--vm'): VmConfig {
  const pairs = new Map<Key, string>();
  for (const item of text.trim().split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${where}: expected KEY=VALUE, got ${JSON.stringify(item)}`);
    const key = item.slice(0, eq).replace(/-/g, '_') as Key;
    if (!KEYS.includes(key)) throw new UsageError(`${where}: unknown key ${JSON.stringify(item.slice(0, eq))} (known: ${KEYS.join(', ')})`);
    if (pairs.has(key)) throw new UsageError(`${where}: ${key} given twice`);
    pairs.set(key, item.slice(eq + 1));
  }
  return vmFrom(pairs, where);
}

function vmFrom(pairs: ReadonlyMap<Key, string>, where: string): VmConfig {
  const path = (key: 'socket' | 'uds_path') => {
    const v = pairs.get(key);
    if (v === undefined || v === '') throw new UsageError(`${where}: ${key} is required`);
    return v;
  };
  const int = (key: Key, min: number, max: number, fallback: number) => {
    const v = pairs.get(key);
    return v === undefined ? fallback : parseInteger(`${where} ${key}`, v, min, max);
  };
  const queueSize = int('queue_size', 2, 32768, DEFAULTS.queueSize);
  if ((queueSize & (queueSize - 1)) !== 0) throw new UsageError(`${where} queue_size must be a power of two, got ${queueSize}`);
  const groups = pairs.get('groups');
  return {
    guestCid: int('guest_cid', 3, 0xffff_fffe, DEFAULTS.guestCid),
    socket: path('socket'),
    udsPath: path('uds_path'),
    txBufferSize: int('tx_buffer_size', 1, 0x7fff_ffff, DEFAULTS.txBufferSize),
    queueSize,
    groups: groups === undefined ? [...DEFAULTS.groups] : parseGroups(groups, where),
  };
}

function parseGroups(text: string, where: string): string[] {
  const groups = text.trim().split('+');
  for (const g of groups) if (!/^[\x21-\x7e]+$/.test(g)) throw new UsageError(`${where}: groups are names joined with +, got ${JSON.stringify(text)}`);
  return groups;
}

/**
 * The guests of a `--config` file: vhost-device-vsock's YAML, a top-level `vms:` holding a list of
 * mappings of the `--vm` keys to plain scalars. That subset only (no anchors, flow collections or
 * multi-line values): anything else is refused with its line number, never guessed at.
 * @param text - the file's contents.
 * @param where - how messages name the file.
 * @returns the guests, at least one.
 * @throws VhostUser.UsageError naming the line for anything outside the subset, or a bad guest.
 * @example `parseConfig('vms:\n  - guest_cid: 4\n    socket: /tmp/v4.sock\n    uds_path: /tmp/vm4.vsock\n')`
 */
export function parseConfig(text: string, where = '--config'): VmConfig[] {
  const vms: Map<Key, string>[] = [];
  let inVms = false;
  let itemIndent = -1;
  let keyIndent = -1;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, '');
    if (raw.trim() === '' || raw.trim() === '---') continue;
    const bad = (why: string): never => {
      throw new UsageError(`${where} line ${i + 1}: ${why}`, { details: 'The file is YAML with a top-level "vms:" list of guests, each a mapping of guest_cid, socket, uds_path, tx_buffer_size, queue_size, groups to plain values.' });
    };
    if (raw.includes('\t')) bad('tabs are not YAML indentation');
    const indent = raw.length - raw.trimStart().length;
    let body = raw.trim();
    const item = body.startsWith('- ') || body === '-';
    if (indent === 0 && !item) {
      if (body !== 'vms:') bad(`expected "vms:", got ${JSON.stringify(body)}`);
      if (inVms) bad('"vms:" given twice');
      inVms = true;
      continue;
    }
    if (!inVms) bad('content before "vms:"');
    if (item) {
      if (itemIndent >= 0 && indent !== itemIndent) bad('list items must line up');
      itemIndent = indent;
      vms.push(new Map());
      body = body.slice(1).trimStart();
      keyIndent = indent + (raw.trimStart().length - raw.trimStart().slice(1).trimStart().length);
      if (body === '') {
        keyIndent = -1;
        continue;
      }
    } else if (vms.length === 0 || indent <= itemIndent || (indent === 0 && itemIndent === 0)) {
      bad('expected a list item ("- key: value")');
    } else if (keyIndent < 0) {
      keyIndent = indent;
    } else if (indent !== keyIndent) {
      bad('keys of one guest must line up');
    }
    const m = /^([a-z_-]+):\s*(.*)$/.exec(body);
    if (m === null) bad(`expected "key: value", got ${JSON.stringify(body)}`);
    const key = m![1]!.replace(/-/g, '_') as Key;
    let value = m![2]!;
    if (!KEYS.includes(key)) bad(`unknown key ${JSON.stringify(m![1])} (known: ${KEYS.join(', ')})`);
    const quoted = /^(["'])(.*)\1$/.exec(value);
    if (quoted !== null) value = quoted[2]!;
    else if (/^[[{&*!|>"']/.test(value)) bad(`only plain or quoted one-line values, got ${JSON.stringify(value)}`);
    const vm = vms[vms.length - 1]!;
    if (vm.has(key)) bad(`${key} given twice`);
    vm.set(key, value);
  }
  if (vms.length === 0) throw new UsageError(`${where}: no guest (expected "vms:" with a list of guests)`);
  return vms.map((pairs, k) => vmFrom(pairs, `${where} guest ${k + 1}`));
}

/**
 * Everything the daemon needs, as {@link vsockOptions} returns it.
 * @example `vsockOptions(values).vms[0].guestCid // 3`
 */
export interface VsockOptions {
  /** The guests, one device and one vhost-user socket each. */
  readonly vms: readonly VmConfig[];
  /** Connections at once per guest. */
  readonly maxConnections: number;
  /** Offer SEQPACKET. */
  readonly seqpacket: boolean;
}

const FLAT = ['guest-cid', 'uds-path', 'tx-buffer-size', 'queue-size', 'groups'] as const;

/**
 * The guests from the flags: `--config`, else `--vm`s, else the flat flags with `--socket`;
 * vhost-device-vsock's rules: the three forms exclude each other. Two guests with one CID, one
 * vhost-user socket or one uds path are refused.
 * @param values - what `parseFlags` returned.
 * @param read - reads the `--config` file (default: from disk).
 * @returns the options.
 * @throws VhostUser.UsageError for flags that do not go together, an unreadable or bad file.
 * @example `vsockOptions(parseFlags(daemonFlags(vsockDaemon), ['--socket', 's', '--uds-path', 'u']))`
 */
export function vsockOptions(values: FlagValues, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): VsockOptions {
  const vmFlags = values['vm'] as VmConfig[];
  const config = values['config'] as string | undefined;
  const flat = FLAT.filter((f) => values[f] !== undefined);
  let vms: VmConfig[];
  if (config !== undefined || vmFlags.length > 0) {
    const socketGiven = values['socket-path'] !== undefined;
    if (config !== undefined && vmFlags.length > 0) throw new UsageError('--config and --vm exclude each other');
    if (flat.length > 0 || socketGiven) throw new UsageError(`${config !== undefined ? '--config' : '--vm'} excludes --${flat[0] ?? 'socket'} (give every guest's settings inside it)`);
    if (config !== undefined) {
      let text: string;
      try {
        text = read(config);
      } catch (error) {
        throw new UsageError(`--config ${config}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      vms = parseConfig(text, `--config ${config}`);
    } else {
      vms = vmFlags;
    }
  } else {
    const pairs = new Map<Key, string>();
    if (values['socket-path'] !== undefined) pairs.set('socket', values['socket-path'] as string);
    else if (values['fd'] !== undefined) pairs.set('socket', `fd ${String(values['fd'])}`); // an inherited listener
    for (const f of FLAT) if (values[f] !== undefined) pairs.set(f.replace(/-/g, '_') as Key, String(values[f]));
    if (!pairs.has('socket')) throw new UsageError('--socket PATH is required (or --vm, or --config)', { details: `Run ${PROGRAM} --help for the options.` });
    if (!pairs.has('uds_path')) throw new UsageError('--uds-path PATH is required', { details: 'Host programs connect there (CONNECT <port>); the guest reaches PATH_<port>.' });
    vms = [vmFrom(pairs, 'flags')]; // each flag checked already
  }
  for (const key of ['guestCid', 'socket', 'udsPath'] as const) {
    const seen = new Set<unknown>();
    for (const vm of vms) {
      if (seen.has(vm[key])) throw new UsageError(`two guests have the same ${key === 'guestCid' ? 'guest-cid' : key === 'socket' ? 'socket' : 'uds-path'} ${String(vm[key])}`);
      seen.add(vm[key]);
    }
  }
  return { vms, maxConnections: values['max-connections'] as number, seqpacket: values['no-seqpacket'] !== true };
}
