// The published entry points (dist/cjs and dist/esm) load the addon, in a fresh Node process, by
// the package's own name; and process-level behaviour: an exception thrown by a watcher callback
// goes to 'uncaughtException' like any I/O callback's, and a worker thread that exits with
// watchers and mappings still open tears down cleanly.
import { describe, expect, it } from '@jest/globals';
import { PACKAGE_ROOT, run } from './helpers';

const node = process.execPath;

async function nodeEval(args: string[]): Promise<string> {
  const r = await run(node, args, ['ignore', 'pipe', 'pipe'], PACKAGE_ROOT);
  if (r.code !== 0) throw new Error(`node ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`);
  return r.stdout.trim();
}

describe('published entry points', () => {
  it('require("@vmv/sys") loads dist/cjs and the addon', async () => {
    const out = await nodeEval(['-e', "const s = require('@vmv/sys'); const e = new s.EventFd(); e.write(2); console.log(require.resolve('@vmv/sys'), e.read()); e.close()"]);
    expect(out).toMatch(/dist\/cjs\/index\.js 2$/);
  });

  it('import("@vmv/sys") loads dist/esm and the addon', async () => {
    const code = "const s = await import('@vmv/sys'); const fd = s.memfdCreate('esm', 4096); const m = s.mmap(fd, 4096); new Uint8Array(m.buffer)[0] = 7; console.log(import.meta.resolve('@vmv/sys'), new Uint8Array(m.buffer)[0]); m.close(); s.closeFd(fd);";
    const out = await nodeEval(['--input-type=module', '-e', code]);
    expect(out).toMatch(/dist\/esm\/index\.js 7$/);
  });
});

describe('process-level behaviour', () => {
  it('an exception in a watcher callback reaches uncaughtException and the process goes on', async () => {
    const code = `
      const s = require('@vmv/sys');
      const ev = new s.EventFd();
      let n = 0;
      process.on('uncaughtException', (e) => {
        console.log('caught', e.message);
        if (++n === 2) { ev.close(); console.log('still alive'); }
        else ev.write(1);
      });
      ev.watch(() => { ev.read(); throw new Error('boom'); });
      ev.write(1);`;
    const out = await nodeEval(['-e', code]);
    expect(out.split('\n')).toEqual(['caught boom', 'caught boom', 'still alive']);
  });

  it('a worker exiting with open watchers and mappings is torn down cleanly', async () => {
    const code = `
      const { Worker } = require('node:worker_threads');
      const s = require('@vmv/sys');
      const fd = s.memfdCreate('shared', 4096);
      const main = s.mmap(fd, 4096);
      const w = new Worker(\`
        const { workerData, parentPort } = require('node:worker_threads');
        const s = require(workerData.entry);
        const m = s.mmap(workerData.fd, 4096);
        new Uint8Array(m.buffer)[0] = 42;
        const ev = new s.EventFd();
        ev.watch(() => {});                          // left active on purpose,
        s.watchFd(s.UnixStream.pair()[0].fd, () => {}); // and another one
        parentPort.postMessage('ready');
      \`, { eval: true, workerData: { fd, entry: require.resolve('@vmv/sys') } });
      w.on('message', () => w.terminate());
      w.on('exit', () => {
        console.log('worker gone', new Uint8Array(main.buffer)[0]);
        main.close();
        s.closeFd(fd);
      });`;
    const out = await nodeEval(['-e', code]);
    expect(out).toBe('worker gone 42');
  });

  it('a worker that ends on its own with unref\'d watchers exits cleanly', async () => {
    const code = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker(\`
        const s = require(require('node:worker_threads').workerData);
        const ev = new s.EventFd();
        ev.watch(() => {}).unref();
        const fd = s.memfdCreate('w', 4096);
        new Uint8Array(s.mmap(fd, 4096).buffer)[0] = 1; // never closed: freed at teardown
      \`, { eval: true, workerData: require.resolve('@vmv/sys') });
      w.on('exit', (code) => console.log('exit', code));`;
    expect(await nodeEval(['-e', code])).toBe('exit 0');
  });
});
