import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, lstatSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ControlError,
  ControlServer,
  MAX_CONTROL_LINE,
  controlRequest,
  createLogger,
  daemonHelp,
  runDaemon,
  type ControlCommand,
  type DaemonDefinition,
  type ServedDevice,
} from '@vmv/vhost-user/daemon';
import { isVhostUserError } from '@vmv/vhost-user';
import { UpperDevice } from './devices';
import { captureIo } from './support/daemon-process';
import { HANG_MS, until } from './frontend';

/** A client: sends text, collects reply lines. */
class Client {
  readonly lines: string[] = [];
  ended = false;
  private buf = '';
  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
    });
    socket.on('end', () => (this.ended = true));
    socket.on('close', () => (this.ended = true));
    socket.on('error', () => undefined);
  }

  static open(path: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  /** Sends raw text; resolves with the next `n` replies, parsed. */
  async send(text: string, n = 1): Promise<unknown[]> {
    const from = this.lines.length;
    this.socket.write(text);
    await until(() => this.lines.length >= from + n || this.ended, HANG_MS, 'replies');
    return this.lines.slice(from, from + n).map((l) => JSON.parse(l) as unknown);
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('ControlServer', () => {
  let dir: string;
  let path: string;
  let server: ControlServer<string> | null;
  const log = createLogger('vmv-test', 'error', 'text', () => undefined);
  const calls: string[] = [];
  let release: (() => void) | null = null;
  const commands: Record<string, ControlCommand<string>> = {
    echo: { help: 'its arguments', arguments: '{...}', run: (args) => args },
    devices: { help: 'the devices', run: (_a, devices) => devices },
    nothing: { help: 'returns nothing', run: () => undefined },
    refuse: { help: 'refuses', run: () => { throw new ControlError('lun must be an integer, got "x"'); } },
    crash: { help: 'throws', run: () => { throw new TypeError('boom'); } },
    slow: {
      help: 'waits for the test',
      run: async (args) => {
        calls.push(`start ${String(args['n'])}`);
        await new Promise<void>((r) => (release = r));
        calls.push(`end ${String(args['n'])}`);
        return args['n'];
      },
    },
    quick: { help: 'records', run: (args) => void calls.push(`quick ${String(args['n'])}`) },
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmv-control-'));
    path = join(dir, 'ctl.sock');
    calls.length = 0;
    server = await ControlServer.listen(path, commands, () => ['dev0', 'dev1'], log);
  });
  afterEach(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers each request line with one reply, echoing id; help lists the commands', async () => {
    const c = await Client.open(path);
    expect(await c.send('{"execute":"echo","arguments":{"a":1},"id":7}\n')).toEqual([{ return: { a: 1 }, id: 7 }]);
    expect(await c.send('{"execute":"devices"}\n')).toEqual([{ return: ['dev0', 'dev1'] }]);
    expect(await c.send('{"execute":"nothing","id":"x"}\n')).toEqual([{ return: {}, id: 'x' }]);
    const [help] = (await c.send('{"execute":"help"}\n')) as { return: { name: string }[] }[];
    expect(help!.return.map((h) => h.name)).toEqual(['help', ...Object.keys(commands)]);
    c.close();
  });

  it.each([
    ['not JSON', '{"execute":', 'InvalidRequest', /not JSON/],
    ['an array', '[1]', 'InvalidRequest', /JSON object/],
    ['a string', '"help"', 'InvalidRequest', /JSON object/],
    ['no execute', '{"arguments":{}}', 'InvalidRequest', /no "execute"/],
    ['arguments not an object', '{"execute":"echo","arguments":[1]}', 'InvalidRequest', /"arguments" must be a JSON object/],
    ['an unknown command', '{"execute":"format-disk"}', 'CommandNotFound', /no command "format-disk"/],
    ['a prototype name', '{"execute":"constructor"}', 'CommandNotFound', /no command/],
    ['arguments the command refuses', '{"execute":"refuse"}', 'InvalidArgument', /lun must be an integer/],
    ['a command that throws', '{"execute":"crash"}', 'Failed', /boom/],
  ])('%s: an error reply, and the connection still serves', async (_what, line, cls, desc) => {
    const c = await Client.open(path);
    const [reply] = (await c.send(`${line}\n`)) as { error: { class: string; desc: string } }[];
    expect(reply!.error.class).toBe(cls);
    expect(reply!.error.desc).toMatch(desc);
    expect(await c.send('{"execute":"echo","arguments":{"ok":true}}\n')).toEqual([{ return: { ok: true } }]);
    c.close();
  });

  it('lines split across writes, several in one write, blank lines skipped, a last line without a newline at end', async () => {
    const c = await Client.open(path);
    c.socket.write('{"execute":"echo",');
    expect(await c.send('"arguments":{"n":1}}\n\n  \n{"execute":"echo","arguments":{"n":2}}\n{"execute":"echo","arguments":{"n":3}}\n', 3)).toEqual([
      { return: { n: 1 } },
      { return: { n: 2 } },
      { return: { n: 3 } },
    ]);
    c.socket.end('{"execute":"echo","arguments":{"n":4}}');
    await until(() => c.ended, HANG_MS, 'end');
    expect(JSON.parse(c.lines.at(-1)!)).toEqual({ return: { n: 4 } });
  });

  it('a line longer than 64 KiB: an error reply, the connection closed, the server still serves others', async () => {
    const c = await Client.open(path);
    const [reply] = (await c.send(`{"execute":"echo","arguments":{"x":"${'a'.repeat(MAX_CONTROL_LINE)}`)) as { error: { class: string } }[];
    expect(reply!.error.class).toBe('InvalidRequest');
    await until(() => c.ended, HANG_MS, 'the long line\'s connection to close');
    const d = await Client.open(path);
    expect(await d.send('{"execute":"echo","arguments":{}}\n')).toEqual([{ return: {} }]);
    d.close();
  });

  it('commands run one at a time across connections, in arrival order', async () => {
    const a = await Client.open(path);
    const b = await Client.open(path);
    const slow = a.send('{"execute":"slow","arguments":{"n":1}}\n');
    await until(() => calls.length === 1, HANG_MS, 'slow to start');
    const quick = b.send('{"execute":"quick","arguments":{"n":2}}\n');
    // the quick command waits behind the slow one
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toEqual(['start 1']);
    release!();
    expect(await slow).toEqual([{ return: 1 }]);
    expect(await quick).toEqual([{ return: {} }]);
    expect(calls).toEqual(['start 1', 'end 1', 'quick 2']);
    a.close();
    b.close();
  });

  it('close: the socket file removed, connections closed, a running command finishes first', async () => {
    const c = await Client.open(path);
    const slow = c.send('{"execute":"slow","arguments":{"n":5}}\n');
    await until(() => calls.length === 1, HANG_MS, 'slow to start');
    const closing = server!.close();
    server = null;
    release!();
    await closing;
    await slow;
    expect(calls).toEqual(['start 5', 'end 5']);
    expect(existsSync(path)).toBe(false);
  });

  it('controlRequest: the reply of one request; a socket nobody serves, or one that closes without a reply, rejects', async () => {
    expect(await controlRequest(path, 'echo', { a: 1 })).toEqual({ return: { a: 1 } });
    expect(await controlRequest(path, 'format-disk')).toEqual({ error: { class: 'CommandNotFound', desc: 'no command "format-disk"; "help" lists them' } });
    await expect(controlRequest(join(dir, 'none.sock'), 'echo')).rejects.toThrow(/echo on .*none\.sock: .*ENOENT/);
    const mute = createServer((c) => c.end());
    const mutePath = join(dir, 'mute.sock');
    await new Promise<void>((r) => mute.listen(mutePath, r));
    await expect(controlRequest(mutePath, 'echo')).rejects.toThrow(/closed without a reply/);
    const silent = createServer(() => undefined);
    const silentPath = join(dir, 'silent.sock');
    await new Promise<void>((r) => silent.listen(silentPath, r));
    await expect(controlRequest(silentPath, 'echo', {}, { timeoutMs: 50 })).rejects.toThrow(/no reply within 50 ms/);
    mute.close();
    silent.close();
  });

  it('a stale socket file is replaced; a live listener or another file is a SocketError', async () => {
    const stale = join(dir, 'stale.sock');
    const moved = join(dir, 'moved.sock');
    const first = createServer();
    await new Promise<void>((r) => first.listen(moved, r));
    renameSync(moved, stale);
    await new Promise<void>((r) => first.close(() => r()));
    expect(lstatSync(stale).isSocket()).toBe(true);
    const replaced = await ControlServer.listen(stale, commands, () => [], log);
    const c = await Client.open(stale);
    expect(await c.send('{"execute":"echo","arguments":{}}\n')).toEqual([{ return: {} }]);
    c.close();
    await replaced.close();

    const busy = await ControlServer.listen(stale, commands, () => [], log).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ControlServer);
    const second = await ControlServer.listen(stale, commands, () => [], log).catch((e: unknown) => e);
    expect(isVhostUserError(second, 'VhostUser.SocketError')).toBe(true);
    expect((second as Error).message).toMatch(/already listening/);
    await (busy as ControlServer<string>).close();

    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const notSocket = await ControlServer.listen(file, commands, () => [], log).catch((e: unknown) => e);
    expect(isVhostUserError(notSocket, 'VhostUser.SocketError')).toBe(true);
  });
});

