/**
 * The daemon in process (runCli) driven by @vmv/vhost-user's frontend as QEMU drives it: guest RAM in
 * a memfd, a split ring, kicks and calls over eventfds. -s P -c 2 listens on P0 and P1 (as
 * vhost-device-rng names them); both read the one --rng-source (every byte of a known file reaches
 * exactly one guest, in order) and share the one --max-bytes budget; a source file that runs out is
 * one error line and the request waits; at stop each socket logs what it served.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedGuestMemory, VhostUserFrontend, type FrontendVring } from '@vmv/vhost-user/frontend';
import { ProtocolFeature } from '@vmv/vhost-user/protocol';
import { runCli } from '@vmv/vhost-user-rng';
import { HANG_MS } from '../../vhost-user/test/frontend';
import { EVENT_IDX, INDIRECT_DESC, PROTOCOL_FEATURES, VERSION_1, negotiate, releasesAfterEach, runInProcess, waitUntil } from '../../vhost-user/test/support/in-process';

const dir = mkdtempSync(join(tmpdir(), 'vmv-vur-'));
const release = releasesAfterEach();
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/** Connects as QEMU's vhost-user-rng does; `read(n)` posts one n-byte buffer, kicks and waits for it. */
async function connect(socket: string) {
  let wake: (() => void) | null = null;
  const fe = VhostUserFrontend.connect(socket, { replyTimeoutMs: HANG_MS });
  release(() => fe.close());
  const ram = SharedGuestMemory.create(1 << 20, { name: 'vur-test' });
  release(() => ram.close());
  const { offered, queues } = await negotiate(fe, [ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK], VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX);
  expect(offered & (VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX | INDIRECT_DESC)).toBe(VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX | INDIRECT_DESC);
  expect(queues).toBe(1);
  await fe.setMemTable(ram);
  const ring: FrontendVring<number> = await fe.setupVring<number>(0, { memory: ram, size: 64, address: 0x1_0000, eventIdx: true, onCall: () => wake?.() });
  const buf = 0x4_0000;
  const post = (n: number) => {
    ram.memory.fill(buf, n, 0);
    expect(ring.driver.add([], [{ addr: buf, len: n }], 1)).toBeGreaterThanOrEqual(0);
    ring.kick();
  };
  const used = async (ms: number): Promise<number | null> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const u = ring.driver.getBuf();
      if (u !== null) return u.len;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  };
  const read = async (n: number): Promise<Uint8Array> => {
    post(n);
    const len = await used(HANG_MS);
    if (len === null) throw new Error('no used buffer');
    const b = new Uint8Array(len);
    ram.memory.read(buf, b);
    return b;
  };
  return { fe, read, post, used };
}

describe('vmv-vhost-user-rng', () => {
  it('-s P -c 2 serves P0 and P1 from one source file: every byte reaches exactly one guest, in order', async () => {
    const data = randomBytes(64 << 10);
    const file = join(dir, 'known.bin');
    writeFileSync(file, data);
    const p = join(dir, 'two.sock');
    const d = runInProcess(runCli, ['-s', p, '-c', '2', '-f', file]);
    await waitUntil(() => existsSync(`${p}0`) && existsSync(`${p}1`), 'both sockets');
    expect(existsSync(p)).toBe(false);
    const a = await connect(`${p}0`);
    const b = await connect(`${p}1`);
    const got: Uint8Array[] = [];
    for (let i = 0; i < 32; i++) got.push(await (i % 2 === 0 ? a : b).read(1024));
    expect(Buffer.compare(Buffer.concat(got), data.subarray(0, 32 * 1024))).toBe(0);
    d.stop();
    expect(await d.code).toBe(0);
    expect(d.log()).toMatch(/served 16384 bytes in 16 requests socket=".*two\.sock0"/);
    expect(d.log()).toMatch(/served 16384 bytes in 16 requests socket=".*two\.sock1"/);
    expect(d.log()).toMatch(/read 32768 bytes from .*known\.bin/); // the source consumed by exactly what the guests got
  });

  it('--max-bytes is one budget for all sockets: a request beyond it waits (never dropped, never zero bytes)', async () => {
    const p = join(dir, 'limit.sock');
    const d = runInProcess(runCli, ['-s', p, '-c', '2', '--period', '65536', '--max-bytes', '256']);
    await waitUntil(() => existsSync(`${p}1`), 'the sockets');
    const a = await connect(`${p}0`);
    const b = await connect(`${p}1`);
    expect((await a.read(200)).length).toBe(200);
    expect((await b.read(200)).length).toBe(56); // what is left of the shared budget
    b.post(64);
    // the next period is 65.5 s away: the request is still waiting (a late answer would only be correct)
    expect(await b.used(300)).toBeNull();
    d.stop();
    expect(await d.code).toBe(0);
  });

  it('a source file that runs out: the guest gets its last bytes, then waits; one error line says why', async () => {
    const file = join(dir, 'short.bin');
    writeFileSync(file, randomBytes(100));
    const p = join(dir, 'short.sock');
    const d = runInProcess(runCli, ['-s', p, '--rng-source', file]);
    await waitUntil(() => existsSync(`${p}0`), 'the socket');
    const a = await connect(`${p}0`);
    expect((await a.read(64)).length).toBe(64);
    expect((await a.read(64)).length).toBe(36);
    a.post(64);
    expect(await a.used(300)).toBeNull();
    await waitUntil(() => /ran out/.test(d.log()), 'the error line');
    const lines = d.log().split('\n').filter((l) => / error: /.test(l));
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/rng source .*short\.bin: The entropy source ran out \(no bytes after 100 served\); the guest's requests wait/);
    d.stop();
    expect(await d.code).toBe(0);
  });
});
