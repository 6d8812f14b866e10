// CPU time of processes, for the benches that put a figure of CPU per I/O beside IOPS (daemon, guest).
// A process's /proc/PID/stat utime + stime (fields 14 and 15, in clock ticks) covers all its threads, those
// that have exited included (qemu-storage-daemon's thread pool starts and ends workers as it goes), which
// /proc/PID/task/*/schedstat would not. The resolution is one tick (10 ms at the usual USER_HZ of 100): a
// window of a few seconds of a busy daemon holds hundreds of ticks.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond = null;
/** sysconf(_SC_CLK_TCK), from `getconf CLK_TCK` once (100 when getconf is missing: Linux's USER_HZ). */
function clockTicks() {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * User plus system CPU seconds a process has used so far (all its threads, live and exited).
 * @param {number} pid
 * @returns {number|null} null when the process is gone (no /proc/PID/stat)
 */
export function procCpuSeconds(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) is in parentheses and may hold spaces or parentheses: the fields after the last ')'
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): utime is field 14, stime field 15
  return (Number(f[11]) + Number(f[12])) / clockTicks();
}

/** This process's user plus system CPU seconds (every thread of it), from process.cpuUsage(). */
export function selfCpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * A sample of the CPU used so far by some processes and by this one, with the wall clock.
 * @param {Record<string, number>} pids  name -> pid
 * @returns {{wall: number, self: number, procs: Record<string, number|null>}}  seconds
 */
export function cpuSample(pids) {
  return {
    wall: Number(process.hrtime.bigint()) / 1e9,
    self: selfCpuSeconds(),
    procs: Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procCpuSeconds(pid)])),
  };
}

/**
 * What was used between two samples of the same pids.
 * @returns {{wall: number, self: number, procs: Record<string, number|null>}}  seconds (a process gone in
 *   either sample: null)
 */
export function cpuDelta(a, b) {
  return {
    wall: b.wall - a.wall,
    self: b.self - a.self,
    procs: Object.fromEntries(Object.keys(a.procs).map((k) => [k, a.procs[k] === null || b.procs[k] == null ? null : b.procs[k] - a.procs[k]])),
  };
}

/** Microseconds of CPU per I/O, or null when either is unknown or there was no I/O. */
export const usPerIo = (cpuSeconds, ios) => (cpuSeconds === null || cpuSeconds === undefined || !(ios > 0) ? null : (cpuSeconds * 1e6) / ios);
