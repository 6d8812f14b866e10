/**
 * The daemon in process (runCli) driven by @vmv/vhost-user's frontend as QEMU's vhost-user-gpio
 * drives it (guest RAM in a memfd, requestq and eventq as split rings, kicks and calls over
 * eventfds), and by its control socket as a test program drives the host side: the guest makes a
 * line an output (the log says so), enables an edge interrupt and unmasks it; `set-input` over
 * the control socket answers once the guest took the interrupt and re-posted its pair; 200 edges
 * paced that way all reach the guest; the command line as vhost-device-gpio's.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GpioDirection, GpioIrqType, GpioMsg } from '@vmv/gpio';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature } from '@vmv/vhost-user/protocol';
import { controlRequest, daemonFlags, parseFlags } from '@vmv/vhost-user/daemon';
import { HELP, createGpioDaemon, parseDeviceList, runCli } from '@vmv/vhost-user-gpio';
import { HANG_MS } from '../../vhost-user/test/frontend';
import { captureIo } from '../../vhost-user/test/support/daemon-process';
import { PROTOCOL_FEATURES, VERSION_1, negotiate, releasesAfterEach, runInProcess, waitUntil } from '../../vhost-user/test/support/in-process';

const F_IRQ = 1n;

const dir = mkdtempSync(join(tmpdir(), 'vmv-vug-'));
const release = releasesAfterEach();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('command line', () => {
  it('has vhost-device-gpio\'s flags: -s, -c, -l with simulated chips sN; ours: --line-names', () => {
    const flags = daemonFlags(createGpioDaemon());
    expect(parseFlags(flags, ['-s', 'P', '-c', '2', '-l', 's4:s8'])).toMatchObject({ 'socket-path': 'P', 'socket-count': 2, 'device-list': [4, 8] });
    expect(parseFlags(flags, ['--socket-path=P', '--device-list=s1', '--line-names=a,,b'])).toMatchObject({ 'device-list': [1], 'line-names': ['a', '', 'b'] });
    expect(parseDeviceList('s65535')).toEqual([65535]);
    expect(HELP).toMatch(/--device-list/);
    expect(HELP).toMatch(/vhost-user-gpio-pci/);
  });

  it('refuses host chips (no passthrough), bad chips, a list that does not match the sockets, and duplicate names, in one line', async () => {
    expect(() => parseDeviceList('0')).toThrow(/passthrough of host chips is not offered/);
    for (const bad of ['s0', 's65536', 'x4', 's4:', '']) expect(() => parseDeviceList(bad)).toThrow(/sN/);
    for (const argv of [['-c', '2', '-l', 's4'], ['-l', 's2', '--line-names', 'a,a'], ['-l', '3']]) {
      const io = captureIo();
      expect(await runCli(['-s', join(dir, 'bad.sock'), ...argv], io)).toBe(2);
      expect(io.errText.trim().split('\n').length).toBeLessThanOrEqual(2);
      expect(io.errText).toMatch(/one per socket|used twice|passthrough/);
    }
  });
});

/** The daemon on `argv`, a frontend set up as QEMU's (both queues, VIRTIO_GPIO_F_IRQ), a guest loop, and the control socket. */
async function serve(argv: string[]) {
  const socket = join(dir, `g${Date.now()}.sock`);
  const controlSocket = `${socket}.ctl`;
  const daemon = runInProcess(runCli, ['-s', socket, '--control-socket', controlSocket, ...argv]);
  await waitUntil(() => existsSync(`${socket}0`) && existsSync(controlSocket), 'the sockets', daemon.log);
  const fe = VhostUserFrontend.connect(`${socket}0`, { replyTimeoutMs: HANG_MS });
  const ram = SharedGuestMemory.create(1 << 20, { name: 'gpio-daemon' });
  release(daemon.stop, () => ram.close(), () => fe.close());
  const { offered, queues } = await negotiate(fe, [ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK], VERSION_1 | PROTOCOL_FEATURES | F_IRQ);
  expect(offered & F_IRQ).toBe(F_IRQ);
  await fe.setMemTable(ram);
  const mem = ram.memory;
  let wakeReq: (() => void) | null = null;
  const events: number[] = [];
  let onEvent: (status: number) => void = () => undefined;
  const req = await fe.setupVring<number>(0, { memory: ram, size: 64, address: 0x1_0000, onCall: () => wakeReq?.() });
  const evq = await fe.setupVring<number>(1, { memory: ram, size: 64, address: 0x2_0000, onCall: () => {
    for (let u = evq.driver.getBuf(); u !== null; u = evq.driver.getBuf()) {
      events.push(mem.readU8(0x9_0002));
      onEvent(mem.readU8(0x9_0002));
    }
  } });
  /** One message; resolves with [status, value]. */
  const msg = async (type: number, line: number, value = 0): Promise<[number, number]> => {
    mem.writeU16(0x8_0000, type);
    mem.writeU16(0x8_0002, line);
    mem.writeU32(0x8_0004, value);
    expect(req.driver.add([{ addr: 0x8_0000, len: 8 }], [{ addr: 0x8_0100, len: 2 }], 1)).toBeGreaterThanOrEqual(0);
    req.kick();
    const until = Date.now() + HANG_MS;
    while (req.driver.getBuf() === null) {
      if (Date.now() > until) throw new Error('no used buffer');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        wakeReq = () => (clearTimeout(t), resolve());
      });
    }
    return [mem.readU8(0x8_0100), mem.readU8(0x8_0101)];
  };
  const unmask = (line: number) => {
    mem.writeU16(0x9_0000, line);
    expect(evq.driver.add([{ addr: 0x9_0000, len: 2 }], [{ addr: 0x9_0002, len: 1 }], 1)).toBeGreaterThanOrEqual(0);
    evq.kick();
  };
  const control = (execute: string, args?: Record<string, unknown>) =>
    controlRequest(controlSocket, execute, args) as Promise<{ return?: unknown; error?: { class: string; desc: string } }>;
  const stop = async () => {
    fe.close();
    daemon.stop();
    return { code: await daemon.code, log: daemon.log() };
  };
  return { queues, msg, unmask, events, setOnEvent: (f: (status: number) => void) => (onEvent = f), control, stop, log: daemon.log };
}

