// Shared jest configuration. Tests import packages by their public names; the "@vmv/source"
// export condition makes those names resolve to the TypeScript sources, through each package's
// exports map (so anything the map hides stays unimportable in tests too).
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

function selfMapper(rootDir) {
  const pkg = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8'));
  const map = {};
  const escape = (s) => s.replace(/[/.*+?^${}()|[\]\\]/g, '\\$&');
  for (const [key, target] of Object.entries(pkg.exports ?? {})) {
    if (target === null || typeof target !== 'object' || !target['@vmv/source']) continue;
    const spec = pkg.name + key.slice(1);
    // A pattern ("./internal/*" -> "./src/*.ts") maps what the star matches into the target.
    if (spec.includes('*')) map['^' + spec.split('*').map(escape).join('(.*)') + '$'] = join(rootDir, target['@vmv/source'].replace('*', '$1'));
    else map['^' + escape(spec) + '$'] = join(rootDir, target['@vmv/source']);
  }
  return map;
}

module.exports = function preset(rootDir, overrides = {}) {
  return {
    rootDir,
    testEnvironment: 'node',
    roots: ['<rootDir>/test'],
    testMatch: ['**/*.test.ts'],
    transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: join(rootDir, 'tsconfig.json'), diagnostics: false }] },
    moduleNameMapper: { ...selfMapper(rootDir), '^(\\.{1,2}/.*)\\.js$': '$1' },
    testEnvironmentOptions: { customExportConditions: ['@vmv/source', 'node', 'require', 'default'] },
    collectCoverageFrom: ['<rootDir>/src/**/*.ts'],
    coverageReporters: ['text-summary', 'lcov'],
    // CI runs many suites at once on two cores: a generous bound, so only a real hang fails.
    testTimeout: 30000,
    ...overrides,
  };
};
