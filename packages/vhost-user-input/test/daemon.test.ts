/**
 * The real program in its own process, driven the way QEMU's vhost-user-input drives it, with
 * @vmv/vhost-user's frontend: the config selects over GET/SET_CONFIG, events from the events
 * socket into eventq buffers, an LED on statusq back to the socket's client, a clean stop.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSelect, EventType, Led, decodeEvent, encodeEvent } from '@vmv/input';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature, protocolFeatureMask } from '@vmv/vhost-user/protocol';
import { daemonProgram, killDaemon, removeDaemonProgram, spawnDaemon, waitForSocket, type DaemonProcess } from './support/daemon-process';

const HANG_MS = 20_000;
const VERSION_1 = 1n << 32n;
const PROTOCOL_FEATURES = 1n << 30n;
const EVENT_IDX = 1n << 29n;

const dir = mkdtempSync(join(tmpdir(), 'vmv-vui-'));
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
afterAll(() => {
  removeDaemonProgram();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(f: () => T | undefined | null | false, what: string): Promise<T> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('vmv-vhost-user-input behind a vhost-user frontend', () => {
  it('answers config selects, delivers socket events into eventq, sends the LED status back, stops cleanly', async () => {
    const sock = join(dir, 'in.sock');
    const events = join(dir, 'ev.sock');
    const d: DaemonProcess = await spawnDaemon(['-s', sock, '--device', 'keyboard', '--name', 'kbd-test', '--serial', 'K1', '--events-socket', events]);
    cleanups.push(() => killDaemon(d));
    await waitForSocket(d, `${sock}0`); // -s P listens on P0, as vhost-device-input
    const fe = VhostUserFrontend.connect(`${sock}0`, { replyTimeoutMs: HANG_MS });
    cleanups.push(() => fe.close());
    const ram = SharedGuestMemory.create(1 << 20, { name: 'vui-test' });
    cleanups.push(() => ram.close());
    const offered = await fe.getFeatures();
    await fe.setOwner();
    await fe.setProtocolFeatures((await fe.getProtocolFeatures()) & protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG]));
    expect(await fe.getQueueNum()).toBe(2);
    await fe.setFeatures(offered & (VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX));
    await fe.setMemTable(ram);
    // QEMU forwards the whole 136-byte structure on a select write, then reads it back
    const select = async (s: number, sub: number) => {
      const cfg = new Uint8Array(136);
      cfg[0] = s;
      cfg[1] = sub;
      await fe.setConfig(0, cfg);
      const back = await fe.getConfig(0, 136);
      return { size: back[2]!, union: back.subarray(8, 8 + back[2]!) };
    };
    expect(Buffer.from((await select(ConfigSelect.ID_NAME, 0)).union).toString()).toBe('kbd-test');
    expect(Buffer.from((await select(ConfigSelect.ID_SERIAL, 0)).union).toString()).toBe('K1');
    expect([...(await select(ConfigSelect.EV_BITS, EventType.EV_LED)).union]).toEqual([7]);
    expect((await select(ConfigSelect.EV_BITS, EventType.EV_ABS)).size).toBe(0);

    const got: number[][] = [];
    const evq = await fe.setupVring<number>(0, {
      memory: ram, size: 64, address: 0x1_0000, eventIdx: true,
      onCall: (r) => {
        for (let u = r.driver.getBuf(); u; u = r.driver.getBuf()) {
          const b = new Uint8Array(8);
          ram.memory.read(0x8_0000 + u.token * 8, b);
          const e = decodeEvent(b);
          got.push([e.type, e.code, e.value, u.len]);
          r.driver.add([], [{ addr: 0x8_0000 + u.token * 8, len: 8 }], u.token);
        }
        r.kick();
      },
    });
    const stq = await fe.setupVring<number>(1, { memory: ram, size: 64, address: 0x3_0000, eventIdx: true, onCall: (r) => { while (r.driver.getBuf()); } });
    for (let i = 0; i < 4; i++) evq.driver.add([], [{ addr: 0x8_0000 + i * 8, len: 8 }], i); // QEMU 9.0+: 4 buffers
    evq.kick();

    const client: Socket = connect(events);
    cleanups.push(() => client.destroy());
    let answers = '';
    client.setEncoding('utf8');
    client.on('data', (t: string) => (answers += t));
    const lines: string[] = [];
    const want: number[][] = [];
    for (let k = 30; k < 50; k++) {
      lines.push(JSON.stringify([{ type: 'EV_KEY', code: k, value: 1 }, { type: 0, code: 0, value: 0 }]));
      want.push([1, k, 1, 8], [0, 0, 0, 8]);
    }
    client.write(`${lines.join('\n')}\n`);
    await until(() => got.length >= want.length, 'the events in eventq');
    expect(got).toEqual(want);

    ram.memory.write(0x9_0000, encodeEvent({ type: EventType.EV_LED, code: Led.CAPSL, value: 1 }));
    stq.driver.add([{ addr: 0x9_0000, len: 8 }], [], 1);
    stq.kick();
    await until(() => answers.includes('\n'), 'the status line');
    expect(answers).toBe('{"status":{"type":17,"code":1,"value":1}}\n');

    d.child.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
    expect(d.stderr()).toMatch(/INPUT-STATS \{"queued":40,.*"delivered":40,.*"statusEvents":1,/);
  }, 60_000);

  it('--events-stdin: JSON lines on stdin, answers on stdout', async () => {
    const sock = join(dir, 'stdin.sock');
    const child = spawn(process.execPath, [await daemonProgram(), '-s', sock, '--device', 'tablet', '--events-stdin'], { stdio: ['pipe', 'pipe', 'pipe'] });
    cleanups.push(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (t: string) => (out += t));
    child.stdin!.write('{"type":"EV_KEY","code":30,"value":1}\n[{"type":"EV_ABS","code":0,"value":5},{"type":0,"code":0,"value":0}]\n{"stats":true}\n');
    await until(() => out.split('\n').length >= 3, 'two answers');
    const [err, stats] = out.trim().split('\n').map((l) => JSON.parse(l) as { error?: string; stats?: { queued: number; backlog: number } });
    expect(err!.error).toMatch(/EV_KEY code 30 is not in the device's description/);
    expect(stats!.stats).toMatchObject({ queued: 2, backlog: 2 });
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }, 60_000);
});
