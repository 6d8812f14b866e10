/**
 * The daemon in process (runCli) driven by @vmv/vhost-user's frontend as QEMU's vhost-user-spi
 * drives it (guest RAM in a memfd, the request queue as a split ring, kicks and calls over
 * eventfds, transfers laid out as Linux's spi-virtio lays them, one request at a time), and by its
 * control socket and its log at the end: the config as the flags say, the flash's JEDEC ID, a page program landing in
 * the flash's file, the loopback, a PARAM_ERR for a clock above --max-freq-hz; the command line
 * as vhost-device-spi's, passthrough refused.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature } from '@vmv/vhost-user/protocol';
import { controlRequest, daemonFlags, parseFlags } from '@vmv/vhost-user/daemon';
import { HELP, createSpiDaemon, parseBitsPerWord, parseChipSelect, runCli } from '@vmv/vhost-user-spi';
import { HANG_MS } from '../../vhost-user/test/frontend';
import { captureIo } from '../../vhost-user/test/support/daemon-process';
import { PROTOCOL_FEATURES, VERSION_1, negotiate, releasesAfterEach, runInProcess, waitUntil } from '../../vhost-user/test/support/in-process';

const dir = mkdtempSync(join(tmpdir(), 'vmv-vus-'));
const release = releasesAfterEach();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('command line', () => {
  it("has vhost-device-spi's -s and -c; ours: --cs N=flash[:PATH][,model=M] and N=loopback, --max-freq-hz, --bits-per-word", () => {
    const flags = daemonFlags(createSpiDaemon());
    expect(parseFlags(flags, ['-s', 'P', '-c', '2', '--cs', '0=flash:/x/f.bin,model=w25q80bl', '--cs', '3=loopback', '--max-freq-hz', '1000', '--bits-per-word', '8,16-17'])).toMatchObject({
      'socket-path': 'P',
      'socket-count': 2,
      cs: [{ chipSelect: 0, kind: 'flash', model: 'w25q80bl', path: '/x/f.bin' }, { chipSelect: 3, kind: 'loopback' }],
      'max-freq-hz': 1000,
      'bits-per-word': 0x18080,
    });
    expect(parseChipSelect('1=flash')).toEqual({ chipSelect: 1, kind: 'flash', model: 'w25q32' });
    expect(parseBitsPerWord('1-32')).toBe(0xffff_ffff);
    expect(HELP).toMatch(/vhost-user-spi-pci/);
  });

  it('refuses a host spidev (no passthrough), bad wirings, a chip select wired twice and a flash file of the wrong size, in one line', async () => {
    for (const bad of ['0=eeprom', '255=loopback', '0=loopback:/x', '0=flash,size=4M', '0=flash,model=w25q999', 'flash']) expect(() => parseChipSelect(bad)).toThrow(/--cs/);
    for (const bad of ['0', '33', '9-8', 'x']) expect(() => parseBitsPerWord(bad)).toThrow(/--bits-per-word/);
    const wrong = join(dir, 'wrong.bin');
    writeFileSync(wrong, Buffer.alloc(10));
    for (const [argv, why] of [
      [['-l', '/dev/spidev0.0', '--cs', '0=loopback'], /passthrough of a host spidev is not offered/],
      [['--cs', '0=loopback', '--cs', '0=flash'], /wired twice/],
      [['--cs', `0=flash:${wrong},model=w25q80bl`], /10 bytes; a w25q80bl holds 1048576/],
      [[], /--cs/],
    ] as const) {
      const io = captureIo();
      expect(await runCli(['-s', join(dir, `bad${Date.now()}.sock`), ...argv], io)).not.toBe(0);
      expect(io.errText.trim().split('\n').length).toBeLessThanOrEqual(2);
      expect(io.errText).toMatch(why);
    }
  });
});

/** The daemon on `argv` and a frontend set up as QEMU's; `transfer` sends one as virtio_spi_transfer_one does. */
async function serve(argv: string[]) {
  const socket = join(dir, `s${Date.now()}.sock`);
  const controlSocket = `${socket}.ctl`;
  const daemon = runInProcess(runCli, ['-s', socket, '--control-socket', controlSocket, ...argv]);
  await waitUntil(() => existsSync(`${socket}0`) && existsSync(controlSocket), 'the sockets', daemon.log);
  const fe = VhostUserFrontend.connect(`${socket}0`, { replyTimeoutMs: HANG_MS });
  const ram = SharedGuestMemory.create(1 << 20, { name: 'spi-daemon' });
  release(daemon.stop, () => ram.close(), () => fe.close());
  const { queues } = await negotiate(fe, [ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG], VERSION_1 | PROTOCOL_FEATURES);
  const config = await fe.getConfig(0, 32);
  await fe.setMemTable(ram);
  const mem = ram.memory;
  let wake: (() => void) | null = null;
  const ring = await fe.setupVring<number>(0, { memory: ram, size: 64, address: 0x1_0000, onCall: () => wake?.() });
  /** One transfer on chip select `cs`: resolves with its result and rx bytes. */
  const transfer = async (cs: number, tx: number[] | null, rxLen: number | null, freq = 0) => {
    const headAt = 0x4_0000;
    for (let i = 0; i < 32; i++) mem.writeU8(headAt + i, 0);
    mem.writeU8(headAt, cs);
    mem.writeU8(headAt + 1, 8);
    mem.writeU32(headAt + 12, freq);
    const out = [{ addr: headAt, len: 32 }];
    const inb = [];
    if (tx !== null) {
      mem.write(0x5_0000, Uint8Array.from(tx));
      out.push({ addr: 0x5_0000, len: tx.length });
    }
    if (rxLen !== null) inb.push({ addr: 0x6_0000, len: rxLen });
    inb.push({ addr: 0x7_0000, len: 1 });
    expect(ring.driver.add(out, inb, 0)).toBeGreaterThanOrEqual(0);
    ring.kick();
    const until = Date.now() + HANG_MS;
    while (ring.driver.getBuf() === null) {
      if (Date.now() > until) throw new Error('no used buffer');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        wake = () => (clearTimeout(t), resolve());
      });
    }
    const rx = new Uint8Array(rxLen ?? 0);
    mem.read(0x6_0000, rx);
    return { result: mem.readU8(0x7_0000), rx: [...rx] };
  };
  const control = (execute: string, args?: Record<string, unknown>) =>
    controlRequest(controlSocket, execute, args) as Promise<{ return?: unknown; error?: { class: string; desc: string } }>;
  const stop = async () => {
    fe.close();
    daemon.stop();
    return { code: await daemon.code, log: daemon.log() };
  };
  return { queues, config, transfer, control, stop };
}

