// vhost-user-blk backends the guest's disk can be served by: qemu-storage-daemon (the reference), our
// vmv-vhost-user-blk daemon, or any command taking `--socket PATH --image FILE [--readonly] [--queues N] [--direct]`.
// "builtin" is QEMU's own virtio-blk device (no vhost-user), useful as a baseline.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, which } from './image.mjs';

/** Where the vmv-vhost-user-blk daemon's built entry point lives. */
export const VMV_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-blk', 'dist', 'cjs', 'bin.js');

/**
 * @typedef {object} Backend
 * @property {string} name  short name used in test names and reports ("qsd", "vmv", ...)
 * @property {boolean} [builtin]  true for QEMU's own virtio-blk (no backend process)
 * @property {(a: {socket: string, image: string, readonly: boolean, queues: number, direct: boolean,
 *   platform?: import('./platform.mjs').Platform}) => string[]} [argv]  the backend's command line (argv[0] is the program)
 */

/** Escapes a value for QEMU's key=value option syntax (a comma is doubled). */
export const qemuOptValue = (s) => String(s).replace(/,/g, ',,');

/**
 * qemu-storage-daemon serving IMAGE as a vhost-user-blk export on SOCKET (the reference backend): the guest
 * platform's own (Debian 12's on bookworm, trixie-backports' on trixie).
 * @param {{cache?: 'auto'|'direct'|'writeback'}} [opts]  direct: O_DIRECT + Linux AIO (cache.direct=on,aio=native);
 *   writeback: through the host page cache with a thread pool (cache.direct=off,aio=threads); auto (default):
 *   direct when the image's filesystem supports O_DIRECT
 * @returns {Backend}
 * @example bootGuest({ backend: qsdBackend({ cache: 'writeback' }) })
 */
export function qsdBackend(opts = {}) {
  const cache = opts.cache ?? 'auto';
  if (!['auto', 'direct', 'writeback'].includes(cache)) throw new TypeError(`qsdBackend: cache must be auto, direct or writeback, got ${cache}`);
  return {
    name: 'qsd',
    argv: ({ socket, image, readonly, queues, direct, platform }) => [
      platform?.qsd ?? process.env.VMV_GUEST_QSD ?? 'qemu-storage-daemon',
      '--blockdev', `driver=file,node-name=file0,filename=${qemuOptValue(image)},${(cache === 'auto' ? direct : cache === 'direct') ? 'cache.direct=on,aio=native' : 'cache.direct=off,aio=threads'}${readonly ? ',read-only=on' : ''}`,
      '--blockdev', `driver=raw,node-name=disk0,file=file0${readonly ? ',read-only=on' : ''}`,
      '--export', `type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=${qemuOptValue(socket)},writable=${readonly ? 'off' : 'on'},num-queues=${queues}`,
    ],
  };
}

/**
 * A backend started as `<command...> --socket PATH --image FILE [--readonly] [--queues N] [--direct]`.
 * @param {string} name
 * @param {string[]} command  program and leading arguments
 * @param {{cache?: 'auto'|'direct'|'writeback'}} [opts]  writeback (default): no --direct, the command's own
 *   default (through the host page cache for our daemon); direct: always --direct (O_DIRECT); auto: --direct when the
 *   image's filesystem supports O_DIRECT. Same meaning as for {@link qsdBackend}, so both can be run alike.
 * @returns {Backend}
 * @example commandBackend('mine', ['node', 'dist/bin.js'], { cache: 'direct' })
 */
export function commandBackend(name, command, opts = {}) {
  if (!Array.isArray(command) || command.length === 0) throw new TypeError(`commandBackend: command must be a non-empty array`);
  const cache = opts.cache ?? 'writeback';
  if (!['auto', 'direct', 'writeback'].includes(cache)) throw new TypeError(`commandBackend: cache must be auto, direct or writeback, got ${cache}`);
  return {
    name,
    argv: ({ socket, image, readonly, queues, direct }) => [
      ...command, '--socket', socket, '--image', image, ...(readonly ? ['--readonly'] : []), '--queues', String(queues),
      ...((cache === 'auto' ? direct : cache === 'direct') ? ['--direct'] : []),
    ],
  };
}

