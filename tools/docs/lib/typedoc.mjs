// Builds the API reference with TypeDoc: one conversion per package (its own tsconfig.build.json,
// its public entry points, validation on), then one merged site in which every package lives at
// <out>/<package dir>/ and each subpath export at <out>/<package dir>/<subpath>/.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Application, Converter, ReflectionKind, StructureDirRouter } from 'typedoc';
import { packages, root } from './entries.mjs';

/**
 * Every kind of reflection a reader of the reference sees; TypeDoc warns about each one without
 * a comment. Constructors are checked separately (see `undocumentedConstructors`): an error
 * subclass's constructor is the shared `(code, shortMessage, options)` shape and needs none.
 */
export const REQUIRED_TO_BE_DOCUMENTED = [
  'Namespace',
  'Enum',
  'EnumMember',
  'Variable',
  'Function',
  'Class',
  'Interface',
  'Property',
  'Method',
  'Accessor',
  'TypeAlias',
];

/**
 * Types that public signatures use but no entry point exports. TypeDoc shows their names without
 * a page. Each is a question for the package's owner (export it, or stop naming it in a public
 * type); until then they are listed here so the check stays at zero warnings.
 * - `R`: vhost-user protocol/messages.ts's local alias of `typeof VhostUserRequest`, used in the
 *   request code unions; harmless, but the reference shows `R["SET_MEM_TABLE"]`.
 * - `NativeWatcher` (sys native.ts): the addon's watcher handle, parameter of FdWatcher's constructor.
 */
const NOT_EXPORTED = { 'vhost-user': ['R'], sys: ['NativeWatcher'] };

/**
 * Source links point at the repository named in the root package.json, read without git (a clone's
 * remote is wherever it was cloned from, and CI's has none that TypeDoc recognises).
 */
function repositoryUrl() {
  const url = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).repository?.url;
  const https = typeof url === 'string' ? url.replace(/^git\+/, '').replace(/\.git$/, '') : '';
  if (!https.startsWith('https://github.com/')) throw new Error(`docs: the root package.json has no GitHub repository url (${url})`);
  return https;
}

/** Options shared by every package's conversion. */
const packageOptions = {
  excludeInternal: true,
  excludePrivate: true,
  // Protected members here are what a package's own classes share through a base class that is
  // not exported (RingBase, the interrupt group base, the byte cursors): no subclassing API.
  excludeProtected: true,
  // The typecheck task type-checks every package; this run documents it.
  skipErrorChecking: true,
  treatWarningsAsErrors: true,
  sort: ['source-order'],
  // `@vmv/*` imports resolve to the TypeScript sources, as in the packages' own type checks, so
  // no package has to be built before its reference is.
  compilerOptions: { customConditions: ['@vmv/source'] },
  validation: { notExported: true, invalidLink: false, invalidPath: true, rewrittenLink: true, notDocumented: true },
  requiredToBeDocumented: REQUIRED_TO_BE_DOCUMENTED,
  logLevel: 'Warn',
  disableGit: true,
};

