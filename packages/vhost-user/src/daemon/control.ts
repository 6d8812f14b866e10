/**
 * The control socket of a daemon (`--control-socket PATH`): a unix socket on which a program
 * changes a running daemon (vmv-vhost-user-scsi adds and removes LUNs there). The protocol is
 * QMP's shape, one JSON object a line each way: a request
 * `{"execute": "NAME", "arguments": {...}, "id": ANY}` gets exactly one reply,
 * `{"return": VALUE, "id": ANY}` or `{"error": {"class": CLASS, "desc": TEXT}, "id": ANY}`
 * (`id` echoed when given). Classes: `CommandNotFound`, `InvalidRequest` (not JSON, not an
 * object, no `execute`, arguments not an object), `InvalidArgument` (the command refused its
 * arguments: a {@link ControlError}), `Failed` (the command threw anything else; logged). A
 * line longer than 64 KiB is refused and the connection closed. Commands run one at a time,
 * from every connection, in the order they arrived. `help` lists the commands.
 * @module
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { VmvErrorOptions } from '@vmv/errors';
import { VhostUserError, isVhostUserError } from '../errors.js';
import type { DaemonLog } from './log.js';
import { listenUnix } from './socket.js';

/**
 * A command of the control socket.
 * @example
 * ```ts
 * const count: ControlCommand<ServedDevice> = { help: 'the devices served', run: (_args, devices) => devices.length };
 * ```
 */
export interface ControlCommand<D> {
  /** One line: what it does and returns. */
  readonly help: string;
  /** Its arguments as `--help` shows them, e.g. `{"lun": N}` (default: none). */
  readonly arguments?: string;
  /**
   * Runs the command.
   * @param args - the request's `arguments` (an object; `{}` when absent).
   * @param devices - what `createDevice` returned, one per socket.
   * @param log - the daemon's log.
   * @returns the value of the reply's `return` (JSON-serialisable; `undefined` becomes `{}`).
   * @throws VhostUser.ControlError for arguments it refuses (class `InvalidArgument`).
   */
  run(args: Readonly<Record<string, unknown>>, devices: readonly D[], log: DaemonLog): unknown;
}

/**
 * A control command's arguments refused: the reply's error class is `InvalidArgument`.
 * @example
 * ```ts
 * throw new ControlError('lun must be an integer in 0..16383, got "a"');
 * ```
 */
export class ControlError extends VhostUserError {
  override readonly name = 'VhostUser.ControlError' as const;
  /** @param shortMessage - the problem, one line @param options - `details`, `cause` */
  constructor(shortMessage: string, options: VmvErrorOptions = {}) {
    super('CONTROL', shortMessage, options);
  }
}

/** Longest request line (bytes); a longer one closes the connection. @example `Buffer.byteLength(line) <= MAX_CONTROL_LINE` */
export const MAX_CONTROL_LINE = 64 << 10;

/**
 * A reply of the control socket: the command's value ({@link ControlReturn}) or an error
 * ({@link ControlFailure}).
 * @example `const r: ControlReply = { error: { class: 'CommandNotFound', desc: 'no command "x"' } };`
 */
export type ControlReply = ControlReturn | ControlFailure;
type Reply = ControlReply;

/**
 * The reply to a command that ran.
 * @example `{ return: [{ target: 0, lun: 0 }], id: 7 }`
 */
export interface ControlReturn {
  /** The command's value (`{}` when it has none). */
  readonly return: unknown;
  /** The request's `id`, when it had one. */
  readonly id?: unknown;
}

/**
 * The reply to a request refused or failed.
 * @example `{ error: { class: 'InvalidArgument', desc: '"lun" must be an integer in 0..16383, got "x"' } }`
 */
export interface ControlFailure {
  /** What went wrong. */
  readonly error: ControlErrorInfo;
  /** The request's `id`, when it had one. */
  readonly id?: unknown;
}

/**
 * The error of a {@link ControlFailure}.
 * @example `{ class: 'CommandNotFound', desc: 'no command "x"; "help" lists them' }`
 */
export interface ControlErrorInfo {
  /** CommandNotFound, InvalidRequest, InvalidArgument or Failed. */
  readonly class: string;
  /** One line: the problem. */
  readonly desc: string;
}

/**
 * A listening control socket.
 * @example
 * ```ts
 * const control = await ControlServer.listen('/run/scsi.ctl', commands, () => served, log);
 * await control.close();
 * ```
 */
