/**
 * The backend request channel, frontend side (vhost-user.rst "Back-end communication"): the
 * socketpair whose other end the frontend gives the backend with SET_BACKEND_REQ_FD. Backend
 * requests are decoded with the protocol codecs; CONFIG_CHANGE_MSG is acknowledged when asked and
 * surfaced as an event; every other request, known or not, is answered with a failure when an
 * answer is asked for. A channel the backend breaks (bad framing, closed) is closed and reported;
 * the main connection carries on.
 *
 * @module
 */

import type { UnixStream } from '@vmv/sys';
import { decodeBackendRequest } from '../protocol/backend-request.js';
import { HeaderFlags, VhostUserBackendRequest } from '../protocol/constants.js';
import { encodeAckReply } from '../protocol/encoder.js';
import { validateBackendRequestHeader, type VhostUserHeader } from '../protocol/header.js';
import { safeClose } from '../channel/fd.js';
import { MessageChannel, type MessageChannelHost } from '../channel/message-channel.js';

/**
 * What the backend request channel reports to its frontend; part of `VhostUserFrontendEvent`.
 *
 * @example
 * ```ts
 * function onBackendRequest(e: BackendRequestEvent): void {
 *   if (e.type === 'config-changed') console.log('the device config changed: read it again');
 * }
 * ```
 */
export type BackendRequestEvent =
  | {
      /** The backend sent CONFIG_CHANGE_MSG: read the config space again. */
      readonly type: 'config-changed';
    }
  | {
      /** A backend request was refused (unknown code, bad payload). */
      readonly type: 'backend-request-refused';
      /** The request code of the refused message. */
      readonly request: number;
      /** Why: a typed `@vmv` error. */
      readonly error: unknown;
    }
  | {
      /** The backend request channel closed or broke. */
      readonly type: 'backend-channel-closed';
      /** Why, when it did not close cleanly. */
      readonly error: unknown;
    };

/**
 * Serves backend requests on the frontend's end of the channel. Not exported from the package.
 * @internal
 */
export class BackendRequestServer implements MessageChannelHost {
  private readonly channel: MessageChannel;

  /**
   * @param stream - the frontend's end of the socketpair (owned from now on)
   * @param report - receives what the backend asked, and failures
   */
  constructor(
    stream: UnixStream,
    private readonly report: (e: BackendRequestEvent) => void,
  ) {
    this.channel = new MessageChannel(stream, this, validateBackendRequestHeader);
    this.channel.start();
  }

  /** Closes the channel. Idempotent. */
  close(): void {
    this.channel.close();
  }

  /** {@link MessageChannelHost}: one backend request. */
  onMessage(header: VhostUserHeader, body: Uint8Array, fds: number[], headerError: unknown): undefined {
    const needReply = (header.flags & HeaderFlags.NEED_REPLY) !== 0;
    let ok = false;
    try {
      if (headerError !== null) throw headerError;
      decodeBackendRequest(header, body, fds);
      ok = true;
    } catch (e) {
      this.report({ type: 'backend-request-refused', request: header.request, error: e });
    } finally {
      for (const fd of fds) safeClose(fd);
    }
    if (needReply) this.channel.send(encodeAckReply(header.request, ok));
    if (ok && header.request === VhostUserBackendRequest.CONFIG_CHANGE_MSG) this.report({ type: 'config-changed' });
    return undefined;
  }

  /** {@link MessageChannelHost}: the backend broke or closed the channel. */
  failed(error: unknown): void {
    if (this.channel.isClosed) return;
    this.channel.close();
    this.report({ type: 'backend-channel-closed', error });
  }
}
