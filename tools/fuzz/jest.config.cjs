// Native ESM tests (test/*.test.mjs, run with --experimental-vm-modules) against the built
// packages (dist), as the campaigns run: no transform, no "@vmv/source" condition.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.mjs'],
  transform: {},
  // A busy two-core machine: generous bounds, so only a hang fails.
  testTimeout: 300000,
};
