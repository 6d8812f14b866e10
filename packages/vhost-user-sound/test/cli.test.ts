/**
 * The command line against rust-vmm vhost-device-sound's (`--socket PATH`, `--backend NAME`) and
 * ours (`--layout`, `--output`, `--input`, `--alsa-device`): names, defaults, refusals in one line
 * with an exit code, and no socket left behind.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonFlags, parseFlags } from '@vmv/vhost-user/daemon';
import { HELP, createSoundDaemon, parseBackend, parseLayout, runCli } from '@vmv/vhost-user-sound';
import { captureIo } from '../../vhost-user/test/support/daemon-process';

const flags = daemonFlags(createSoundDaemon());
const dir = mkdtempSync(join(tmpdir(), 'vmv-vus-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flags', () => {
  it('has vhost-device-sound\'s --socket and --backend (null by default), and ours', () => {
    expect(parseFlags(flags, ['--socket', '/x/snd.sock'])).toMatchObject({ 'socket-path': '/x/snd.sock', backend: 'null', output: [], input: [] });
    expect(parseFlags(flags, ['--socket=/x', '--backend', 'wav', '--output', 'a.wav', '--output', 'b.wav', '--input', 'c.wav'])).toMatchObject({ backend: 'wav', output: ['a.wav', 'b.wav'], input: ['c.wav'] });
    expect(parseFlags(flags, ['-s', '/x', '--backend', 'alsa', '--alsa-device', 'null'])).toMatchObject({ backend: 'alsa', 'alsa-device': 'null' });
    expect(parseBackend('null')).toBe('null');
  });

  it('refuses vhost-device-sound\'s pipewire and gstreamer with the way to get them, and unknown names', () => {
    expect(() => parseBackend('pipewire')).toThrow(/--backend alsa/);
    expect(() => parseBackend('gstreamer')).toThrow(/not offered/);
    expect(() => parseBackend('oss')).toThrow(/one of null, alsa, wav/);
  });

  it('--layout: inline JSON or @FILE, checked as the device checks it', () => {
    expect(parseLayout('{"streams":[{"direction":"output","rates":[48000]}]}')).toEqual({ streams: [{ direction: 'output', rates: [48000] }] });
    const file = join(dir, 'layout.json');
    writeFileSync(file, JSON.stringify({ jacks: [{}] }));
    expect(parseLayout(`@${file}`)).toEqual({ jacks: [{}] });
    expect(() => parseLayout('{')).toThrow(/not JSON/);
    expect(() => parseLayout('{"streams":[{"direction":"output","rates":[44000]}]}')).toThrow(/44000/);
    expect(() => parseLayout(`@${join(dir, 'missing.json')}`)).toThrow(/missing\.json/);
  });

  it('--help lists the flags; --version; --print-capabilities says sound', async () => {
    for (const f of ['--socket-path', '--backend', '--layout', '--output', '--input', '--alsa-device', 'vhost-user-snd-pci']) expect(HELP).toContain(f);
    const h = captureIo();
    expect(await runCli(['--version'], h)).toBe(0);
    expect(h.outText).toBe(`vmv-vhost-user-sound ${(JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version}\n`);
    const c = captureIo();
    expect(await runCli(['--print-capabilities'], c)).toBe(0);
    expect(JSON.parse(c.outText)).toEqual({ type: 'sound', features: [] });
  });
});

describe('bad host input: one line, an exit code, no socket left', () => {
  it('flags that do not go together, or more files than streams: exit 2', async () => {
    const p = join(dir, 'bad.sock');
    for (const argv of [
      ['--output', 'a.wav'],
      ['--backend', 'alsa', '--input', 'a.wav'],
      ['--alsa-device', 'null'],
      ['--backend', 'wav', '--output', 'a.wav', '--output', 'b.wav'],
      ['--backend', 'wav', '--layout', '{"streams":[]}', '--input', 'a.wav'],
      ['--backend', 'pipewire'],
      ['--bogus'],
    ]) {
      const c = captureIo();
      expect(await runCli(['--socket', p, ...argv], c)).toBe(2);
      expect(c.errText.trim().split('\n').length).toBe(1);
      expect(existsSync(p)).toBe(false);
    }
  });

  it('an --input that is not a WAV file: exit 1, one line', async () => {
    const bad = join(dir, 'not.wav');
    writeFileSync(bad, 'hello');
    const c = captureIo();
    const p = join(dir, 'bad2.sock');
    expect(await runCli(['--socket', p, '--backend', 'wav', '--input', bad], c)).toBe(1);
    const lines = c.errText.trim().split('\n');
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/vmv-vhost-user-sound: error: .*not a RIFF\/WAVE file/);
    expect(existsSync(p)).toBe(false);
  });
});
