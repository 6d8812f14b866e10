// Two projects. "workspace": promises of the repository itself (metadata, docs, error shape),
// checked on the tree and the built packages. "packed": what a consumer sees, checked on the
// released tarballs installed from a local registry into blank projects; its global setup makes
// the release (see packed/setup.ts) and runs only when one of its tests is selected.
// No "@vmv/source" condition anywhere here: these tests load built packages exactly as users do.
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: `${__dirname}/tsconfig.json`, diagnostics: false }] };
// Installs and bundles on a busy two-core machine: a generous bound, so only a hang fails.
const testTimeout = 300000;
module.exports = {
  testTimeout,
  projects: [
    {
      displayName: 'workspace',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      transform,
      testTimeout,
    },
    {
      displayName: 'packed',
      testEnvironment: 'node',
      roots: ['<rootDir>/packed'],
      testMatch: ['**/*.test.ts'],
      transform,
      globalSetup: '<rootDir>/packed/setup.ts',
      globalTeardown: '<rootDir>/packed/teardown.ts',
      testTimeout,
    },
  ],
};
