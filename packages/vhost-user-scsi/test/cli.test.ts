/**
 * The command line: rust-vmm vhost-device-scsi's flags (`-s, --socket-path`, `-r, --read-only`,
 * `--solid-state`, the images as arguments, one LUN each) and ours, every bad value one line and
 * exit 2, `--print-capabilities`; and a running daemon driven by the public vhost-user frontend
 * as QEMU's vhost-user-scsi drives it: INQUIRY, READ CAPACITY, a WRITE(10) found in the image
 * file, a write to a read-only daemon refused WRITE PROTECTED (VIRTIO 1.2 §5.6.6.1).
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CMD_REQ_HEADER_SIZE, CMD_RESP_HEADER_SIZE, ScsiStatus, SenseKey, VirtioScsiResponse, decodeCommandResponse } from '@vmv/scsi';
import { controlRequest, daemonFlags, parseFlags, type DaemonIo } from '@vmv/vhost-user/daemon';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature, protocolFeatureMask } from '@vmv/vhost-user/protocol';
import { HELP, imageArguments, runCli, scsiDaemon, scsiOptions } from '@vmv/vhost-user-scsi';

const SPECS = daemonFlags(scsiDaemon);
const parse = (argv: string[]) => scsiOptions(parseFlags(SPECS, imageArguments(SPECS, argv), 'x'));
const HANG_MS = 20_000; // only catches a hang on a busy machine

const dir = mkdtempSync(join(tmpdir(), 'vmv-scsi-cli-'));
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flags', () => {
  it("vhost-device-scsi's command line: images as arguments, LUN 0 upwards, -r and --solid-state", () => {
    expect(parse(['-r', '--socket-path', '/tmp/s.sock', '/a.raw', '/b.raw'])).toEqual({ images: ['/a.raw', '/b.raw'], readOnly: true, readOnlyLuns: new Set(), solidState: false, direct: false, numQueues: 8, queueSize: 1024 });
    expect(parse(['/a.raw', '-s', '/tmp/s.sock', '--read-only', '--solid-state', '/b.raw'])).toEqual({ images: ['/a.raw', '/b.raw'], readOnly: true, readOnlyLuns: new Set(), solidState: true, direct: false, numQueues: 8, queueSize: 1024 });
  });

  it('ours: --image (the same as an argument, in order), --direct, --num-queues, --queue-size; -- ends the flags', () => {
    expect(parse(['-s', 's', '--image', '/a', '/b', '--image=/c', '--direct', '--num-queues', '2', '--queue-size', '256', '--read-only-lun', '2'])).toEqual({ images: ['/a', '/b', '/c'], readOnly: false, readOnlyLuns: new Set([2]), solidState: false, direct: true, numQueues: 2, queueSize: 256 });
    expect(parse(['-s', 's', '--', '-odd-name.img']).images).toEqual(['-odd-name.img']);
  });

  it('imageArguments leaves flag values alone and turns the rest into --image', () => {
    expect(imageArguments(SPECS, ['-r', '-s', 'x.sock', 'a.img', '--log-format', 'json', 'b.img'])).toEqual(['-r', '-s', 'x.sock', '--image=a.img', '--log-format', 'json', '--image=b.img']);
  });

  it.each([
    [['-s', '/s'], /no image given/],
    [['-s', '/s', 'a.img', 'a.img'], /image a\.img given twice/],
    [['-s', '/s', 'a.img', '--num-queues', '0'], /--num-queues must be in 1\.\.254, got 0/],
    [['-s', '/s', 'a.img', '--queue-size', '1'], /--queue-size must be in 2\.\.32768, got 1/],
    [['-s', '/s', 'a.img', '--num-queues', 'two'], /--num-queues must be a whole number/],
    [['-s', '/s', 'a.img', '--read-only=yes'], /--read-only takes no value/],
    [['-s', '/s', 'a.img', '--writable'], /unknown option "--writable"/],
    [['-s', '/s', 'a.img', '--read-only-lun', '1'], /--read-only-lun 1: there are 1 images/],
    [['-s', '/s', 'a.img', '--read-only-lun', 'x'], /--read-only-lun must be a whole number/],
  ])('%j is refused with one line, exit 2', async (argv, message) => {
    expect(() => parse(argv as string[])).toThrow(message);
    let err = '';
    const io: DaemonIo = { out: () => {}, err: (t) => void (err += t), onSignal: () => {}, offSignal: () => {}, exit: () => {} };
    expect(await runCli(argv as string[], io)).toBe(2);
    expect(err.trim().split('\n')[0]).toMatch(message);
  });

  it('without a socket: exit 2', async () => {
    let err = '';
    const io: DaemonIo = { out: () => {}, err: (t) => void (err += t), onSignal: () => {}, offSignal: () => {}, exit: () => {} };
    expect(await runCli(['a.img'], io)).toBe(2);
    expect(err.trim().split('\n')[0]).toMatch(/--socket-path|--fd/);
  });

  it('--help names every flag; --print-capabilities is type scsi', async () => {
    for (const f of ['--socket-path', '--read-only', '--solid-state', '--image', '--direct', '--num-queues', '--print-capabilities']) expect(HELP).toContain(f);
    let out = '';
    const io: DaemonIo = { out: (t) => void (out += t), err: () => {}, onSignal: () => {}, offSignal: () => {}, exit: () => {} };
    expect(await runCli(['--print-capabilities'], io)).toBe(0);
    expect(JSON.parse(out)).toEqual({ type: 'scsi', features: [] });
  });

  it('an image that cannot be opened: exit 1, the problem named', async () => {
    let err = '';
    const io: DaemonIo = { out: () => {}, err: (t) => void (err += t), onSignal: () => {}, offSignal: () => {}, exit: () => {} };
    expect(await runCli(['-s', join(dir, 'x.sock'), join(dir, 'missing.img')], io)).toBe(1);
    expect(err).toContain('missing.img does not exist');
  });

  it('a qcow2 image: exit 1, in this program\'s words', async () => {
    let err = '';
    const io: DaemonIo = { out: () => {}, err: (t) => void (err += t), onSignal: () => {}, offSignal: () => {}, exit: () => {} };
    const q = join(dir, 'disk.qcow2');
    const bytes = new Uint8Array(1024);
    bytes.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]); // "QFI\xfb", version 3
    writeFileSync(q, bytes);
    expect(await runCli(['-s', join(dir, 'q.sock'), q], io)).toBe(1);
    expect(err).toMatch(/is a qcow2 image; vmv-vhost-user-scsi serves raw images only/);
  });
});

const VERSION_1 = 1n << 32n;
const PROTOCOL_FEATURES = 1n << 30n;
const REQUEST_QUEUE = 2;
const SENSE = 96;

/** A daemon run in process on `argv` plus a socket; resolves with a frontend set up as QEMU's vhost-user-scsi does (split rings, request queue 0). */
async function serve(argv: string[]) {
  const socket = join(dir, `d${cleanups.length}-${Date.now()}.sock`);
  const stops: (() => void)[] = [];
  let log = '';
  const signals = new Map<string, () => void>();
  const io: DaemonIo = { out: () => {}, err: (t) => void (log += t), onSignal: (s, h) => void (s === 'SIGTERM' ? stops.push(h) : signals.set(s, h)), offSignal: () => {}, exit: () => {} };
  const controlSocket = `${socket}.ctl`;
  const done = runCli(['-s', socket, '--control-socket', controlSocket, ...argv], io);
  const deadline = Date.now() + HANG_MS;
  while (!existsSync(socket) || !existsSync(controlSocket)) {
    if (Date.now() > deadline) throw new Error(`no socket:\n${log}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const fe = VhostUserFrontend.connect(socket, { replyTimeoutMs: HANG_MS });
  const ram = SharedGuestMemory.create(1 << 20, { name: 'scsi-cli' });
  cleanups.push(() => stops.forEach((s) => s()), () => ram.close(), () => fe.close()); // a failed test stops its daemon too
  const offered = await fe.getFeatures();
  await fe.setOwner();
  await fe.setProtocolFeatures((await fe.getProtocolFeatures()) & protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK]));
  const queues = await fe.getQueueNum();
  await fe.setFeatures(offered & (VERSION_1 | PROTOCOL_FEATURES));
  await fe.setMemTable(ram);
  let wake: (() => void) | null = null;
  const ring = await fe.setupVring<number>(REQUEST_QUEUE, { memory: ram, size: 64, address: 0x1_0000, onCall: () => wake?.() });
  /** One command to `lun` of target 0: data out or data in; the response header, sense and data. */
  const command = async (lun: number, cdb: number[], out: Uint8Array | null, inLen: number) => {
    const mem = ram.memory;
    const req = new Uint8Array(CMD_REQ_HEADER_SIZE + 32);
    req.set([1, 0, 0x40, lun]); // target 0, peripheral LUN
    req.set(cdb, CMD_REQ_HEADER_SIZE);
    mem.write(0x4_0000, req);
    if (out !== null) mem.write(0x5_0000, out);
    const respLen = CMD_RESP_HEADER_SIZE + SENSE;
    const outBufs = [{ addr: 0x4_0000, len: req.length }, ...(out !== null ? [{ addr: 0x5_0000, len: out.length }] : [])];
    const inBufs = [{ addr: 0x6_0000, len: respLen }, ...(inLen > 0 ? [{ addr: 0x7_0000, len: inLen }] : [])];
    expect(ring.driver.add(outBufs, inBufs, 1)).toBeGreaterThanOrEqual(0);
    ring.kick();
    const until = Date.now() + HANG_MS;
    while (ring.driver.getBuf() === null) {
      if (Date.now() > until) throw new Error('no used buffer');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        wake = () => (clearTimeout(t), resolve());
      });
    }
    const resp = new Uint8Array(respLen);
    mem.read(0x6_0000, resp);
    const data = new Uint8Array(inLen);
    if (inLen > 0) mem.read(0x7_0000, data);
    return { response: decodeCommandResponse(resp), sense: resp.subarray(CMD_RESP_HEADER_SIZE), data };
  };
  /** TEST UNIT READY until GOOD: the unit attentions a new unit holds (POWER ON, REPORTED LUNS DATA HAS CHANGED) cleared. */
  const ready = async (lun: number) => {
    for (let i = 0; i < 4; i++) if ((await command(lun, [0x00, 0, 0, 0, 0, 0], null, 0)).response.status === ScsiStatus.GOOD) return;
    throw new Error(`LUN ${lun} not ready`);
  };
  const stop = async () => {
    fe.close();
    stops.forEach((s) => s());
    return { code: await done, log };
  };
  /** One control request (a connection each); resolves with the reply. */
  const control = (execute: string, args?: Record<string, unknown>) =>
    controlRequest(controlSocket, execute, args) as Promise<{ return?: unknown; error?: { class: string; desc: string } }>;
  return { queues, command, ready, stop, control, log: () => log, signal: (name: string) => signals.get(name)!() };
}

describe('a running daemon', () => {
  it('two images, LUN 0 and 1 of target 0: INQUIRY, READ CAPACITY, a write found in the image; stopped cleanly', async () => {
    const a = join(dir, 'a.img');
    const b = join(dir, 'b.img');
    writeFileSync(a, new Uint8Array(1 << 20));
    writeFileSync(b, new Uint8Array(64 << 10).fill(0x5a));
    const d = await serve(['--num-queues', '2', '--solid-state', a, b]);
    expect(d.queues).toBe(4); // controlq, eventq, two request queues
    const inquiry = await d.command(1, [0x12, 0, 0, 0, 96, 0], null, 96);
    expect(inquiry.response.response).toBe(VirtioScsiResponse.OK);
    expect(inquiry.data[0]).toBe(0); // direct-access block device
    await d.ready(1);
    const cap = await d.command(1, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], null, 8);
    expect(cap.response.status).toBe(ScsiStatus.GOOD);
    expect(new DataView(cap.data.buffer).getUint32(0)).toBe(127); // 64 KiB: last LBA 127
    expect(new DataView(cap.data.buffer).getUint32(4)).toBe(512);
    const rotation = await d.command(1, [0x12, 1, 0xb1, 0, 64, 0], null, 64);
    expect(new DataView(rotation.data.buffer).getUint16(4)).toBe(1); // --solid-state: non-rotating
    await d.ready(0);
    const pattern = new Uint8Array(4096).map((_, i) => (i * 7 + 3) & 0xff);
    const w = await d.command(0, [0x2a, 0, 0, 0, 0, 8, 0, 0, 8, 0], pattern, 0); // WRITE(10) LBA 8, 8 blocks
    expect([w.response.response, w.response.status]).toEqual([VirtioScsiResponse.OK, ScsiStatus.GOOD]);
    const { code, log } = await d.stop();
    expect(code).toBe(0);
    expect(log).toContain('LUN 1:');
    expect(Buffer.from(readFileSync(a).subarray(8 * 512, 8 * 512 + 4096)).equals(Buffer.from(pattern))).toBe(true);
  }, 60_000);

  it('--read-only-lun 1: LUN 1 refuses a write, LUN 0 takes one', async () => {
    const a = join(dir, 'rw0.img');
    const b = join(dir, 'ro1.img');
    writeFileSync(a, new Uint8Array(1 << 20));
    writeFileSync(b, new Uint8Array(1 << 20).fill(0x22));
    const d = await serve(['--read-only-lun', '1', a, b]);
    await d.ready(0);
    await d.ready(1);
    const refused = await d.command(1, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], new Uint8Array(512).fill(1), 0);
    expect([refused.response.status, refused.sense[2]! & 0x0f, refused.sense[12]]).toEqual([ScsiStatus.CHECK_CONDITION, SenseKey.DATA_PROTECT, 0x27]);
    const taken = await d.command(0, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], new Uint8Array(512).fill(1), 0);
    expect(taken.response.status).toBe(ScsiStatus.GOOD);
    expect((await d.stop()).code).toBe(0);
    expect(readFileSync(b).every((x) => x === 0x22)).toBe(true);
    expect(readFileSync(a).subarray(0, 512).every((x) => x === 1)).toBe(true);
  }, 60_000);

  it('--read-only: a write is DATA PROTECT, WRITE PROTECTED, and the image is unchanged', async () => {
    const a = join(dir, 'ro.img');
    writeFileSync(a, new Uint8Array(1 << 20).fill(0x11));
    const d = await serve(['-r', a]);
    await d.ready(0);
    const w = await d.command(0, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], new Uint8Array(512), 0);
    expect(w.response.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect([w.sense[2]! & 0x0f, w.sense[12]]).toEqual([SenseKey.DATA_PROTECT, 0x27]);
    expect((await d.stop()).code).toBe(0);
    expect(readFileSync(a).every((x) => x === 0x11)).toBe(true);
  }, 60_000);
});

describe('the control socket', () => {
  const lun = (n: number, image: string, blocks: number, readOnly = false) => ({ target: 0, lun: n, image, blocks, readOnly, direct: false });

  it('lun-add: a new LUN answers INQUIRY and I/O, REPORT LUNS lists it, its siblings report REPORTED LUNS DATA HAS CHANGED', async () => {
    const a = join(dir, 'ctl-a.img');
    const c = join(dir, 'ctl-c.img');
    writeFileSync(a, new Uint8Array(1 << 20));
    writeFileSync(c, new Uint8Array(64 << 10).fill(0x33));
    const d = await serve([a]);
    await d.ready(0);
    expect(await d.control('lun-list')).toEqual({ return: [lun(0, a, 2048)] });
    expect(await d.control('lun-add', { image: c, 'read-only': true })).toEqual({ return: lun(1, c, 128, true) });
    const attention = await d.command(0, [0x00, 0, 0, 0, 0, 0], null, 0);
    expect([attention.response.status, attention.sense[2]! & 0x0f, attention.sense[12], attention.sense[13]]).toEqual([ScsiStatus.CHECK_CONDITION, SenseKey.UNIT_ATTENTION, 0x3f, 0x0e]);
    const luns = await d.command(0, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], null, 256);
    expect([...luns.data.subarray(0, 24)]).toEqual([0, 0, 0, 16, 0, 0, 0, 0, ...new Array<number>(8).fill(0), 0, 1, 0, 0, 0, 0, 0, 0]);
    await d.ready(1);
    const read = await d.command(1, [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], null, 512);
    expect([read.response.status, read.data.every((x) => x === 0x33)]).toEqual([ScsiStatus.GOOD, true]);
    expect((await d.command(1, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], new Uint8Array(512), 0)).sense[2]! & 0x0f).toBe(SenseKey.DATA_PROTECT);
    expect((await d.control('lun-list')).return).toEqual([lun(0, a, 2048), lun(1, c, 128, true)]);
    expect((await d.stop()).code).toBe(0);
  }, 60_000);

  it('lun-resize after the image grew: READ CAPACITY has the new size after CAPACITY DATA HAS CHANGED; SIGUSR1 re-reads every LUN', async () => {
    const a = join(dir, 'grow.img');
    writeFileSync(a, new Uint8Array(1 << 20));
    const d = await serve([a]);
    await d.ready(0);
    truncateSync(a, 2 << 20);
    expect(await d.control('lun-resize', { lun: 0 })).toEqual({ return: lun(0, a, 4096) });
    const attention = await d.command(0, [0x00, 0, 0, 0, 0, 0], null, 0);
    expect([attention.sense[2]! & 0x0f, attention.sense[12], attention.sense[13]]).toEqual([SenseKey.UNIT_ATTENTION, 0x2a, 0x09]);
    const cap = await d.command(0, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], null, 8);
    expect(new DataView(cap.data.buffer).getUint32(0)).toBe(4095);
    expect(await d.control('lun-resize', { lun: 0 })).toEqual({ return: lun(0, a, 4096) }); // unchanged: no new attention
    expect((await d.command(0, [0x00, 0, 0, 0, 0, 0], null, 0)).response.status).toBe(ScsiStatus.GOOD);
    truncateSync(a, 3 << 20);
    d.signal('SIGUSR1');
    const deadline = Date.now() + HANG_MS;
    while (((await d.control('lun-list')).return as { blocks: number }[])[0]!.blocks !== 6144) {
      if (Date.now() > deadline) throw new Error('SIGUSR1 did not resize');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(d.log()).toMatch(/LUN 0:0 resized: 4096 -> 6144 blocks/);
    expect((await d.stop()).code).toBe(0);
  }, 60_000);

  it('lun-remove: INQUIRY answers peripheral qualifier 3, other commands LOGICAL UNIT NOT SUPPORTED, the image flushed and closed; it can be added again', async () => {
    const a = join(dir, 'keep.img');
    const b = join(dir, 'gone.img');
    writeFileSync(a, new Uint8Array(1 << 20));
    writeFileSync(b, new Uint8Array(1 << 20));
    const d = await serve([a, b]);
    await d.ready(1);
    const w = await d.command(1, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], new Uint8Array(512).fill(7), 0);
    expect(w.response.status).toBe(ScsiStatus.GOOD);
    expect(await d.control('lun-remove', { lun: 1 })).toEqual({ return: lun(1, b, 2048) });
    expect(d.log()).toMatch(/LUN 0:1 removed \(.*gone\.img flushed and closed\)/);
    expect(readFileSync(b).subarray(0, 512).every((x) => x === 7)).toBe(true);
    const inquiry = await d.command(1, [0x12, 0, 0, 0, 36, 0], null, 36);
    expect(inquiry.data[0]! >> 5).toBe(3);
    const tur = await d.command(1, [0x00, 0, 0, 0, 0, 0], null, 0);
    expect([tur.response.status, tur.sense[2]! & 0x0f, tur.sense[12]]).toEqual([ScsiStatus.CHECK_CONDITION, SenseKey.ILLEGAL_REQUEST, 0x25]);
    expect((await d.control('lun-list')).return).toEqual([lun(0, a, 2048)]);
    expect(await d.control('lun-add', { image: b, lun: 1 })).toEqual({ return: lun(1, b, 2048) });
    expect((await d.stop()).code).toBe(0);
  }, 60_000);

  it.each([
    ['lun-add', { image: 'SELF' }, 'InvalidArgument', /is served already/],
    ['lun-add', { image: 'OTHER', lun: 0 }, 'InvalidArgument', /target 0 LUN 0 is served already/],
    ['lun-add', {}, 'InvalidArgument', /"image" .* is required/],
    ['lun-add', { image: 'OTHER', lun: 16384 }, 'InvalidArgument', /"lun" must be an integer in 0\.\.16383, got 16384/],
    ['lun-add', { image: 'OTHER', target: -1 }, 'InvalidArgument', /"target" must be an integer in 0\.\.255/],
    ['lun-add', { image: 'OTHER', read_only: true }, 'InvalidArgument', /unknown argument "read_only"/],
    ['lun-add', { image: 'OTHER', direct: 'yes' }, 'InvalidArgument', /"direct" must be a boolean/],
    ['lun-add', { image: 'MISSING' }, 'Failed', /missing\.img/],
    ['lun-remove', { lun: 5 }, 'InvalidArgument', /no LUN 5 on target 0/],
    ['lun-remove', { lun: '0' }, 'InvalidArgument', /"lun" must be an integer/],
    ['lun-resize', {}, 'InvalidArgument', /"lun" must be an integer in 0\.\.16383, got nothing/],
    ['lun-list', { x: 1 }, 'InvalidArgument', /unknown argument "x"/],
  ])('%s %j: an error reply, the LUNs unchanged', async (execute, args, cls, desc) => {
    const a = join(dir, `self-${cleanups.length}.img`);
    const other = join(dir, `other-${cleanups.length}.img`);
    writeFileSync(a, new Uint8Array(1 << 20));
    writeFileSync(other, new Uint8Array(1 << 20));
    const named: Record<string, string> = { SELF: a, OTHER: other, MISSING: join(dir, 'missing.img') };
    const d = await serve([a]);
    const reply = await d.control(execute, Object.fromEntries(Object.entries(args).map(([k, v]) => [k, typeof v === 'string' ? (named[v] ?? v) : v])));
    expect(reply.error?.class).toBe(cls);
    expect(reply.error?.desc).toMatch(desc);
    expect((await d.control('lun-list')).return).toEqual([lun(0, a, 2048)]);
    expect((await d.stop()).code).toBe(0);
  }, 60_000);
});
