/**
 * The backend request channel (BACKEND_REQ, SET_BACKEND_REQ_FD, CONFIG_CHANGE_MSG), end to end:
 * a BlockDevice behind VhostUserBackend, driven by the public frontend, is resized and the
 * frontend hears of it and reads the new capacity, with and without REPLY_ACK; and frontends that
 * never answer, answer wrongly, refuse, or close the channel only produce backend events.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { BlockDevice, MemoryBackend } from '@vmv/block';
import { UnixStream } from '@vmv/sys';
import { SUPPORTED_PROTOCOL_FEATURES } from '@vmv/vhost-user';
import { SharedGuestMemory, VhostUserFrontend, type VhostUserFrontendEvent } from '@vmv/vhost-user/frontend';
import {
  HeaderFlags,
  ProtocolFeature,
  VhostUserBackendRequest,
  VhostUserRequest as Q,
  encodeAckReply,
  encodeU64Reply,
  protocolFeatureMask,
} from '@vmv/vhost-user/protocol';
import { Frontend, HANG_MS, until } from './frontend';
import { releaseTracked, startBackend, track } from './harness';

afterEach(releaseTracked);

const PACKED = 1n << 34n;
const CONFIG_CHANGE = VhostUserBackendRequest.CONFIG_CHANGE_MSG;

function capacityOf(bytes: Uint8Array): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true);
}

/** A BlockDevice (1 MiB, 2048 sectors advertised) behind a backend, and a frontend that set it up and activated it. */
async function blockSession(replyAck: boolean, options: { backendRequestTimeoutMs?: number } = {}) {
  const device = new BlockDevice({ backend: new MemoryBackend(4 << 20) });
  device.resize(2048);
  const served = startBackend('bc', device, options);
  const events: VhostUserFrontendEvent[] = [];
  const fe = track(VhostUserFrontend.connect(served.path, { replyTimeoutMs: HANG_MS, onEvent: (e) => events.push(e) }));
  const ram = track(SharedGuestMemory.create(1 << 20, { name: 'vu-bc' }));
  const offered = await fe.getFeatures();
  await fe.setOwner();
  const wanted = [ProtocolFeature.CONFIG, ProtocolFeature.BACKEND_REQ, ...(replyAck ? [ProtocolFeature.REPLY_ACK] : [])];
  await fe.setProtocolFeatures((await fe.getProtocolFeatures()) & protocolFeatureMask(wanted));
  await fe.setFeatures(offered & ~PACKED);
  await fe.setMemTable(ram);
  await fe.setBackendReqFd();
  await fe.setupVring(0, { memory: ram, size: 64, address: 0x1_0000 });
  await until(() => served.events.some((e) => e.type === 'activated'), HANG_MS, 'device activation');
  return { ...served, device, fe, feEvents: events };
}

const configChanges = (events: VhostUserFrontendEvent[]): number => events.filter((e) => e.type === 'config-changed').length;

