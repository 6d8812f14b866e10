#!/usr/bin/env node
// Builds one package: CommonJS into dist/cjs and ESM into dist/esm, each with declarations.
// Run from the package directory (its "build" script). A package with native/ builds that first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.cwd(), 'package.json'));
const tsc = require.resolve('typescript/bin/tsc');
rmSync('dist', { recursive: true, force: true });
const run = (args) => execFileSync(process.execPath, [tsc, ...args], { stdio: 'inherit' });
run(['-p', 'tsconfig.build.json', '--outDir', 'dist/cjs']);
run(['-p', 'tsconfig.build.json', '--outDir', 'dist/esm', '--module', 'ES2022', '--moduleResolution', 'Bundler']);
mkdirSync('dist/cjs', { recursive: true });
mkdirSync('dist/esm', { recursive: true });
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');
writeFileSync('dist/esm/package.json', '{ "type": "module", "sideEffects": false }\n');
if (!existsSync('dist/esm/index.js')) {
  console.error('build-package: dist/esm/index.js was not produced');
  process.exit(1);
}
