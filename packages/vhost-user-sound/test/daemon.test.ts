/**
 * The daemon in process (runCli) driven by @vmv/vhost-user's frontend as QEMU's vhost-user-snd-pci
 * drives it: guest RAM in a memfd, the four rings split, kicks and calls over eventfds, the config
 * read with GET_CONFIG. `--backend wav`: a clip played by the guest (SET_PARAMS, PREPARE, periods
 * queued ahead, START, refilled as they complete, STOP, RELEASE) lands in the --output file, its
 * data chunk byte for byte the clip, and it took no less than the clip's length; an --input file
 * reaches the guest's capture buffers byte for byte. At stop each stream logs what it carried.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedGuestMemory, VhostUserFrontend, type FrontendVring } from '@vmv/vhost-user/frontend';
import { ProtocolFeature } from '@vmv/vhost-user/protocol';
import { Format, Request, SoundStatus } from '@vmv/sound';
import { wavHeader } from '@vmv/sound/node';
import { runCli } from '@vmv/vhost-user-sound';
import { HANG_MS } from '../../vhost-user/test/frontend';
import { EVENT_IDX, PROTOCOL_FEATURES, VERSION_1, negotiate, releasesAfterEach, runInProcess, waitUntil } from '../../vhost-user/test/support/in-process';

const PERIOD = 1920; // 10 ms of stereo S16 at 48 kHz

const dir = mkdtempSync(join(tmpdir(), 'vmv-vus-'));
const release = releasesAfterEach();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const u32s = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);

/** Connects as QEMU's vhost-user-snd does: four split rings with EVENT_IDX, the config read. */
async function connect(socket: string) {
  const fe = VhostUserFrontend.connect(socket, { replyTimeoutMs: HANG_MS });
  release(() => fe.close());
  const ram = SharedGuestMemory.create(2 << 20, { name: 'vus-test' });
  release(() => ram.close());
  const CTLS = 1n; // VIRTIO_SND_F_CTLS
  const { offered, queues } = await negotiate(fe, [ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG], VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES | CTLS);
  expect(offered & (VERSION_1 | EVENT_IDX)).toBe(VERSION_1 | EVENT_IDX);
  expect(queues).toBe(4);
  await fe.setMemTable(ram);
  const used: { len: number; token: number }[][] = [[], [], [], []];
  const rings: FrontendVring<number>[] = [];
  for (let i = 0; i < 4; i++) {
    rings.push(await fe.setupVring<number>(i, { memory: ram, size: 64, address: 0x1_0000 + i * 0x4000, eventIdx: true, onCall: (r) => { for (let u = r.driver.getBuf(); u; u = r.driver.getBuf()) used[i]!.push({ len: u.len, token: u.token }); } }));
  }
  let next = 0x4_0000;
  const put = (bytes: Uint8Array) => {
    const addr = next;
    next = next + bytes.length + 64 > (2 << 20) - 0x1000 ? 0x4_0000 : next + bytes.length + 64;
    ram.memory.write(addr, bytes);
    return { addr, len: bytes.length };
  };
  let tokens = 0;
  /** A control request; resolves with the response's status. */
  const control = async (req: Uint8Array) => {
    const resp = put(new Uint8Array(4));
    const token = tokens++;
    rings[0]!.driver.add([put(req)], [resp], token);
    rings[0]!.kick();
    await waitUntil(() => used[0]!.some((u) => u.token === token), 'the control response');
    return ram.memory.readU32(resp.addr);
  };
  return { fe, ram, rings, used, put, control, config: () => fe.getConfig(0, 16), next: () => tokens++ };
}

function setParams(stream: number): Uint8Array {
  return new Uint8Array([...u32s(Request.PCM_SET_PARAMS, stream, 4 * PERIOD, PERIOD, 1 << 4), 2, 5, 7, 0]);
}

