/**
 * The backend's `queueWorkers` option in process: rings lent to worker threads (a bundled script
 * running UpperDevice) serve requests with the same results as the main thread, and a worker that
 * crashes, or whose device asks for a reset, is a device error (DEVICE_NEEDS_RESET, the ring's
 * err eventfd signalled, GET_VRING_BASE answered), never a hang; a new connection gets a new
 * worker. Option checks.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { EventFd } from '@vmv/sys';
import { VhostUserBackend, VhostUserRequest as Q, isVhostUserError } from '@vmv/vhost-user';
import { UpperDevice } from './devices';
import { Frontend, GuestRam, HANG_MS, HIGH_GPA, TestRing, openFdCount, until, withTimeout } from './frontend';
import { releaseTracked, startBackend, track } from './harness';
import { bundledDaemon } from './support/daemon-process';

const VERSION_1 = 1n << 32n;
const PROTOCOL_FEATURES = 1n << 30n;
const worker = bundledDaemon(join(__dirname, 'support', 'upper-worker.ts'));
let script = '';

beforeAll(async () => {
  script = await worker.program();
}, 60_000);
afterAll(() => worker.remove());
afterEach(() => releaseTracked());

/** Sets a device of `queues` rings up as QEMU does, rings enabled. */
async function connect(path: string, queues: number): Promise<{ fe: Frontend; ram: GuestRam; rings: TestRing<string>[] }> {
  const fe = track(new Frontend(path));
  const ram = track(new GuestRam());
  const rings = Array.from({ length: queues }, (_, i) => {
    const base = i === 0 ? 0 : HIGH_GPA;
    return track(new TestRing<string>(i, ram, 256, { desc: base + 0x1000, avail: base + 0x3000, used: base + 0x4000 }));
  });
  await fe.u64({ request: Q.GET_FEATURES, needReply: false });
  await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: (await fe.u64({ request: Q.GET_PROTOCOL_FEATURES, needReply: false })) & 0x1_b20bn });
  await fe.request({ request: Q.SET_OWNER, needReply: false });
  expect(await fe.ack({ request: Q.SET_FEATURES, needReply: true, value: VERSION_1 | PROTOCOL_FEATURES })).toBe(0n);
  expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
  for (const r of rings) await r.setup(fe);
  for (const r of rings) expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: r.index, num: 1 })).toBe(0n);
  return { fe, ram, rings };
}

/** One request on `ring`: `input` in, 64 bytes out; resolves with what came back. */
async function roundTrip(ram: GuestRam, ring: TestRing<string>, input: string, at: number): Promise<string> {
  ram.memory.write(at, new TextEncoder().encode(input));
  ring.driver.add([{ addr: at, len: input.length }], [{ addr: at + 0x100, len: 64 }], input);
  ring.kick.write(1);
  await until(() => ring.driver.moreUsed(), HANG_MS, `request ${input} on ring ${ring.index}`);
  const used = ring.driver.getBuf()!;
  const out = new Uint8Array(used.len);
  ram.memory.read(at + 0x100, out);
  return new TextDecoder().decode(out);
}

function needsReset(events: readonly { type: string }[]): unknown {
  return (events.find((e) => e.type === 'needs-reset') as { reason?: unknown } | undefined)?.reason;
}

