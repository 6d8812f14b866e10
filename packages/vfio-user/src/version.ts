/**
 * VFIO_USER_VERSION (vfio-user.rst "Version"): major u16, minor u16, then optional NUL-terminated
 * UTF-8 JSON `{"capabilities": {...}}`. The server answers with the proposed major, a minor no
 * greater than proposed, and a subset of the proposed capabilities: its own `max_msg_fds` and
 * `max_data_xfer_size` (what it receives), `pgsizes` and `max_dma_maps`. Migration and twin-socket
 * mode are not offered (their capabilities are left out of the reply).
 *
 * @module
 */
import { PROTOCOL_DEFAULTS, VFIO_USER_VERSION, VfioUserCommand } from './constants.js';
import { BodySizeError, IncorrectFdsError, VersionError } from './errors.js';

/**
 * What the client proposed.
 * @example `const caps: ClientVersion = decodeVersion(body, []);`
 */
export interface ClientVersion {
  /** Major version proposed. */
  readonly major: number;
  /** Minor version proposed. */
  readonly minor: number;
  /** Most fds the client receives in one message. */
  readonly maxMsgFds: number;
  /** Most data bytes in one DMA_READ / DMA_WRITE to the client. */
  readonly maxDataXferSize: number;
  /** The capability names the client proposed. */
  readonly proposed: ReadonlySet<string>;
}

/**
 * What this server offers.
 * @example `encodeVersionReply(client, { maxMsgFds: 16, maxDataXferSize: 1 << 20, maxDmaMaps: 1024 })`
 */
export interface ServerCapabilities {
  /** Most fds the server receives in one message. */
  readonly maxMsgFds: number;
  /** Most data bytes in one REGION_READ / REGION_WRITE. */
  readonly maxDataXferSize: number;
  /** Most DMA windows at once. */
  readonly maxDmaMaps: number;
}

/** The server's DMA page sizes: 4 KiB pages only. @example `address % BigInt(SERVER_PGSIZES) === 0n` */
export const SERVER_PGSIZES = 4096;

function count(caps: Record<string, unknown>, key: string, fallback: number, min: number): number {
  if (!(key in caps)) return fallback;
  const v = caps[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new VersionError(`capability ${key} is not an integer >= ${min}`, { [key]: String(v) });
  return v;
}

/**
 * Decodes a VERSION command. The JSON (if any) must be NUL-terminated UTF-8 of an object whose
 * `capabilities`, if present, is an object; known capabilities must have their types (numbers
 * non-negative integers, `write_multiple` a boolean, `migration` and `twin_socket` objects);
 * unknown ones are ignored.
 * @param body - the payload
 * @param fds - fds received with it (none allowed)
 * @returns the proposal
 * @throws VfioUser.BodySizeError, IncorrectFdsError, VersionError
 * @example `const client = decodeVersion(body, fds);`
 */
export function decodeVersion(body: Uint8Array, fds: readonly number[]): ClientVersion {
  const c = VfioUserCommand.VERSION;
  if (fds.length !== 0) throw new IncorrectFdsError({ command: c, count: fds.length, expected: 0 });
  if (body.byteLength < 4) throw new BodySizeError({ command: c, size: body.byteLength, min: 4 });
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const major = v.getUint16(0, true);
  const minor = v.getUint16(2, true);
  let caps: Record<string, unknown> = {};
  if (body.byteLength > 4) {
    const json = body.subarray(4);
    if (json[json.length - 1] !== 0) throw new VersionError('capabilities are not NUL-terminated');
    let root: unknown;
    try {
      root = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json.subarray(0, json.length - 1)));
    } catch (e) {
      throw new VersionError('capabilities are not UTF-8 JSON', { cause: e instanceof Error ? e.message : String(e) });
    }
    if (typeof root !== 'object' || root === null || Array.isArray(root)) throw new VersionError('version data is not a JSON object');
    const inner = (root as Record<string, unknown>)['capabilities'];
    if (inner !== undefined) {
      if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) throw new VersionError('capabilities is not an object');
      caps = inner as Record<string, unknown>;
    }
  }
  const maxMsgFds = count(caps, 'max_msg_fds', PROTOCOL_DEFAULTS.maxMsgFds, 0);
  const maxDataXferSize = count(caps, 'max_data_xfer_size', PROTOCOL_DEFAULTS.maxDataXferSize, 1);
  count(caps, 'max_dma_maps', PROTOCOL_DEFAULTS.maxDmaMaps, 1);
  count(caps, 'pgsizes', PROTOCOL_DEFAULTS.pgsizes, 1);
  if ('write_multiple' in caps && typeof caps['write_multiple'] !== 'boolean') throw new VersionError('capability write_multiple is not a boolean');
  for (const key of ['migration', 'twin_socket']) {
    const o = caps[key];
    if (o !== undefined && (typeof o !== 'object' || o === null || Array.isArray(o))) throw new VersionError(`capability ${key} is not an object`);
  }
  return { major, minor, maxMsgFds, maxDataXferSize, proposed: new Set(Object.keys(caps)) };
}

/**
 * The VERSION reply payload: the proposed major (the server speaks 0 only: another major is a
 * VersionError), minor 0, and the server's values of the capabilities the client proposed.
 * @param client - the decoded proposal
 * @param server - the server's limits
 * @returns the payload
 * @throws VfioUser.VersionError when the major version is not 0
 * @example `reply(encodeVersionReply(client, caps));`
 */
export function encodeVersionReply(client: ClientVersion, server: ServerCapabilities): Uint8Array {
  if (client.major !== VFIO_USER_VERSION.major) throw new VersionError('unsupported major version', { major: client.major, supported: VFIO_USER_VERSION.major });
  const offer: Record<string, number> = {};
  const all: Record<string, number> = {
    max_msg_fds: server.maxMsgFds,
    max_data_xfer_size: server.maxDataXferSize,
    pgsizes: SERVER_PGSIZES,
    max_dma_maps: server.maxDmaMaps,
  };
  for (const [k, value] of Object.entries(all)) if (client.proposed.has(k)) offer[k] = value;
  const json = new TextEncoder().encode(JSON.stringify({ capabilities: offer }));
  const out = new Uint8Array(4 + json.byteLength + 1);
  const v = new DataView(out.buffer);
  v.setUint16(0, VFIO_USER_VERSION.major, true);
  v.setUint16(2, Math.min(client.minor, VFIO_USER_VERSION.minor), true);
  out.set(json, 4);
  return out;
}
