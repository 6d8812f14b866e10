/**
 * The command line, in process through runCli: help, the rust-vmm flag refused with one line,
 * bad descriptions and identity flags as one-line usage errors (exit 2), capabilities.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HELP, PASSTHROUGH_REFUSED, descriptionOf, inputDaemon, runCli } from '@vmv/vhost-user-input';
import { daemonFlags, parseFlags } from '@vmv/vhost-user/daemon';
import { captureIo } from './support/daemon-process';

const dir = mkdtempSync(join(tmpdir(), 'vmv-vui-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]) {
  const io = captureIo();
  const code = await runCli(argv, io);
  return { code, out: io.outText, err: io.errText };
}
const values = (argv: string[]) => parseFlags(daemonFlags(inputDaemon), ['-s', 'x.sock', ...argv], 'p');

describe('vmv-vhost-user-input command line', () => {
  it('--help lists the flags of vhost-device-input and ours', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const f of ['-s, --socket-path', '-e, --event-list', '--device KIND', '--name', '--serial', '--vendor', '--product', '--id-version', '--events-stdin', '--events-socket', '--queue-capacity']) expect(r.out).toContain(f);
    expect(r.out).toBe(`${HELP}\n`);
  });

  it('-e/--event-list (host evdev passthrough) is refused with one line, exit 2', async () => {
    for (const argv of [['-e', '/dev/input/event0'], ['--event-list=/dev/input/event1,/dev/input/event2']]) {
      const r = await run(['-s', join(dir, 's.sock'), ...argv]);
      expect(r.code).toBe(2);
      expect(r.err).toBe(`vmv-vhost-user-input: error: ${PASSTHROUGH_REFUSED}\n`);
    }
  });

  it('a bad --device, description file or identity flag: one line, exit 2', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'x', events: { EV_ABS: [0] } }));
    const notJson = join(dir, 'nj.json');
    writeFileSync(notJson, '{name');
    const cases: [string[], RegExp][] = [
      [['--device', 'joystick'], /--device must be keyboard, mouse, tablet, touchscreen or a \.json description file/],
      [['--device', join(dir, 'missing.json')], /cannot read the file \(ENOENT\)/],
      [['--device', notJson], /not JSON/],
      [['--device', bad], /bad description: abs\.0: is missing/],
      [['--name', 'x'.repeat(64)], /bad description: name: must be 1 to 63 characters/],
      [['--vendor', 'zz'], /--vendor must be a 16-bit hexadecimal number/],
      [['--queue-capacity', '2'], /queue-capacity/],
    ];
    for (const [argv, re] of cases) {
      const r = await run(['-s', join(dir, 's.sock'), ...argv]);
      expect([r.code, r.err.split('\n').length]).toEqual([2, 2]);
      expect(r.err).toMatch(re);
    }
  });

  it('--print-capabilities says input', async () => {
    const r = await run(['--print-capabilities']);
    expect(JSON.parse(r.out)).toEqual({ type: 'input', features: [] });
  });

  it('the identity flags apply to presets and files', () => {
    expect(descriptionOf(values(['--device', 'mouse', '--name', 'm0', '--serial', 'S', '--vendor', '0x1af4', '--product', '10', '--id-version', 'ff']))).toMatchObject({
      name: 'm0', serial: 'S', ids: { bustype: 6, vendor: 0x1af4, product: 0x10, version: 0xff },
    });
    const f = join(dir, 'pad.json');
    writeFileSync(f, JSON.stringify({ name: 'pad', events: { EV_KEY: [0x130] } }));
    expect(descriptionOf(values(['--device', f, '--product', '2']))).toEqual({ name: 'pad', events: { EV_KEY: [0x130] }, ids: { product: 2 } });
    expect(descriptionOf(values([])).name).toBe('vmv virtio keyboard');
  });
});
