// Lint for every package. Core packages (everything but the Node-only ones) may not touch Node:
// no node: imports, no Node globals, so they run unchanged in a browser.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const NODE_ONLY = ['sys', 'vhost-user', 'vhost-user-blk', 'vhost-user-rng', 'vhost-user-input', 'vhost-user-console', 'vhost-user-vsock', 'vhost-user-scsi', 'vhost-user-sound', 'vhost-user-gpio', 'vhost-user-i2c', 'vhost-user-can', 'vhost-user-spi', 'vfio-user-daemon'];
const coreSrc = `packages/!(${NODE_ONLY.join('|')})/src/**/*.ts`;

export default tseslint.config(
  { ignores: ['**/dist/**', '**/coverage/**', '**/node_modules/**', '**/native/build/**', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: [coreSrc],
    ignores: ['packages/*/src/node/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'path', 'os', 'child_process', 'net', 'worker_threads', 'buffer', 'events', 'stream', 'crypto', 'util'], message: 'Core packages run in browsers: no Node built-ins outside src/node/.' }] }],
      'no-restricted-globals': ['error', 'Buffer', 'process', 'require', '__dirname', '__filename', 'setImmediate', 'global'],
    },
  },
  {
    files: ['**/*.mjs', 'tools/**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['**/test/**/*.ts', 'tools/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
