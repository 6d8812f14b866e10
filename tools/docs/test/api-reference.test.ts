/**
 * The API reference builds without a single TypeDoc warning (every public export and member
 * documented, every {@link} resolved, every type a public signature uses exported) and has a
 * page for every package and subpath export at the addresses the READMEs link:
 * site/api/<package dir>/ and site/api/<package dir>/<subpath>/.
 */
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
const out = mkdtempSync(join(tmpdir(), 'vmv-api-'));
let run: { status: number | null; output: string; seconds: number };

interface Entry {
  dir: string;
  name: string;
  subpaths: string[];
}
const entries: Entry[] = readdirSync(join(root, 'packages'))
  .filter((dir) => existsSync(join(root, 'packages', dir, 'package.json')))
  .map((dir) => {
    const pkg = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) as { name: string; exports?: Record<string, unknown> };
    const subpaths = Object.entries(pkg.exports ?? {})
      .filter(([key, target]) => !key.includes('*') && target !== null && typeof target === 'object')
      .map(([key]) => key);
    return { dir, name: pkg.name, subpaths };
  });

beforeAll(() => {
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(__dirname, '..', 'build.mjs'), '--out', out], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  run = { status: r.status, output: `${r.stdout}${r.stderr}`, seconds: (Date.now() - started) / 1000 };
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('API reference (pnpm docs)', () => {
  it('builds with no TypeDoc warning or error', () => {
    const problems = run.output.split('\n').filter((l) => /\[(warning|error)\]/.test(l));
    expect(problems).toEqual([]);
    expect(run.status).toBe(0);
  });

  it('has an index of all packages', () => {
    const index = readFileSync(join(out, 'index.html'), 'utf8');
    for (const e of entries) expect(index).toContain(`${e.dir}/`);
  });

  it.each(entries.map((e) => [e.name, e] as const))('has a page for %s and each of its subpath exports', (_name, e) => {
    expect(existsSync(join(out, e.dir, 'index.html'))).toBe(true);
    for (const sub of e.subpaths) {
      if (sub === '.') continue;
      expect([sub, existsSync(join(out, e.dir, sub.slice(2), 'index.html'))]).toEqual([sub, true]);
    }
  });

  it('links each definition to its source file and line in the repository', () => {
    const repo = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { repository: { url: string } }).repository.url
      .replace(/^git\+/, '')
      .replace(/\.git$/, '');
    const pages = ['block/BlockDevice', 'vhost-user/frontend/VhostUserFrontend', 'errors/VmvError', 'transport-mmio/driver/VirtioMmioDriver'];
    for (const page of pages) {
      const html = readFileSync(join(out, page, 'index.html'), 'utf8');
      const links = [...html.matchAll(/href="([^"]+#L\d+)"/g)].map((m) => m[1]!);
      expect([page, links.length > 0]).toEqual([page, true]);
      for (const link of links) {
        expect(link.startsWith(`${repo}/blob/main/`)).toBe(true);
        const file = link.slice(`${repo}/blob/main/`.length).replace(/#L\d+$/, '');
        expect([link, existsSync(join(root, file))]).toEqual([link, true]);
      }
    }
  });

  it('leaves out members marked @internal', () => {
    // GuestRegion's cached views and limits are @internal (stripped from @vmv/memory's build).
    const html = readFileSync(join(out, 'memory', 'GuestRegion', 'index.html'), 'utf8');
    expect(html).toContain('GuestRegion');
    expect(html).not.toMatch(/_wlim1|_sync\b/);
  });
});
