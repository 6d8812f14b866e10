/**
 * Every export of every published package carries a TSDoc comment with an `@example`
 * (the packaging rule of the project). Checked on the sources behind each public entry point
 * with the TypeScript compiler, so a new undocumented export fails here.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const root = join(__dirname, '..', '..', '..');

interface Entry {
  pkg: string;
  spec: string;
  file: string;
}

const entries: Entry[] = [];
for (const dir of readdirSync(join(root, 'packages'))) {
  const pkgPath = join(root, 'packages', dir, 'package.json');
  if (!existsSync(pkgPath)) continue;
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { name: string; private?: boolean; exports?: Record<string, unknown> };
  if (pkg.private) continue;
  for (const [key, target] of Object.entries(pkg.exports ?? {})) {
    if (target === null || typeof target !== 'object') continue;
    const source = (target as Record<string, unknown>)['@vmv/source'];
    if (typeof source === 'string') entries.push({ pkg: pkg.name, spec: pkg.name + key.slice(1), file: join(root, 'packages', dir, source) });
  }
}

const program = ts.createProgram(
  entries.map((e) => e.file),
  {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    customConditions: ['@vmv/source'],
    allowJs: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  },
);
const checker = program.getTypeChecker();

/** The names exported by `file` that lack a doc comment with an `@example` tag. */
function undocumented(file: string): string[] {
  const sf = program.getSourceFile(file);
  if (!sf) throw new Error(`not in program: ${file}`);
  const mod = checker.getSymbolAtLocation(sf);
  if (!mod) return [];
  const missing: string[] = [];
  for (const exported of checker.getExportsOfModule(mod)) {
    const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const decls = sym.getDeclarations() ?? [];
    const documented = decls.some((d) => {
      const node = ts.isVariableDeclaration(d) ? d.parent.parent : d;
      return ts.getJSDocTags(node).some((t) => t.tagName.text === 'example');
    });
    if (!documented) missing.push(exported.getName());
  }
  return missing;
}

describe.each(entries.map((e) => [e.spec, e] as const))('%s', (_spec, entry) => {
  it('documents every export with TSDoc including an @example', () => {
    expect(undocumented(entry.file)).toEqual([]);
  });
});
