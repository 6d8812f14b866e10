import type { VhostUserDecodeContext } from '@vmv/vhost-user/protocol';

/** Bytes from a hex string; spaces and newlines are ignored. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0) throw new Error(`odd hex length: ${clean.length}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Hex string of bytes (lowercase, no spaces). */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Features of the golden vhost-user-blk backend: SEG_MAX, BLK_SIZE, FLUSH, PROTOCOL_FEATURES, VERSION_1. */
export const BLK_FEATURES = 0x1_4000_0244n;
/** Protocol features of the golden backend: MQ, REPLY_ACK, CONFIG, INFLIGHT_SHMFD, RESET_DEVICE, CONFIGURE_MEM_SLOTS, STATUS. */
export const BLK_PROTOCOL_FEATURES = 0x1_b209n;

/** A decode context after full negotiation (or before, with `negotiated: false`). */
export function context(overrides: Partial<VhostUserDecodeContext> = {}): VhostUserDecodeContext {
  return {
    offeredFeatures: BLK_FEATURES,
    ackedFeatures: BLK_FEATURES,
    offeredProtocolFeatures: BLK_PROTOCOL_FEATURES,
    ackedProtocolFeatures: BLK_PROTOCOL_FEATURES,
    queueCount: 1,
    maxQueueSize: 256,
    ...overrides,
  };
}
