/**
 * A daemon's version for `--version`.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The version in package `name`'s package.json, found by walking up from `dir` (a daemon passes its
 * module's `__dirname`: `undefined` in an ES module build, where the result is `unknown`).
 * @param name - the package's name.
 * @param dir - where to start looking.
 * @returns the version string, or `unknown` where no such package.json is found.
 * @example
 * ```ts
 * packageVersion('@vmv/vhost-user-rng', typeof __dirname === 'string' ? __dirname : undefined); // "0.1.0"
 * ```
 */
export function packageVersion(name: string, dir: string | undefined): string {
  try {
    for (let d = dir; d !== undefined; d = dirname(d) === d ? undefined : dirname(d)) {
      const file = join(d, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && typeof pkg.version === 'string') return pkg.version;
    }
  } catch {
    // an unreadable or malformed package.json on the way: no version to give
  }
  return 'unknown';
}
