// The code blocks of the READMEs and docs pages, and the programs they make.
//
// Convention (an HTML comment on the line before a fence; a reader of the rendered page does not
// see it):
//   <!-- example: ID -->              the block below is a complete program named ID
//   <!-- example: ID, continued -->   the block continues program ID of the same page (the program
//                                     is the blocks in order: a device, then the code driving it)
//   <!-- fragment of: ID -->          the block is an excerpt of program ID: each of its lines is
//                                     a line of ID (a check keeps them from drifting apart)
//   <!-- page for: ID -->             an html block: a page that loads program ID bundled for the
//                                     browser (from the src of its module script)
// Every ts/js block carries one of the first three; every html block the last. Other languages
// (sh, c, plain text) are left alone. A program runs in Node; in browsers too unless it imports
// Node built-ins or a Node-only @vmv package, or uses `process`.
'use strict';
const { existsSync, readdirSync, readFileSync } = require('node:fs');
const { join, relative } = require('node:path');

const ROOT = join(__dirname, '..', '..', '..');
const CODE_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'cjs']);
const NODE_ONLY_PACKAGES = new Set(['@vmv/sys', '@vmv/vhost-user', '@vmv/vhost-user-blk', '@vmv/vhost-user-rng', '@vmv/vhost-user-input', '@vmv/vhost-user-console', '@vmv/vhost-user-vsock', '@vmv/vhost-user-scsi', '@vmv/vhost-user-sound', '@vmv/vhost-user-gpio', '@vmv/vhost-user-i2c', '@vmv/vhost-user-can', '@vmv/vhost-user-spi', '@vmv/vfio-user-daemon']);
/** Entry points of those packages that are pure TypeScript and run anywhere. */
const PORTABLE_ENTRIES = new Set(['@vmv/vhost-user/protocol']);
const NODE_BUILTINS = new Set(require('node:module').builtinModules);
/** Where the API reference lives; a package's is API_BASE + its short name + '/'. */
const API_BASE = 'https://vmv-dev.github.io/vmv/api/';

/** The markdown files whose blocks are checked: the root README, package READMEs, docs/*.md. */
function markdownFiles(root = ROOT) {
  const files = [{ path: join(root, 'README.md'), package: null }];
  for (const dir of readdirSync(join(root, 'packages')).sort()) {
    const readme = join(root, 'packages', dir, 'README.md');
    const pkg = join(root, 'packages', dir, 'package.json');
    if (existsSync(readme) && existsSync(pkg)) files.push({ path: readme, package: JSON.parse(readFileSync(pkg, 'utf8')).name });
  }
  if (existsSync(join(root, 'docs'))) {
    for (const f of readdirSync(join(root, 'docs')).sort()) if (f.endsWith('.md')) files.push({ path: join(root, 'docs', f), package: null });
  }
  return files.map((f) => ({ ...f, source: relative(root, f.path) }));
}

const MARKER = /^<!--\s*(example|fragment of|page for):\s*([a-z0-9][a-z0-9-]*)(,\s*continued)?\s*-->$/;

/** The fenced blocks of `text`, each with the marker on the line before it (or null). */
function blocks(text) {
  const lines = text.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})([\w-]*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, lang] = open;
    let j = i + 1;
    while (j < lines.length && !(lines[j].trim() === fence && lines[j].startsWith(indent))) j++;
    const code = lines.slice(i + 1, j).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart())).join('\n') + '\n';
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === '') k--;
    const m = k >= 0 ? MARKER.exec(lines[k].trim()) : null;
    out.push({ line: i + 1, lang: lang.toLowerCase(), code, marker: m ? { kind: m[1], id: m[2], continued: m[3] !== undefined } : null, markerText: k >= 0 ? lines[k].trim() : '' });
    i = j;
  }
  return out;
}

