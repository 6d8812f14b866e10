/**
 * CanBus and CanEndpoint, the host program's side: send and receive in bus order, no echo unless
 * asked for, filters, bounded buffers that hold senders back, close; and the frame checks and
 * can-utils text form.
 */
import { describe, expect, it } from '@jest/globals';
import { CAN_FD_LENGTHS, CanBus, checkFrame, formatFrame, frameProblem, parseFrame } from '@vmv/can';
import type { CanFrame } from '@vmv/can';

const frame = (id: number, bytes: number[], more: Partial<CanFrame> = {}): CanFrame => ({ id, data: Uint8Array.from(bytes), ...more });
const tick = () => new Promise((r) => setImmediate(r));

describe('endpoints', () => {
  it('every other endpoint receives a frame, in the order frames were sent; the sender only with loopback', async () => {
    const bus = new CanBus();
    const a = bus.endpoint();
    const b = bus.endpoint();
    const me = bus.endpoint({ loopback: true });
    await Promise.all([a.send(frame(1, [1])), b.send(frame(2, [2])), me.send(frame(3, [3])), a.send(frame(4, [4]))]);
    const ids = (e: typeof a) => {
      const out: number[] = [];
      for (let f = e.tryReceive(); f; f = e.tryReceive()) out.push(f.id);
      return out;
    };
    expect(ids(a)).toEqual([2, 3]);
    expect(ids(b)).toEqual([1, 3, 4]);
    expect(ids(me)).toEqual([1, 2, 3, 4]);
    expect(bus.stats).toMatchObject({ frames: 4, waiting: 0, nodes: 3 });
  });

  it('filters: id and mask, optionally one kind of id; setFilters replaces them', async () => {
    const bus = new CanBus();
    const tx = bus.endpoint();
    const rx = bus.endpoint({ filters: [{ id: 0x100, mask: 0x700 }, { id: 0x18db33f1, mask: 0x1fffffff, extended: true }] });
    for (const f of [frame(0x0ff, []), frame(0x100, []), frame(0x1ff, []), frame(0x100, [], { extended: true }), frame(0x18db33f1, [], { extended: true }), frame(0x7f1, [])]) await tx.send(f);
    expect([rx.tryReceive(), rx.tryReceive(), rx.tryReceive(), rx.tryReceive()].map((f) => f && `${f.id.toString(16)}${f.extended ? 'x' : ''}`)).toEqual(['100', '1ff', '100x', '18db33f1x']);
    rx.setFilters([{ id: 0x7f1, mask: 0x7ff, extended: false }]);
    await tx.send(frame(0x7f1, [], { extended: true }));
    await tx.send(frame(0x7f1, []));
    expect(rx.tryReceive()?.extended).toBe(false);
    expect(rx.tryReceive()).toBeNull();
    expect(() => rx.setFilters([{ id: -1, mask: 0 }])).toThrow(RangeError);
    expect(() => rx.setFilters({} as never)).toThrow(TypeError);
    expect(() => bus.endpoint({ filters: [null as never] })).toThrow(TypeError);
    expect(() => bus.endpoint({ filters: [{ id: 1, mask: 1, extended: 1 as never }] })).toThrow(TypeError);
  });

  it('a full endpoint holds the bus: later frames and their senders wait, in order, until it receives', async () => {
    const bus = new CanBus();
    const slow = bus.endpoint({ buffer: 2 });
    const fast = bus.endpoint({ buffer: 100 });
    const tx = bus.endpoint();
    const done: number[] = [];
    const sends = Array.from({ length: 6 }, (_, i) => tx.send(frame(i, [i])).then(() => done.push(i)));
    await tick();
    expect(done).toEqual([0, 1]);
    expect(fast.pending).toBe(2); // fast sees no frame slow has not: one bus order
    expect(bus.stats.waiting).toBe(4);
    const got: number[] = [];
    for (let i = 0; i < 6; i++) got.push((await slow.receive())!.id);
    await Promise.all(sends);
    expect(got).toEqual([0, 1, 2, 3, 4, 5]);
    expect(done).toEqual([0, 1, 2, 3, 4, 5]);
    expect(fast.pending).toBe(6);
  });

  it('receive waits for a frame; an endpoint is async-iterable until closed', async () => {
    const bus = new CanBus();
    const rx = bus.endpoint();
    const tx = bus.endpoint();
    const waiting = rx.receive();
    await tx.send(frame(0x42, [1, 2, 3]));
    expect([...(await waiting)!.data]).toEqual([1, 2, 3]);
    const seen: number[] = [];
    const loop = (async () => {
      for await (const f of rx) seen.push(f.id);
    })();
    for (let i = 0; i < 3; i++) await tx.send(frame(i, []));
    await tick();
    rx.close();
    await loop;
    expect(seen).toEqual([0, 1, 2]);
  });

  it('close: frames not on the bus are cancelled (their sends resolve false), waiting receives resolve null, held frames can still be taken', async () => {
    const bus = new CanBus();
    const full = bus.endpoint({ buffer: 1 });
    const tx = bus.endpoint();
    const a = tx.send(frame(1, []));
    const b = tx.send(frame(2, []));
    expect(await a).toBe(true);
    tx.close();
    expect(await b).toBe(false);
    expect(bus.stats).toMatchObject({ cancelled: 1, waiting: 0, nodes: 1 });
    expect(() => tx.send(frame(3, []))).toThrow(TypeError);
    expect(tx.closed).toBe(true);
    full.close();
    expect((await full.receive())?.id).toBe(1);
    expect(await full.receive()).toBeNull();
    const idle = bus.endpoint();
    const pending = idle.receive();
    idle.close();
    idle.close();
    expect(await pending).toBeNull();
  });

  it('an endpoint that leaves lets the frames it held up go', async () => {
    const bus = new CanBus();
    const stuck = bus.endpoint({ buffer: 1 });
    const tx = bus.endpoint();
    const sends = [tx.send(frame(1, [])), tx.send(frame(2, [])), tx.send(frame(3, []))];
    await tick();
    expect(bus.stats.waiting).toBe(2);
    stuck.close();
    expect(await Promise.all(sends)).toEqual([true, true, true]);
  });

  it('sends copy the frame; bad frames and options throw labelled errors', async () => {
    const bus = new CanBus();
    const rx = bus.endpoint();
    const tx = bus.endpoint();
    const data = Uint8Array.of(1, 2);
    const p = tx.send({ id: 5, data });
    data[0] = 9;
    await p;
    expect([...rx.tryReceive()!.data]).toEqual([1, 2]);
    expect(() => tx.send({ id: 0x800, data })).toThrow(RangeError);
    expect(() => tx.send({ id: 1 } as never)).toThrow(TypeError);
    expect(() => bus.endpoint({ buffer: 0 })).toThrow(RangeError);
    expect(() => bus.endpoint(null as never)).toThrow(TypeError);
  });
});

