/**
 * One target's campaign in a worker thread. The current input and the count of inputs done are
 * written to shared memory before each input, so the main thread's watchdog can save the input a
 * synchronous target never returns from, and terminate the worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { campaign, unhex } from './engine.mjs';
import { loadTarget } from './targets/index.mjs';

const { name, inputs, seconds, seed, crashDir, seeds, shared } = workerData;
const control = new Int32Array(shared, 0, 2);
const bytes = new Uint8Array(shared, 8);
const target = await loadTarget(name);
const result = await campaign(target, {
  inputs,
  seconds,
  seed,
  crashDir,
  seeds: seeds.map(unhex),
  progress(input, done) {
    const n = Math.min(input.length, bytes.length);
    bytes.set(input.subarray(0, n));
    Atomics.store(control, 1, n);
    Atomics.store(control, 0, done + 1);
  },
});
parentPort.postMessage(result);
