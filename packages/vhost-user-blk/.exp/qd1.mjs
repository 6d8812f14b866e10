import { spawn } from 'node:child_process';
import { BlkFrontend, until } from './frontend.mjs';
import { existsSync, rmSync, writeFileSync, openSync, ftruncateSync, closeSync } from 'node:fs';
const sock = '/tmp/qd1.sock', img = '/tmp/qd1.img';
const fd = openSync(img, 'w'); ftruncateSync(fd, 64 << 20); closeSync(fd);
writeFileSync(img, Buffer.alloc(64 << 20, 1));
rmSync(sock, { force: true });
const extra = (process.env.DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
const d = spawn(process.execPath, [...extra, 'dist/cjs/bin.js', '--socket', sock, '--image', img], { stdio: 'inherit', env: process.env });
await until(() => existsSync(sock), 5000, 'socket');
const fe = await BlkFrontend.connect(sock);
const secs = Number(process.env.SECS ?? 4);
let n = 0; const lat = [];
const end = performance.now() + secs * 1000;
let wake = null;
fe.rings[0].call.watch(() => wake?.());
while (performance.now() < end) {
  const t = performance.now();
  const p = fe.submit(0, [{ type: 0, sector: BigInt((n * 8) % 100000), out: null, inLen: 4096 }]);
  let r;
  for (;;) { r = p.collect()[0]; if (r) break; await new Promise((res) => (wake = res)); }
  lat.push((performance.now() - t) * 1000);
  if (r.status !== 0) throw new Error('status ' + r.status);
  n++;
}
lat.sort((a, b) => a - b);
console.log(`QD1 reads: ${n} in ${secs}s = ${(n / secs).toFixed(0)}/s; rtt p50 ${lat[lat.length >> 1].toFixed(1)} us p10 ${lat[Math.floor(lat.length * 0.1)].toFixed(1)} p90 ${lat[Math.floor(lat.length * 0.9)].toFixed(1)}`);
fe.close();
d.kill('SIGTERM');
await new Promise((r) => d.on('exit', r));
