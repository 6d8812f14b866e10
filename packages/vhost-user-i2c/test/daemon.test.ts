/**
 * The daemon in process (runCli) driven by @vmv/vhost-user's frontend as QEMU's vhost-user-i2c
 * drives it (guest RAM in a memfd, the request queue as a split ring, kicks and calls over
 * eventfds, requests laid out as Linux's i2c-virtio lays them), and by its control socket: the
 * configured addresses answer a quick write and no other does (i2cdetect), the LM75 reads what
 * the host set, a page written to a file-backed EEPROM lands in the file; the command line as
 * vhost-device-i2c's.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { I2cFlags, encodeAddress } from '@vmv/i2c';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature } from '@vmv/vhost-user/protocol';
import { controlRequest, daemonFlags, parseFlags } from '@vmv/vhost-user/daemon';
import { HELP, createI2cDaemon, parseDeviceList, runCli } from '@vmv/vhost-user-i2c';
import { HANG_MS } from '../../vhost-user/test/frontend';
import { captureIo } from '../../vhost-user/test/support/daemon-process';
import { PROTOCOL_FEATURES, VERSION_1, negotiate, releasesAfterEach, runInProcess, waitUntil } from '../../vhost-user/test/support/in-process';

const ZERO_LENGTH_REQUEST = 1n;

const dir = mkdtempSync(join(tmpdir(), 'vmv-vui-'));
const release = releasesAfterEach();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('command line', () => {
  it('has vhost-device-i2c\'s flags: -s, -c, -l ADAPTER:ADDR[:ADDR],... with decimal addresses, the adapter naming a model; ours: --eeprom-file', () => {
    const flags = daemonFlags(createI2cDaemon());
    expect(parseFlags(flags, ['-s', 'P', '-c', '2', '-l', '24c02:80:81,lm75:72'])).toMatchObject({ 'socket-path': 'P', 'socket-count': 2, 'device-list': [{ model: '24c02', address: 80 }, { model: '24c02', address: 81 }, { model: 'lm75', address: 72 }] });
    expect(parseFlags(flags, ['-s', 'P', '-l', '24c32:87', '--eeprom-file', '87=/x/e.bin'])).toMatchObject({ 'eeprom-file': [{ address: 87, path: '/x/e.bin' }] });
    expect(HELP).toMatch(/vhost-user-i2c-pci/);
  });

  it('refuses host adapters (no passthrough), unknown models, bad or repeated addresses, an --eeprom-file without its EEPROM or of the wrong size, in one line', async () => {
    expect(() => parseDeviceList('1:32')).toThrow(/passthrough of host adapters is not offered/);
    expect(() => parseDeviceList('i915 gmbus dpd:32')).toThrow(/not a model/);
    for (const bad of ['24c02:0x50', '24c02:120', '24c02', '24c02:80,lm75:80']) expect(() => parseDeviceList(bad)).toThrow(/address/);
    const wrong = join(dir, 'wrong.bin');
    writeFileSync(wrong, Buffer.alloc(10));
    for (const [argv, why] of [[['-l', 'lm75:72', '--eeprom-file', '72=/x'], /no EEPROM at address 72/], [['-l', '24c02:80', '--eeprom-file', `80=${wrong}`], /10 bytes; a 24c02 holds 256/], [['-l', '3:80'], /passthrough/]] as const) {
      const io = captureIo();
      expect(await runCli(['-s', join(dir, `bad${Date.now()}.sock`), ...argv], io)).not.toBe(0);
      expect(io.errText.trim().split('\n').length).toBeLessThanOrEqual(2);
      expect(io.errText).toMatch(why);
    }
  });
});

/** The daemon on `argv` and a frontend set up as QEMU's; `transfer` sends messages as Linux's virtio_i2c_xfer. */
async function serve(argv: string[]) {
  const socket = join(dir, `i${Date.now()}.sock`);
  const controlSocket = `${socket}.ctl`;
  const daemon = runInProcess(runCli, ['-s', socket, '--control-socket', controlSocket, ...argv]);
  await waitUntil(() => existsSync(`${socket}0`) && existsSync(controlSocket), 'the sockets', daemon.log);
  const fe = VhostUserFrontend.connect(`${socket}0`, { replyTimeoutMs: HANG_MS });
  const ram = SharedGuestMemory.create(1 << 20, { name: 'i2c-daemon' });
  release(daemon.stop, () => ram.close(), () => fe.close());
  const { offered, queues } = await negotiate(fe, [ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK], VERSION_1 | PROTOCOL_FEATURES | ZERO_LENGTH_REQUEST);
  expect(offered & ZERO_LENGTH_REQUEST).toBe(ZERO_LENGTH_REQUEST);
  await fe.setMemTable(ram);
  const mem = ram.memory;
  let wake: (() => void) | null = null;
  const ring = await fe.setupVring<number>(0, { memory: ram, size: 64, address: 0x1_0000, onCall: () => wake?.() });
  type Msg = { addr: number; write: number[] } | { addr: number; read: number };
  /** One transfer; resolves with each message's status and read bytes. */
  const transfer = async (msgs: Msg[]) => {
    const at = (i: number) => 0x4_0000 + i * 0x200;
    msgs.forEach((m, i) => {
      mem.writeU16(at(i), encodeAddress(m.addr));
      mem.writeU16(at(i) + 2, 0);
      mem.writeU32(at(i) + 4, ('read' in m ? I2cFlags.M_RD : 0) | (i < msgs.length - 1 ? I2cFlags.FAIL_NEXT : 0));
      const out = [{ addr: at(i), len: 8 }];
      const inb = [];
      if ('write' in m && m.write.length > 0) {
        mem.write(at(i) + 0x10, Uint8Array.from(m.write));
        out.push({ addr: at(i) + 0x10, len: m.write.length });
      }
      if ('read' in m && m.read > 0) inb.push({ addr: at(i) + 0x10, len: m.read });
      inb.push({ addr: at(i) + 0x1f0, len: 1 });
      expect(ring.driver.add(out, inb, i)).toBeGreaterThanOrEqual(0);
    });
    ring.kick();
    let got = 0;
    const until = Date.now() + HANG_MS;
    while (got < msgs.length) {
      if (ring.driver.getBuf() !== null) {
        got++;
        continue;
      }
      if (Date.now() > until) throw new Error('no used buffer');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        wake = () => (clearTimeout(t), resolve());
      });
    }
    return msgs.map((m, i) => {
      const data = new Uint8Array('read' in m ? m.read : 0);
      mem.read(at(i) + 0x10, data);
      return { status: mem.readU8(at(i) + 0x1f0), data: [...data] };
    });
  };
  const control = (execute: string, args?: Record<string, unknown>) =>
    controlRequest(controlSocket, execute, args) as Promise<{ return?: unknown; error?: { class: string; desc: string } }>;
  const stop = async () => {
    fe.close();
    daemon.stop();
    return { code: await daemon.code, log: daemon.log() };
  };
  return { queues, transfer, control, stop };
}

