#!/usr/bin/env node
// Builds native/build/Release/vmv_sys.node with this package's node-gyp against the headers of
// the running Node (nodedir = the prefix above bin/node, e.g. /usr), so nothing is downloaded.
//   node scripts/build-native.mjs              always rebuild
//   node scripts/build-native.mjs --if-stale   rebuild only if the addon is missing or older
//                                              than native/*.cc, *.h or binding.gyp
//   node scripts/build-native.mjs --install    the package's install hook: --if-stale, and on a
//                                              platform other than Linux a warning instead of a failure
// node-gyp comes from this package's devDependencies in the repository, or, when installed from
// the registry, from the package manager running the install (npm and pnpm export its path as
// npm_config_node_gyp to lifecycle scripts).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const nativeDir = join(root, 'native');
const addon = join(nativeDir, 'build', 'Release', 'vmv_sys.node');

const installing = process.argv.includes('--install');
if (process.platform !== 'linux') {
  console.error(`@vmv/sys: the native addon is Linux only (this is ${process.platform})`);
  process.exit(installing ? 0 : 1);
}

function isStale() {
  if (!existsSync(addon)) return true;
  const built = statSync(addon).mtimeMs;
  return readdirSync(nativeDir)
    .filter((f) => /\.(cc|h)$/.test(f) || f === 'binding.gyp')
    .some((f) => statSync(join(nativeDir, f)).mtimeMs > built);
}

if ((installing || process.argv.includes('--if-stale')) && !isStale()) process.exit(0);

const nodedir = dirname(dirname(process.execPath));
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
  console.error(`@vmv/sys: Node headers not found under ${nodedir}/include/node; install the Node development headers`);
  process.exit(1);
}
const require = createRequire(join(root, 'package.json'));
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  gyp = process.env.npm_config_node_gyp;
}
if (!gyp || !existsSync(gyp)) {
  console.error('@vmv/sys: node-gyp not found: install it (npm i -g node-gyp@12) or install this package with npm or pnpm, which bring their own');
  process.exit(1);
}
const args = [gyp, 'rebuild', '--directory', nativeDir, `--nodedir=${nodedir}`, '--jobs=max'];
const started = Date.now();
// node-gyp runs `node` from PATH for the include-dir lookup in binding.gyp: make it this node.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env, encoding: 'utf8' });
if (r.status !== 0 || !existsSync(addon)) {
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  console.error(`@vmv/sys: native build failed (exit ${r.status ?? r.signal})`);
  process.exit(1);
}
console.log(`@vmv/sys: built ${addon} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