/** TypeDoc's module name for an entry file: its path under src/, without extension and `/index`. */
function typedocModuleName(file) {
  const rel = file.replace(/^\.\/src\//, '').replace(/\.ts$/, '');
  return rel === 'index' ? 'index' : rel.replace(/\/index$/, '');
}

/** Router placing `@vmv/<dir>` at `<dir>/` and its subpath `@vmv/<dir>/<sub>` at `<dir>/<sub>/`. */
function makeRouter(dirByName) {
  return class VmvRouter extends StructureDirRouter {
    getIdealBaseName(reflection) {
      const parts = [];
      for (let r = reflection; r && !r.isProject(); r = r.parent) {
        if (r.kindOf(ReflectionKind.Module) && r.parent?.isProject() && dirByName.has(r.name)) parts.unshift(dirByName.get(r.name));
        else if (r.kindOf(ReflectionKind.Module) && r.name.startsWith(`${r.parent?.name}/`)) parts.unshift(r.name.slice(r.parent.name.length + 1));
        else parts.unshift(this.getUrlSafeName(r.name));
      }
      return parts.join('/');
    }
  };
}

/**
 * Constructors with parameters but no comment, outside error classes (an error subclass has the
 * shared constructor of CONTRIBUTING.md's error rules and documents itself through its fields).
 */
function undocumentedConstructors(project) {
  const out = [];
  for (const ctor of project.getReflectionsByKind(ReflectionKind.Constructor)) {
    const cls = ctor.parent;
    const isError = (cls.extendedTypes ?? []).some((t) => /Error$/.test(t.name)) || /Error$/.test(cls.name);
    if (isError) continue;
    // `new PioBus()`: an implicit (or empty) constructor has nothing to explain.
    if ((ctor.signatures ?? []).every((sig) => (sig.parameters ?? []).length === 0)) continue;
    const documented = (c) => c !== undefined && (c.summary.length > 0 || c.blockTags.length > 0);
    if (!documented(ctor.comment) && !ctor.signatures?.some((s) => documented(s.comment))) out.push(ctor.getFriendlyFullName());
  }
  return out;
}

/**
 * Converts every package and writes the merged site to `out` (emptied first).
 *
 * @param out - output folder, e.g. `<repo>/site/api`
 * @returns the warnings and errors TypeDoc reported (as text), and the package folders written
 */
export async function buildApiReference(out) {
  const problems = [];
  const pkgs = packages();
  const converted = [];
  const repository = repositoryUrl();
  for (const pkg of pkgs) {
    const app = await Application.bootstrap({
      ...packageOptions,
      name: pkg.name,
      entryPoints: pkg.entryPoints.map((e) => join(pkg.path, e.file)),
      tsconfig: join(pkg.path, 'tsconfig.build.json'),
      // TypeDoc gives {path} relative to the package's src/ (the common folder of its entry points).
      sourceLinkTemplate: `${repository}/blob/main/packages/${pkg.dir}/src/{path}#L{line}`,
      readme: 'none',
      intentionallyNotExported: NOT_EXPORTED[pkg.dir] ?? [],
    });
    collect(app, problems);
    // A package with subpath exports: the root entry's exports go on the package page itself and
    // each other entry becomes a module named by its import specifier (`@vmv/block/node`).
    app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
      const project = context.project;
      for (const e of pkg.entryPoints) {
        const mod = project.children?.find((c) => c.kindOf(ReflectionKind.Module) && c.name === typedocModuleName(e.file));
        if (!mod) continue;
        if (e.subpath === '.') {
          project.comment ??= mod.comment;
          project.mergeReflections(mod, project);
        }
        else mod.name = pkg.name + e.subpath.slice(1);
      }
    }, 20000);
    const project = await app.convert();
    if (!project) {
      problems.push(`[error] ${pkg.name}: TypeDoc could not convert the package`);
      continue;
    }
    app.validate(project);
    for (const name of undocumentedConstructors(project)) problems.push(`[warning] ${pkg.name}: constructor ${name} does not have any documentation`);
    converted.push(app.serializer.projectToObject(project, root));
  }

  const app = await Application.bootstrap({
    name: '@vmv API reference',
    readme: 'none',
    validation: { notExported: false, invalidLink: true, invalidPath: true, rewrittenLink: true, notDocumented: false },
    logLevel: 'Warn',
    githubPages: true,
    hideGenerator: true,
    // The index lists each package with the first paragraph of its module comment.
    useFirstParagraphOfCommentAsSummary: true,
    treatWarningsAsErrors: true,
    sort: ['source-order'],
  });
  collect(app, problems);
  app.renderer.defineRouter('vmv', makeRouter(new Map(pkgs.map((p) => [p.name, p.dir]))));
  app.options.setValue('router', 'vmv');
  const project = app.deserializer.reviveProjects('@vmv API reference', converted, {
    projectRoot: root,
    registry: app.files,
    alwaysCreateEntryPointModule: true,
  });
  app.converter.addProjectDocuments(project);
  app.trigger(Application.EVENT_PROJECT_REVIVE, project);
  app.validate(project);
  rmSync(out, { recursive: true, force: true });
  await app.generateDocs(project, out);
  return { problems, dirs: pkgs.map((p) => p.dir) };
}

/** Records each warning and error of `app` in `problems` (and still prints them). */
function collect(app, problems) {
  const logger = app.logger;
  const log = logger.log.bind(logger);
  logger.log = (message, level) => {
    // TypeDoc prints each message as it comes; the list is for the summary at the end.
    if (level >= 2) problems.push(`[${level >= 3 ? 'error' : 'warning'}] ${String(message).replace(/^(\S*\[(warning|error)\]\S*\s*)+/, '')}`);
    return log(message, level);
  };
}
