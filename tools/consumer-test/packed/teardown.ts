/** Stops the local registry and removes the work directory (kept when VMV_KEEP_PACKED=1). */
import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';

export default async function teardown(): Promise<void> {
  const registry = (globalThis as { vmvRegistry?: ChildProcess }).vmvRegistry;
  if (registry && registry.exitCode === null) {
    const exited = new Promise((resolve) => registry.once('exit', resolve));
    registry.stdin!.end();
    await exited;
  }
  const state = process.env.VMV_PACKED_STATE;
  if (state && process.env.VMV_KEEP_PACKED !== '1') rmSync(dirname(state), { recursive: true, force: true });
  else if (state) console.log(`packaging tests: work directory kept: ${dirname(state)}`);
}
