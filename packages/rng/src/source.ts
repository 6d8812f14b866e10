/**
 * Entropy sources: what fills the guest's buffers. A source is any function from a length to
 * bytes, synchronous or asynchronous ({@link EntropySource}); {@link webCryptoSource} (the
 * default) runs wherever Web Crypto does, browsers included. A file or device source for Node is
 * at `@vmv/rng/node`.
 * @module
 */

/**
 * Gives up to `length` bytes of entropy: a `Uint8Array` of 1..`length` bytes (fewer than asked is
 * a short read: the device asks again for the rest), or a promise of one. An empty array means
 * the source ran out; a throw or a rejection, that it failed. Extra bytes beyond `length` are
 * ignored. The device never asks for more than {@link MAX_SOURCE_REQUEST} bytes at once, and never
 * has two calls of one device in flight.
 * @example
 * ```ts
 * const source: EntropySource = (n) => fetch(`/entropy?n=${n}`).then(async (r) => new Uint8Array(await r.arrayBuffer()));
 * ```
 */
export type EntropySource = (length: number) => Uint8Array | Promise<Uint8Array>;

/** Most bytes a device asks of its source at once: what one Web Crypto `getRandomValues` call may fill. @example `MAX_SOURCE_REQUEST === 65536` */
export const MAX_SOURCE_REQUEST = 65536;

/**
 * Web Crypto's `crypto.getRandomValues` as an {@link EntropySource} (synchronous). Lengths above
 * the 65,536 bytes one call may fill are filled in several calls.
 * @returns the source.
 * @throws TypeError when this runtime has no `crypto.getRandomValues`.
 * @example
 * ```ts
 * const bytes = webCryptoSource()(32) as Uint8Array;
 * ```
 */
export function webCryptoSource(): EntropySource {
  const c = (globalThis as { crypto?: { getRandomValues?: <T extends Uint8Array>(a: T) => T } }).crypto;
  if (c === undefined || typeof c.getRandomValues !== 'function') throw new TypeError('webCryptoSource: this runtime has no crypto.getRandomValues');
  const fill = c.getRandomValues.bind(c);
  return (length: number) => {
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += MAX_SOURCE_REQUEST) fill(out.subarray(at, Math.min(length, at + MAX_SOURCE_REQUEST)));
    return out;
  };
}
