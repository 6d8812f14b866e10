/**
 * The supported worker_threads pattern, with real workers: vCPU workers forward exits through
 * an IoMailbox to the thread owning the IoManager; shared devices (state in a SAB) are called
 * directly in each worker.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { buildSync } from 'esbuild';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { IoExitClient, IoExitServer, IoMailbox, IoManager, isBusError, MmioRange, PioRange } from '@vmv/bus';
import type { MailboxRemoteError, MutDeviceMmio, MutDevicePio } from '@vmv/bus';

function bundle(entry: string): string {
  const out = buildSync({
    entryPoints: [join(__dirname, 'fixtures', entry)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
    alias: { '@vmv/bus': join(__dirname, '..', 'src', 'index.ts') },
    // @vmv dependencies (such as @vmv/errors) from their sources, as jest loads them.
    conditions: ['@vmv/source'],
  });
  return out.outputFiles[0]!.text;
}

function run(code: string, workerData: unknown): { worker: Worker; done: Promise<unknown> } {
  const worker = new Worker(code, { eval: true, workerData });
  const done = new Promise<unknown>((resolve, reject) => {
    let msg: unknown;
    worker.on('message', (m) => (msg = m));
    worker.on('error', reject);
    worker.on('exit', (c) => (c === 0 ? resolve(msg) : reject(new Error(`worker exited with ${c}`))));
  });
  return { worker, done };
}

let vcpuCode = '';
let ownerCode = '';
let scriptCode = '';
beforeAll(() => {
  scriptCode = bundle('script-worker.ts');
  vcpuCode = bundle('vcpu-worker.ts');
  ownerCode = bundle('owner-worker.ts');
});

describe('vCPU workers and the IoManager owner', () => {
  it('4 workers forward 4000 PIO exits to an exclusive device and update a shared device directly', async () => {
    let count = 0;
    const counterDev: MutDevicePio = {
      pioRead: (_b, _o, d) => d.fill(count & 0xff),
      pioWrite: (_b, _o, d) => {
        count += d[0]!;
      },
    };
    const regs = new Uint8Array(0x100);
    const regsDev: MutDeviceMmio = {
      mmioRead: (_b, o, d) => d.set(regs.subarray(o, o + d.length)),
      mmioWrite: (_b, o, d) => regs.set(d, o),
    };
    const io = new IoManager();
    io.registerPio(new PioRange(0x80, 1), counterDev);
    io.registerMmio(new MmioRange(0xd000_0000, 0x100), regsDev);
    const WORKERS = 4;
    const ITER = 1000;
    const mailbox = IoMailbox.create({ slots: WORKERS });
    const counter = new SharedArrayBuffer(4);
    const server = new IoExitServer(mailbox.buffer, io);
    const stop = server.start();
    try {
      const results = await Promise.all(Array.from({ length: WORKERS }, (_, slot) => run(vcpuCode, { mailbox: mailbox.buffer, slot, counter, iterations: ITER }).done));
      expect(count).toBe(WORKERS * ITER);
      expect(new Int32Array(counter)[0]).toBe(WORKERS * ITER);
      for (let slot = 0; slot < WORKERS; slot++) {
        const expected = [slot + 1, 0xa0, 0xb0, 0xc0 + slot];
        expect(results[slot]).toEqual({ slot, back: expected, remoteError: 'Bus.DeviceNotFoundError' });
        expect([...regs.subarray(slot * 4, slot * 4 + 4)]).toEqual(expected);
      }
      expect(server.served).toBe(WORKERS * (ITER + 3));
    } finally {
      await stop();
    }
  }, 20000);

  it('an owner worker serves with the blocking serve(), the main thread is the vCPU', async () => {
    const mailbox = IoMailbox.create({ slots: 1, maxAccess: 8 });
    const stopFlag = new SharedArrayBuffer(4);
    const { done } = run(ownerCode, { mailbox: mailbox.buffer, stop: stopFlag });
    const client = new IoExitClient(mailbox.buffer, 0, { timeoutMs: 10000 });
    try {
      client.pioWrite(0x2f8, Uint8Array.of(0x5a));
      const b = new Uint8Array(2);
      client.pioRead(0x2f8, b);
      expect([...b]).toEqual([0x5a, 0x5a]);
      client.pioRead(0x2f9, b);
      expect([...b]).toEqual([0xee, 0xee]);
      let e: unknown;
      try {
        client.mmioWrite(0x1000, Uint8Array.of(1));
      } catch (err) {
        e = err;
      }
      expect(isBusError(e, 'Bus.MailboxRemoteError')).toBe(true);
      expect([(e as MailboxRemoteError).remoteName, (e as MailboxRemoteError).remoteCode]).toEqual(['Bus.DeviceNotFoundError', 'DEVICE_NOT_FOUND']);
      expect(() => client.pioWrite(0x2f8, new Uint8Array(9))).toThrow(RangeError);
    } finally {
      Atomics.store(new Int32Array(stopFlag), 0, 1);
      await done;
    }
  }, 20000);
});

describe('IoMailbox', () => {
  let mailbox: IoMailbox;
  beforeAll(() => {
    mailbox = IoMailbox.create({ slots: 2, maxAccess: 16 });
  });
  it('times out with Bus.MailboxTimeoutError when no server answers, and withdraws the request', () => {
    const client = new IoExitClient(mailbox.buffer, 1, { timeoutMs: 20 });
    let e: unknown;
    try {
      client.pioRead(0x3f8, new Uint8Array(1));
    } catch (err) {
      e = err;
    }
    expect(isBusError(e, 'Bus.MailboxTimeoutError')).toBe(true);
    // the withdrawn request is not served later
    const server = new IoExitServer(mailbox.buffer, new IoManager());
    expect(server.poll()).toBe(0);
  });

  it('forwards MMIO addresses above 2^53 exactly and reports device failures as remote errors', async () => {
    const seen: Array<[bigint, number, number]> = [];
    const io = new IoManager();
    io.registerMmio(new MmioRange(1n << 60n, 0x1000), {
      mmioRead: (b, o, d) => {
        seen.push([b, o, d.length]);
        d.fill(7);
      },
      mmioWrite: (b, o, d) => seen.push([b, o, d.length]),
    });
    io.registerMmio(new MmioRange(0x1000, 0x10), { mmioRead: (_b, o, d) => d.fill(o), mmioWrite: () => {} });
    io.registerPio(new PioRange(0x10, 1), {
      pioRead: () => {
        throw new Error('boom');
      },
      pioWrite: () => {},
    });
    const server = new IoExitServer(mailbox.buffer, io);
    const stop = server.start();
    try {
      const ops = [
        { op: 'mmioWrite', addr: (1n << 60n) + 0x10n, data: [1, 2] },
        { op: 'mmioRead', addr: (1n << 60n) + 0xff8n, data: [0, 0, 0, 0, 0, 0, 0, 0] },
        { op: 'mmioRead', addr: 0x100c, data: [0, 0, 0, 0] },
        { op: 'mmioRead', addr: 0x100e, data: [0, 0, 0, 0] },
        { op: 'pioRead', addr: 0x10, data: [0] },
        { op: 'pioWrite', addr: 0x11, data: [] },
      ];
      const out = await run(scriptCode, { mailbox: mailbox.buffer, slot: 0, ops }).done;
      expect(out).toEqual([
        [1, 2],
        [7, 7, 7, 7, 7, 7, 7, 7],
        [12, 12, 12, 12],
        { name: 'Bus.MailboxRemoteError', remoteName: 'Bus.AccessStraddlesRangeError', remoteCode: 'ACCESS_STRADDLES_RANGE' },
        { name: 'Bus.MailboxRemoteError', remoteName: 'Error', remoteCode: 'UNKNOWN' },
        { name: 'Bus.MailboxRemoteError', remoteName: 'Bus.EmptyAccessError', remoteCode: 'EMPTY_ACCESS' },
      ]);
      expect(seen).toEqual([
        [1n << 60n, 0x10, 2],
        [1n << 60n, 0xff8, 8],
      ]);
    } finally {
      await stop();
    }
  }, 20000);

  it('checks its arguments', () => {
    expect(() => IoMailbox.create({ slots: 0 })).toThrow(RangeError);
    expect(() => IoMailbox.create({ slots: 1, maxAccess: 0 })).toThrow(RangeError);
    expect(() => new IoMailbox(new SharedArrayBuffer(64))).toThrow(RangeError);
    expect(() => new IoMailbox(new ArrayBuffer(64) as unknown as SharedArrayBuffer)).toThrow(TypeError);
    expect(() => new IoExitClient(mailbox.buffer, 2)).toThrow(RangeError);
    expect(() => new IoExitClient(mailbox.buffer, 0, { timeoutMs: -1 })).toThrow(RangeError);
    const c = new IoExitClient(mailbox.buffer, 0, { timeoutMs: 0 });
    expect(() => c.pioRead(0x10000, new Uint8Array(1))).toThrow(RangeError);
    expect(() => c.mmioRead(-1, new Uint8Array(1))).toThrow(RangeError);
    expect(() => c.pioWrite(0, [1] as unknown as Uint8Array)).toThrow(TypeError);
    expect(new IoMailbox(mailbox.buffer).slots).toBe(2);
    const server = new IoExitServer(mailbox.buffer, new IoManager());
    const stop = server.start();
    expect(() => server.start()).toThrow(TypeError);
    return stop();
  });
});