describe('vmv-vhost-user-sound', () => {
  it('--backend wav: a clip played by the guest is the --output file\'s data chunk, byte for byte, at the real rate', async () => {
    const out = join(dir, 'played.wav');
    const p = join(dir, 'play.sock');
    const d = runInProcess(runCli, ['--socket', p, '--backend', 'wav', '--output', out]);
    await waitUntil(() => existsSync(p), 'the socket');
    const g = await connect(p);
    expect(Array.from(new Uint32Array((await g.config()).slice().buffer))).toEqual([0, 2, 1, 4]);
    for (const req of [setParams(0), u32s(Request.PCM_PREPARE, 0)]) expect(await g.control(req)).toBe(SoundStatus.OK);
    const clip = randomBytes(30 * PERIOD); // 300 ms
    let sent = 0;
    const send = () => {
      g.rings[2]!.driver.add([g.put(u32s(0)), g.put(clip.subarray(sent, sent + PERIOD))], [g.put(new Uint8Array(8))], g.next());
      sent += PERIOD;
      g.rings[2]!.kick();
    };
    for (let i = 0; i < 4; i++) send();
    const t0 = Date.now();
    expect(await g.control(u32s(Request.PCM_START, 0))).toBe(SoundStatus.OK);
    let done = 0;
    await waitUntil(() => {
      for (const u of g.used[2]!.splice(0)) {
        expect(u.len).toBe(8);
        done++;
        if (sent < clip.length) send();
      }
      return done === 30;
    }, 'the clip to play');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290); // never faster than real time (slower is allowed: a busy machine)
    for (const req of [u32s(Request.PCM_STOP, 0), u32s(Request.PCM_RELEASE, 0)]) expect(await g.control(req)).toBe(SoundStatus.OK);
    d.stop();
    expect(await d.code).toBe(0);
    const file = readFileSync(out);
    expect(file.subarray(0, 44).equals(Buffer.from(wavHeader(Format.S16, 48000, 2, clip.length)))).toBe(true);
    expect(file.subarray(44).equals(clip)).toBe(true);
    // An xrun is this test's frontend refilling late (a busy machine stalls it): the device's to count, not a fault.
    // Each one is reported to the guest, and with no eventq buffers posted here each report is dropped.
    const m = /stream 0 \(output\): 57600 bytes in 30 buffers, (\d+) xruns \((\d+) reported to the guest\), 0 I\/O errors\n.*\n.*events: 0 delivered into the guest.s eventq, (\d+) dropped/.exec(d.log());
    expect(m).not.toBeNull();
    expect(m![2]).toBe(m![1]);
    expect(m![3]).toBe(m![1]);
  });

  it('--backend wav: an --input file reaches the guest\'s capture byte for byte', async () => {
    const clip = randomBytes(6 * PERIOD);
    const input = join(dir, 'clip.wav');
    writeFileSync(input, Buffer.concat([wavHeader(Format.S16, 48000, 2, clip.length), clip]));
    const p = join(dir, 'capture.sock');
    const d = runInProcess(runCli, ['--socket', p, '--backend', 'wav', '--input', input]);
    await waitUntil(() => existsSync(p), 'the socket');
    const g = await connect(p);
    for (const req of [setParams(1), u32s(Request.PCM_PREPARE, 1)]) expect(await g.control(req)).toBe(SoundStatus.OK);
    const bufs: { addr: number; token: number }[] = [];
    const post = () => {
      const frames = g.put(new Uint8Array(PERIOD));
      const token = g.next();
      g.rings[3]!.driver.add([g.put(u32s(1))], [frames, g.put(new Uint8Array(8))], token);
      bufs.push({ addr: frames.addr, token });
      g.rings[3]!.kick();
    };
    for (let i = 0; i < 4; i++) post();
    expect(await g.control(u32s(Request.PCM_START, 1))).toBe(SoundStatus.OK);
    const got: Buffer[] = [];
    await waitUntil(() => {
      for (const u of g.used[3]!.splice(0)) {
        expect(u.len).toBe(PERIOD + 8);
        const b = bufs.find((x) => x.token === u.token)!;
        const frames = new Uint8Array(PERIOD);
        g.ram.memory.read(b.addr, frames);
        got.push(Buffer.from(frames));
        if (got.length + 3 < 6) post();
      }
      return got.length === 6;
    }, 'the capture');
    expect(Buffer.concat(got).equals(clip)).toBe(true);
    for (const req of [u32s(Request.PCM_STOP, 1), u32s(Request.PCM_RELEASE, 1)]) expect(await g.control(req)).toBe(SoundStatus.OK);
    d.stop();
    expect(await d.code).toBe(0);
    expect(d.log()).toMatch(/stream 1 \(input\): 11520 bytes in 6 buffers/);
  });
});
