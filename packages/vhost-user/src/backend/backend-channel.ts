/**
 * The backend request channel, backend side (vhost-user.rst "Back-end communication",
 * VHOST_USER_PROTOCOL_F_BACKEND_REQ): the socket the frontend handed over with
 * SET_BACKEND_REQ_FD, on which the backend sends CONFIG_CHANGE_MSG when its device reports a
 * configuration change (the frontend re-reads the config space with GET_CONFIG and interrupts
 * the driver).
 *
 * With REPLY_ACK the message asks for an answer, read asynchronously: the event loop never waits
 * for the frontend. At most one message is outstanding (in flight, or unwritten because the
 * frontend does not read); changes reported meanwhile are coalesced into one more message once it
 * is answered. A bad, failed, missing or late answer is reported as a `backend-request-failed`
 * event; a channel that cannot go on (bad framing, late answer, closed by the frontend) is closed
 * and the connection itself carries on.
 *
 * @module
 */

import type { UnixStream } from '@vmv/sys';
import { PayloadSize, VhostUserBackendRequest } from '../protocol/constants.js';
import { checkReply, encodeBackendRequest, readU64Reply } from '../protocol/backend-request.js';
import { validateReplyHeader, type VhostUserHeader } from '../protocol/header.js';
import { InvalidReplyError, ReplyTimeoutError, RequestRejectedError } from '../errors.js';
import { safeClose } from '../channel/fd.js';
import { MessageChannel, type MessageChannelHost } from '../channel/message-channel.js';

const CONFIG_CHANGE = VhostUserBackendRequest.CONFIG_CHANGE_MSG;

/**
 * What the backend request channel reports: a backend event, part of `VhostUserBackendEvent`.
 *
 * @example
 * ```ts
 * const backend = new VhostUserBackend(device, {
 *   onEvent: (e) => { if (e.type === 'backend-request-failed') console.warn('config change not delivered:', e.error); },
 * });
 * ```
 */
export interface BackendChannelFailure {
  /** The frontend refused, answered wrongly, late or not at all a backend request. */
  readonly type: 'backend-request-failed';
  /** The backend request code (CONFIG_CHANGE_MSG). */
  readonly request: number;
  /** Why: a typed `@vmv` error (`VhostUser.RequestRejectedError`, `VhostUser.ReplyTimeoutError`, ...). */
  readonly error: unknown;
}

/**
 * One backend request channel. Not exported from the package.
 * @internal
 */
export class BackendChannel implements MessageChannelHost {
  private readonly channel: MessageChannel;
  private awaiting = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** A change came while a message was outstanding: send one more afterwards. */
  private changePending = false;

  /**
   * @param stream - the backend's end of the frontend's socketpair (owned from now on)
   * @param needReply - whether REPLY_ACK was negotiated (messages ask for an answer)
   * @param replyTimeoutMs - how long an answer may take
   * @param report - receives failures
   */
  constructor(
    stream: UnixStream,
    private readonly needReply: boolean,
    private readonly replyTimeoutMs: number,
    private readonly report: (failure: BackendChannelFailure) => void,
  ) {
    this.channel = new MessageChannel(stream, this, validateReplyHeader);
    this.channel.start();
  }

  /** Whether the channel has ended (then a new SET_BACKEND_REQ_FD is needed). */
  get isClosed(): boolean {
    return this.channel.isClosed;
  }

  /** The device's configuration changed: tell the frontend, or remember to once it has answered. */
  configChanged(): void {
    if (this.channel.isClosed) return;
    if (this.awaiting) {
      this.changePending = true;
      return;
    }
    // a message still unwritten (the frontend is not reading) will make it re-read the config: enough
    if (this.channel.sending) return;
    this.changePending = false;
    if (this.needReply) {
      this.awaiting = true;
      this.timer = setTimeout(() => this.fail(new ReplyTimeoutError({ request: CONFIG_CHANGE, timeoutMs: this.replyTimeoutMs })), this.replyTimeoutMs);
    }
    this.channel.send(encodeBackendRequest({ request: CONFIG_CHANGE, needReply: this.needReply }));
  }

  /** Closes the channel (a replaced channel, the connection's end). Idempotent. */
  close(): void {
    this.clearTimer();
    this.awaiting = false;
    this.changePending = false;
    this.channel.close();
  }

  /** {@link MessageChannelHost}: an answer from the frontend. */
  onMessage(header: VhostUserHeader, body: Uint8Array, fds: number[]): undefined {
    for (const fd of fds) safeClose(fd);
    if (!this.awaiting) {
      this.fail(new InvalidReplyError('an answer to no request', { request: header.request }));
      return undefined;
    }
    let status: bigint;
    try {
      status = readU64Reply(checkReply(header, body, fds, CONFIG_CHANGE, PayloadSize.U64));
    } catch (e) {
      this.fail(e);
      return undefined;
    }
    this.clearTimer();
    this.awaiting = false;
    if (status !== 0n) this.report({ type: 'backend-request-failed', request: CONFIG_CHANGE, error: new RequestRejectedError({ request: CONFIG_CHANGE, status }) });
    if (this.changePending) this.configChanged();
    return undefined;
  }

  /** {@link MessageChannelHost}: framing error, end of stream, socket error. */
  failed(error: unknown): void {
    this.fail(error);
  }

  private fail(error: unknown): void {
    if (this.channel.isClosed) return;
    this.close();
    this.report({ type: 'backend-request-failed', request: CONFIG_CHANGE, error });
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
