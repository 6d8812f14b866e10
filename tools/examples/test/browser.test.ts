/**
 * The examples that run in browsers, bundled with esbuild (platform browser) and run in Debian's
 * Chromium through playwright-core, headless, from a local http server on 127.0.0.1 (with
 * cross-origin isolation, so SharedArrayBuffer exists as on a site that sets COOP/COEP). A program
 * passes when its module finished without an error and the page reported no error; a README page
 * (`<!-- page for: ID -->`) passes when it prints, in the console, the last line its program prints
 * on Node. Chromium is installed first (tools/scripts/ensure-apt.sh; apt-get as root).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { buildSync } from 'esbuild';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';
import { extractInto, lib, runNode } from './support/extracted';

const ROOT = lib.ROOT;
const { dir, manifest } = extractInto('browser');
const web = join(dir, 'web');
mkdirSync(web, { recursive: true });
const browserExamples = manifest.filter((e) => e.browser);
const pages = lib.collect().pages;

function bundle(entry: string, outfile: string): void {
  buildSync({ entryPoints: [entry], outfile, bundle: true, platform: 'browser', format: 'esm', target: 'es2022', logLevel: 'silent', absWorkingDir: dir });
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
let server: Server;
let origin = '';
let context: BrowserContext;
let profile = '';

beforeAll(async () => {
  execFileSync('bash', [join(ROOT, 'tools/scripts/ensure-apt.sh'), 'chromium=/usr/bin/chromium'], { stdio: 'inherit' });
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/+/, '');
    if (path === 'favicon.ico') {
      res.writeHead(204).end(); // the browser asks on its own; not a page error
      return;
    }
    try {
      const body = readFileSync(join(web, path.endsWith('/') || path === '' ? join(path, 'index.html') : path));
      res.writeHead(200, { 'content-type': TYPES[extname(path) || '.html'] ?? 'application/octet-stream', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  profile = mkdtempSync(join(tmpdir(), 'vmv-examples-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await context?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Opens `url`, collecting page errors and console lines, until `done` resolves on the page. */
async function visit(url: string, until: (lines: string[]) => boolean) {
  const page = await context.newPage();
  const errors: string[] = [];
  const lines: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e.stack ?? e)));
  page.on('console', (m) => {
    lines.push(m.text());
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  try {
    await page.goto(url);
    const deadline = Date.now() + 120_000;
    while (errors.length === 0 && !until(lines) && Date.now() < deadline) await page.waitForTimeout(50);
    return { errors, lines, done: until(lines) };
  } finally {
    await page.close();
  }
}

describe.each(browserExamples.map((e) => [e.id, e] as const))('%s in Chromium', (_id, entry) => {
  it('runs to its end with no page error', async () => {
    bundle(join(dir, entry.esm), join(web, `${entry.id}.js`));
    writeFileSync(
      join(web, `${entry.id}.html`),
      `<!doctype html><meta charset="utf-8"><title>${entry.id}</title><script type="module">
import('./${entry.id}.js').then(() => console.log('vmv-example: done'), (e) => { console.error(String(e && e.stack || e)); console.log('vmv-example: failed'); });
</script>`,
    );
    const r = await visit(`${origin}/${entry.id}.html`, (lines) => lines.some((l) => l.startsWith('vmv-example: ')));
    expect(r.errors).toEqual([]);
    expect(r.lines.filter((l) => l.startsWith('vmv-example: '))).toEqual(['vmv-example: done']);
  });
});

describe.each(pages.map((p) => [`${p.source}:${p.line}`, p] as const))('the page at %s', (_where, page) => {
  it('runs its program and prints what the program prints on Node', async () => {
    const entry = manifest.find((e) => e.id === page.for)!;
    const node = await runNode(join(dir, entry.esm), dir);
    expect(node.code).toBe(0);
    const last = node.stdout.trim().split('\n').pop()!;
    expect(last.length).toBeGreaterThan(0);
    const folder = join(web, `page-${entry.id}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'index.html'), page.html);
    bundle(join(dir, entry.esm), join(folder, lib.pageScript(page.html)!));
    const r = await visit(`${origin}/page-${entry.id}/`, (lines) => lines.includes(last));
    expect(r.errors).toEqual([]);
    expect(r.done).toBe(true);
  });
});

it('has browser examples', () => {
  expect(browserExamples.length).toBeGreaterThan(5);
});