describe('frames', () => {
  it.each([
    [{ id: 0x800, data: new Uint8Array(0) }, /standard id/],
    [{ id: 0x2000_0000, extended: true, data: new Uint8Array(0) }, /extended id/],
    [{ id: 1.5, data: new Uint8Array(0) }, /standard id/],
    [{ id: 1, data: new Uint8Array(9) }, /at most 8/],
    [{ id: 1, fd: true, data: new Uint8Array(13) }, /CAN FD frame's length/],
    [{ id: 1, fd: true, rtr: true, data: new Uint8Array(0) }, /no remote/],
    [{ id: 1, rtr: true, data: Uint8Array.of(1) }, /carries no data/],
    [{ id: 1, fd: 1, data: new Uint8Array(0) }, /fd must be a boolean/],
    [{ id: 1, data: [1] }, /Uint8Array/],
    [null, /object/],
  ])('frameProblem(%o)', (f, why) => {
    expect(frameProblem(f)).toMatch(why);
  });

  it('checkFrame returns a frozen copy with every flag set', () => {
    const f = checkFrame({ id: 7, data: Uint8Array.of(1) }, 'x');
    expect(f).toEqual({ id: 7, extended: false, fd: false, rtr: false, data: Uint8Array.of(1) });
    expect(Object.isFrozen(f)).toBe(true);
    expect(() => checkFrame(null as never, 'x')).toThrow(TypeError);
  });

  it.each([
    ['123#DEADBEEF', { id: 0x123, data: [0xde, 0xad, 0xbe, 0xef] }, '123#DEADBEEF'],
    ['5AA#', { id: 0x5aa, data: [] }, '5AA#'],
    ['1F334455#11.22.33', { id: 0x1f334455, extended: true, data: [0x11, 0x22, 0x33] }, '1F334455#112233'],
    ['123#R', { id: 0x123, rtr: true, data: [] }, '123#R'],
    ['00000123#R3', { id: 0x123, extended: true, rtr: true, data: [0, 0, 0] }, '00000123#R3'],
    ['213##311', { id: 0x213, fd: true, data: [0x11] }, '213##011'],
    ['0AB##0' + '00'.repeat(64), { id: 0xab, fd: true, data: new Array(64).fill(0) }, '0AB##0' + '00'.repeat(64)],
  ])('parseFrame(%s) and back', (text, want, back) => {
    const f = parseFrame(text);
    expect({ id: f.id, extended: f.extended, fd: f.fd, rtr: f.rtr, data: [...f.data] }).toEqual({ extended: false, fd: false, rtr: false, ...want });
    expect(formatFrame(f)).toBe(back);
  });

  it.each(['12#00', '1234#00', '123#0', '123#R9', '123##0' + '00'.repeat(13), '123#' + '00'.repeat(9), '800#', '20000000#', 'xyz#', '123#00#', ''])('parseFrame refuses %s', (text) => {
    expect(() => parseFrame(text)).toThrow(RangeError);
  });

  it('every CAN FD length round-trips through the text form', () => {
    for (const n of CAN_FD_LENGTHS) {
      const f = checkFrame({ id: 0x1abcdef, extended: true, fd: true, data: Uint8Array.from({ length: n }, (_, i) => i) }, 't');
      expect(parseFrame(formatFrame(f))).toEqual(f);
    }
  });
});
