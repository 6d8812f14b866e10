/**
 * The package's version for `--version`.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The package's version, read from its package.json (CommonJS builds and tests; `unknown` where
 * the file cannot be found).
 * @returns the version string.
 * @example
 * ```ts
 * console.log(packageVersion()); // "0.1.0"
 * ```
 */
export function packageVersion(): string {
  try {
    if (typeof __dirname === 'string') {
      for (let dir = __dirname; ; dir = dirname(dir)) {
        const file = join(dir, 'package.json');
        if (existsSync(file)) {
          const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
          if (pkg.name === '@vmv/vhost-user-console' && typeof pkg.version === 'string') return pkg.version;
        }
        if (dirname(dir) === dir) break;
      }
    }
  } catch {
    // fall through
  }
  return 'unknown';
}
