// The public entry points of every published package, read from its package.json "exports":
// each subpath with a "@vmv/source" target, less patterns ("./internal/*") and ./package.json.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * @returns one record per published package, sorted by directory: `dir` (the folder name, which
 * is also the folder of its reference under site/api), `name`, `description`, `path` (absolute)
 * and `entryPoints`, each `{ subpath, file }` with `file` relative to the package folder.
 */
export function packages() {
  const out = [];
  for (const dir of readdirSync(join(root, 'packages')).sort()) {
    const path = join(root, 'packages', dir);
    if (!existsSync(join(path, 'package.json'))) continue;
    const pkg = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
    if (pkg.private) continue;
    const entryPoints = [];
    for (const [key, target] of Object.entries(pkg.exports ?? {})) {
      if (key.includes('*') || target === null || typeof target !== 'object') continue;
      const source = target['@vmv/source'];
      if (typeof source === 'string') entryPoints.push({ subpath: key, file: source });
    }
    out.push({ dir, name: pkg.name, description: pkg.description ?? '', path, entryPoints });
  }
  return out;
}
