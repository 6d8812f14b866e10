#!/usr/bin/env node
// Compiles the addon by calling the C++ compiler directly: no node-gyp, make or python, and
// nothing downloaded (the Node headers are those of the Node running this script).
//   node scripts/build-native.mjs                the package build: the prebuilds shipped in the
//                                                package, prebuilds/linux-x64/vmv_sys.node and
//                                                prebuilds/linux-arm64/vmv_sys.node (the other
//                                                architecture cross-compiled with Debian's
//                                                g++-<triple>, installed by tools/scripts/ensure-apt.sh)
//   node scripts/build-native.mjs --if-stale     the same, only for prebuilds missing or older than
//                                                native/*.cc, native/*.h or this script
//   node scripts/build-native.mjs --from-source  this machine only, into native/build/Release/vmv_sys.node,
//                                                which the loader prefers while it is the newer file
//                                                (musl, an architecture without a prebuild, your own
//                                                compiler flags). The compiler is $CXX or g++.
//   --nodedir=DIR                                Node headers in DIR/include/node (default: the prefix
//                                                above bin/node of this Node, e.g. /usr)
// Needs a C++17 compiler, Node's headers (node_api.h and uv.h) and the node-addon-api package
// (a devDependency here; in a project using @vmv/sys: npm install --save-dev node-addon-api@8).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const root = dirname(dirname(self));
const nativeDir = join(root, 'native');
const args = process.argv.slice(2);
const fromSource = args.includes('--from-source');
const ifStale = args.includes('--if-stale');
const nodedirArg = args.find((a) => a.startsWith('--nodedir='));

/** The architectures we ship, with the GNU triple of their Debian cross compiler. */
const TARGETS = {
  x64: { triple: 'x86_64-linux-gnu', apt: 'g++-x86-64-linux-gnu' },
  arm64: { triple: 'aarch64-linux-gnu', apt: 'g++-aarch64-linux-gnu' },
};

function fail(message) {
  console.error(`@vmv/sys: ${message}`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`the native addon is Linux only (this is ${process.platform})`);

const sources = readdirSync(nativeDir).filter((f) => f.endsWith('.cc')).sort().map((f) => join(nativeDir, f));
const inputs = [...sources, ...readdirSync(nativeDir).filter((f) => f.endsWith('.h')).map((f) => join(nativeDir, f)), self];
const newestInput = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
const isStale = (file) => !existsSync(file) || statSync(file).mtimeMs < newestInput;

/** What to build: [{ arch, output, cxx }]. */
let jobs;
if (fromSource) {
  jobs = [{ arch: process.arch, output: join(nativeDir, 'build', 'Release', 'vmv_sys.node'), cxx: process.env.CXX || 'g++' }];
} else {
  jobs = Object.entries(TARGETS).map(([arch, t]) => ({
    arch,
    output: join(root, 'prebuilds', `linux-${arch}`, 'vmv_sys.node'),
    cxx: arch === process.arch ? process.env.CXX || 'g++' : `${t.triple}-g++`,
    apt: arch === process.arch ? undefined : t.apt,
  }));
  if (!(process.arch in TARGETS)) fail(`no prebuild target for ${process.arch}: build for this machine with --from-source`);
}
if (ifStale) jobs = jobs.filter((j) => isStale(j.output));
if (jobs.length === 0) process.exit(0);

const nodedir = nodedirArg ? nodedirArg.slice('--nodedir='.length) : dirname(dirname(process.execPath));
const nodeInclude = join(nodedir, 'include', 'node');
for (const h of ['node_api.h', 'uv.h']) {
  if (!existsSync(join(nodeInclude, h))) fail(`Node headers not found (${join(nodeInclude, h)}): install Node's development headers (Debian: libnode-dev or nodejs from nodesource; Alpine: nodejs-dev) or pass --nodedir=DIR`);
}
// node-addon-api's napi.h sits at its package root (its include_dir is relative to the cwd).
let addonApiInclude;
try {
  addonApiInclude = dirname(createRequire(join(root, 'package.json')).resolve('node-addon-api/package.json'));
} catch {
  fail('node-addon-api not found: install it in your project (npm install --save-dev node-addon-api@8)');
}
if (!existsSync(join(addonApiInclude, 'napi.h'))) fail(`napi.h not found in ${addonApiInclude}`);

function hasCommand(cmd) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' }).status === 0;
}
// Cross compilers come from Debian; in this repository ensure-apt.sh installs them (as root) or
// names what is missing.
for (const j of jobs) {
  if (j.apt === undefined || hasCommand(j.cxx)) continue;
  const ensure = join(root, '..', '..', 'tools', 'scripts', 'ensure-apt.sh');
  if (!existsSync(ensure)) fail(`${j.cxx} not found (Debian: apt-get install ${j.apt})`);
  const r = spawnSync('bash', [ensure, `${j.apt}=${j.cxx}`], { stdio: 'inherit' });
  if (r.status !== 0) fail(`cannot build the linux-${j.arch} prebuild without ${j.cxx}`);
}

// N-API 8 is in every Node >= 12.22, so one binary serves every Node this package supports.
// -s strips; libstdc++ stays shared (Node itself needs it, so it is always there).
const flags = [
  '-std=c++17', '-O2', '-fPIC', '-shared', '-fvisibility=hidden', '-fno-exceptions', '-fno-rtti',
  '-DNAPI_VERSION=8', '-DNODE_ADDON_API_DISABLE_CPP_EXCEPTIONS', '-DBUILDING_NODE_EXTENSION',
  `-I${nodeInclude}`, `-I${addonApiInclude}`,
  '-Wall', '-Wextra', '-Wno-unused-parameter', '-s', '-Wl,--as-needed',
];

function compile(job) {
  mkdirSync(dirname(job.output), { recursive: true });
  const tmp = `${job.output}.${process.pid}.tmp`;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(job.cxx, [...flags, ...sources, '-o', tmp], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => resolve({ job, ok: false, out: `${job.cxx}: ${e.message}` }));
    child.on('close', (code) => {
      if (code === 0) {
        // Renamed into place whole: a loader never sees a half-written file.
        renameSync(tmp, job.output);
      } else {
        rmSync(tmp, { force: true });
      }
      resolve({ job, ok: code === 0, out, seconds: (Date.now() - started) / 1000 });
    });
  });
}

const results = await Promise.all(jobs.map(compile));
let ok = true;
for (const r of results) {
  if (r.out) process.stderr.write(r.out);
  if (!r.ok) {
    ok = false;
    console.error(`@vmv/sys: building ${relative(root, r.job.output)} with ${r.job.cxx} failed`);
  } else {
    console.log(`@vmv/sys: built ${relative(root, r.job.output)} (${r.job.cxx}, ${statSync(r.job.output).size} bytes) in ${r.seconds.toFixed(1)} s`);
  }
}
process.exit(ok ? 0 : 1);