export class ControlServer<D> {
  private readonly connections = new Set<Socket>();
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    /** The socket path. */
    readonly path: string,
    private readonly server: Server,
    private readonly commands: Readonly<Record<string, ControlCommand<D>>>,
    private readonly devices: () => readonly D[],
    private readonly log: DaemonLog,
  ) {
    server.on('connection', (socket) => this.serve(socket));
  }

  /**
   * Listens on `path` (a stale socket file is replaced).
   * @param path - the socket path.
   * @param commands - the daemon's commands (`help` is added).
   * @param devices - the devices served, at the time of each command.
   * @param log - the daemon's log.
   * @returns the server, listening.
   * @throws VhostUser.SocketError when the path cannot be listened on.
   * @example
   * ```ts
   * await ControlServer.listen(path, def.control, () => served, log);
   * ```
   */
  static async listen<D>(path: string, commands: Readonly<Record<string, ControlCommand<D>>>, devices: () => readonly D[], log: DaemonLog): Promise<ControlServer<D>> {
    const server = createServer({ allowHalfOpen: true });
    await listenUnix(server, path);
    log.info(`control socket: listening on ${path}`);
    return new ControlServer(path, server, commands, devices, log);
  }

  /**
   * Stops listening, closes the connections and removes the socket file; a command running
   * finishes first.
   * @returns a promise.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.destroy();
    await closed;
    await this.queue;
  }

  private serve(socket: Socket): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => undefined);
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() !== '') this.enqueue(socket, line);
      }
      if (Buffer.byteLength(pending) > MAX_CONTROL_LINE) {
        pending = '';
        write(socket, { error: { class: 'InvalidRequest', desc: `request line longer than ${MAX_CONTROL_LINE} bytes` } });
        socket.end();
        socket.pause();
      }
    });
    socket.on('end', () => {
      if (pending.trim() !== '') this.enqueue(socket, pending);
      pending = '';
      void this.queue.then(() => socket.end());
    });
  }

  private enqueue(socket: Socket, line: string): void {
    this.queue = this.queue.then(async () => write(socket, await this.execute(line)));
  }

  /**
   * One request line to its reply; never throws.
   * @param line - the request.
   * @returns the reply.
   */
  private async execute(line: string): Promise<Reply> {
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch {
      return { error: { class: 'InvalidRequest', desc: 'the request is not JSON' } };
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) return { error: { class: 'InvalidRequest', desc: 'the request must be a JSON object' } };
    const { execute, arguments: args, id } = request as { execute?: unknown; arguments?: unknown; id?: unknown };
    const reply = (r: Reply): Reply => (id === undefined ? r : { ...r, id });
    if (typeof execute !== 'string') return reply({ error: { class: 'InvalidRequest', desc: 'the request has no "execute" string' } });
    if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
      return reply({ error: { class: 'InvalidRequest', desc: '"arguments" must be a JSON object' } });
    }
    if (execute === 'help') return reply({ return: this.help() });
    const command = Object.hasOwn(this.commands, execute) ? this.commands[execute] : undefined;
    if (command === undefined) return reply({ error: { class: 'CommandNotFound', desc: `no command "${execute}"; "help" lists them` } });
    try {
      const value = await command.run((args ?? {}) as Record<string, unknown>, this.devices(), this.log);
      this.log.info(`control: ${execute} done`);
      return reply({ return: value === undefined ? {} : value });
    } catch (e) {
      if (isVhostUserError(e, 'VhostUser.ControlError')) {
        this.log.warn(`control: ${execute} refused: ${(e as ControlError).shortMessage}`);
        return reply({ error: { class: 'InvalidArgument', desc: (e as ControlError).shortMessage } });
      }
      const desc = e instanceof Error ? ((e as { shortMessage?: string }).shortMessage ?? e.message) : String(e);
      this.log.error(`control: ${execute} failed: ${desc}`);
      return reply({ error: { class: 'Failed', desc } });
    }
  }

  private help(): { name: string; arguments: string; help: string }[] {
    return [
      { name: 'help', arguments: '', help: 'this list' },
      ...Object.entries(this.commands).map(([name, c]) => ({ name, arguments: c.arguments ?? '', help: c.help })),
    ];
  }
}

/**
 * The control commands as `--help` lists them.
 * @param commands - the daemon's commands.
 * @returns the lines (empty without commands).
 * @example `controlHelp({ 'lun-list': { help: 'the LUNs', run: () => [] } })`
 */
export function controlHelp(commands: Readonly<Record<string, ControlCommand<unknown>>>): string {
  const names = Object.keys(commands);
  if (names.length === 0) return '';
  const rows = names.map((n) => [`${n} ${commands[n]!.arguments ?? ''}`.trimEnd(), commands[n]!.help] as const);
  const width = Math.max(...rows.map(([a]) => a.length));
  return `Control socket (--control-socket PATH): one JSON request a line, {"execute": NAME, "arguments": {...}}, one reply a line, {"return": ...} or {"error": {"class", "desc"}}:\n${rows
    .map(([a, h]) => `  ${a.padEnd(width)}  ${h}`)
    .join('\n')}`;
}

function write(socket: Socket, reply: Reply): void {
  if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(reply)}\n`);
}

/**
 * Sends one request to a daemon's control socket (a connection of its own) and resolves with the
 * reply: a program's, or a test's, side of the protocol.
 * @param path - the control socket.
 * @param execute - the command.
 * @param args - its arguments.
 * @param options - `timeoutMs`: how long to wait for the reply (default 60 s).
 * @returns the reply.
 * @throws Error (as a rejection) when the socket cannot be reached, closes without a reply, or the reply is late or not JSON.
 * @example
 * ```ts
 * const reply = await controlRequest('/run/scsi.ctl', 'lun-add', { image: '/srv/c.img' });
 * if ('error' in reply) console.error(reply.error.desc);
 * ```
 */
export function controlRequest(path: string, execute: string, args?: Readonly<Record<string, unknown>>, options: { readonly timeoutMs?: number } = {}): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const c = connect(path);
    let text = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      c.destroy();
      reject(new Error(`${execute} on ${path}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no reply within ${options.timeoutMs ?? 60_000} ms`), options.timeoutMs ?? 60_000);
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      text += d;
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.destroy();
      try {
        resolve(JSON.parse(text.slice(0, nl)) as ControlReply);
      } catch {
        reject(new Error(`${execute} on ${path}: the reply is not JSON`));
      }
    });
    c.on('error', (e) => fail(e.message));
    c.on('end', () => fail('closed without a reply'));
    c.write(`${JSON.stringify(args === undefined ? { execute } : { execute, arguments: args })}\n`);
  });
}
