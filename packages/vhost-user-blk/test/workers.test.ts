/**
 * `--workers N`: the queues served in worker threads (@vmv/vhost-user's `queueWorkers`), the
 * daemon as a real child process driven by the vhost-user frontend over its socket: data written
 * on two queues at once reads back and matches the image, GET_VRING_BASE while requests are in
 * flight answers only once they are done (none lost, the base right), a memory table sent again
 * while requests run, and a stop that lets the workers finish their requests first.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BlockStatus, RequestType } from '@vmv/block';
import { BlockDaemon } from '@vmv/vhost-user-blk';
import { BlkFrontend, HANG_MS, until, type BlkResult } from './support/frontend';
import { withTimeout } from '../../vhost-user/test/frontend';
import { daemonProgram, killDaemon, removeDaemonProgram, spawnDaemon, waitForLog, waitForLogCount, waitForSocket, type DaemonProcess } from './support/daemon-process';

const IMAGE_SIZE = 4 << 20;
const SECTORS = IMAGE_SIZE / 512;

let dir = '';
let daemon: DaemonProcess | null = null;
let frontends: BlkFrontend[] = [];

beforeAll(async () => {
  await daemonProgram();
}, 60_000);
afterAll(() => removeDaemonProgram());
afterEach(() => {
  for (const f of frontends) f.close();
  frontends = [];
  killDaemon(daemon);
  daemon = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

async function serve(queues: number, workers: number): Promise<{ image: string; content: Uint8Array; fe: BlkFrontend; d: DaemonProcess }> {
  dir = mkdtempSync(join(tmpdir(), 'vmv-vub-workers-'));
  const image = join(dir, 'disk.img');
  const content = new Uint8Array(randomBytes(IMAGE_SIZE));
  writeFileSync(image, content);
  const socket = join(dir, 'vub.sock');
  const d = await spawnDaemon(['--socket', socket, '--image', image, '--queues', String(queues), '--workers', String(workers), '--log-level', 'debug']);
  daemon = d;
  await waitForLog(d, `listening on ${socket}`);
  await waitForSocket(d, socket);
  expect(d.stderr()).toContain(`queues served by ${workers} worker thread`);
  const fe = await BlkFrontend.connect(socket);
  frontends.push(fe);
  return { image, content, fe, d };
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const reads = (first: number, n: number, sectors: number) =>
  Array.from({ length: n }, (_, i) => ({ type: RequestType.IN, sector: BigInt(first + i * sectors), out: null, inLen: sectors * 512 }));

/** Waits until every request submitted has come back. */
async function all(pending: { collect(): (BlkResult | undefined)[] }, what: string): Promise<BlkResult[]> {
  await until(() => pending.collect().every((r) => r !== undefined), HANG_MS, what);
  return pending.collect() as BlkResult[];
}

