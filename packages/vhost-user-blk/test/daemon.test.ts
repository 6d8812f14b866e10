/**
 * The daemon as a real child process on a temporary image and socket, driven by a TypeScript
 * vhost-user frontend over the real socket (memfd guest RAM, eventfds, split rings): data read
 * and written through the rings is compared with the image file read independently.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockFeature, BlockStatus, RequestType, decodeBlockConfig } from '@vmv/block';
import { BlkFrontend, HANG_MS, until } from './support/frontend';
import { daemonProgram, killDaemon, removeDaemonProgram, spawnDaemon, waitForLog, waitForLogCount, waitForSocket, type DaemonProcess } from './support/daemon-process';

const IMAGE_SIZE = 4 << 20;

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

function setup(): { image: string; socket: string; content: Uint8Array } {
  dir = mkdtempSync(join(tmpdir(), 'vmv-vub-test-'));
  const image = join(dir, 'disk.img');
  const content = new Uint8Array(randomBytes(IMAGE_SIZE));
  writeFileSync(image, content);
  return { image, socket: join(dir, 'vub.sock'), content };
}

async function start(args: string[], socket: string): Promise<DaemonProcess> {
  daemon = await spawnDaemon(args);
  await waitForLog(daemon, `listening on ${socket}`);
  await waitForSocket(daemon, socket);
  return daemon;
}

async function connect(socket: string, queues?: number): Promise<BlkFrontend> {
  const fe = await BlkFrontend.connect(socket, queues === undefined ? {} : { queues });
  frontends.push(fe);
  return fe;
}

const fileRange = (path: string, sector: number, sectors: number): Uint8Array => new Uint8Array(readFileSync(path)).subarray(sector * 512, (sector + sectors) * 512);
const bit = (features: bigint, b: number): boolean => ((features >> BigInt(b)) & 1n) === 1n;

describe('vmv-vhost-user-blk as a child process', () => {
  it('serves reads and writes through the rings that match the image file', async () => {
    const { image, socket, content } = setup();
    const d = await start(['--socket', socket, '--image', image, '--serial', 'vmv-test-01'], socket);
    const fe = await connect(socket);

    expect(fe.queueNum).toBe(1);
    expect(fe.config!.capacity).toBe(BigInt(IMAGE_SIZE / 512));
    expect(bit(fe.features, 32)).toBe(true); // VERSION_1
    expect(bit(fe.features, BlockFeature.FLUSH)).toBe(true);
    expect(bit(fe.features, BlockFeature.RO)).toBe(false);

    // reads at several places, compared with the file as written
    for (const [sector, sectors] of [[0, 1], [7, 9], [4096, 256], [IMAGE_SIZE / 512 - 8, 8]] as const) {
      const r = await fe.read(sector, sectors);
      expect(r.status).toBe(BlockStatus.OK);
      expect(Buffer.from(r.data).equals(Buffer.from(content.subarray(sector * 512, (sector + sectors) * 512)))).toBe(true);
    }

    // a write lands in the file (read independently) and reads back through the ring
    const payload = new Uint8Array(randomBytes(64 * 512));
    const w = await fe.write(1000, payload);
    expect(w.status).toBe(BlockStatus.OK);
    expect(Buffer.from(fileRange(image, 1000, 64)).equals(Buffer.from(payload))).toBe(true);
    const back = await fe.read(1000, 64);
    expect(Buffer.from(back.data).equals(Buffer.from(payload))).toBe(true);
    expect((await fe.flush()).status).toBe(BlockStatus.OK);

    // GET_ID answers the serial, NUL padded
    const id = await fe.getId();
    expect(id.status).toBe(BlockStatus.OK);
    expect(Buffer.from(id.data).toString('latin1')).toBe('vmv-test-01'.padEnd(20, '\0'));

    // out of range: IOERR, the file is untouched
    const bad = await fe.request(0, RequestType.OUT, BigInt(IMAGE_SIZE / 512), new Uint8Array(512), 0);
    expect(bad.status).toBe(BlockStatus.IOERR);
    expect(readFileSync(image).length).toBe(IMAGE_SIZE);
    // an unknown request type: UNSUPP
    expect((await fe.request(0, 0x77, 0n, null, 512)).status).toBe(BlockStatus.UNSUPP);

    // many requests at once, completed in any order, each with the right data
    const batch = await fe.batch(
      0,
      Array.from({ length: 32 }, (_, i) => ({ type: RequestType.IN, sector: BigInt(i * 64), out: null, inLen: 4096 })),
    );
    const now = new Uint8Array(readFileSync(image));
    batch.forEach((r, i) => {
      expect(r.status).toBe(BlockStatus.OK);
      expect(Buffer.from(r.data).equals(Buffer.from(now.subarray(i * 64 * 512, i * 64 * 512 + 4096)))).toBe(true);
    });
    expect(d.stderr()).toContain('frontend connected (connection 1)');
  }, 30_000);

  // Which reads are served inline depends on timing (an inline read slower than its budget pauses
  // inline reads; RWF_NOWAIT answers EAGAIN when a page is not cached): the rules themselves are
  // tested on a scripted clock in session-safe-backend.test.ts. Here, what holds whatever the
  // timing: the data, every read counted once, reads above --inline-read-max always deferred.
  const READS = [[3, 8], [64, 256], [512, 2048], [2048, 4096], [IMAGE_SIZE / 512 - 1, 1]] as const; // 4 KiB .. 2 MiB
  it.each([
    ['inline reads (default: up to 1 MiB)', [], 1 << 20],
    ['--inline-read-max 4096', ['--inline-read-max', '4096'], 4096],
    ['--inline-read-max 0', ['--inline-read-max', '0'], 0],
  ] as const)('reads the image the same with %s, every read counted once, larger ones always through the thread pool', async (_mode, extra, max) => {
    const { image, socket, content } = setup();
    const d = await start(['--socket', socket, '--image', image, '--log-level', 'debug', ...extra], socket);
    const fe = await connect(socket);
    for (const [sector, sectors] of READS) {
      const r = await fe.read(sector, sectors);
      expect(r.status).toBe(BlockStatus.OK);
      expect(Buffer.from(r.data).equals(Buffer.from(content.subarray(sector * 512, (sector + sectors) * 512)))).toBe(true);
    }
    d.child.kill('SIGTERM');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    const m = /reads served inline: (\d+); through private buffers: (\d+) reads and writes; slow inline reads: (\d+) \((\d+) pauses\)/.exec(d.stderr());
    expect(m).not.toBeNull();
    const [inline, deferred, slow, pauses] = m!.slice(1).map(Number) as [number, number, number, number];
    const eligible = READS.filter(([, sectors]) => sectors * 512 <= max).length;
    expect(inline + deferred).toBe(READS.length); // no writes: each read counted once
    expect(inline).toBeLessThanOrEqual(eligible); // a read above the maximum is never inline
    expect(deferred).toBeGreaterThanOrEqual(READS.length - eligible);
    expect(slow).toBeLessThanOrEqual(inline);
    expect(pauses).toBeLessThanOrEqual(slow);
    if (max === 0) expect([inline, slow, pauses]).toEqual([0, 0, 0]);
  }, 30_000);

  it('serves two queues when started with --queues 2', async () => {
    const { image, socket, content } = setup();
    await start(['--socket', socket, '--image', image, '--queues', '2'], socket);
    const fe = await connect(socket);
    expect(fe.queueNum).toBe(2);
    expect(fe.config!.numQueues).toBe(2);
    expect(bit(fe.features, BlockFeature.MQ)).toBe(true);
    const payload = new Uint8Array(randomBytes(8 * 512));
    expect((await fe.write(24, payload, 1)).status).toBe(BlockStatus.OK);
    const r0 = await fe.read(24, 8, 0);
    expect(Buffer.from(r0.data).equals(Buffer.from(payload))).toBe(true);
    const r1 = await fe.read(100, 4, 1);
    expect(Buffer.from(r1.data).equals(Buffer.from(content.subarray(100 * 512, 104 * 512)))).toBe(true);
  }, 30_000);

  it('keeps listening after a disconnect and serves a second frontend with the first one\'s writes', async () => {
    const { image, socket } = setup();
    const d = await start(['--socket', socket, '--image', image], socket);
    const first = await connect(socket);
    const payload = new Uint8Array(randomBytes(16 * 512));
    expect((await first.write(2048, payload)).status).toBe(BlockStatus.OK);
    await first.stopRings();
    first.close();
    await waitForLogCount(d, 'frontend disconnected', 1);
    expect(existsSync(socket)).toBe(true);

    const second = await connect(socket);
    const r = await second.read(2048, 16);
    expect(r.status).toBe(BlockStatus.OK);
    expect(Buffer.from(r.data).equals(Buffer.from(payload))).toBe(true);
    expect(d.stderr()).toContain('frontend connected (connection 2)');
    // an abrupt disconnect (no GET_VRING_BASE) is survived too
    second.close();
    await waitForLogCount(d, 'frontend disconnected', 2); // connecting earlier would be a second frontend
    const third = await connect(socket);
    expect((await third.read(2048, 1)).status).toBe(BlockStatus.OK);
    expect(d.child.exitCode).toBeNull();
  }, 30_000);

  it.each([['buffered', []], ['O_DIRECT', ['--direct']]])('survives a frontend that vanishes with requests in flight, and serves the next one (%s)', async (_mode, extra) => {
    const { image, socket } = setup();
    const d = await start(['--socket', socket, '--image', image, ...(extra as string[])], socket);
    if ((extra as string[]).length > 0) expect(d.stderr()).toContain('O_DIRECT');
    for (let round = 0; round < 3; round++) {
      const fe = await connect(socket);
      const reqs = Array.from({ length: 40 }, (_, i) => ({
        type: i % 2 === 0 ? RequestType.IN : RequestType.OUT,
        sector: BigInt(i * 64),
        out: i % 2 === 0 ? null : new Uint8Array(randomBytes(32 * 1024)),
        inLen: i % 2 === 0 ? 32 * 1024 : 0,
      }));
      fe.submit(0, reqs);
      fe.close(); // like QEMU being killed: no GET_VRING_BASE, memory gone
      await waitForLogCount(d, 'frontend disconnected', round + 1); // connecting earlier would be a second frontend
    }
    const last = await connect(socket);
    const payload = new Uint8Array(randomBytes(4096));
    expect((await last.write(7, payload)).status).toBe(BlockStatus.OK);
    expect(Buffer.from((await last.read(7, 8)).data).equals(Buffer.from(payload))).toBe(true);
    expect(d.child.exitCode).toBeNull();
    d.child.kill('SIGTERM');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    expect(d.stderr()).not.toMatch(/TypeError|detached/);
  }, 30_000);

  it('refuses a second frontend while one is connected, without disturbing the first', async () => {
    const { image, socket } = setup();
    const d = await start(['--socket', socket, '--image', image], socket);
    const first = await connect(socket);
    await expect(BlkFrontend.connect(socket)).rejects.toThrow();
    await waitForLog(d, 'connection refused');
    expect((await first.read(0, 8)).status).toBe(BlockStatus.OK);
  }, 30_000);

  it('on SIGTERM: the acknowledged write is in the file, the socket file is gone, exit status 0', async () => {
    const { image, socket } = setup();
    const d = await start(['--socket', socket, '--image', image], socket);
    const fe = await connect(socket);
    const payload = new Uint8Array(randomBytes(128 * 512));
    expect((await fe.write(3000, payload)).status).toBe(BlockStatus.OK);
    d.child.kill('SIGTERM');
    const exit = await d.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
    expect(Buffer.from(fileRange(image, 3000, 128)).equals(Buffer.from(payload))).toBe(true);
    expect(d.stderr()).toMatch(/SIGTERM: stopping/);
    expect(d.stderr()).toMatch(/stopped: 1 connection, \d+ requests \(\d+ ok, 0 I\/O errors, 0 unsupported\); image flushed/);
    await until(() => fe.isPeerClosed, HANG_MS, 'the daemon to close the connection');
  }, 30_000);

  it('on SIGTERM with writes in flight: every write acknowledged before the connection closed is in the file', async () => {
    const { image, socket, content } = setup();
    const d = await start(['--socket', socket, '--image', image, '--log-level', 'debug'], socket);
    const fe = await connect(socket);
    const writes = Array.from({ length: 40 }, (_, i) => ({
      type: RequestType.OUT,
      sector: BigInt(i * 128),
      out: new Uint8Array(randomBytes(32 * 1024)),
      inLen: 0,
    }));
    const pending = fe.submit(0, writes);
    d.child.kill('SIGTERM');
    const exit = await d.exited;
    if (exit.code !== 0) throw new Error(`daemon exit ${JSON.stringify(exit)}:\n${d.stderr()}`);
    const results = pending.collect();
    const file = new Uint8Array(readFileSync(image));
    writes.forEach((w, i) => {
      const at = i * 128 * 512;
      const inFile = Buffer.from(file.subarray(at, at + w.out.length));
      const r = results[i];
      if (r !== undefined && r.status === BlockStatus.OK) {
        expect(inFile.equals(Buffer.from(w.out))).toBe(true);
      } else {
        // not acknowledged: either untouched or fully written (a write is never torn by the stop)
        expect(inFile.equals(Buffer.from(w.out)) || inFile.equals(Buffer.from(content.subarray(at, at + w.out.length)))).toBe(true);
      }
    });
    expect(existsSync(socket)).toBe(false);
  }, 30_000);

  it('on SIGINT with no frontend: exits 0 and removes the socket file', async () => {
    const { image, socket } = setup();
    const d = await start(['--socket', socket, '--image', image], socket);
    d.child.kill('SIGINT');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
  }, 30_000);

  it('exports read-only with --readonly: RO offered, writes fail, the file is unchanged', async () => {
    const { image, socket, content } = setup();
    await start(['--socket', socket, '--image', image, '--readonly'], socket);
    const fe = await connect(socket);
    expect(bit(fe.features, BlockFeature.RO)).toBe(true);
    const w = await fe.write(0, new Uint8Array(512).fill(1));
    expect(w.status).toBe(BlockStatus.IOERR);
    const r = await fe.read(0, 1);
    expect(Buffer.from(r.data).equals(Buffer.from(content.subarray(0, 512)))).toBe(true);
    expect(Buffer.from(readFileSync(image)).equals(Buffer.from(content))).toBe(true);
  }, 30_000);

  it('replaces a stale socket file left by a dead daemon', async () => {
    const { image, socket } = setup();
    const first = await start(['--socket', socket, '--image', image], socket);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(existsSync(socket)).toBe(true); // left behind
    await start(['--socket', socket, '--image', image], socket);
    const fe = await connect(socket);
    expect((await fe.read(0, 1)).status).toBe(BlockStatus.OK);
  }, 30_000);

  it('SIGUSR1 after the image grew: the device capacity (GET_CONFIG) follows the file, and the daemon logs it', async () => {
    const { image, socket } = setup();
    const d = await start(['--socket', socket, '--image', image], socket);
    const fe = await connect(socket);
    const capacity = async (): Promise<bigint> => {
      return decodeBlockConfig(await fe.fe.getConfig(0, 96)).capacity;
    };
    expect(await capacity()).toBe(BigInt(IMAGE_SIZE / 512));
    truncateSync(image, IMAGE_SIZE + (1 << 20));
    d.child.kill('SIGUSR1');
    await waitForLog(d, /resized: \d+ -> \d+ sectors/);
    expect(d.stderr()).toContain(`resized: ${IMAGE_SIZE / 512} -> ${(IMAGE_SIZE + (1 << 20)) / 512} sectors`);
    expect(await capacity()).toBe(BigInt((IMAGE_SIZE + (1 << 20)) / 512));
    // unchanged size: nothing to do
    d.child.kill('SIGUSR1');
    await waitForLog(d, 'resize: size unchanged');
    expect((await fe.read(IMAGE_SIZE / 512, 1)).status).toBe(BlockStatus.OK); // the new sectors are readable
  }, 30_000);
});
