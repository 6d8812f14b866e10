#!/usr/bin/env node
// `pnpm release`: version -> build -> pack -> publish. See docs/releasing.md.
//   1. version  `changeset version`: pending changesets become versions and CHANGELOG entries
//               (nothing happens when none are pending, e.g. after `pnpm version-packages`);
//   2. build    every package (turbo);
//   3. pack     tools/scripts/pack.mjs: the tarballs with a consumer package.json and LICENSE;
//   4. publish  each tarball, dependencies first, with `npm publish` to the registry in npm's
//               config (or --registry); a version already on the registry is skipped, so a
//               release that stopped half-way is finished by running it again;
//   5. tag      a git tag <name>@<version> (as changesets names them) for each package released.
// Options: --root DIR (the repository; default this one) --registry URL --no-build --no-git-tag
//          --dry-run (no version step, npm publish --dry-run, no tags)
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const root = resolve(value('--root') ?? join(here, '..', '..'));
const registry = value('--registry');
const dryRun = args.includes('--dry-run');
const out = join(root, '.vmv-cache', 'tarballs');
const registryArgs = registry ? ['--registry', registry] : [];

const step = (name) => console.log(`\nrelease: ${name}`);
const run = (cmd, argv, opts = {}) => execFileSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts });

if (dryRun) step('version skipped (--dry-run changes no file: run `pnpm version-packages` first to see a release of pending changesets)');
else {
  step('version (changeset version)');
  const changeset = createRequire(join(here, '..', '..', 'package.json')).resolve('@changesets/cli/bin.js');
  run(process.execPath, [changeset, 'version']);
}

if (args.includes('--no-build')) step('build skipped (--no-build)');
else {
  step('build');
  run('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=./packages/*']);
}

step('pack');
run(process.execPath, [join(here, 'pack.mjs'), '--root', root, '--out', out]);
const packed = JSON.parse(readFileSync(join(out, 'packed.json'), 'utf8'));

step(`publish${dryRun ? ' (dry run)' : ''}${registry ? ` to ${registry}` : ''}`);
/** Whether name@version is on the registry already (npm view prints nothing, or fails with E404, when not). */
function published(name, version) {
  const r = spawnSync('npm', ['view', `${name}@${version}`, 'version', ...registryArgs], { cwd: root, encoding: 'utf8' });
  if (r.status === 0) return r.stdout.trim() === version;
  if (/E404|404 Not Found/.test(r.stderr)) return false;
  throw new Error(`release: npm view ${name}@${version} failed:\n${r.stderr}`);
}
let count = 0;
for (const { name, version, file } of packed) {
  if (published(name, version)) {
    console.log(`release: ${name}@${version} is on the registry already`);
    continue;
  }
  // A prerelease (1.0.0-next.1) goes out under its own dist-tag, never as "latest".
  const pre = /-([a-z]+)/i.exec(version)?.[1];
  run('npm', ['publish', file, '--access', 'public', ...(pre ? ['--tag', pre] : []), ...registryArgs, ...(dryRun ? ['--dry-run'] : [])]);
  count++;
}

const inGit = spawnSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: root, encoding: 'utf8' }).stdout?.trim() === 'true';
if (!args.includes('--no-git-tag') && !dryRun && inGit) {
  step('tag');
  // Every released version gets its tag, also those published by an earlier, interrupted run.
  const missing = packed
    .map((p) => `${p.name}@${p.version}`)
    .filter((t) => spawnSync('git', ['rev-parse', '-q', '--verify', `refs/tags/${t}`], { cwd: root }).status !== 0);
  for (const tag of missing) run('git', ['tag', tag]);
  console.log(`release: ${missing.length} tag(s) made; push them with \`git push --tags\``);
}
console.log(`\nrelease: ${count} published${dryRun ? ' (dry run)' : ''}, ${packed.length - count} already on the registry`);
