/**
 * Property test of pooled request objects: rounds of concurrent requests (reads, writes, failing
 * operations, malformed requests, GET_ID) on random descriptor layouts, completed by the backend
 * in random order and random groupings, with callbacks called twice or late for requests long
 * gone. Every request gets exactly its own status, used length and data: nothing of one request
 * (bounce data, status, completion) reaches another that reuses its request object.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { BlockDevice, BlockStatus, MemoryBackend, RequestType } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';
import { CallbackBackend } from './callback-backend';
import { Harness, randomPieces, requestBytes, rng } from './harness';
import type { Completion } from './harness';

const SECTORS = 256;
const SERIAL = 'reuse-test';
const tick = () => new Promise((r) => setImmediate(r));

type Kind = 'read' | 'write' | 'outOfRange' | 'oddLength' | 'getId' | 'unsupported';

interface Spec {
  kind: Kind;
  /** The backend fails this request's operation. */
  fail: boolean;
  sectors: number;
  layoutSeed: number;
  maxPieces: number;
}

interface Config {
  backend: 'callback' | 'promise' | 'sync';
  directReads: boolean;
  maxInflight: number;
  eventIdx: boolean;
  packed: boolean;
  scheduleSeed: number;
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  kind: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<Kind>('read', 'write') }, { weight: 1, arbitrary: fc.constantFrom<Kind>('outOfRange', 'oddLength', 'getId', 'unsupported') }),
  fail: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  sectors: fc.integer({ min: 1, max: 8 }),
  layoutSeed: fc.integer({ min: 1, max: 0x7fff_ffff }),
  maxPieces: fc.integer({ min: 1, max: 4 }),
});

const configArb: fc.Arbitrary<Config> = fc.record({
  backend: fc.constantFrom<Config['backend']>('callback', 'promise', 'sync'),
  directReads: fc.boolean(),
  maxInflight: fc.integer({ min: 1, max: 8 }),
  eventIdx: fc.boolean(),
  packed: fc.boolean(),
  scheduleSeed: fc.integer({ min: 1, max: 0x7fff_ffff }),
});

/** The promise form, completed (or failed) by the test in any order and grouping. */
class PromiseBackend implements BlockBackend {
  readonly inner: MemoryBackend;
  readonly pending: { offset: number; run: () => void; fail: () => void }[] = [];
  constructor(size: number) {
    this.inner = new MemoryBackend(size);
  }
  get size(): number {
    return this.inner.size;
  }
  private op(offset: number, fn: () => void): Promise<void> {
    return new Promise((resolve, reject) => this.pending.push({ offset, run: () => (fn(), resolve()), fail: () => reject(new Error(`fails at ${offset}`)) }));
  }
  read(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return this.op(offset, () => this.inner.read(offset, buffers));
  }
  write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return this.op(offset, () => this.inner.write(offset, buffers));
  }
  flush(): void {}
}

/** The synchronous form over memory, failing the operations at the offsets given. */
function syncBackend(inner: MemoryBackend, failing: Set<number>): BlockBackend {
  const check = (offset: number) => {
    if (failing.has(offset)) throw new Error(`fails at ${offset}`);
  };
  return {
    get size() {
      return inner.size;
    },
    read: (o, b) => (check(o), inner.read(o, b)),
    write: (o, b) => (check(o), inner.write(o, b)),
    flush: () => undefined,
  };
}

function expectedId(): Uint8Array {
  const id = new Uint8Array(20);
  for (let i = 0; i < SERIAL.length; i++) id[i] = SERIAL.charCodeAt(i);
  return id;
}

