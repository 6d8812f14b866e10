#!/usr/bin/env node
// Adds up the jest result files that the test run left behind and prints "N passed, N failed".
// A package whose test task failed without writing results counts as one failure.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

let passed = 0;
let failed = 0;
const lines = [];
for (const top of ['packages', 'tools']) {
  if (!existsSync(top)) continue;
  for (const name of readdirSync(top).sort()) {
    const dir = join(top, name);
    if (!existsSync(join(dir, 'package.json'))) continue;
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const resultFiles = ['.jest-results.json', '.guest-results.json'].map((f) => join(dir, f));
    const hasTests = Boolean(pkg.scripts?.test);
    let found = false;
    for (const file of resultFiles) {
      if (!existsSync(file)) continue;
      found = true;
      const r = JSON.parse(readFileSync(file, 'utf8'));
      const p = r.numPassedTests ?? 0;
      // Suites that failed to run (a syntax error, a failed import) count as failures too.
      const f = (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0);
      passed += p;
      failed += f;
      lines.push(`${pkg.name.padEnd(32)} ${String(p).padStart(5)} passed ${String(f).padStart(4)} failed`);
    }
    if (hasTests && !found) {
      failed += 1;
      lines.push(`${pkg.name.padEnd(32)}   (no results: the test task did not run to the end)`);
    }
  }
}
if (!process.argv.includes('--quiet')) console.log(lines.join('\n'));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
