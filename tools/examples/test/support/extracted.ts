/**
 * What the tests share: the examples extracted into a directory of their own under
 * tools/examples/.examples/ (inside this package, so `@vmv/*` resolve to its workspace links:
 * the built packages, as a user's install gives them), and running a program with Node.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import type { ManifestEntry } from '../../lib/manifest';

export type { ManifestEntry };

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const lib = require('../../lib/examples.cjs') as {
  ROOT: string;
  API_BASE: string;
  collect(root?: string): {
    programs: { id: string; package: string | null; source: string; line: number; code: string; packages: string[]; node: boolean; browser: boolean }[];
    fragments: { of: string; source: string; line: number; code: string }[];
    pages: { for: string; source: string; line: number; html: string }[];
    problems: string[];
  };
  markdownFiles(): { path: string; package: string | null; source: string }[];
  installLine(text: string): string[] | null;
  pageScript(html: string): string | null;
  extract(out: string, packageName?: string | null): ManifestEntry[];
};

/** Extracts every example into a fresh .examples/<name>/ and returns the directory and manifest. */
export function extractInto(name: string): { dir: string; manifest: ManifestEntry[] } {
  const dir = join(__dirname, '..', '..', '.examples', name);
  rmSync(dir, { recursive: true, force: true });
  return { dir, manifest: lib.extract(dir) };
}

/** Runs `node file` in `cwd`; resolves with the exit code and output (never rejects). */
export function runNode(file: string, cwd: string, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