describe('a running daemon', () => {
  it('i2cdetect finds exactly the configured addresses; the LM75 follows the host; a page written to the file-backed EEPROM lands in the file', async () => {
    const file = join(dir, 'eeprom.bin');
    const d = await serve(['-l', '24c02:80,24c32:87,lm75:72', '--eeprom-file', `80=${file}`]);
    expect(d.queues).toBe(1);
    const found: number[] = [];
    for (let addr = 0x03; addr <= 0x77; addr++) if ((await d.transfer([{ addr, write: [] }]))[0]!.status === 0) found.push(addr);
    expect(found).toEqual([72, 80, 87]);
    expect(await d.control('set-temperature', { address: 72, celsius: 42.5 })).toEqual({ return: { reported: 42.5 } });
    const word = (await d.transfer([{ addr: 72, write: [0] }, { addr: 72, read: 2 }]))[1]!.data;
    expect(((word[0]! << 8) | word[1]!) >> 7).toBe(85); // 42.5 °C in 0.5 °C steps
    expect((await d.transfer([{ addr: 80, write: [0x10, 1, 2, 3] }]))[0]!.status).toBe(0);
    expect([...readFileSync(file).subarray(0x10, 0x13)]).toEqual([1, 2, 3]);
    expect((await d.transfer([{ addr: 80, write: [0x10] }, { addr: 80, read: 3 }]))[1]!.data).toEqual([1, 2, 3]);
    expect(await d.control('eeprom-read', { address: 80, offset: 0x10, length: 3 })).toEqual({ return: { hex: '010203' } });
    expect((await d.control('devices')).return).toEqual([{ address: 72, model: 'lm75', temperature: 42.5, reported: 42.5 }, { address: 80, model: '24c02', size: 256, pointer: 0x13 }, { address: 87, model: '24c32', size: 4096, pointer: 0 }]);
    expect((await d.control('set-temperature', { address: 80, celsius: 1 })).error?.class).toBe('InvalidArgument');
    expect((await d.control('eeprom-read', { address: 9 })).error?.class).toBe('InvalidArgument');
    const { code, log } = await d.stop();
    expect(code).toBe(0);
    expect(log).toMatch(/answered \d+ requests in \d+ transactions/);
  }, 60_000);
});
