/**
 * The public frontend against a hostile backend: a fake server on the other end of a real
 * socketpair answers each request wrongly in one way (wrong request code, no REPLY flag, wrong
 * size, fds, truncated, closed, silent, oversized, bad version, unasked). Every case ends in a
 * typed VhostUser error from the call, a closed frontend, no fd and no timer left; and the
 * frontend's side of the backend request channel answers what it must and survives the rest.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { EventFd, UnixStream } from '@vmv/sys';
import { SharedGuestMemory, VhostUserFrontend, type VhostUserFrontendEvent } from '@vmv/vhost-user/frontend';
import {
  HeaderFlags,
  ProtocolFeature,
  VHOST_USER_ERROR_NAMES,
  VhostUserBackendRequest,
  VhostUserRequest as Q,
  encodeAckReply,
  encodeConfigReply,
  encodeMessage,
  encodeU64Reply,
  encodeVringStateReply,
  isVhostUserError,
  protocolFeatureMask,
} from '@vmv/vhost-user/protocol';
import { HANG_MS, openFdCount, until } from './frontend';
import { releaseTracked, track } from './harness';

afterEach(releaseTracked);

/** The backend end of the socketpair, read by hand. */
class FakeBackend {
  private rx = new Uint8Array(0);
  private fds: number[] = [];
  constructor(readonly stream: UnixStream) {}

  /** Waits for one whole request; returns its header fields and the fds that came with it. */
  async next(): Promise<{ request: number; flags: number; size: number; fds: number[]; body: Uint8Array }> {
    const chunk = new Uint8Array(4096);
    const whole = (): boolean => this.rx.length >= 12 && this.rx.length >= 12 + new DataView(this.rx.buffer, this.rx.byteOffset).getUint32(8, true);
    await until(
      () => {
        const got = this.stream.recvmsg(chunk);
        if (got !== null) {
          const n = new Uint8Array(this.rx.length + got.bytesRead);
          n.set(this.rx);
          n.set(chunk.subarray(0, got.bytesRead), this.rx.length);
          this.rx = n;
          this.fds.push(...got.fds);
        }
        return whole();
      },
      HANG_MS,
      'a request from the frontend',
    );
    const v = new DataView(this.rx.buffer, this.rx.byteOffset);
    const size = v.getUint32(8, true);
    const h = { request: v.getUint32(0, true), flags: v.getUint32(4, true), size, fds: this.fds, body: this.rx.slice(12, 12 + size) };
    this.rx = this.rx.slice(12 + size);
    this.fds = [];
    return h;
  }

  send(bytes: Uint8Array, fds: number[] = []): void {
    this.stream.sendmsg(bytes, fds);
  }

