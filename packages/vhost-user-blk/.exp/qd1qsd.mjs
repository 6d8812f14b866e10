import { spawn } from 'node:child_process';
import { BlkFrontend, until } from './frontend.mjs';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
const sock = '/tmp/qd1q.sock', img = '/tmp/qd1q.img';
writeFileSync(img, Buffer.alloc(64 << 20, 1));
rmSync(sock, { force: true });
const which = process.argv[2] ?? 'qsd';
const d = which === 'qsd'
  ? spawn('qemu-storage-daemon', ['--blockdev', `driver=file,node-name=file0,filename=${img},cache.direct=off,aio=threads`, '--blockdev', 'driver=raw,node-name=disk0,file=file0', '--export', `type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=${sock},writable=on,num-queues=1`], { stdio: 'inherit' })
  : spawn(process.execPath, ['dist/cjs/bin.js', '--socket', sock, '--image', img, ...process.argv.slice(3)], { stdio: 'ignore' });
await until(() => existsSync(sock), 5000, 'socket');
const fe = await BlkFrontend.connect(sock);
const secs = 4;
let n = 0; const lat = [];
let wake = null;
fe.rings[0].call.watch(() => wake?.());
const end = performance.now() + secs * 1000;
while (performance.now() < end) {
  const t = performance.now();
  const p = fe.submit(0, [{ type: 0, sector: BigInt((n * 8) % 100000), out: null, inLen: 4096 }]);
  let r;
  for (;;) { r = p.collect()[0]; if (r) break; await new Promise((res) => (wake = res)); }
  lat.push((performance.now() - t) * 1000);
  n++;
}
lat.sort((a, b) => a - b);
console.log(`${which}: QD1 ${(n / secs).toFixed(0)}/s; rtt p50 ${lat[lat.length >> 1].toFixed(1)} us p10 ${lat[Math.floor(lat.length * 0.1)].toFixed(1)} p90 ${lat[Math.floor(lat.length * 0.9)].toFixed(1)}`);
fe.close(); d.kill('SIGTERM'); await new Promise((r) => d.on('exit', r));
