#!/usr/bin/env node
// Packs every published package (packages/*, not private) into a tarball as users get it, from
// the built tree: the files its package.json lists ("files", as npm reads them), the root LICENSE,
// and a package.json for consumers. That package.json is the workspace one less what only the
// workspace uses:
// - "@vmv/source" export conditions (TypeScript sources for tests) are dropped, so "./internal/*"
//   becomes null;
// - scripts go, except install lifecycle scripts a consumer's install runs; devDependencies go;
// - "workspace:" ranges become the versions they stand for (workspace:^ -> ^1.2.3, as pnpm does);
// - "typesVersions" is derived from the exports map, so every subpath's types resolve under
//   TypeScript's node10 resolution too (which ignores "exports").
// Usage: node tools/scripts/pack.mjs [--root DIR] [--out DIR]
//   --root  the repository to pack (default: this one; the release test packs a scratch copy)
//   --out   where the tarballs go (default: ROOT/.vmv-cache/tarballs, emptied first)
// Writes OUT/packed.json: [{ name, version, dir, file, size, files }] in dependency order.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIFECYCLE = ['preinstall', 'install', 'postinstall'];
const DEP_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'];

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? resolve(args[i + 1]) : fallback;
};
const root = opt('--root', resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'));
const out = opt('--out', join(root, '.vmv-cache', 'tarballs'));

const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const packages = readdirSync(join(root, 'packages'))
  .filter((d) => existsSync(join(root, 'packages', d, 'package.json')))
  .map((d) => ({ dir: join(root, 'packages', d), pkg: readJson(join(root, 'packages', d, 'package.json')) }))
  .filter(({ pkg }) => !pkg.private);
const versionOf = new Map(packages.map(({ pkg }) => [pkg.name, pkg.version]));

/** The version range a `workspace:` range stands for once published. */
function publishedRange(name, dep, range) {
  if (!range.startsWith('workspace:')) return range;
  const version = versionOf.get(dep);
  if (!version) throw new Error(`pack: ${name} depends on ${dep}@${range}, which is not a published workspace package`);
  const spec = range.slice('workspace:'.length);
  if (spec === '^' || spec === '~') return spec + version;
  if (spec === '*') return version;
  return spec;
}

/** An exports map without the "@vmv/source" condition; a target left with no condition is null. */
function stripSource(target) {
  if (target === null || typeof target !== 'object') return target;
  const kept = Object.entries(target).filter(([k]) => k !== '@vmv/source');
  if (kept.length === 0 || kept.every(([, v]) => v === null)) return null;
  return Object.fromEntries(kept.map(([k, v]) => [k, stripSource(v)]));
}

/** The declaration file a condition tree gives to `require` (node10 resolution is CommonJS's). */
function requireTypes(target) {
  if (typeof target === 'string') return target.endsWith('.d.ts') ? target : null;
  if (target === null || typeof target !== 'object') return null;
  for (const key of ['require', 'types', 'default']) {
    const found = key in target ? requireTypes(target[key]) : null;
    if (found) return found;
  }
  return null;
}

/** The package.json a consumer installs. */
function publishManifest(pkg) {
  const out = {};
  for (const [key, value] of Object.entries(pkg)) {
    if (key === 'devDependencies' || key === 'typesVersions') continue;
    if (key === 'scripts') {
      const kept = Object.entries(value).filter(([k]) => LIFECYCLE.includes(k));
      if (kept.length) out.scripts = Object.fromEntries(kept);
    } else if (DEP_FIELDS.includes(key)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([dep, range]) => [dep, publishedRange(pkg.name, dep, range)]));
    } else if (key === 'exports') {
      out.exports = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripSource(v)]));
    } else {
      out[key] = value;
    }
    if (key === 'types' || (key === 'exports' && !('types' in pkg))) {
      const map = {};
      for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
        if (sub === '.' || sub.includes('*') || sub.endsWith('.json')) continue;
        const types = requireTypes(stripSource(target));
        if (types) map[sub.slice(2)] = [types];
      }
      if (Object.keys(map).length) out.typesVersions = { '*': map };
    }
  }
  return out;
}

/** npm pack of several directories at once (one npm start-up): its JSON report, one entry each. */
function npmPack(dirs, extra) {
  const report = execFileSync('npm', ['pack', ...dirs, '--json', '--ignore-scripts', ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  return JSON.parse(report);
}

/** Packages in dependency order, so a release publishes a package after what it depends on. */
function dependencyOrder(list) {
  const byName = new Map(list.map((p) => [p.pkg.name, p]));
  const done = new Set();
  const order = [];
  const visit = (p) => {
    if (done.has(p.pkg.name)) return;
    done.add(p.pkg.name);
    for (const field of DEP_FIELDS) for (const dep of Object.keys(p.pkg[field] ?? {})) if (byName.has(dep)) visit(byName.get(dep));
    order.push(p);
  };
  list.forEach(visit);
  return order;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const stage = mkdtempSync(join(tmpdir(), 'vmv-pack-'));
const ordered = dependencyOrder(packages);
const packed = [];
try {
  for (const { pkg, dir } of ordered) if (!existsSync(join(dir, 'dist'))) throw new Error(`pack: ${pkg.name} has no dist/: build first (pnpm build)`);
  // What npm would pack from each package directory ("files" as npm reads them, README...).
  const listings = npmPack(ordered.map((p) => p.dir), ['--dry-run']);
  const staged = ordered.map(({ dir, pkg }, i) => {
    const into = join(stage, pkg.name.replace('/', '+'));
    for (const { path: file } of listings[i].files) {
      if (file === 'package.json') continue;
      mkdirSync(dirname(join(into, file)), { recursive: true });
      copyFileSync(join(dir, file), join(into, file));
    }
    copyFileSync(join(root, 'LICENSE'), join(into, 'LICENSE'));
    writeFileSync(join(into, 'package.json'), JSON.stringify(publishManifest(pkg), null, 2) + '\n');
    return into;
  });
  const results = npmPack(staged, ['--pack-destination', out]);
  ordered.forEach(({ dir, pkg }, i) => {
    const file = join(out, results[i].filename);
    const size = statSync(file).size;
    packed.push({ name: pkg.name, version: pkg.version, dir, file, size, files: results[i].files.length });
    console.log(`pack: ${`${pkg.name}@${pkg.version}`.padEnd(30)} ${(size / 1024).toFixed(1).padStart(6)} KiB ${String(results[i].files.length).padStart(4)} files  ${results[i].filename}`);
  });
} finally {
  rmSync(stage, { recursive: true, force: true });
}
writeFileSync(join(out, 'packed.json'), JSON.stringify(packed, null, 2) + '\n');