  close(): void {
    this.stream.close();
  }
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/**
 * The frontend's reply timers are gone: the process's timer count is back to `before`. Counted
 * process-wide, so a timer of something else (a socket, the test runner) may still be live for a
 * moment: wait for it, for less than the frontend's reply timeout (HANG_MS), so a reply timer the
 * frontend leaked still fails here.
 */
async function timersBackTo(before: number): Promise<void> {
  await until(() => timers() <= before, HANG_MS / 4, `the timer count to return to ${before} (now ${timers()})`);
}

function pair(options: { replyTimeoutMs?: number } = {}) {
  const [a, b] = UnixStream.pair();
  const events: VhostUserFrontendEvent[] = [];
  const fe = track(new VhostUserFrontend(a, { replyTimeoutMs: options.replyTimeoutMs ?? HANG_MS, onEvent: (e) => events.push(e) }));
  const be = track(new FakeBackend(b));
  return { fe, be, events };
}

/** Runs `call` against a fake backend that answers with `answer`; expects the named error and a clean end. */
async function hostile(name: string, call: (fe: VhostUserFrontend) => Promise<unknown>, answer: (be: FakeBackend, req: { request: number; fds: number[] }) => void, replyTimeoutMs?: number) {
  const fds = openFdCount();
  const before = timers();
  const { fe, be, events } = pair({ replyTimeoutMs });
  const result = call(fe).then(
    () => null,
    (e: unknown) => e,
  );
  const req = await be.next();
  answer(be, req);
  const error = await result;
  expect(error).not.toBeNull();
  expect((error as Error).name).toBe(name);
  expect(isVhostUserError(error)).toBe(true);
  expect(fe.isClosed).toBe(true);
  expect(events.at(-1)).toMatchObject({ type: 'closed' });
  // a later call fails at once, with the same error
  await expect(fe.getFeatures()).rejects.toMatchObject({ name });
  be.close();
  await timersBackTo(before);
  expect(openFdCount()).toBe(fds);
}

const U64 = 8;

/** The frontend is still open and a request still gets its answer. */
async function expectUsable(fe: VhostUserFrontend, be: FakeBackend): Promise<void> {
  expect(fe.isClosed).toBe(false);
  const features = fe.getFeatures();
  await be.next();
  be.send(encodeU64Reply(Q.GET_FEATURES, 42n));
  expect(await features).toBe(42n);
}

describe('malformed replies reject with a typed error and close the frontend cleanly', () => {
  it('a reply to another request', () => hostile('VhostUser.InvalidReplyError', (fe) => fe.getFeatures(), (be) => be.send(encodeU64Reply(Q.GET_PROTOCOL_FEATURES, 1n))));
  it('no REPLY flag', () => hostile('VhostUser.InvalidReplyError', (fe) => fe.getFeatures(), (be) => be.send(encodeMessage(Q.GET_FEATURES, HeaderFlags.VERSION, new Uint8Array(U64)))));
  it('need_reply set on a reply', () =>
    hostile('VhostUser.InvalidReplyError', (fe) => fe.getFeatures(), (be) => be.send(encodeMessage(Q.GET_FEATURES, HeaderFlags.VERSION | HeaderFlags.REPLY | HeaderFlags.NEED_REPLY, new Uint8Array(U64)))));
  it('a bad version', () => hostile('VhostUser.VersionError', (fe) => fe.getFeatures(), (be) => be.send(encodeMessage(Q.GET_FEATURES, 2 | HeaderFlags.REPLY, new Uint8Array(U64)))));
  it('a payload of the wrong size', () => hostile('VhostUser.BodySizeError', (fe) => fe.getFeatures(), (be) => be.send(encodeMessage(Q.GET_FEATURES, 5, new Uint8Array(4)))));
  it('a payload over 0x1000 bytes announced', () =>
    hostile('VhostUser.OversizedMessageError', (fe) => fe.getFeatures(), (be) => {
      const m = encodeU64Reply(Q.GET_FEATURES, 0n);
      new DataView(m.buffer).setUint32(8, 0x1001, true);
      be.send(m);
    }));
  it('fds with a reply', () =>
    hostile('VhostUser.IncorrectFdsError', (fe) => fe.getFeatures(), (be) => {
      const ev = new EventFd();
      be.send(encodeU64Reply(Q.GET_FEATURES, 1n), [ev.fd]);
      ev.close();
    }));
  it('a truncated reply, then the socket closes', () =>
    hostile('VhostUser.DisconnectedError', (fe) => fe.getFeatures(), (be) => {
      be.send(encodeU64Reply(Q.GET_FEATURES, 1n).subarray(0, 16));
      be.close();
    }));
  it('the socket closes before the reply', () => hostile('VhostUser.DisconnectedError', (fe) => fe.getQueueNum(), (be) => be.close()));
  it('no reply at all (bounded by replyTimeoutMs)', () => hostile('VhostUser.ReplyTimeoutError', (fe) => fe.getFeatures(), () => undefined, 50));
  it('GET_VRING_BASE answered for another ring', () =>
    hostile('VhostUser.InvalidReplyError', (fe) => fe.getVringBase(1), (be) => be.send(encodeVringStateReply(Q.GET_VRING_BASE, { index: 2, num: 0 }))));
  it('GET_CONFIG answered for another range', () =>
    hostile('VhostUser.InvalidReplyError', (fe) => fe.getConfig(0, 8), (be) => be.send(encodeConfigReply({ offset: 4, size: 8, flags: 0, data: new Uint8Array(8) }))));
  it('a GET_CONFIG payload shorter than its own header says', () =>
    hostile('VhostUser.InvalidConfigError', (fe) => fe.getConfig(0, 8), (be) => {
      const m = encodeConfigReply({ offset: 0, size: 8, flags: 0, data: new Uint8Array(8) });
      be.send(encodeMessage(Q.GET_CONFIG, 5, m.subarray(12, 12 + 14)));
    }));
  it('a queue count out of range', () => hostile('VhostUser.InvalidReplyError', (fe) => fe.getQueueNum(), (be) => be.send(encodeU64Reply(Q.GET_QUEUE_NUM, 1n << 40n))));

  it('an unasked reply closes the frontend; the next call rejects with it', async () => {
    const { fe, be, events } = pair();
    be.send(encodeU64Reply(Q.GET_FEATURES, 1n));
    await until(() => fe.isClosed, HANG_MS, 'the frontend to close');
    expect(events).toEqual([{ type: 'closed', error: expect.objectContaining({ name: 'VhostUser.InvalidReplyError' }) }]);
    await expect(fe.getFeatures()).rejects.toMatchObject({ name: 'VhostUser.InvalidReplyError' });
  });

  it('a REPLY_ACK failure rejects with RequestRejectedError and keeps the frontend open; so does an empty GET_CONFIG reply', async () => {
    const { fe, be } = pair();
    const set = fe.setProtocolFeatures(protocolFeatureMask([ProtocolFeature.REPLY_ACK]));
    expect((await be.next()).flags).toBe(HeaderFlags.VERSION); // before REPLY_ACK is acked: no need_reply
    await set;
    const owner = fe.setOwner();
    expect(await be.next()).toMatchObject({ request: Q.SET_OWNER, flags: HeaderFlags.VERSION | HeaderFlags.NEED_REPLY });
    be.send(encodeAckReply(Q.SET_OWNER, false));
    await expect(owner).rejects.toMatchObject({ name: 'VhostUser.RequestRejectedError' });
    const config = fe.getConfig(0, 8);
    await be.next();
    be.send(encodeConfigReply(null));
    await expect(config).rejects.toMatchObject({ name: 'VhostUser.RequestRejectedError' });
    await expectUsable(fe, be);
  });

  it('close() rejects the request in flight with DisconnectedError and releases everything', async () => {
    const fds = openFdCount();
    const before = timers();
    const { fe, be } = pair();
    const ram = track(SharedGuestMemory.create(1 << 16));
    const pending = fe.getFeatures();
    await be.next();
    fe.close();
    await expect(pending).rejects.toMatchObject({ name: 'VhostUser.DisconnectedError' });
    be.close();
    ram.close();
    await timersBackTo(before);
    expect(openFdCount()).toBe(fds);
  });

  it('every error a call can reject with is a listed VhostUser name', () => {
    for (const n of ['VhostUser.ReplyTimeoutError', 'VhostUser.RequestRejectedError', 'VhostUser.InvalidReplyError']) expect(VHOST_USER_ERROR_NAMES).toContain(n);
  });
});

describe('the backend request channel, frontend side', () => {
  /** A frontend with its channel set up against the fake backend; `channel` is the backend's end. */
  async function withChannel() {
    const { fe, be, events } = pair();
    const set = fe.setBackendReqFd();
    const req = await be.next();
    expect(req.request).toBe(Q.SET_BACKEND_REQ_FD);
    expect(req.fds).toHaveLength(1);
    await set;
    const channel = track(new FakeBackend(UnixStream.from(req.fds[0]!)));
    return { fe, be, events, channel };
  }
  /** The next answer on the channel: header fields and its u64 status. */
  const ack = async (channel: FakeBackend) => {
    const r = await channel.next();
    return { request: r.request, flags: r.flags, size: r.size, status: new DataView(r.body.buffer).getBigUint64(0, true) };
  };

  it('CONFIG_CHANGE_MSG with need_reply: acked with 0 and surfaced as an event; without: an event only', async () => {
    const { channel, events } = await withChannel();
    channel.send(encodeMessage(VhostUserBackendRequest.CONFIG_CHANGE_MSG, HeaderFlags.VERSION | HeaderFlags.NEED_REPLY, new Uint8Array(0)));
    expect(await ack(channel)).toEqual({ request: VhostUserBackendRequest.CONFIG_CHANGE_MSG, flags: HeaderFlags.VERSION | HeaderFlags.REPLY, size: 8, status: 0n });
    expect(events).toEqual([{ type: 'config-changed' }]);
    channel.send(encodeMessage(VhostUserBackendRequest.CONFIG_CHANGE_MSG, HeaderFlags.VERSION, new Uint8Array(0)));
    await until(() => events.length === 2, HANG_MS, 'the second event');
    expect(events[1]).toEqual({ type: 'config-changed' });
  });

  it('unknown, unsupported and malformed backend requests get a failure ack, never a crash', async () => {
    const { fe, be, channel, events } = await withChannel();
    const asks: [number, Uint8Array][] = [
      [99, new Uint8Array(0)], // unknown
      [VhostUserBackendRequest.IOTLB_MSG, new Uint8Array(16)], // known, not served
      [VhostUserBackendRequest.CONFIG_CHANGE_MSG, new Uint8Array(8)], // a payload where none belongs
    ];
    for (const [request, payload] of asks) {
      channel.send(encodeMessage(request, HeaderFlags.VERSION | HeaderFlags.NEED_REPLY, payload));
      expect(await ack(channel)).toEqual({ request, flags: HeaderFlags.VERSION | HeaderFlags.REPLY, size: 8, status: 1n });
    }
    expect(events.map((e) => e.type)).toEqual(['backend-request-refused', 'backend-request-refused', 'backend-request-refused']);
    await expectUsable(fe, be);
  });

  it('bad framing or a closed channel closes the channel only', async () => {
    const { fe, channel, events } = await withChannel();
    channel.send(encodeMessage(VhostUserBackendRequest.CONFIG_CHANGE_MSG, 2, new Uint8Array(0)));
    await until(() => events.length === 1, HANG_MS, 'the channel to close');
    expect(events[0]).toMatchObject({ type: 'backend-channel-closed', error: { name: 'VhostUser.VersionError' } });
    expect(fe.isClosed).toBe(false);
    const second = await withChannel();
    second.channel.close();
    await until(() => second.events.length === 1, HANG_MS, 'the channel to close');
    expect(second.events[0]).toMatchObject({ type: 'backend-channel-closed', error: { name: 'VhostUser.DisconnectedError' } });
    expect(second.fe.isClosed).toBe(false);
  });
});
