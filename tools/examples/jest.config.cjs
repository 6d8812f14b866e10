// No "@vmv/source" condition: the examples run against the built packages (dist), as users get them.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: `${__dirname}/tsconfig.json`, diagnostics: false }] },
  // A busy two-core machine: generous bounds, so only a hang fails.
  testTimeout: 300000,
};
