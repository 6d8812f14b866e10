/**
 * The convention of lib/examples.cjs holds on every README and docs page: each ts/js block is a
 * complete program or an excerpt of one, each html block a page for a browser program; each page's
 * install line names every @vmv package its programs import; each package README links its API
 * reference; the pages readers are sent to exist.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

describe('the convention', () => {
  /** The problems lib.collect finds in a repository whose only README is `readme`. */
  function problemsOf(readme: string): string[] {
    const root = mkdtempSync(join(tmpdir(), 'vmv-examples-convention-'));
    try {
      mkdirSync(join(root, 'packages', 'x'), { recursive: true });
      writeFileSync(join(root, 'README.md'), '# root\n');
      writeFileSync(join(root, 'packages', 'x', 'package.json'), JSON.stringify({ name: '@vmv/x' }));
      writeFileSync(join(root, 'packages', 'x', 'README.md'), readme);
      return lib.collect(root).problems.map((p) => p.replace(/^[^:]*:\d+: /, ''));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  const program = '<!-- example: x -->\n```ts\nimport { a } from \'@vmv/x\';\nconst b = a + 1;\nconsole.log(b);\n```\n';

  it('accepts a program, its continuation, an excerpt of it and a page for it', () => {
    expect(problemsOf(`${program}\n<!-- example: x, continued -->\n\`\`\`ts\nconsole.log(2);\n\`\`\`\n\n<!-- fragment of: x -->\n\`\`\`ts\n  const b = a + 1;\n\`\`\`\n\n<!-- page for: x -->\n\`\`\`html\n<script type="module" src="./x.js"></script>\n\`\`\`\n`)).toEqual([]);
  });
  it('refuses an unmarked block, an excerpt with a line of its own, a fragment or page of nothing, a path import, an id used twice', () => {
    expect(problemsOf('```ts\nconsole.log(1);\n```\n')[0]).toMatch(/without a marker/);
    expect(problemsOf(`${program}\n<!-- fragment of: x -->\n\`\`\`ts\nconst c = 3;\n\`\`\`\n`)).toEqual(['a fragment of "x" with a line that is not in it: const c = 3;']);
    expect(problemsOf('<!-- fragment of: y -->\n```ts\nconsole.log(1);\n```\n')).toEqual(['a fragment of "y", which is no complete example']);
    expect(problemsOf('<!-- page for: y -->\n```html\n<p></p>\n```\n')).toEqual(['a page for "y", which is no complete example']);
    expect(problemsOf('<!-- example: z -->\n```ts\nimport { q } from \'./q.js\';\nconsole.log(q);\n```\n')[0]).toMatch(/imports by path/);
    expect(problemsOf(`${program}\n${program}`)[0]).toMatch(/already used/);
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