async function runRounds(cfg: Config, rounds: Spec[][]): Promise<void> {
  const failing = new Set<number>();
  const r = rng(cfg.scheduleSeed);
  let mem: MemoryBackend;
  let backend: BlockBackend;
  let cb: CallbackBackend | null = null;
  let pr: PromiseBackend | null = null;
  if (cfg.backend === 'callback') {
    cb = new CallbackBackend(SECTORS * 512);
    // Some operations complete (or fail, or throw) within the call, the others later.
    cb.behaviour = (op) => {
      const x = r();
      if (failing.has(op.offset)) return x < 0.25 ? 'syncError' : x < 0.5 ? 'throw' : 'wait';
      return x < 0.25 ? 'sync' : x < 0.35 ? 'syncThenThrow' : 'wait';
    };
    mem = cb.inner;
    backend = cb;
  } else if (cfg.backend === 'promise') {
    pr = new PromiseBackend(SECTORS * 512);
    mem = pr.inner;
    backend = pr;
  } else {
    mem = new MemoryBackend(SECTORS * 512);
    backend = syncBackend(mem, failing);
  }
  for (let i = 0; i < mem.data.length; i++) mem.data[i] = (i * 13 + 7) & 0xff;
  /** Callbacks the backend has called already (calling them again must do nothing). */
  const called: ((error: unknown) => void)[] = [];
  const disk = new Uint8Array(mem.data);
  const offered = new BlockDevice({ backend }).deviceFeatures;
  const h = new Harness({
    device: { backend, directReads: cfg.directReads, maxInflight: cfg.maxInflight, serial: SERIAL },
    packed: cfg.packed,
    memSize: 8 << 20,
    features: cfg.eventIdx ? offered : offered & ~(1n << 29n),
  });
  for (const round of rounds) {
    failing.clear();
    // Each request of a round has its own 8-sector slot: no two of them overlap.
    const slots = round.map((_, i) => i * 8);
    for (let i = slots.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [slots[i], slots[j]] = [slots[j]!, slots[i]!];
    }
    const expected: { status: number; len: number; data: Uint8Array | null; write: [number, Uint8Array] | null }[] = [];
    const ps: Promise<Completion>[] = [];
    round.forEach((s, i) => {
      const sector = slots[i]!;
      const bytes = s.sectors * 512;
      const lr = rng(s.layoutSeed);
      const runs = s.kind === 'read' || s.kind === 'write';
      if (runs && s.fail) failing.add(sector * 512);
      let readable: Uint8Array;
      let writable = 1;
      let e: (typeof expected)[number];
      switch (s.kind) {
        case 'read':
          readable = requestBytes(RequestType.IN, sector);
          writable = bytes + 1;
          e = s.fail ? { status: BlockStatus.IOERR, len: 1, data: new Uint8Array(bytes).fill(0xee), write: null } : { status: BlockStatus.OK, len: bytes + 1, data: disk.slice(sector * 512, sector * 512 + bytes), write: null };
          break;
        case 'write': {
          const data = new Uint8Array(bytes);
          for (let k = 0; k < bytes; k++) data[k] = Math.floor(lr() * 256);
          readable = requestBytes(RequestType.OUT, sector, data);
          e = { status: s.fail ? BlockStatus.IOERR : BlockStatus.OK, len: 1, data: null, write: s.fail ? null : [sector * 512, data] };
          break;
        }
        case 'outOfRange':
          readable = requestBytes(RequestType.IN, SECTORS - s.sectors + 1);
          writable = bytes + 1;
          e = { status: BlockStatus.IOERR, len: 1, data: new Uint8Array(bytes).fill(0xee), write: null };
          break;
        case 'oddLength':
          readable = requestBytes(RequestType.IN, sector);
          writable = bytes + 2;
          e = { status: BlockStatus.IOERR, len: 1, data: new Uint8Array(bytes + 1).fill(0xee), write: null };
          break;
        case 'getId':
          readable = requestBytes(RequestType.GET_ID, 0);
          writable = 21;
          e = { status: BlockStatus.OK, len: 21, data: expectedId(), write: null };
          break;
        default:
          readable = requestBytes(0x7f, sector);
          writable = bytes + 1;
          e = { status: BlockStatus.UNSUPP, len: 1, data: new Uint8Array(bytes).fill(0xee), write: null };
      }
      expected.push(e);
      const layout = { readPieces: randomPieces(readable.length, s.maxPieces, lr), writePieces: randomPieces(writable, s.maxPieces, lr) };
      ps.push(h.add({ readable, writable, layout }));
    });
    let finished = 0;
    for (const p of ps) void p.then(() => finished++);
    h.kick();
    // Complete what the backend holds, in random order and groups, until every request is back.
    for (let guard = 0; finished < ps.length; guard++) {
      if (guard > 10_000) throw new Error('requests did not complete');
      if (cb !== null && cb.pending.length > 0) {
        const ops = cb.pending.splice(0);
        const take = 1 + Math.floor(r() * ops.length);
        const now = ops.splice(0, take);
        cb.pending.push(...ops);
        for (let k = now.length - 1; k > 0; k--) {
          const j = Math.floor(r() * (k + 1));
          [now[k], now[j]] = [now[j]!, now[k]!];
        }
        for (const op of now) {
          cb.pending.unshift(op);
          cb.complete(0, failing.has(op.offset) ? new Error(`fails at ${op.offset}`) : undefined);
          // A buggy backend calls back twice, or calls an old callback of a request long gone.
          if (r() < 0.2) op.done(r() < 0.5 ? null : new Error('second call'));
          called.push(op.done);
          if (r() < 0.2) called[Math.floor(r() * called.length)]!(r() < 0.5 ? null : new Error('stale call'));
        }
      } else if (pr !== null && pr.pending.length > 0) {
        const take = 1 + Math.floor(r() * pr.pending.length);
        for (let k = 0; k < take; k++) {
          const op = pr.pending.splice(Math.floor(r() * pr.pending.length), 1)[0]!;
          if (failing.has(op.offset)) op.fail();
          else op.run();
        }
      }
      await tick();
      for (let q = 0; q < h.drivers.length; q++) h.reap(q);
    }
    const got = await Promise.all(ps);
    got.forEach((c, i) => {
      const e = expected[i]!;
      expect([i, c.status, c.len]).toEqual([i, e.status, e.len]);
      if (e.data !== null) expect(Buffer.from(c.writable.subarray(0, e.data.length)).toString('hex')).toBe(Buffer.from(e.data).toString('hex'));
      if (e.write !== null) disk.set(e.write[1], e.write[0]);
    });
    expect(Buffer.compare(mem.data, disk)).toBe(0);
  }
  for (const done of called) done(null); // every old callback once more: nothing happens
  await tick();
  const st = h.device.stats;
  expect(st.ok + st.ioerr + st.unsupp + st.noStatus).toBe(st.requests);
  expect(h.device.inFlight).toBe(0);
  expect(h.resets).toEqual([]);
}

describe('pooled request objects', () => {
  it('never carry one request’s data, status or completion into another', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(fc.array(specArb, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }), async (cfg, rounds) => {
        await runRounds(cfg, rounds);
      }),
      { numRuns: Number(process.env.BLOCK_RUNS ?? 120), endOnFailure: true },
    );
  }, 120_000);
});
