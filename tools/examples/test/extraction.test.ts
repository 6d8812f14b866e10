/**
 * The convention of lib/examples.cjs holds on every README and docs page: each ts/js block is a
 * complete program or an excerpt of one, each html block a page for a browser program; each page's
 * install line names every @vmv package its programs import; each package README links its API
 * reference; the pages readers are sent to exist.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lib } from './support/extracted';

const collected = lib.collect();

describe('code blocks', () => {
  it('are complete programs, excerpts of one, or pages for one (a problem names its block)', () => {
    expect(collected.problems).toEqual([]);
  });

  it('include a complete program in every README (package and root) and in the device guide', () => {
    const withPrograms = new Set(collected.programs.map((p) => p.source));
    for (const f of lib.markdownFiles().filter((m) => m.source.endsWith('README.md') || m.source === 'docs/writing-a-device.md')) expect([f.source, withPrograms.has(f.source)]).toEqual([f.source, true]);
  });

  it('include the quick start, its browser page, and the device-trait device loop', () => {
    expect(collected.programs.map((p) => p.id)).toEqual(expect.arrayContaining(['readme-quickstart', 'device-trait']));
    expect(collected.pages.map((p) => p.for)).toContain('readme-quickstart');
    expect(collected.programs.find((p) => p.id === 'readme-quickstart')!.browser).toBe(true);
  });
});

describe('install lines', () => {
  for (const file of lib.markdownFiles()) {
    it(`${file.source} names every @vmv package its programs import`, () => {
      const programs = collected.programs.filter((p) => p.source === file.source);
      const imported = [...new Set(programs.flatMap((p) => p.packages))].sort();
      const install = lib.installLine(readFileSync(file.path, 'utf8'));
      if (imported.length > 0) expect(install).not.toBeNull();
      const missing = imported.filter((name) => !(install ?? []).includes(name));
      expect(missing).toEqual([]);
    });
  }
  it('reads names from npm install lines, comments left out', () => {
    expect(lib.installLine('```sh\nnpm install @vmv/sys     # or: pnpm add @vmv/x\nnpm install @vmv/a@1.2 @vmv/b\n```\n')).toEqual(['@vmv/a', '@vmv/b', '@vmv/sys']);
    expect(lib.installLine('no install\n')).toBeNull();
  });
});

describe('links', () => {
  for (const file of lib.markdownFiles().filter((f) => f.package !== null)) {
    it(`${file.source} links its API reference`, () => {
      expect(readFileSync(file.path, 'utf8')).toContain(`${lib.API_BASE}${file.package!.slice('@vmv/'.length)}/`);
    });
  }
  it('README.md links the API reference', () => {
    expect(readFileSync(join(lib.ROOT, 'README.md'), 'utf8')).toContain(lib.API_BASE);
  });
  const pages = [...lib.markdownFiles().map((f) => f.path), join(lib.ROOT, 'CONTRIBUTING.md')];
  for (const page of pages) {
    it(`${page.slice(lib.ROOT.length + 1)}: relative links lead to files of the repository`, () => {
      const text = readFileSync(page, 'utf8');
      const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t) && !t.startsWith('#'));
      const missing = targets.filter((t) => !existsSync(join(dirname(page), t.split('#')[0]!)));
      expect(missing).toEqual([]);
    });
  }
  it('CONTRIBUTING.md points to no document a reader does not have', () => {
    const text = readFileSync(join(lib.ROOT, 'CONTRIBUTING.md'), 'utf8');
    expect(text).not.toMatch(/project brief|design card/i);
    expect(text).toContain('docs/design.md');
  });
});