describe('a running daemon', () => {
  it('offers the config of its flags; the flash answers its JEDEC ID and a page program lands in its file; the loopback echoes; a clock too fast is PARAM_ERR', async () => {
    const file = join(dir, 'flash.bin');
    const d = await serve(['--cs', `0=flash:${file},model=w25q80bl`, '--cs', '2=loopback', '--max-freq-hz', '1000000', '--bits-per-word', '8,16']);
    expect(d.queues).toBe(1);
    expect([...d.config.subarray(0, 16)]).toEqual([3, 1, 0, 0, 0x80, 0x80, 0, 0, 0x7f, 0, 0, 0, 0x40, 0x42, 0x0f, 0]);
    await d.transfer(0, [0x9f], null);
    expect(await d.transfer(0, null, 3)).toEqual({ result: 0, rx: [0xef, 0x40, 0x14] });
    await d.transfer(0, [0x06], null);
    await d.transfer(0, [0x02], null);
    await d.transfer(0, [0x00, 0x01, 0x00], null);
    expect((await d.transfer(0, [1, 2, 3], null)).result).toBe(0);
    expect([...readFileSync(file).subarray(0x100, 0x103)]).toEqual([1, 2, 3]);
    expect(await d.transfer(2, [5, 6, 7], 3)).toEqual({ result: 0, rx: [5, 6, 7] });
    expect((await d.transfer(2, [5], 1, 1_000_001)).result).toBe(1);
    expect((await d.transfer(1, [5], 1)).result).toBe(2); // nothing wired on chip select 1
    expect((await d.control('chip-selects')).return).toEqual([
      { cs: 0, kind: 'flash', model: 'w25q80bl', size: 1 << 20, status: 1, programs: 1, erases: 0, statusWrites: 0 },
      { cs: 2, kind: 'loopback', transfers: 1, bytes: 3 },
    ]);
    expect((await d.control('chip-selects', { cs: 0 })).error?.class).toBe('InvalidArgument');
    const { code, log } = await d.stop();
    expect(code).toBe(0);
    expect(log).toMatch(/answered 9 transfers in 2 messages \(1 parameter errors, 1 transfer errors\)/);
    expect(log).toMatch(/chip select 0: w25q80bl, 1 programs, 0 erases, 0 status writes/);
    expect(log).toMatch(/chip select 2: loopback, 1 transfers, 3 bytes/);
  }, 60_000);
});
