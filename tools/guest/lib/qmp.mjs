// QEMU's monitor (QMP) from the harness: commands run one after the other on its unix socket.
import { createConnection } from 'node:net';

/**
 * Runs QMP commands one after the other on QEMU's monitor socket; resolves with their names once all answered.
 * @param {string} path  the socket (`-qmp unix:PATH,server=on,wait=off`)
 * @param {Array<string | {execute: string, arguments?: object}>} commands
 * @returns {Promise<string[]>}
 */
export function qmp(path, commands) {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    const answers = [];
    let buf = '';
    let next = -1; // -1: the greeting; then qmp_capabilities; then the commands
    const all = ['qmp_capabilities', ...commands].map((c) => (typeof c === 'string' ? { execute: c } : c));
    s.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.event !== undefined) continue;
        if (msg.error !== undefined) {
          s.destroy();
          return reject(new Error(`QMP ${all[next].execute}: ${msg.error.desc}`));
        }
        if (next >= 1) answers.push(all[next].execute);
        next++;
        if (next === all.length) {
          s.end();
          return resolve(answers);
        }
        s.write(`${JSON.stringify(all[next])}\n`);
      }
    });
    s.on('error', reject);
  });
}
