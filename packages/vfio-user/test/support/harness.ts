/** A session over a {@link FakeHost} and a {@link TestDevice}, driven by the QEMU client model. */
import { VfioUserSession, type VfioUserEvent, type VfioUserSessionOptions } from '@vmv/vfio-user';
import { parse, qemu, type Reply } from './client';
import { TestDevice } from './device';
import { FakeHost } from './fake-host';

export function harness(options: VfioUserSessionOptions = {}, device = new TestDevice()) {
  const host = new FakeHost();
  const events: VfioUserEvent[] = [];
  const session = new VfioUserSession(device, host, { ...options, onEvent: (e) => events.push(e) });
  /** Sends a command; returns its reply (null when none was sent). */
  const send = (message: Uint8Array, fds: number[] = []): Reply | null => {
    const pending = session.handleMessage(message, fds);
    if (pending !== undefined) throw new Error('asynchronous answer: use sendAsync');
    const out = host.take();
    if (out.length > 1) throw new Error(`${out.length} messages sent`);
    return out.length === 0 ? null : parse(out[0]!);
  };
  const sendAsync = async (message: Uint8Array, fds: number[] = []): Promise<Reply | null> => {
    await session.handleMessage(message, fds);
    const out = host.take();
    return out.length === 0 ? null : parse(out[0]!);
  };
  const negotiate = (): Reply => send(qemu.version())!;
  return { host, device, session, events, send, sendAsync, negotiate };
}