describe('CONFIG_CHANGE_MSG reaches the frontend, which re-reads the config space', () => {
  it('offers BACKEND_REQ', () => {
    expect((SUPPORTED_PROTOCOL_FEATURES >> BigInt(ProtocolFeature.BACKEND_REQ)) & 1n).toBe(1n);
  });

  for (const replyAck of [true, false]) {
    it(`device.resize(n) shows the new capacity (${replyAck ? 'with' : 'without'} REPLY_ACK)`, async () => {
      const s = await blockSession(replyAck);
      expect(capacityOf(await s.fe.getConfig(0, 8))).toBe(2048n);
      s.device.resize(4096);
      await until(() => configChanges(s.feEvents) === 1, HANG_MS, 'CONFIG_CHANGE_MSG');
      expect(capacityOf(await s.fe.getConfig(0, 8))).toBe(4096n);
      s.device.resize(8192);
      await until(() => configChanges(s.feEvents) === 2, HANG_MS, 'a second CONFIG_CHANGE_MSG');
      expect(capacityOf(await s.fe.getConfig(0, 8))).toBe(8192n);
      expect(s.feEvents.filter((e) => e.type !== 'config-changed')).toEqual([]);
      expect(s.events.filter((e) => e.type === 'request-failed' || e.type === 'backend-request-failed' || e.type === 'disconnected')).toEqual([]);
    });
  }

  it('coalesces changes made while a message awaits its answer (REPLY_ACK)', async () => {
    const s = await blockSession(true);
    for (let n = 1; n <= 20; n++) s.device.resize(2048 + n * 8);
    await until(() => configChanges(s.feEvents) >= 1, HANG_MS, 'CONFIG_CHANGE_MSG');
    // the last change is always told: once the first answer is in, one more message covers the rest
    await until(() => configChanges(s.feEvents) >= 2, HANG_MS, 'the coalesced CONFIG_CHANGE_MSG');
    expect(capacityOf(await s.fe.getConfig(0, 8))).toBe(2048n + 160n);
    expect(configChanges(s.feEvents)).toBeLessThanOrEqual(2);
  });

  it('sends nothing when the frontend did not negotiate CONFIG (it could not re-read the config space)', async () => {
    const device = new BlockDevice({ backend: new MemoryBackend(1 << 20) });
    const served = startBackend('bc-nocfg', device);
    const raw = track(new Frontend(served.path));
    const [ours, theirs] = UnixStream.pair();
    track(ours);
    await raw.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: protocolFeatureMask([ProtocolFeature.BACKEND_REQ]) });
    await raw.request({ request: Q.SET_BACKEND_REQ_FD, needReply: false, fd: theirs.fd });
    theirs.close();
    expect(await raw.u64({ request: Q.GET_FEATURES, needReply: false })).toBeGreaterThan(0n); // the fd was taken
    (served.backend as unknown as { connection: { signalConfigChange(): void } }).connection.signalConfigChange();
    await raw.u64({ request: Q.GET_FEATURES, needReply: false });
    expect(ours.recvmsg(new Uint8Array(64))).toBeNull();
  });
});

/**
 * A frontend that hands over its own socketpair end and plays the channel by hand: it reads the
 * backend's messages off `ours` and answers (or not) as the test says.
 */
async function handChannel(tag: string, replyAck: boolean, timeoutMs = HANG_MS) {
  const device = new BlockDevice({ backend: new MemoryBackend(1 << 20) });
  const served = startBackend(tag, device, { backendRequestTimeoutMs: timeoutMs });
  const raw = track(new Frontend(served.path));
  const [ours, theirs] = UnixStream.pair();
  track(ours);
  const wanted = [ProtocolFeature.CONFIG, ProtocolFeature.BACKEND_REQ, ...(replyAck ? [ProtocolFeature.REPLY_ACK] : [])];
  await raw.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: protocolFeatureMask(wanted) });
  await raw.request({ request: Q.SET_BACKEND_REQ_FD, needReply: false, fd: theirs.fd });
  theirs.close();
  await raw.u64({ request: Q.GET_FEATURES, needReply: false }); // the backend has taken the channel
  const change = (): void => (served.backend as unknown as { connection: { signalConfigChange(): void } }).connection.signalConfigChange();
  /** Waits for one CONFIG_CHANGE_MSG header on `ours`. */
  const receive = async (): Promise<{ request: number; flags: number; size: number }> => {
    const buf = new Uint8Array(12);
    let got = 0;
    await until(
      () => {
        const r = ours.recvmsg(buf.subarray(got));
        if (r !== null) got += r.bytesRead;
        return got === 12;
      },
      HANG_MS,
      'a backend request',
    );
    const v = new DataView(buf.buffer);
    return { request: v.getUint32(0, true), flags: v.getUint32(4, true), size: v.getUint32(8, true) };
  };
  const failures = () => served.events.flatMap((e) => (e.type === 'backend-request-failed' ? [String((e.error as { name?: unknown }).name)] : []));
  return { ...served, raw, ours, change, receive, failures };
}