describe('queueWorkers', () => {
  it('two rings in two workers: the workers serve them (the main thread\'s device never sees a request), the same answers', async () => {
    const fds = openFdCount();
    const main = new UpperDevice(2);
    const { backend, path, events } = startBackend('qw-serve', main, { queueWorkers: { count: 2, script, data: { queues: 2, mode: 'async' } } });
    expect(backend.queueWorkerCount).toBe(2);
    const { fe, ram, rings } = await connect(path, 2);
    expect(await roundTrip(ram, rings[0]!, 'hello', 0x8_0000)).toBe('HELLO');
    expect(await roundTrip(ram, rings[1]!, 'world', HIGH_GPA + 0x8_0000)).toBe('WORLD');
    expect(events.filter((e) => e.type === 'ring-lent').map((e) => (e as { index: number; worker: number }).worker).sort()).toEqual([0, 1]);
    expect(main.popped).toBe(0);
    backend.close();
    await withTimeout(backend.stopped, HANG_MS, 'the workers to end');
    // every copy of a memory, kick, call or inflight fd the workers got is closed
    for (const x of [fe, ram, ...rings]) x.close();
    await until(() => openFdCount() === fds, HANG_MS, `the fds to be released (${openFdCount()} open, ${fds} before)`);
  });

  it.each(['crash', 'reset'])('a worker asked to %s: DEVICE_NEEDS_RESET with a QueueWorkerError, err eventfd signalled, GET_VRING_BASE answered; the next connection is served; no fd left open', async (what) => {
    const fds = openFdCount();
    const { backend, path, events } = startBackend(`qw-${what}`, new UpperDevice(1), { queueWorkers: { count: 1, script, data: { queues: 1, mode: 'sync' } } });
    const { fe, ram, rings } = await connect(path, 1);
    const err = track(new EventFd());
    await fe.request({ request: Q.SET_VRING_ERR, needReply: false, index: 0, fd: err.fd });
    expect(await roundTrip(ram, rings[0]!, 'abc', 0x8_0000)).toBe('ABC');
    ram.memory.write(0x9_0000, new TextEncoder().encode(what));
    rings[0]!.driver.add([{ addr: 0x9_0000, len: what.length }], [{ addr: 0x9_0100, len: 64 }], what);
    rings[0]!.kick.write(1);
    await until(() => needsReset(events) !== undefined, HANG_MS, 'needs-reset');
    const reason = needsReset(events);
    expect(isVhostUserError(reason, 'VhostUser.QueueWorkerError')).toBe(true);
    await until(() => err.read() !== null, HANG_MS, 'the err eventfd');
    // the frontend stops the ring: answered at once (the crashed request is lost with its worker)
    const state = await withTimeout(fe.u64({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 }), HANG_MS, 'GET_VRING_BASE');
    // (index, num) as one u64: ring 0 at 1, its used index (a dead worker's positions went with it:
    // the request it had in flight is handed out again from there), or at 2 (the worker gave the
    // ring back after its drain timeout: the request that asked for the reset was taken, not completed)
    expect(state & 0xffff_ffffn).toBe(0n);
    expect(state >> 32n).toBe(what === 'crash' ? 1n : 2n);
    fe.close();
    await until(() => !backend.connected, HANG_MS, 'the disconnect');
    // a new connection: a new worker (after a crash) or the same one, reset, serves it
    const again = await connect(path, 1);
    expect(await roundTrip(again.ram, again.rings[0]!, 'again', 0x8_0000)).toBe('AGAIN');
    backend.close();
    await withTimeout(backend.stopped, HANG_MS, 'the workers to end');
    // the copies of the kick and call eventfds the crashed worker held are closed with it, and
    // nothing the main thread lent is closed twice (it alone closes them)
    for (const x of [fe, ram, ...rings, err, again.fe, again.ram, ...again.rings]) x.close();
    await until(() => openFdCount() === fds, HANG_MS, `the fds to be released (${openFdCount()} open, ${fds} before)`);
  });

  it('SET_VRING_CALL on a lent ring: answered once the worker signals the new eventfd, the old one hears nothing more', async () => {
    const { backend, path } = startBackend('qw-call', new UpperDevice(1), { queueWorkers: { count: 1, script, data: { queues: 1, mode: 'sync' } } });
    const { fe, ram, rings } = await connect(path, 1);
    expect(await roundTrip(ram, rings[0]!, 'one', 0x8_0000)).toBe('ONE');
    await rings[0]!.waitCall();
    const call = track(new EventFd());
    expect(await fe.ack({ request: Q.SET_VRING_CALL, needReply: true, index: 0, fd: call.fd })).toBe(0n);
    expect(await roundTrip(ram, rings[0]!, 'two', 0x8_0000)).toBe('TWO');
    await until(() => call.read() !== null, HANG_MS, 'the new call eventfd');
    expect(rings[0]!.call.read()).toBeNull();
    backend.close();
    await withTimeout(backend.stopped, HANG_MS, 'the workers to end');
  });

  it('refuses bad options', () => {
    const d = new UpperDevice(1);
    expect(() => new VhostUserBackend(d, { queueWorkers: { count: 0, script } })).toThrow(RangeError);
    expect(() => new VhostUserBackend(d, { queueWorkers: { count: 65, script } })).toThrow(RangeError);
    expect(() => new VhostUserBackend(d, { queueWorkers: { count: 1, script: '' } })).toThrow(TypeError);
    expect(() => new VhostUserBackend(d, { queueWorkers: null as never })).toThrow(TypeError);
    expect(() => new VhostUserBackend(d, { queueWorkers: { count: 1, script: `${script}.missing` } })).toThrow(/does not exist/);
    expect(new VhostUserBackend(d).queueWorkerCount).toBe(0);
  });
});
