/**
 * The command line: rust-vmm vhost-device-vsock's three forms (flat flags, repeatable `--vm`, a
 * `--config` YAML file) with their meanings and defaults, every bad value one line and exit 2, and
 * a running daemon with two guests: both vhost-user sockets and both hybrid sockets listening, a
 * host client's CONNECT held until a guest answers, everything removed at SIGTERM.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonFlags, parseFlags, type DaemonIo } from '@vmv/vhost-user/daemon';
import { HELP, parseConfig, runCli, vsockDaemon, vsockOptions } from '@vmv/vhost-user-vsock';

const parse = (argv: string[], files: Record<string, string> = {}) =>
  vsockOptions(parseFlags(daemonFlags(vsockDaemon), argv, 'x'), (p) => {
    if (!(p in files)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return files[p]!;
  });

const YAML = `# two guests, as vhost-device-vsock's README has them
vms:
    - guest_cid: 3
      socket: /tmp/vhost3.socket
      uds_path: /tmp/vm3.vsock
      tx_buffer_size: 65536
      queue_size: 1024
      groups: group1+groupA
    - guest_cid: 4
      socket: "/tmp/vhost4.socket"
      uds_path: /tmp/vm4.vsock   # a comment
      tx_buffer_size: 32768
      queue_size: 256
      groups: group2+groupB
`;

describe('flags', () => {
  it("flat: vhost-device-vsock's flags and defaults (guest-cid 3, tx-buffer-size 64 KiB, queue-size 1024, group default)", () => {
    expect(parse(['--socket', '/tmp/v.sock', '--uds-path', '/tmp/vm.vsock'])).toEqual({
      vms: [{ guestCid: 3, socket: '/tmp/v.sock', udsPath: '/tmp/vm.vsock', txBufferSize: 65536, queueSize: 1024, groups: ['default'] }],
      maxConnections: 1024,
      seqpacket: true,
    });
    expect(parse(['--guest-cid', '7', '--socket=/s', '--uds-path', '/u', '--tx-buffer-size', '4096', '--queue-size', '256', '--groups', 'a+b', '--no-seqpacket']).vms[0]).toEqual({ guestCid: 7, socket: '/s', udsPath: '/u', txBufferSize: 4096, queueSize: 256, groups: ['a', 'b'] });
  });

  it('--vm, repeated: one guest each, in order, keys with - or _', () => {
    const o = parse(['--vm', 'guest-cid=3,socket=/tmp/v3,uds-path=/tmp/u3,groups=g1', '--vm', 'guest_cid=4,socket=/tmp/v4,uds_path=/tmp/u4,tx_buffer_size=1024,queue_size=64']);
    expect(o.vms).toEqual([
      { guestCid: 3, socket: '/tmp/v3', udsPath: '/tmp/u3', txBufferSize: 65536, queueSize: 1024, groups: ['g1'] },
      { guestCid: 4, socket: '/tmp/v4', udsPath: '/tmp/u4', txBufferSize: 1024, queueSize: 64, groups: ['default'] },
    ]);
  });

  it('--config: the YAML of vhost-device-vsock\'s README', () => {
    expect(parse(['--config', 'c.yaml'], { 'c.yaml': YAML }).vms).toEqual([
      { guestCid: 3, socket: '/tmp/vhost3.socket', udsPath: '/tmp/vm3.vsock', txBufferSize: 65536, queueSize: 1024, groups: ['group1', 'groupA'] },
      { guestCid: 4, socket: '/tmp/vhost4.socket', udsPath: '/tmp/vm4.vsock', txBufferSize: 32768, queueSize: 256, groups: ['group2', 'groupB'] },
    ]);
    expect(parseConfig('vms:\n- socket: /a\n  uds_path: /b\n-\n  socket: /c\n  uds_path: /d\n  guest_cid: 9\n').map((v) => v.guestCid)).toEqual([3, 9]);
  });

  it.each([
    [['--uds-path', '/u'], /--socket PATH is required/],
    [['--socket', '/s'], /--uds-path PATH is required/],
    [['--socket', '/s', '--uds-path', '/u', '--guest-cid', '2'], /--guest-cid must be in 3\.\.4294967294, got 2/],
    [['--socket', '/s', '--uds-path', '/u', '--queue-size', '100'], /--queue-size must be a power of two/],
    [['--socket', '/s', '--uds-path', '/u', '--groups', 'a+'], /groups are names joined with \+/],
    [['--vm', 'socket=/s'], /--vm: uds_path is required/],
    [['--vm', 'socket=/s,uds-path=/u,colour=red'], /--vm: unknown key "colour"/],
    [['--vm', 'socket=/s,uds-path=/u,guest-cid=x'], /--vm guest_cid must be a whole number/],
    [['--vm', 'socket=/s,uds-path=/u,queue-size=3'], /queue_size must be a power of two/],
    [['--vm', 'socket=/s,uds-path=/u,socket=/t'], /socket given twice/],
    [['--vm', 'socket/s'], /expected KEY=VALUE/],
    [['--vm', 'socket=/s,uds-path=/u', '--vm', 'socket=/t,uds-path=/v'], /two guests have the same guest-cid 3/],
    [['--vm', 'socket=/s,uds-path=/u', '--vm', 'socket=/s,uds-path=/v,guest-cid=4'], /two guests have the same socket/],
    [['--vm', 'socket=/s,uds-path=/u', '--socket', '/t'], /--vm excludes --socket/],
    [['--vm', 'socket=/s,uds-path=/u', '--guest-cid', '5'], /--vm excludes --guest-cid/],
    [['--vm', 'socket=/s,uds-path=/u', '--config', '/c'], /--config and --vm exclude each other/],
    [['--config', '/nonexistent/vsock.yaml'], /--config \/nonexistent\/vsock\.yaml: ENOENT/],
    [['--socket', '/s', '--uds-path', '/u', '-c', '2'], /--socket-count must be at most 1/],
  ])('refuses %j with one line and exit 2', async (argv, message) => {
    let err = '';
    const io: DaemonIo = { out: () => {}, err: (t) => void (err += t), onSignal: () => {}, offSignal: () => {}, exit: () => {} };
    expect(await runCli(argv, io)).toBe(2);
    expect(err).toMatch(message);
    expect(err.trim().split('\n').length).toBe(1);
  });

  it.each([
    ['guests: []\n', /line 1: expected "vms:"/],
    ['vms:\n  - socket: /a\n    uds_path: [1, 2]\n', /line 3: only plain or quoted one-line values/],
    ['vms:\n  - socket: /a\n      uds_path: /b\n', /line 3: keys of one guest must line up/],
    ['vms:\n\t- socket: /a\n', /line 2: tabs/],
    ['vms:\n  - socket: /a\n    colour: red\n', /line 3: unknown key "colour"/],
    ['vms:\n', /no guest/],
    ['vms:\n  - socket: /a\n', /guest 1: uds_path is required/],
  ])('a config file outside the subset: %j is one line naming where', (text, message) => {
    expect(() => parseConfig(text, 'f.yaml')).toThrow(message);
  });

  it('--help lists every flag', () => {
    for (const f of ['--guest-cid', '--socket', '--uds-path', '--tx-buffer-size', '--queue-size', '--groups', '--vm', '--config', '--max-connections', '--no-seqpacket']) expect(HELP).toContain(f);
  });
});

describe('running', () => {
  it('two guests from a --config file: both sockets and both hybrid sockets listen; a CONNECT waits for the guest; SIGTERM removes them all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmv-vsock-cli-'));
    const file = join(dir, 'vsock.yaml');
    writeFileSync(file, `vms:\n  - guest_cid: 3\n    socket: ${dir}/v3.sock\n    uds_path: ${dir}/vm3.vsock\n  - guest_cid: 4\n    socket: ${dir}/v4.sock\n    uds_path: ${dir}/vm4.vsock\n`);
    const stops: (() => void)[] = [];
    let log = '';
    const io: DaemonIo = { out: () => {}, err: (t) => void (log += t), onSignal: (s, h) => void (s === 'SIGTERM' && stops.push(h)), offSignal: () => {}, exit: () => {} };
    const done = runCli(['--config', file], io);
    for (let i = 0; i < 100_000 && log.split('listening on').length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    const paths = ['v3.sock', 'v4.sock', 'vm3.vsock', 'vm4.vsock'].map((p) => join(dir, p));
    for (const p of paths) expect(lstatSync(p).isSocket()).toBe(true);
    const client = connect(join(dir, 'vm3.vsock'));
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => void got.push(d));
    client.write('CONNECT 5000\n');
    await new Promise((r) => setTimeout(r, 50));
    expect(Buffer.concat(got).length).toBe(0); // no guest yet: no OK
    client.destroy();
    stops.forEach((s) => s());
    expect(await done).toBe(0);
    for (const p of paths) expect(existsSync(p)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});
