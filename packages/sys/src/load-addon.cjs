'use strict';
// Loads the compiled addon. This file is plain CommonJS on purpose: the TypeScript sources are
// compiled to both CommonJS and ESM, and only CommonJS knows its own location (__dirname) in both
// builds. It runs from src/ (tests), dist/cjs/ and dist/esm/; the addon sits in native/build.
const { existsSync, readFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

const ADDON = join('native', 'build', 'Release', 'vmv_sys.node');

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

function load() {
  if (process.platform !== 'linux') {
    throw new Error(`@vmv/sys: Linux only (this is ${process.platform})`);
  }
  const root = packageRoot(__dirname);
  if (root === undefined) throw new Error(`@vmv/sys: package root not found above ${__dirname}`);
  const file = join(root, ADDON);
  if (!existsSync(file)) {
    throw new Error(`@vmv/sys: native addon missing at ${file}; build it with "node scripts/build-native.mjs" in ${root}`);
  }
  return require(file);
}

module.exports = load();
