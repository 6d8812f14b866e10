/**
 * The TypeScript form of every complete example type-checks under strict settings against the
 * packages' published declarations (dist .d.ts through the import condition), with TypeScript's
 * compiler: what a user's editor and tsc say about the README code.
 */
import { expect, it } from '@jest/globals';
import { join } from 'node:path';
import ts from 'typescript';
import { extractInto } from './support/extracted';

it('type-checks every example (strict, no errors)', () => {
  const { dir, manifest } = extractInto('typecheck');
  const program = ts.createProgram(
    manifest.map((e) => join(dir, e.ts)),
    {
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      module: ts.ModuleKind.Preserve,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      types: ['node'],
      typeRoots: [join(__dirname, '..', '..', '..', 'node_modules', '@types')],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      isolatedModules: true,
    },
  );
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return text;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName.slice(dir.length + 1)}:${line + 1}:${character + 1} ${text}`;
  });
  expect(diagnostics).toEqual([]);
  expect(manifest.length).toBeGreaterThan(10);
});