describe('a running daemon', () => {
  it('an output the guest drives is logged; an input the control socket drives raises the guest\'s interrupt, answered once the guest re-posted', async () => {
    const d = await serve(['-l', 's4', '--line-names', 'button,led']);
    expect(d.queues).toBe(2);
    expect(await d.msg(GpioMsg.SET_VALUE, 1, 1)).toEqual([0, 0]);
    expect(await d.msg(GpioMsg.SET_DIRECTION, 1, GpioDirection.OUT)).toEqual([0, 0]);
    expect(await d.msg(GpioMsg.SET_DIRECTION, 0, GpioDirection.IN)).toEqual([0, 0]);
    expect(await d.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.EDGE_BOTH)).toEqual([0, 0]);
    d.setOnEvent((status) => (status === 1 ? d.unmask(0) : undefined)); // the guest: take the interrupt, unmask again
    d.unmask(0);
    const lines = (await d.control('lines')).return as { name: string; value: number; direction: number }[];
    expect(lines.slice(0, 2)).toMatchObject([{ name: 'button', direction: 2, value: 0 }, { name: 'led', direction: 1, value: 1 }]);
    expect(d.log()).toMatch(/line 1 output 1/);
    for (let i = 0; i < 200; i++) expect(await d.control('set-input', { line: 'button', value: i % 2 === 0 ? 1 : 0 })).toEqual({ return: { outcome: 'delivered' } });
    expect(d.events.length).toBe(200);
    expect(await d.control('pulse', { line: 2 })).toEqual({ return: { outcomes: ['none', 'none'] } }); // no interrupt on line 2
    expect((await d.control('set-input', { line: 9, value: 1 })).error?.class).toBe('InvalidArgument');
    expect((await d.control('set-input', { line: 0, value: 2 })).error?.class).toBe('InvalidArgument');
    expect((await d.control('lines', { chip: 1 })).error?.class).toBe('InvalidArgument');
    expect(await d.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.NONE)).toEqual([0, 0]);
    const { code, log } = await d.stop();
    expect(code).toBe(0);
    expect(log).toMatch(/delivered 200 interrupts/);
  }, 60_000);
});
