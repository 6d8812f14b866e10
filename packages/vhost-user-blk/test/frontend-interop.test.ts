/**
 * The public frontend (`@vmv/vhost-user/frontend`) against two real vhost-user-blk backends in
 * their own processes: QEMU's qemu-storage-daemon (the reference) and our vmv-vhost-user-blk. A
 * 4 KiB write then read through a split ring in shared memory, byte for byte, and the same bytes
 * found in the image file afterwards.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockStatus, REQUEST_HEADER_SIZE, RequestType, encodeRequestHeader } from '@vmv/block';
import { SharedGuestMemory, VhostUserFrontend, type FrontendVring } from '@vmv/vhost-user/frontend';
import { ProtocolFeature, protocolFeatureMask } from '@vmv/vhost-user/protocol';
import { killDaemon, removeDaemonProgram, spawnDaemon, waitForSocket, type DaemonProcess } from './support/daemon-process';
import { HANG_MS } from './support/frontend';

const VERSION_1 = 1n << 32n;
const PROTOCOL_FEATURES = 1n << 30n;
const EVENT_IDX = 1n << 29n;
const INDIRECT_DESC = 1n << 28n;
const FLUSH = 1n << 9n;
const SEG_MAX = 1n << 2n;
const BLK_SIZE = 1n << 6n;

const dir = mkdtempSync(join(tmpdir(), 'vmv-fe-interop-'));
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) {
    try {
      cleanups.pop()!();
    } catch {
      // already released
    }
  }
});
afterAll(() => {
  removeDaemonProgram();
  rmSync(dir, { recursive: true, force: true });
});

const hasQsd = spawnSync('qemu-storage-daemon', ['--version'], { stdio: 'ignore' }).status === 0;

/** qemu-storage-daemon serving `image` on `socket`; resolves once the socket is there. */
async function startQsd(image: string, socket: string): Promise<ChildProcess> {
  const child = spawn('qemu-storage-daemon', [
    '--blockdev', `driver=file,node-name=file0,filename=${image}`,
    '--blockdev', 'driver=raw,node-name=disk0,file=file0',
    '--export', `type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=${socket},writable=on,num-queues=1`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  cleanups.push(() => child.kill('SIGKILL'));
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    try {
      if (statSync(socket).isSocket()) return child;
    } catch {
      // not yet
    }
    if (child.exitCode !== null) throw new Error(`qemu-storage-daemon exited (${child.exitCode}):\n${err}`);
    if (Date.now() > deadline) throw new Error(`qemu-storage-daemon did not listen within ${HANG_MS} ms:\n${err}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Connects and sets up what QEMU's vhost-user-blk sets up, with one split ring. */
async function connect(socket: string) {
  let wake: (() => void) | null = null;
  const fe = VhostUserFrontend.connect(socket, { replyTimeoutMs: HANG_MS });
  cleanups.push(() => fe.close());
  const ram = SharedGuestMemory.create(1 << 20, { name: 'fe-interop' });
  cleanups.push(() => ram.close());
  const offered = await fe.getFeatures();
  expect(offered & (VERSION_1 | PROTOCOL_FEATURES)).toBe(VERSION_1 | PROTOCOL_FEATURES);
  await fe.setOwner();
  const protocol = await fe.getProtocolFeatures();
  await fe.setProtocolFeatures(protocol & protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG]));
  expect(await fe.getQueueNum()).toBeGreaterThanOrEqual(1);
  const features = offered & (VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX | INDIRECT_DESC | FLUSH | SEG_MAX | BLK_SIZE);
  await fe.setFeatures(features);
  await fe.setMemTable(ram);
  const capacity = new DataView((await fe.getConfig(0, 8)).buffer).getBigUint64(0, true);
  const ring = await fe.setupVring<number>(0, {
    memory: ram,
    size: 64,
    address: 0x1_0000,
    eventIdx: (features & EVENT_IDX) !== 0n,
    onCall: () => wake?.(),
  });
  /** Runs one request: header, data (out or in), status; kicks; waits for it to be used. */
  const request = async (type: number, sector: bigint, out: Uint8Array | null, inLen: number): Promise<{ status: number; data: Uint8Array }> => {
    const mem = ram.memory;
    const hdr = 0x4_0000;
    const data = 0x5_0000;
    const status = 0x6_0000;
    mem.write(hdr, encodeRequestHeader({ type, sector }));
    if (out !== null) mem.write(data, out);
    mem.writeU8(status, 0xff);
    const len = out?.length ?? inLen;
    const outBufs = [{ addr: hdr, len: REQUEST_HEADER_SIZE }, ...(out !== null ? [{ addr: data, len }] : [])];
    const inBufs = [...(out === null && len > 0 ? [{ addr: data, len }] : []), { addr: status, len: 1 }];
    expect(ring.driver.add(outBufs, inBufs, 1)).toBeGreaterThanOrEqual(0);
    ring.kick();
    const deadline = Date.now() + HANG_MS;
    for (;;) {
      const used = ring.driver.getBuf();
      if (used !== null) break;
      if (fe.isClosed) throw new Error('the frontend closed during a request');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no used buffer within ${HANG_MS} ms`);
      // woken by the call eventfd; the bound only catches a hang
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
    const back = new Uint8Array(out === null ? len : 0);
    if (back.length > 0) mem.read(data, back);
    return { status: mem.readU8(status), data: back };
  };
  return { fe, ram, ring: ring as FrontendVring<number>, capacity, request };
}

async function writeReadCheck(socket: string, image: string): Promise<void> {
  const { fe, ring, capacity, request } = await connect(socket);
  expect(capacity).toBe(2048n);
  const pattern = new Uint8Array(4096).map((_, i) => (i * 7 + 3) & 0xff);
  expect((await request(RequestType.OUT, 8n, pattern, 0)).status).toBe(BlockStatus.OK);
  expect((await request(RequestType.FLUSH, 0n, null, 0)).status).toBe(BlockStatus.OK);
  const r = await request(RequestType.IN, 8n, null, 4096);
  expect(r.status).toBe(BlockStatus.OK);
  expect(Buffer.from(r.data).equals(Buffer.from(pattern))).toBe(true);
  expect(ring.calls).toBeGreaterThan(0);
  expect(typeof (await fe.getVringBase(0))).toBe('number');
  fe.close();
  expect(Buffer.from(readFileSync(image).subarray(8 * 512, 8 * 512 + 4096)).equals(Buffer.from(pattern))).toBe(true);
}

describe('the public frontend against real vhost-user-blk backends', () => {
  (hasQsd ? it : it.skip)('qemu-storage-daemon: 4 KiB written, read back and found in the image', async () => {
    const image = join(dir, 'qsd.img');
    writeFileSync(image, new Uint8Array(1 << 20));
    const socket = join(dir, 'qsd.sock');
    await startQsd(image, socket);
    await writeReadCheck(socket, image);
  });

  it('vmv-vhost-user-blk: 4 KiB written, read back and found in the image', async () => {
    const image = join(dir, 'vmv.img');
    writeFileSync(image, new Uint8Array(1 << 20));
    const socket = join(dir, 'vmv.sock');
    let d: DaemonProcess | null = null;
    cleanups.push(() => killDaemon(d));
    d = await spawnDaemon(['--socket', socket, '--image', image]);
    await waitForSocket(d, socket);
    await writeReadCheck(socket, image);
  });
});
