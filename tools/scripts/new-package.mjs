#!/usr/bin/env node
// Scaffolds packages/<name>: package.json, tsconfigs, jest config, README, src/index.ts, test/.
// Usage: node tools/scripts/new-package.mjs <name> "<description>" [--deps memory,queue] [--node]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [name, description, ...rest] = process.argv.slice(2);
if (!name || !description) {
  console.error('usage: new-package.mjs <name> "<description>" [--deps a,b] [--node]');
  process.exit(2);
}
const depsArg = rest.indexOf('--deps');
const deps = depsArg >= 0 ? rest[depsArg + 1].split(',').filter(Boolean) : [];
const node = rest.includes('--node');
const dir = join('packages', name);
if (existsSync(dir)) {
  console.error(`${dir} exists`);
  process.exit(1);
}
mkdirSync(join(dir, 'src'), { recursive: true });
mkdirSync(join(dir, 'test'), { recursive: true });
// Repository, homepage and bugs come from the root package.json, the one place that names them.
const root = JSON.parse(readFileSync('package.json', 'utf8'));
const web = root.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
const json = (p, v) => writeFileSync(join(dir, p), JSON.stringify(v, null, 2) + '\n');
json('package.json', {
  name: `@vmv/${name}`,
  version: '0.0.0',
  description,
  license: 'Apache-2.0',
  repository: { ...root.repository, directory: `packages/${name}` },
  homepage: `${web}/tree/main/packages/${name}#readme`,
  bugs: root.bugs,
  keywords: ['virtio', 'vmm', 'virtualization', 'emulator'],
  sideEffects: false,
  main: './dist/cjs/index.js',
  module: './dist/esm/index.js',
  types: './dist/cjs/index.d.ts',
  exports: {
    '.': {
      '@vmv/source': './src/index.ts',
      import: { types: './dist/esm/index.d.ts', default: './dist/esm/index.js' },
      require: { types: './dist/cjs/index.d.ts', default: './dist/cjs/index.js' },
    },
    './package.json': './package.json',
    './internal/*': { '@vmv/source': './src/*.ts', default: null },
  },
  files: ['dist', 'src', 'README.md', 'CHANGELOG.md'],
  engines: { node: '>=20.19' },
  publishConfig: { access: 'public' },
  scripts: {
    build: 'node ../../tools/scripts/build-package.mjs',
    typecheck: 'tsc -p tsconfig.json',
    lint: 'eslint src test',
    test: 'jest --ci --coverage --json --outputFile=.jest-results.json',
  },
  dependencies: Object.fromEntries(deps.map((d) => [`@vmv/${d}`, 'workspace:^'])),
});
json('tsconfig.json', {
  extends: '../../tsconfig.base.json',
  compilerOptions: { noEmit: true, rootDir: '.', types: ['node'], customConditions: ['@vmv/source'] },
  include: ['src', 'test'],
});
json('tsconfig.build.json', {
  extends: '../../tsconfig.base.json',
  compilerOptions: { rootDir: 'src', types: node ? ['node'] : [] },
  include: ['src'],
});
writeFileSync(join(dir, 'jest.config.cjs'), "module.exports = require('../../jest.preset.cjs')(__dirname);\n");
writeFileSync(join(dir, 'README.md'), `# @vmv/${name}\n\n${description}\n`);
writeFileSync(join(dir, 'src', 'index.ts'), `/**\n * @packageDocumentation\n * ${description}\n */\nexport {};\n`);
console.log(`created ${dir}`);
