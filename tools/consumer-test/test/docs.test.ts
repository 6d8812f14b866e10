/**
 * Every export of every published package carries a TSDoc comment with an `@example`
 * (the packaging rule of the project), except error classes: an error subclass is a name, a code
 * and a constructor, and the example belongs on the function that throws it. Checked on the
 * sources behind each public entry point with the TypeScript compiler, so a new undocumented
 * export fails here.
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
    // Patterns (./internal/*) are not public entry points.
    if (typeof source === 'string' && !key.includes('*')) entries.push({ pkg: pkg.name, spec: pkg.name + key.slice(1), file: join(root, 'packages', dir, source) });
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

/** Whether `sym` is a class whose chain of base classes reaches the built-in `Error`. */
function isErrorClass(sym: ts.Symbol): boolean {
  if (!(sym.flags & ts.SymbolFlags.Class)) return false;
  const seen = new Set<ts.Type>();
  const reaches = (type: ts.Type): boolean => {
    if (seen.has(type)) return false;
    seen.add(type);
    if (type.getSymbol()?.getName() === 'Error' && !(type.getSymbol()!.flags & ts.SymbolFlags.Class)) return true;
    if (!(type.flags & ts.TypeFlags.Object) || !((type as ts.ObjectType).objectFlags & ts.ObjectFlags.ClassOrInterface)) return false;
    return (checker.getBaseTypes(type as ts.InterfaceType) ?? []).some(reaches);
  };
  return (checker.getBaseTypes(checker.getDeclaredTypeOfSymbol(sym) as ts.InterfaceType) ?? []).some(reaches);
}

/** The names exported by `file` that lack a doc comment with an `@example` tag (error classes need none). */
function undocumented(file: string): string[] {
  const sf = program.getSourceFile(file);
  if (!sf) throw new Error(`not in program: ${file}`);
  const mod = checker.getSymbolAtLocation(sf);
  if (!mod) return [];
  const missing: string[] = [];
  for (const exported of checker.getExportsOfModule(mod)) {
    const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (isErrorClass(sym)) continue;
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
  it('documents every export with TSDoc including an @example (error classes excepted)', () => {
    expect(undocumented(entry.file)).toEqual([]);
  });
});

describe('error classes', () => {
  it('are recognised as exempt, and only they', () => {
    const queue = entries.find((e) => e.spec === '@vmv/queue')!;
    const mod = checker.getSymbolAtLocation(program.getSourceFile(queue.file)!)!;
    const byName = new Map(checker.getExportsOfModule(mod).map((x) => [x.getName(), x.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(x) : x]));
    expect(isErrorClass(byName.get('InvalidSizeError')!)).toBe(true);
    expect(isErrorClass(byName.get('QueueError')!)).toBe(true);
    expect(isErrorClass(byName.get('SplitQueue')!)).toBe(false);
    expect(isErrorClass(byName.get('isQueueError')!)).toBe(false);
  });
});
