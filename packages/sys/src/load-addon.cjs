'use strict';
// Finds and loads the compiled addon. This file is plain CommonJS on purpose: the TypeScript sources
// are compiled to both CommonJS and ESM, and only CommonJS knows its own location (__dirname) in
// both builds. It runs from src/ (tests), dist/cjs/ and dist/esm/, and finds the package root above.
//
// Candidates, in this order:
//   1. native/build/Release/vmv_sys.node, a build from source (scripts/build-native.mjs
//      --from-source), when it exists and is not older than the prebuild for this machine;
//   2. prebuilds/<platform>-<arch>/vmv_sys.node, shipped in the package for linux-x64 and
//      linux-arm64 (glibc);
//   3. the from-source build when it is older than the prebuild (a stale build is still better
//      than none if the prebuild does not load).
// The first that loads wins. It never throws: it exports { addon } or { failure }, and native.ts
// turns a failure into the typed Sys.AddonLoadError (errors.ts, which needs this file, defines it).
const { existsSync, readFileSync, statSync } = require('node:fs');
const { dirname, join } = require('node:path');

function packageRoot(start) {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === '@vmv/sys') return dir;
      } catch {
        // a package.json that is not JSON is not ours; keep walking up
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The C library of this process, for the error only (the success path never asks). */
function libc() {
  try {
    const glibc = process.report.getReport().header.glibcVersionRuntime;
    return glibc ? `glibc ${glibc}` : 'musl or another non-glibc libc';
  } catch {
    return 'unknown libc';
  }
}

function load() {
  const { platform, arch } = process;
  const failure = (tried) => ({ failure: { platform, arch, libc: platform === 'linux' ? libc() : '', tried } });
  if (platform !== 'linux') return failure([]);
  const root = packageRoot(__dirname);
  if (root === undefined) return failure([]);
  const local = join(root, 'native', 'build', 'Release', 'vmv_sys.node');
  const prebuild = join(root, 'prebuilds', `${platform}-${arch}`, 'vmv_sys.node');
  const localTime = mtime(local);
  const prebuildTime = mtime(prebuild);
  const localFirst = localTime !== undefined && (prebuildTime === undefined || localTime >= prebuildTime);
  const candidates = localFirst ? [local, prebuild] : [prebuild, local];
  const tried = [];
  for (const file of candidates) {
    if ((file === local ? localTime : prebuildTime) === undefined) continue;
    try {
      return { addon: require(file), file };
    } catch (e) {
      tried.push({ file, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return failure(tried);
}

module.exports = load();