describe('a frontend that misbehaves on the channel only produces backend events', () => {
  it('the message has the vhost-user header: request 2, VERSION|NEED_REPLY under REPLY_ACK, no payload', async () => {
    const h = await handChannel('bc-wire', true);
    h.change();
    expect(await h.receive()).toEqual({ request: CONFIG_CHANGE, flags: HeaderFlags.VERSION | HeaderFlags.NEED_REPLY, size: 0 });
    h.ours.sendmsg(encodeAckReply(CONFIG_CHANGE, true));
    h.change();
    expect(await h.receive()).toEqual({ request: CONFIG_CHANGE, flags: HeaderFlags.VERSION | HeaderFlags.NEED_REPLY, size: 0 });
    const plain = await handChannel('bc-wire2', false);
    plain.change();
    expect(await plain.receive()).toEqual({ request: CONFIG_CHANGE, flags: HeaderFlags.VERSION, size: 0 });
    expect([...h.failures(), ...plain.failures()]).toEqual([]);
  });

  it('never answers: a ReplyTimeoutError event, the channel closes, the connection goes on', async () => {
    const h = await handChannel('bc-silent', true, 50);
    h.change();
    await h.receive();
    h.change(); // coalesced while waiting: nothing more is queued
    await until(() => h.failures().length === 1, HANG_MS, 'the timeout event');
    expect(h.failures()).toEqual(['VhostUser.ReplyTimeoutError']);
    await until(() => h.ours.recvmsg(new Uint8Array(16))?.bytesRead === 0, HANG_MS, 'the channel to close');
    expect(await h.raw.u64({ request: Q.GET_FEATURES, needReply: false })).toBeGreaterThan(0n);
    h.change(); // no channel any more: nothing happens
    expect(h.events.some((e) => e.type === 'disconnected')).toBe(false);
  });

  it('answers another request, or with a bad size: an InvalidReplyError / BodySizeError event and the channel closes', async () => {
    const h = await handChannel('bc-wrong', true);
    h.change();
    await h.receive();
    h.ours.sendmsg(encodeAckReply(Q.GET_FEATURES, true));
    await until(() => h.failures().length === 1, HANG_MS, 'the event');
    expect(h.failures()).toEqual(['VhostUser.InvalidReplyError']);
    const h2 = await handChannel('bc-size', true);
    h2.change();
    await h2.receive();
    const short = encodeU64Reply(CONFIG_CHANGE, 0n);
    new DataView(short.buffer).setUint32(8, 4, true);
    h2.ours.sendmsg(short.subarray(0, 16));
    await until(() => h2.failures().length === 1, HANG_MS, 'the event');
    expect(h2.failures()).toEqual(['VhostUser.BodySizeError']);
    expect(await h2.raw.u64({ request: Q.GET_FEATURES, needReply: false })).toBeGreaterThan(0n);
  });

  it('refuses (status 1): a RequestRejectedError event, and the channel stays for the next change', async () => {
    const h = await handChannel('bc-nack', true);
    h.change();
    await h.receive();
    h.ours.sendmsg(encodeAckReply(CONFIG_CHANGE, false));
    await until(() => h.failures().length === 1, HANG_MS, 'the event');
    expect(h.failures()).toEqual(['VhostUser.RequestRejectedError']);
    h.change();
    expect((await h.receive()).request).toBe(CONFIG_CHANGE);
  });

  it('answers what was not asked (no REPLY_ACK): an InvalidReplyError event', async () => {
    const h = await handChannel('bc-unasked', false);
    h.ours.sendmsg(encodeAckReply(CONFIG_CHANGE, true));
    await until(() => h.failures().length === 1, HANG_MS, 'the event');
    expect(h.failures()).toEqual(['VhostUser.InvalidReplyError']);
  });

  it('closes the channel with a message in flight: a DisconnectedError event, no crash', async () => {
    const h = await handChannel('bc-close', true);
    h.change();
    await h.receive();
    h.ours.close();
    await until(() => h.failures().length === 1, HANG_MS, 'the event');
    expect(h.failures()).toEqual(['VhostUser.DisconnectedError']);
    h.change();
    expect(await h.raw.u64({ request: Q.GET_FEATURES, needReply: false })).toBeGreaterThan(0n);
  });

  it('a new SET_BACKEND_REQ_FD replaces the channel (the old one is closed)', async () => {
    const h = await handChannel('bc-replace', false);
    const [ours2, theirs2] = UnixStream.pair();
    track(ours2);
    await h.raw.request({ request: Q.SET_BACKEND_REQ_FD, needReply: false, fd: theirs2.fd });
    theirs2.close();
    await h.raw.u64({ request: Q.GET_FEATURES, needReply: false });
    await until(() => h.ours.recvmsg(new Uint8Array(16))?.bytesRead === 0, HANG_MS, 'the old channel to close');
    h.change();
    const buf = new Uint8Array(12);
    await until(() => ours2.recvmsg(buf) !== null, HANG_MS, 'the message on the new channel');
    expect(new DataView(buf.buffer).getUint32(0, true)).toBe(CONFIG_CHANGE);
  });
});
