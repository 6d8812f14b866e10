/**
 * virtio-blk requests as a hostile driver lays them out (VIRTIO 1.2 §5.2.6): headers of any type
 * and sector, cut across descriptors at any point; data and segment lists in any number of pieces,
 * with the writable flag right or wrong; a status byte or not; chains direct or in an indirect
 * table; split or packed rings; then a few random bytes of the ring area corrupted. Also what
 * every device target shares: the ring and its device-side queue (queueAt, VIRTIO 1.2 §2.7,
 * §2.8) and the laying of chains on it (chainLayer).
 */
import { RequestType } from '@vmv/block';
import { Feature, featureBit } from '@vmv/device-trait';
import { QueueConfig, createVirtqueue } from '@vmv/queue';

const TYPES = [RequestType.IN, RequestType.OUT, RequestType.FLUSH, RequestType.GET_ID, RequestType.GET_LIFETIME, RequestType.DISCARD, RequestType.WRITE_ZEROES, RequestType.SECURE_ERASE];
const F_NEXT = 1;
const F_WRITE = 2;
const F_INDIRECT = 4;
const F_AVAIL = 1 << 7;
const DATA = 0x1000; // buffers from here up in the low region (rings sit below, at `ring.desc`)
const QUEUE_MAX_SIZE = 16; // the devices' queueSize in every target

/**
 * A ring of a size read from `src` (packed: 1 to 16; split: a power of two up to 16) at `base`
 * (descriptor table there, driver area at +0x400, device area at +0x800), and the device-side
 * queue over it, ready, with `features` negotiated.
 * @param {boolean} packed  the layout chainLayer writes (the target's choice; `features` may say otherwise, as a hostile driver's can)
 * @param {bigint} features  the negotiated features; INDIRECT_DESC there lets chainLayer use indirect tables
 * @returns {{ ring: { packed: boolean, size: number, desc: number, driver: number, device: number, indirect: boolean }, queue: import('@vmv/queue').Virtqueue }}
 */
export function queueAt(src, g, packed, features, base = 0) {
  const size = packed ? 1 + src.below(QUEUE_MAX_SIZE) : 1 << src.below(5);
  const ring = { packed, size, desc: base, driver: base + 0x400, device: base + 0x800, indirect: (features & featureBit(Feature.INDIRECT_DESC)) !== 0n };
  const cfg = new QueueConfig(QUEUE_MAX_SIZE);
  cfg.setFeatures(features);
  cfg.setSize(size);
  cfg.setArea('descTable', ring.desc);
  cfg.setArea('driverArea', ring.driver);
  cfg.setArea('deviceArea', ring.device);
  cfg.ready = true;
  return { ring, queue: createVirtqueue(g.memory, cfg) };
}

/** A request: the pieces (guest address, length, writable) of its chain. */
function request(src, g, alloc, capacitySectors) {
  const type = src.u8() < 230 ? src.pick(TYPES) : src.u32();
  const header = new Uint8Array(16);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, type >>> 0, true);
  dv.setUint32(4, src.u8() < 240 ? 0 : src.u32(), true);
  const sector = src.u8() < 200 ? BigInt(src.below(capacitySectors + 4)) : src.u64();
  dv.setBigUint64(8, sector, true);
  const pieces = [];
  const put = (bytes, writable) => {
    const len = bytes.length;
    const addr = src.u8() < 248 ? alloc(len) : g.address(src);
    try {
      g.memory.write(addr, bytes);
    } catch {
      // a piece placed outside guest memory by design: the device must refuse it
    }
    pieces.push({ addr, len, writable });
  };
  // header, possibly cut in two, possibly short or long
  const hlen = src.u8() < 240 ? 16 : src.below(40);
  const full = new Uint8Array(hlen);
  full.set(header.subarray(0, Math.min(16, hlen)));
  const cut = src.u8() < 220 ? hlen : src.below(hlen + 1);
  put(full.subarray(0, cut), src.u8() < 8);
  if (cut < hlen) put(full.subarray(cut), false);
  // data
  const deviceWrites = type === RequestType.IN || type === RequestType.GET_ID || type === RequestType.GET_LIFETIME;
  const segments = type === RequestType.DISCARD || type === RequestType.WRITE_ZEROES || type === RequestType.SECURE_ERASE;
  const n = src.below(4);
  for (let i = 0; i < n; i++) {
    let len;
    if (segments) len = 16 * (1 + src.below(3));
    else len = src.pick([512, 512, 1024, 4096, 20, 16, 1, 511, 513, 0]);
    const bytes = new Uint8Array(len);
    if (segments) {
      const sv = new DataView(bytes.buffer);
      for (let s = 0; s + 16 <= len; s += 16) {
        sv.setBigUint64(s, src.u8() < 200 ? BigInt(src.below(capacitySectors + 2)) : src.u64(), true);
        sv.setUint32(s + 8, src.u8() < 200 ? src.below(16) : src.u32(), true);
        sv.setUint32(s + 12, src.u8() < 200 ? src.below(2) : src.u32(), true);
      }
    } else if (!deviceWrites) for (let k = 0; k < len; k += 64) bytes[k] = src.u8();
    put(bytes, src.u8() < 240 ? deviceWrites : !deviceWrites);
  }
  // status
  if (src.u8() < 248) put(Uint8Array.of(0xee), src.u8() < 248);
  return pieces;
}

