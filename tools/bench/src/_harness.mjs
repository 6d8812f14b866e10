// Shared timing helpers for the benchmarks (wall clock, median of runs, JIT warm-up first).

/** Nanoseconds now, as a number (hrtime is monotonic). */
export const now = () => Number(process.hrtime.bigint());

/**
 * Times `fn(iterations)` the way queue-benchmark.md asks: calibrate to about `targetMs` per run,
 * one warm-up run, then `runs` measured runs; returns the median ns per operation, where one call
 * of `fn(n)` performs `n * opsPerIteration` operations; `samples` holds every measured run's ns per operation.
 */
export function measure(fn, { targetMs = 400, runs = 7, opsPerIteration = 1, calibrate = 200 } = {}) {
  let t0 = now();
  fn(calibrate);
  let dt = Math.max(now() - t0, 1);
  let iterations = Math.max(1, Math.round((calibrate * targetMs * 1e6) / dt));
  fn(Math.max(1, iterations >> 2));
  const samples = [];
  for (let r = 0; r < runs; r++) {
    t0 = now();
    fn(iterations);
    dt = now() - t0;
    samples.push(dt / (iterations * opsPerIteration));
  }
  return { nsPerOp: median(samples), iterations, samples };
}

/** The median of numbers (the mean of the middle two for an even count). */
export function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Prints rows as an aligned table. */
export function table(rows, columns) {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ');
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(columns.map((c) => r[c])));
}

export const fmt = (x, digits = 1) => (typeof x === 'number' ? x.toFixed(digits) : String(x));
