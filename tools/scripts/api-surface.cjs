// The public surface of a package, for its golden test (test/surface.test.ts): every export of
// every entry point of its exports map (through the "@vmv/source" condition), with its kind and,
// for classes and interfaces, the names of its public members. Types count as much as values: a
// type added to an entry point is a promise to users, so the golden changes with it.
const { existsSync, readFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const ts = require('typescript');

const KINDS = [
  [ts.SymbolFlags.Class, 'class'],
  [ts.SymbolFlags.Interface, 'interface'],
  [ts.SymbolFlags.TypeAlias, 'type'],
  [ts.SymbolFlags.Enum, 'enum'],
  [ts.SymbolFlags.Function, 'function'],
  [ts.SymbolFlags.Variable, 'const'],
  [ts.SymbolFlags.Namespace, 'namespace'],
];

const TYPE_MEANING = ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum;

// `export type { X }` exports only the type meaning of X, even when X is also a value.
function isTypeOnly(exported) {
  return (exported.declarations ?? []).some((d) => (ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly)));
}

function kindsOf(symbol, typeOnly) {
  const kinds = KINDS.filter(([flag]) => symbol.flags & flag && (!typeOnly || flag & TYPE_MEANING)).map(([, name]) => name);
  if (typeOnly && symbol.flags & ts.SymbolFlags.Value) return kinds.length ? `type-only ${kinds.join('+')}` : 'type-only type';
  return kinds.length ? kinds.join('+') : 'other';
}

// A member tagged @internal is left out of the published declarations when the package builds
// with stripInternal, so it is not part of the surface then.
function isInternal(decl) {
  return ts.getJSDocTags(decl).some((t) => t.tagName.text === 'internal');
}

function isPublicMember(decl, stripInternal) {
  if (stripInternal && isInternal(decl)) return false;
  const mods = ts.canHaveModifiers(decl) ? (ts.getModifiers(decl) ?? []) : [];
  if (mods.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword)) return false;
  return !(decl.name && ts.isPrivateIdentifier(decl.name));
}

function membersOf(symbol, stripInternal) {
  const names = new Set();
  const add = (table, prefix) => table?.forEach((m, name) => {
    if (name === '__constructor' || name === 'prototype' || m.flags & ts.SymbolFlags.TypeParameter) return;
    if ((m.declarations ?? []).some((d) => isPublicMember(d, stripInternal))) names.add(prefix + name);
  });
  add(symbol.members, '.');
  if (symbol.flags & ts.SymbolFlags.Class) add(symbol.exports, 'static ');
  return [...names].sort();
}

/**
 * @param {string} packageDir - the package's directory.
 * @returns {string} one line per export, `<entry> <kind> <name>`, members indented below.
 */
function apiSurface(packageDir) {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const entries = Object.entries(pkg.exports ?? {})
    .filter(([key, target]) => target && typeof target === 'object' && typeof target['@vmv/source'] === 'string' && !key.includes('*'))
    .map(([key, target]) => [key, resolve(packageDir, target['@vmv/source'])]);
  const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} };
  const config = ts.getParsedCommandLineOfConfigFile(join(packageDir, 'tsconfig.json'), {}, host);
  const buildConfig = existsSync(join(packageDir, 'tsconfig.build.json')) ? ts.getParsedCommandLineOfConfigFile(join(packageDir, 'tsconfig.build.json'), {}, host) : config;
  const stripInternal = buildConfig.options.stripInternal === true;
  const program = ts.createProgram(entries.map(([, file]) => file), { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const lines = [];
  for (const [key, file] of entries) {
    const source = program.getSourceFile(file);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error(`api-surface: cannot read ${file}`);
    const exports = checker.getExportsOfModule(moduleSymbol).sort((a, b) => a.name.localeCompare(b.name));
    for (const exported of exports) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      lines.push(`${key} ${kindsOf(symbol, isTypeOnly(exported))} ${exported.name}`);
      if (symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface)) for (const m of membersOf(symbol, stripInternal)) lines.push(`    ${m}`);
    }
  }
  return lines.join('\n') + '\n';
}

module.exports = { apiSurface };