/**
 * The command of our daemon: env VMV_GUEST_VMV_CMD (a JSON array, or words split on spaces), else
 * `node <repo>/packages/vhost-user-blk/dist/cjs/bin.js`.
 * @returns {string[]}
 */
export function vmvCommand() {
  const env = process.env.VMV_GUEST_VMV_CMD?.trim();
  if (env) return env.startsWith('[') ? JSON.parse(env) : env.split(/\s+/);
  return [process.execPath, VMV_DAEMON_BIN];
}

/**
 * Whether our daemon can be run: VMV_GUEST_VMV_CMD is set, or the built bin.js exists.
 * @returns {boolean}
 */
export function vmvAvailable() {
  return Boolean(process.env.VMV_GUEST_VMV_CMD?.trim()) || existsSync(VMV_DAEMON_BIN);
}

/**
 * Our vmv-vhost-user-blk daemon.
 * @param {{cache?: 'auto'|'direct'|'writeback', args?: string[]}} [opts]  cache: see {@link commandBackend} (default
 *   writeback: buffered); args: more flags of the daemon's, after its command (`['--poll', 'off']`)
 * @returns {Backend}
 * @example vmvBackend({ cache: 'direct', args: ['--poll', 'off'] })
 */
export function vmvBackend(opts = {}) {
  return commandBackend('vmv', [...vmvCommand(), ...(opts.args ?? [])], opts);
}

/**
 * QEMU's built-in virtio-blk device (no vhost-user backend process).
 * @returns {Backend}
 */
export function builtinBackend() {
  return { name: 'builtin', builtin: true };
}

/**
 * Turns a backend spec into a Backend: 'qsd' | 'vmv' | 'builtin' | a Backend object |
 * {name, command: [...]} (a command taking --socket/--image/--readonly/--queues).
 * @param {string|Backend|{name: string, command: string[]}} spec
 * @returns {Backend}
 * @throws {TypeError} on an unknown name
 * @example resolveBackend('qsd').name === 'qsd'
 */
export function resolveBackend(spec) {
  if (spec && typeof spec === 'object') {
    if (spec.argv || spec.builtin) return spec;
    if (Array.isArray(spec.command)) return commandBackend(spec.name ?? 'custom', spec.command);
  }
  switch (spec) {
    case 'qsd': return qsdBackend();
    case 'vmv': return vmvBackend();
    case 'builtin': return builtinBackend();
    default: throw new TypeError(`resolveBackend: unknown backend ${JSON.stringify(spec)} (qsd | vmv | builtin | {name, command})`);
  }
}

/**
 * The backends selected by env VMV_GUEST_BACKEND (qsd | vmv | both | builtin, comma lists allowed):
 * default vmv when our daemon is built, else qsd.
 * @returns {{names: string[], note?: string}}
 */
export function selectedBackends() {
  const env = (process.env.VMV_GUEST_BACKEND ?? '').trim();
  if (!env) {
    return vmvAvailable()
      ? { names: ['vmv'] }
      : { names: ['qsd'], note: `vmv daemon not built (${VMV_DAEMON_BIN} missing): running the matrix against qemu-storage-daemon` };
  }
  const names = env.split(',').flatMap((n) => (n.trim() === 'both' ? ['qsd', 'vmv'] : [n.trim()])).filter(Boolean);
  for (const n of names) resolveBackend(n);
  return { names: [...new Set(names)] };
}

/**
 * Whether qemu-storage-daemon can be run on a platform (a platform root always has it).
 * @param {import('./platform.mjs').Platform} [platform]
 * @returns {boolean}
 */
export const qsdAvailable = (platform) => Boolean(platform?.root || process.env.VMV_GUEST_QSD || which('qemu-storage-daemon'));