describe('runDaemon with control commands', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vmv-control-daemon-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  interface Counted extends ServedDevice {
    bumps: number;
  }
  const def: DaemonDefinition<Counted> = {
    program: 'vmv-test',
    deviceType: 'test',
    description: 'A test daemon.',
    version: '1.2.3',
    flags: {},
    createDevice: () => ({ device: new UpperDevice(), bumps: 0 }),
    control: {
      bump: {
        help: 'adds one to every device\'s count',
        arguments: '{"by": N}',
        run: (args, devices) => {
          if (typeof args['by'] !== 'number') throw new ControlError(`by must be a number, got ${JSON.stringify(args['by'])}`);
          for (const d of devices) d.bumps += args['by'];
          return devices.map((d) => d.bumps);
        },
      },
    },
  };

  it('--control-socket exists only with commands; --help lists the commands', () => {
    const help = daemonHelp(def);
    expect(help).toMatch(/--control-socket PATH/);
    expect(help).toMatch(/Control socket \(--control-socket PATH\)/);
    expect(help).toMatch(/ {2}bump \{"by": N\} {2}adds one to every device's count/);
    expect(daemonHelp({ ...def, control: undefined })).not.toMatch(/control/i);
  });

  it('serves the commands on every device; the socket is removed at stop', async () => {
    const handlers = new Map<string, () => void>();
    const o = captureIo();
    o.onSignal = (s, h) => void handlers.set(s, h);
    o.offSignal = (s) => void handlers.delete(s);
    const ctl = join(dir, 'ctl.sock');
    const running = runDaemon(def, ['-s', join(dir, 'd.sock'), '-c', '2', '--control-socket', ctl], o);
    await until(() => o.errText.includes(`control socket: listening on ${ctl}`), HANG_MS, 'the control socket');
    const c = await Client.open(ctl);
    expect(await c.send('{"execute":"bump","arguments":{"by":2}}\n')).toEqual([{ return: [2, 2] }]);
    expect(await c.send('{"execute":"bump","arguments":{"by":"x"}}\n')).toEqual([{ error: { class: 'InvalidArgument', desc: 'by must be a number, got "x"' } }]);
    c.close();
    handlers.get('SIGTERM')!();
    expect(await running).toBe(0);
    expect(existsSync(ctl)).toBe(false);
  });

  it('a control socket that cannot be made: exit 2 with one line', async () => {
    const o = captureIo();
    expect(await runDaemon(def, ['-s', join(dir, 'd.sock'), '--control-socket', join(dir, 'no', 'ctl.sock')], o)).toBe(2);
    expect(o.errText).toMatch(/^vmv-test: error: cannot create socket .*ctl\.sock: directory .*no does not exist/);
  });
});