/**
 * Lays out requests on a ring and makes them available.
 * @param {{ packed: boolean, size: number, desc: number, driver: number, indirect: boolean }} ring
 * @returns {number} how many requests were made available
 */
export function writeRequests(src, g, ring, capacitySectors) {
  let next = DATA + 16 * src.below(4);
  const alloc = (len) => {
    const at = next;
    next += len + (src.u8() < 16 ? src.below(64) : 0);
    if (next + 64 >= g.lowSize) next = DATA;
    return at;
  };
  const count = 1 + src.below(Math.min(ring.size, 6));
  const layer = chainLayer(src, g, ring, alloc);
  for (let r = 0; r < count && !layer.full; r++) {
    const pieces = request(src, g, alloc, capacitySectors);
    if (pieces.length === 0) continue;
    if (!layer.add(pieces)) break;
  }
  return layer.publish(32);
}

/**
 * Lays chains on a ring, one at a time, and then makes them available: each chain a list of pieces
 * `{ addr, len, writable }` already in guest memory, as one descriptor per piece or (ring.indirect, at the
 * source's choice) one descriptor for an indirect table taken from `alloc`.
 * @param {{ packed: boolean, size: number, desc: number, driver: number, indirect: boolean }} ring
 * @param {(len: number) => number} alloc  guest memory for indirect tables
 */
export function chainLayer(src, g, ring, alloc) {
  const m = g.memory;
  let slot = 0;
  let heads = 0;
  let corrupted = 0;
  const writeDesc = (at, p, flags, nextIndex, id) => {
    m.writeU64(at, BigInt(p.addr));
    m.writeU32(at + 8, p.len);
    if (ring.packed) {
      m.writeU16(at + 12, id);
      m.writeU16(at + 14, flags | F_AVAIL);
    } else {
      m.writeU16(at + 12, flags);
      m.writeU16(at + 14, nextIndex);
    }
  };
  const flags = (pieces, i) => (pieces[i].writable ? F_WRITE : 0) | (i + 1 < pieces.length ? F_NEXT : 0);
  return {
    /** Whether the descriptor table is used up. */
    get full() {
      return slot >= ring.size;
    },
    /** Ring bytes publish() overwrote: with any, the device may find up to the ring's size in chains of garbage. */
    get corrupted() {
      return corrupted;
    },
    /** Lays one chain; false (nothing written) when the ring has no room for it. */
    add(pieces) {
      const head = slot;
      if (ring.indirect && src.u8() < 64) {
        const table = alloc(16 * pieces.length);
        pieces.forEach((p, i) => writeDesc(table + 16 * i, p, flags(pieces, i), i + 1, 0));
        writeDesc(ring.desc + 16 * slot, { addr: table, len: 16 * pieces.length }, F_INDIRECT, 0, head);
        slot++;
      } else {
        if (slot + pieces.length > ring.size) return false;
        pieces.forEach((p, i) => writeDesc(ring.desc + 16 * (slot + i), p, flags(pieces, i), slot + i + 1, head));
        slot += pieces.length;
      }
      if (!ring.packed) m.writeU16(ring.driver + 4 + 2 * (heads % ring.size), head);
      heads++;
      return true;
    },
    /**
     * Makes the chains available (a split ring's avail idx; a packed ring's descriptors already are), then, with
     * odds `corruptOdds`/256, writes 1 to 4 hostile bytes anywhere in the rings.
     * @returns {number} how many chains were made available
     */
    publish(corruptOdds) {
      if (!ring.packed) m.writeU16(ring.driver + 2, heads);
      const corrupt = src.u8() < corruptOdds ? 1 + src.below(4) : 0;
      corrupted += corrupt;
      for (let i = 0; i < corrupt; i++) {
        try {
          m.writeU8(src.pick([ring.desc, ring.driver]) + src.below(16 * ring.size), src.u8());
        } catch {
          // outside guest memory: nothing to corrupt
        }
      }
      return heads;
    },
  };
}

/**
 * Resets `device` as a transport does (`DeviceSession.reset`): each queue of its activation is
 * reset and retired from the context first (`live`, the very array the context holds: what the
 * device completes from then on is dropped, and nothing serves those queues again), then
 * `device.reset()`. A target that called `device.reset()` alone would run a path no transport takes.
 * @param {object} device  the activated device
 * @param {Array<import('@vmv/queue').Virtqueue | null>} live  the `queues` array of its activation context
 */
export function resetLikeTransport(device, live) {
  for (let i = 0; i < live.length; i++) {
    live[i]?.reset();
    live[i] = null;
  }
  device.reset();
}
