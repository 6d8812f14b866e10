/**
 * Runs a daemon program (a TypeScript entry point) as a child process, bundled with esbuild.
 * (the TypeScript sources of every @vmv package, as the tests see them),
 * with @vmv/sys left external and loaded from its build, because its native addon is found
 * relative to its own package.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, stop } from 'esbuild';
import type { DaemonIo } from '@vmv/vhost-user/daemon';
import { HANG_MS } from '../frontend';

const PACKAGE_DIR = resolve(__dirname, '..', '..');

/** A daemon program bundled once per test file: `program()` builds it, `remove()` deletes it. */
export interface BundledDaemon {
  /** Builds the bundle (once); resolves with its path. */
  program(): Promise<string>;
  /** Removes the bundle (call from afterAll). */
  remove(): void;
}

/**
 * A bundler for the daemon whose entry point is `entry` (a TypeScript file), with the @vmv
 * packages' sources as the tests see them and @vmv/sys loaded from its build. `besides` names
 * more entry points bundled next to it (file name to TypeScript entry): a queue worker script the
 * program finds beside itself.
 */
export function bundledDaemon(entry: string, besides: Readonly<Record<string, string>> = {}): BundledDaemon {
  let bundled: Promise<string> | null = null;
  let bundleDir: string | null = null;
  return {
    remove(): void {
      if (bundleDir !== null) rmSync(bundleDir, { recursive: true, force: true });
      bundleDir = null;
      bundled = null;
    },
    program(): Promise<string> {
      bundled ??= (async () => {
        const sysDir = realpathSync(join(PACKAGE_DIR, 'node_modules', '@vmv', 'sys'));
        const sysEntry = join(sysDir, 'dist', 'cjs', 'index.js');
        if (!existsSync(sysEntry)) throw new Error(`@vmv/sys is not built (${sysEntry} is missing): run pnpm --filter @vmv/sys run build`);
        const dir = mkdtempSync(join(tmpdir(), 'vmv-daemon-bin-'));
        bundleDir = dir;
        const outfile = join(dir, 'bin.cjs');
        for (const [name, source] of [['bin.cjs', entry], ...Object.entries(besides)] as const) await bundle(source, join(dir, name), sysEntry);
        await stop();
        return outfile;
      })();
      return bundled;
    },
  };
}

/** Bundles `entry` into `outfile` as the tests see the packages, with @vmv/sys external (from `sysEntry`). */
async function bundle(entry: string, outfile: string, sysEntry: string): Promise<void> {
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    conditions: ['@vmv/source'],
    logLevel: 'error',
    plugins: [
      {
        name: 'vmv-sys-external',
        setup(b) {
          b.onResolve({ filter: /^@vmv\/sys$/ }, () => ({ path: sysEntry, external: true }));
          // The kit by its public name, as the tests see it (from inside its own package too).
          b.onResolve({ filter: /^@vmv\/vhost-user\/daemon$/ }, () => ({ path: join(PACKAGE_DIR, 'src', 'daemon', 'index.ts') }));
        },
      },
    ],
  });
}

const upper = bundledDaemon(join(PACKAGE_DIR, 'test', 'support', 'upper-daemon.ts'));
/** Builds (once per test file) the kit's test daemon (upper-daemon.ts). */
export const daemonProgram = (): Promise<string> => upper.program();
/** Removes the bundle built by {@link daemonProgram} (call from afterAll). */
export const removeDaemonProgram = (): void => upper.remove();

/** A running daemon child process with its stderr collected. */
export interface DaemonProcess {
  readonly child: ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit status (code, or 128 + signal number for a signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the program (default: the kit's test daemon) with `args`; `inherit` fds become its fds 3, 4, ... */
export async function spawnDaemon(args: readonly string[], program: Promise<string> = daemonProgram(), inherit: readonly number[] = []): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [await program, ...args], { stdio: ['ignore', 'pipe', 'pipe', ...inherit] });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, stderr: () => err, exited };
}

/** Runs the program to completion; resolves with its exit code and output. */
export async function runDaemonToExit(args: readonly string[], timeoutMs = HANG_MS, program: Promise<string> = daemonProgram()): Promise<{ code: number | null; output: string }> {
  const d = await spawnDaemon(args, program);
  const timer = setTimeout(() => d.child.kill('SIGKILL'), timeoutMs);
  const r = await d.exited;
  clearTimeout(timer);
  return { code: r.code, output: d.stderr() };
}

/** Waits until `path` is a socket, or the process exited (then throws with its output). */
export async function waitForSocket(d: DaemonProcess, path: string, ms = HANG_MS): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (statSync(path).isSocket() && listening(path)) return;
    } catch {
      // not yet
    }
    if (d.child.exitCode !== null || d.child.signalCode !== null) throw new Error(`daemon exited (${d.child.exitCode ?? d.child.signalCode}) before listening:\n${d.stderr()}`);
    if (Date.now() > deadline) throw new Error(`daemon did not listen on ${path} within ${ms} ms:\n${d.stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Whether a unix socket bound at `path` listens: its line in /proc/net/unix has __SO_ACCEPTCON
 * (flags 00010000). The file exists from bind(2) on, and a connect between bind and listen is
 * refused: the file alone is not enough.
 */
function listening(path: string): boolean {
  const abs = resolve(path);
  return readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .some((line) => {
      const f = line.trim().split(/\s+/);
      return f.length >= 8 && (f[7] === abs || f[7] === path) && (parseInt(f[3]!, 16) & 0x10000) !== 0;
    });
}

/** Waits until the daemon's stderr contains `text`. */
export async function waitForLog(d: DaemonProcess, text: string | RegExp, ms = HANG_MS): Promise<void> {
  const deadline = Date.now() + ms;
  const has = () => (typeof text === 'string' ? d.stderr().includes(text) : text.test(d.stderr()));
  while (!has()) {
    if (Date.now() > deadline) throw new Error(`no ${String(text)} in the daemon log within ${ms} ms:\n${d.stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Waits until the daemon's stderr contains `text` at least `count` times (say, its second
 * "frontend disconnected": a frontend that connects before the daemon has seen the previous one
 * go is refused, as a second frontend).
 */
export async function waitForLogCount(d: DaemonProcess, text: string, count: number, ms = HANG_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (d.stderr().split(text).length - 1 < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} times ${JSON.stringify(text)} in the daemon log within ${ms} ms:\n${d.stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Kills a daemon left running by a failed test. */
export function killDaemon(d: DaemonProcess | null | undefined): void {
  if (d && d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
}

/** A DaemonIo for in-process runs: output collected, signals and exit ignored (tests replace them). */
export function captureIo(): DaemonIo & { outText: string; errText: string } {
  const r = {
    outText: '',
    errText: '',
    out: (t: string) => void (r.outText += t),
    err: (t: string) => void (r.errText += t),
    onSignal: () => undefined,
    offSignal: () => undefined,
    exit: () => undefined,
  };
  return r;
}
