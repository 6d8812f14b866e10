/**
 * A model of QEMU 11.1's vfio-user client (hw/vfio-user/): the commands it sends, laid out as it
 * lays them out (its VERSION capabilities, DMA_MAP of RAM with an fd and of ROM without, posted
 * REGION_WRITEs with No_reply, SET_IRQS eventfds in one message per run of fds), and a reader of
 * the replies. Written from the protocol text, independently of the package's encoders.
 */
export const QEMU_CAPS = JSON.stringify({
  capabilities: {
    migration: { pgsize: 4096, max_bitmap_size: 256 << 20 },
    max_msg_fds: 16,
    max_data_xfer_size: 1 << 20,
    pgsizes: 4096,
    max_dma_maps: 65535,
    write_multiple: true,
  },
});

export interface Reply {
  id: number;
  command: number;
  size: number;
  flags: number;
  error: number;
  body: Uint8Array;
  view: DataView;
}

let nextId = 1;

/** A command message: header (id, command, size, flags) and payload. */
export function command(cmd: number, payload: Uint8Array = new Uint8Array(0), flags = 0, id = nextId++ & 0xffff): Uint8Array {
  const out = new Uint8Array(16 + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, id, true);
  v.setUint16(2, cmd, true);
  v.setUint32(4, out.length, true);
  v.setUint32(8, flags, true);
  out.set(payload, 16);
  return out;
}

/** Little-endian fields: [bytes, value] pairs. */
export function le(...f: [number, number | bigint][]): Uint8Array {
  const out = new Uint8Array(f.reduce((n, [b]) => n + b, 0));
  const v = new DataView(out.buffer);
  let at = 0;
  for (const [b, x] of f) {
    if (b === 2) v.setUint16(at, Number(x), true);
    else if (b === 4) v.setUint32(at, Number(x), true);
    else v.setBigUint64(at, BigInt(x), true);
    at += b;
  }
  return out;
}

export function parse(message: Uint8Array): Reply {
  const v = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const body = message.subarray(16);
  return {
    id: v.getUint16(0, true),
    command: v.getUint16(2, true),
    size: v.getUint32(4, true),
    flags: v.getUint32(8, true),
    error: v.getUint32(12, true),
    body,
    view: new DataView(body.buffer, body.byteOffset, body.byteLength),
  };
}

export const qemu = {
  version(caps = QEMU_CAPS, major = 0, minor = 0): Uint8Array {
    const json = new TextEncoder().encode(caps);
    const p = new Uint8Array(4 + json.length + 1);
    p.set(le([2, major], [2, minor]));
    p.set(json, 4);
    return command(1, p);
  },
  dmaMap(iova: bigint, size: bigint, flags = 3, offset = 0n): Uint8Array {
    return command(2, le([4, 32], [4, flags], [8, offset], [8, iova], [8, size]));
  },
  dmaUnmap(iova: bigint, size: bigint, flags = 0): Uint8Array {
    return command(3, le([4, 24], [4, flags], [8, iova], [8, size]));
  },
  getInfo(): Uint8Array {
    return command(4, le([4, 16], [4, 0], [4, 0], [4, 0]));
  },
  regionInfo(index: number, argsz = 32): Uint8Array {
    return command(5, le([4, argsz], [4, 0], [4, index], [4, 0], [8, 0], [8, 0]));
  },
  irqInfo(index: number): Uint8Array {
    return command(7, le([4, 16], [4, 0], [4, index], [4, 0]));
  },
  setIrqs(flags: number, index: number, start: number, count: number, bools?: number[]): Uint8Array {
    const data = new Uint8Array(bools ?? []);
    const p = new Uint8Array(20 + data.length);
    p.set(le([4, 20 + data.length], [4, flags], [4, index], [4, start], [4, count]));
    p.set(data, 20);
    return command(8, p);
  },
  regionRead(region: number, offset: bigint | number, count: number): Uint8Array {
    return command(9, le([8, BigInt(offset)], [4, region], [4, count]));
  },
  regionWrite(region: number, offset: bigint | number, data: Uint8Array, posted = false): Uint8Array {
    const p = new Uint8Array(16 + data.length);
    p.set(le([8, BigInt(offset)], [4, region], [4, data.length]));
    p.set(data, 16);
    return command(10, p, posted ? 0x10 : 0);
  },
  reset(): Uint8Array {
    return command(13);
  },
  /** QEMU's answer to a DMA_READ (hw/vfio-user/pci.c): the request's 32 bytes (address, count), the data, size count + 32. */
  dmaReadReply(request: Uint8Array, memory: Uint8Array, base = 0): Uint8Array {
    const r = parse(request);
    const addr = Number(r.view.getBigUint64(0, true));
    const count = Number(r.view.getBigUint64(8, true));
    const out = new Uint8Array(32 + count);
    out.set(request.subarray(0, 32));
    const v = new DataView(out.buffer);
    v.setUint32(4, out.length, true);
    v.setUint32(8, 1, true);
    out.set(memory.subarray(addr - base, addr - base + count), 32);
    return out;
  },
  /** QEMU's answer to a DMA_WRITE: writes the data after address and count, replies with the header. */
  dmaWriteReply(request: Uint8Array, memory: Uint8Array, base = 0): Uint8Array {
    const r = parse(request);
    const addr = Number(r.view.getBigUint64(0, true));
    const count = Number(r.view.getBigUint64(8, true));
    memory.set(request.subarray(32, 32 + count), addr - base);
    const out = request.slice(0, 16);
    const v = new DataView(out.buffer);
    v.setUint32(4, 16, true);
    v.setUint32(8, 1, true);
    return out;
  },
  errorReply(request: Uint8Array, errno: number): Uint8Array {
    const out = request.slice(0, 16);
    const v = new DataView(out.buffer);
    v.setUint32(4, 16, true);
    v.setUint32(8, 0x21, true);
    v.setUint32(12, errno, true);
    return out;
  },
};
