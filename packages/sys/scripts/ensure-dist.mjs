#!/usr/bin/env node
// The packaging tests load dist/cjs and dist/esm (the published entry points). Under turbo the
// build task has produced them already; when the test script runs alone, build them if absent.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
if (!existsSync(join(root, 'dist', 'cjs', 'index.js')) || !existsSync(join(root, 'dist', 'esm', 'index.js'))) {
  execFileSync(process.execPath, [join(root, '..', '..', 'tools', 'scripts', 'build-package.mjs')], { cwd: root, stdio: 'inherit' });
}