/** The @vmv packages named by the `npm install` lines of a markdown text. */
function installLine(text) {
  const names = new Set();
  let found = false;
  for (const b of blocks(text)) {
    if (b.lang !== 'sh' && b.lang !== 'bash') continue;
    for (const line of b.code.split('\n')) {
      const m = /^\s*npm install\s+([^#]*)/.exec(line);
      if (!m) continue;
      found = true;
      for (const word of m[1].trim().split(/\s+/)) if (word.startsWith('@vmv/')) names.add(word.replace(/@[^@/]*$/, (v) => (v === word ? v : '')));
    }
  }
  return found ? [...names].sort() : null;
}

/** Module specifiers a program loads (static imports, export-from, import(), require()). */
function specifiers(code, fileName = 'x.ts') {
  const ts = require('typescript');
  const sf = ts.createSourceFile(fileName, code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0]) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) found.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** The package a specifier names (`@vmv/block/node` -> `@vmv/block`, `node:fs` -> `node:fs`). */
function packageOf(spec) {
  if (spec.startsWith('@')) return spec.split('/').slice(0, 2).join('/');
  return spec.split('/')[0];
}

/** Whether the program names Node's globals `process`, `Buffer`, `require` or `__dirname` (comments aside). */
function usesNodeGlobals(code) {
  const ts = require('typescript');
  const sf = ts.createSourceFile('x.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  let found = false;
  const visit = (node) => {
    if (found) return;
    if (ts.isIdentifier(node) && ['process', 'Buffer', 'require', '__dirname', '__filename'].includes(node.text)) {
      const parent = node.parent;
      const isMemberName = parent && ts.isPropertyAccessExpression(parent) && parent.name === node;
      if (!isMemberName) found = true;
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function isNodeOnly(code, specs) {
  return specs.some((s) => s.startsWith('node:') || NODE_BUILTINS.has(packageOf(s)) || (NODE_ONLY_PACKAGES.has(packageOf(s)) && !PORTABLE_ENTRIES.has(s)) || /^@vmv\/[^/]+\/node$/.test(s)) || usesNodeGlobals(code);
}

/**
 * Every block of every markdown file, classified. Returns the programs (complete examples), the
 * fragments, the pages, and `problems`: a sentence per block that breaks the convention.
 */
function collect(root = ROOT) {
  const programs = new Map();
  const fragments = [];
  const pages = [];
  const problems = [];
  for (const file of markdownFiles(root)) {
    const text = readFileSync(file.path, 'utf8');
    const where = (b) => `${file.source}:${b.line}`;
    for (const b of blocks(text)) {
      const isCode = CODE_LANGS.has(b.lang);
      if (!isCode && b.lang !== 'html') continue;
      const m = b.marker;
      if (m === null) {
        problems.push(`${where(b)}: a ${b.lang} block without a marker (<!-- example: ID -->, <!-- fragment of: ID -->${b.lang === 'html' ? ', <!-- page for: ID -->' : ''})`);
        continue;
      }
      if (b.lang === 'html') {
        if (m.kind !== 'page for') problems.push(`${where(b)}: an html block marked "${m.kind}" (only <!-- page for: ID -->)`);
        else pages.push({ for: m.id, source: file.source, line: b.line, html: b.code });
        continue;
      }
      if (m.kind === 'page for') {
        problems.push(`${where(b)}: "page for" marks html blocks, not ${b.lang}`);
      } else if (m.kind === 'fragment of') {
        fragments.push({ of: m.id, source: file.source, line: b.line, code: b.code });
      } else if (m.continued) {
        const p = programs.get(m.id);
        if (!p || p.source !== file.source) problems.push(`${where(b)}: continues "${m.id}", which does not start earlier on this page`);
        else p.code += '\n' + b.code;
      } else if (programs.has(m.id)) {
        problems.push(`${where(b)}: example id "${m.id}" already used at ${programs.get(m.id).source}:${programs.get(m.id).line}`);
      } else {
        programs.set(m.id, { id: m.id, package: file.package, source: file.source, line: b.line, code: b.code, lang: b.lang });
      }
    }
  }
  for (const p of programs.values()) {
    const specs = specifiers(p.code);
    p.specifiers = specs;
    p.packages = [...new Set(specs.filter((s) => s.startsWith('@vmv/')).map(packageOf))].sort();
    p.node = true;
    p.browser = !isNodeOnly(p.code, specs);
    const bad = specs.filter((s) => s.startsWith('.') || s.startsWith('/'));
    if (bad.length > 0) problems.push(`${p.source}:${p.line}: example "${p.id}" imports by path (${bad.join(', ')}): a user's project has only package names`);
  }
  for (const f of fragments) {
    const p = programs.get(f.of);
    if (!p) {
      problems.push(`${f.source}:${f.line}: a fragment of "${f.of}", which is no complete example`);
      continue;
    }
    const lines = new Set(p.code.split('\n').map((l) => l.trim()));
    for (const l of f.code.split('\n')) {
      const t = l.trim();
      if (t !== '' && !lines.has(t)) problems.push(`${f.source}:${f.line}: a fragment of "${f.of}" with a line that is not in it: ${t}`);
    }
  }
  for (const pg of pages) {
    const p = programs.get(pg.for);
    if (!p) problems.push(`${pg.source}:${pg.line}: a page for "${pg.for}", which is no complete example`);
    else if (!p.browser) problems.push(`${pg.source}:${pg.line}: a page for "${pg.for}", which does not run in browsers`);
    else if (pageScript(pg.html) === null) problems.push(`${pg.source}:${pg.line}: a page without <script type="module" src="...">`);
  }
  return { programs: [...programs.values()], fragments, pages, problems };
}

/** The src of a page's module script. */
function pageScript(html) {
  const m = /<script\s+type="module"\s+src="([^"]+)"\s*><\/script>/.exec(html);
  return m ? m[1] : null;
}

/**
 * The CommonJS form of a program: imports stay at the top, the rest runs in an async function
 * (CommonJS has no top-level await), whose failure prints the error and exits 1. `export` is
 * dropped from declarations (a program's exports have no importer).
 */
function commonJsSource(code) {
  const ts = require('typescript');
  const sf = ts.createSourceFile('x.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const head = [];
  const body = [];
  for (const st of sf.statements) {
    const text = code.slice(st.getFullStart(), st.getEnd());
    if (ts.isImportDeclaration(st) || ts.isImportEqualsDeclaration(st)) head.push(text);
    else if (ts.isExportDeclaration(st) || ts.isExportAssignment(st)) continue;
    else {
      const mods = ts.canHaveModifiers(st) ? ts.getModifiers(st) ?? [] : [];
      const exp = mods.find((x) => x.kind === ts.SyntaxKind.ExportKeyword);
      if (exp) body.push(code.slice(st.getFullStart(), exp.getStart()) + code.slice(exp.getEnd(), st.getEnd()).replace(/^\s+/, ' '));
      else body.push(text);
    }
  }
  return `${head.join('')}\n(async () => {${body.join('')}\n})().catch((e) => {\n  console.error(e);\n  process.exit(1);\n});\n`;
}

/**
 * Writes each program's .ts, .mjs and .cjs forms and manifest.json into `out`; returns the manifest.
 * @param packageName - only the examples of this package's README.
 */
function extract(out, packageName = null, root = ROOT) {
  const esbuild = require('esbuild');
  const { mkdirSync, writeFileSync } = require('node:fs');
  const { programs, problems } = collect(root);
  if (problems.length > 0) throw new Error(`examples: ${problems.length} problem(s):\n${problems.join('\n')}`);
  mkdirSync(out, { recursive: true });
  const manifest = [];
  for (const p of programs) {
    if (packageName !== null && p.package !== packageName) continue;
    const banner = `// ${p.id}: from ${p.source} (line ${p.line}), extracted by @vmv-tools/examples\n`;
    const opts = { loader: 'ts', target: 'node20', sourcefile: `${p.id}.ts`, tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: false } } };
    const esm = esbuild.transformSync(p.code, { ...opts, format: 'esm' }).code;
    const cjs = esbuild.transformSync(commonJsSource(p.code), { ...opts, format: 'cjs' }).code;
    writeFileSync(join(out, `${p.id}.ts`), banner + p.code);
    writeFileSync(join(out, `${p.id}.mjs`), banner + esm);
    writeFileSync(join(out, `${p.id}.cjs`), banner + cjs);
    manifest.push({ id: p.id, package: p.package, source: p.source, packages: p.packages, node: p.node, browser: p.browser, esm: `${p.id}.mjs`, cjs: `${p.id}.cjs`, ts: `${p.id}.ts` });
  }
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

module.exports = { ROOT, API_BASE, NODE_ONLY_PACKAGES, markdownFiles, blocks, installLine, specifiers, packageOf, collect, pageScript, commonJsSource, extract };