describe('vmv-vhost-user-blk --workers', () => {
  it.each([
    [1, 1],
    [2, 2],
  ])('%i queue(s) in %i worker(s): writes on every queue at once read back, checksummed, and match the image file', async (queues, workers) => {
    const { image, content, fe, d } = await serve(queues, workers);
    // each queue writes 16 requests of 8 sectors in its own part of the disk, all queues at once
    const part = SECTORS / queues;
    const written = Array.from({ length: queues }, () => new Uint8Array(randomBytes(16 * 8 * 512)));
    const writes = written.map((data, q) =>
      fe.submit(
        q,
        Array.from({ length: 16 }, (_, i) => ({ type: RequestType.OUT, sector: BigInt(q * part + i * 8), out: data.subarray(i * 4096, (i + 1) * 4096), inLen: 0 })),
      ),
    );
    for (const [q, w] of writes.entries()) for (const r of await all(w, `writes on queue ${q}`)) expect(r.status).toBe(BlockStatus.OK);
    // read back on the other queue (both rings see the same disk), compared by checksum
    for (let q = 0; q < queues; q++) {
      const r = await all(fe.submit((q + 1) % queues, reads(q * part, 16, 8)), `reads of queue ${q}'s part`);
      const back = new Uint8Array(16 * 4096);
      r.forEach((x, i) => {
        expect(x.status).toBe(BlockStatus.OK);
        back.set(x.data, i * 4096);
      });
      expect(sha(back)).toBe(sha(written[q]!));
    }
    expect((await fe.flush()).status).toBe(BlockStatus.OK);
    const file = new Uint8Array(readFileSync(image));
    const expected = content.slice();
    written.forEach((data, q) => expected.set(data, q * part * 512));
    expect(sha(file)).toBe(sha(expected));
    for (let q = 0; q < queues; q++) expect(d.stderr()).toContain(`queue ${q} served by worker ${q % workers}`);
  }, 60_000);

  it('GET_VRING_BASE with requests in flight on two workers: answered once they are done, none lost, the bases right', async () => {
    const { content, fe } = await serve(2, 2);
    const pending = [fe.submit(0, reads(0, 32, 8)), fe.submit(1, reads(4096, 32, 8))];
    // the workers have the rings once the first requests come back; the rest may still be in flight
    await until(() => pending.every((p) => p.collect().some((r) => r !== undefined)), HANG_MS, 'a first completion on each queue');
    const bases = await fe.stopRings();
    // Every request the backend took (the base) came back before the answer; none was left half done.
    for (const [q, p] of pending.entries()) {
      const got = p.collect();
      const used = got.filter((r) => r !== undefined).length;
      expect(bases[q]).toBe(used);
      got.forEach((r, i) => {
        if (r === undefined) return;
        const at = ((q === 0 ? 0 : 4096) + i * 8) * 512;
        expect(r.status).toBe(BlockStatus.OK);
        expect(sha(r.data)).toBe(sha(content.subarray(at, at + 4096)));
      });
    }
    expect(Math.min(bases[0]!, bases[1]!)).toBeGreaterThan(0);
  }, 60_000);

  it('a memory table sent again while requests run: the rings come back drained, go out again, and serve on', async () => {
    const { content, fe, d } = await serve(2, 2);
    const before = [fe.submit(0, reads(0, 32, 8)), fe.submit(1, reads(2048, 32, 8))];
    await until(() => before.every((p) => p.collect().some((r) => r !== undefined)), HANG_MS, 'a first completion on each queue');
    await fe.resendMemTable();
    // a request answered in order: SET_MEM_TABLE has been applied once it comes back
    await fe.fe.getFeatures();
    for (const p of before) for (const r of await all(p, 'requests from before the table')) expect(r.status).toBe(BlockStatus.OK);
    // each ring went back to the main thread for the table and out to its worker again
    await waitForLogCount(d, 'queue 0 served by worker 0', 2);
    await waitForLogCount(d, 'queue 1 served by worker 1', 2);
    for (let q = 0; q < 2; q++) {
      const after = await all(fe.submit(q, reads(100, 32, 1)), `requests on queue ${q} after the table`);
      after.forEach((r, i) => {
        expect(r.status).toBe(BlockStatus.OK);
        expect(sha(r.data)).toBe(sha(content.subarray((100 + i) * 512, (101 + i) * 512)));
      });
    }
    expect(d.stderr()).not.toMatch(/needs reset|queue \d stopped|refused/);
  }, 60_000);

  it('BlockDaemon.start in process with workers and a workerScript: the queues run in the workers, stop waits for them', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmv-vub-workers-'));
    const image = join(dir, 'disk.img');
    const content = new Uint8Array(randomBytes(IMAGE_SIZE));
    writeFileSync(image, content);
    const socket = join(dir, 'vub.sock');
    const lines: string[] = [];
    const workerScript = join(dirname(await daemonProgram()), 'queue-worker.js');
    const bd = await BlockDaemon.start({ socket, image, queues: 2, workers: 4, workerScript, logLevel: 'debug' }, (_level, m) => lines.push(m));
    try {
      expect(bd.backend.queueWorkerCount).toBe(2); // no more workers than queues
      const fe = await BlkFrontend.connect(socket);
      frontends.push(fe);
      for (let q = 0; q < 2; q++) {
        const r = await all(fe.submit(q, reads(q * 64, 8, 8)), `reads on queue ${q}`);
        r.forEach((x, i) => expect(sha(x.data)).toBe(sha(content.subarray((q * 64 + i * 8) * 512, (q * 64 + i * 8 + 8) * 512))));
      }
      expect(lines.filter((l) => /queue \d served by worker \d/.test(l))).toHaveLength(2);
    } finally {
      await withTimeout(bd.stop(), HANG_MS, 'BlockDaemon.stop');
    }
    // a worker script that is not there is refused at start, not found out at the first request
    await expect(BlockDaemon.start({ socket, image, workers: 1, workerScript: join(dir, 'missing.js') })).rejects.toThrow(/queueWorkers.script .*missing.js does not exist/);
  }, 60_000);

  it('SIGTERM with writes in flight: the workers finish them, the image is flushed, exit 0', async () => {
    const { image, fe, d } = await serve(2, 2);
    const data = new Uint8Array(randomBytes(32 * 4096));
    const p = [0, 1].map((q) =>
      fe.submit(
        q,
        Array.from({ length: 16 }, (_, i) => ({ type: RequestType.OUT, sector: BigInt(q * 4096 + i * 8), out: data.subarray((q * 16 + i) * 4096, (q * 16 + i + 1) * 4096), inLen: 0 })),
      ),
    );
    // the first completions show the workers have the rings; then the daemon is stopped
    await until(() => p.some((x) => x.collect().some((r) => r !== undefined)), HANG_MS, 'a first completion');
    d.child.kill('SIGTERM');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    const file = new Uint8Array(readFileSync(image));
    // every write that completed is on the image
    for (const [q, x] of p.entries()) {
      x.collect().forEach((r, i) => {
        if (r === undefined) return;
        expect(r.status).toBe(BlockStatus.OK);
        const at = (q * 4096 + i * 8) * 512;
        expect(sha(file.subarray(at, at + 4096))).toBe(sha(data.subarray((q * 16 + i) * 4096, (q * 16 + i + 1) * 4096)));
      });
    }
    expect(d.stderr()).toContain('image flushed');
  }, 60_000);
});
