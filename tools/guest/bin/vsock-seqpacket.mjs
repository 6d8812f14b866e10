#!/usr/bin/env node
// The host end of vsock/seqpacket (lib/vsock-seqpacket.mjs): a @vmv/vsock device (guest CID 3) served over
// vhost-user on --socket, which connects to the guest's SEQPACKET port and checks an echo of seeded messages:
//   node tools/guest/bin/vsock-seqpacket.mjs --socket PATH [--port 7000] [--count 10000] [--seed 1] [--max 65536]
// The hybrid unix socket carries bytes only, so the messages are sent from here, through VsockMessageSocket.
// The connection is retried every 200 ms while the guest refuses it (RST: nobody listens yet). Sizes are
// log-uniform from 1 byte to --max (the first message is --max bytes, the second 1 byte), written with
// back-pressure; each echo must come back whole, in order, with the length and md5 sent. Then the host shuts its
// sending side down (the guest's echo sees EOF and exits). Prints one line on stderr:
//   `seqpacket: N messages, B bytes each way, boundaries, order and md5s kept (S s)` or `seqpacket: FAIL ...`.
// Serves until SIGTERM, then exits 0. Needs the built packages (@vmv/vsock and @vmv/vhost-user dist/).
import { createHash } from 'node:crypto';
import { VhostUserBackend } from '@vmv/vhost-user';
import { VsockDevice } from '@vmv/vsock';
import { VsockMessageSocket } from '@vmv/vsock/node';

const a = process.argv.slice(2);
const opt = (k, d) => (a.includes(k) ? a[a.indexOf(k) + 1] : d);
const socket = opt('--socket');
const port = Number(opt('--port', '7000'));
const count = Number(opt('--count', '10000'));
const seed = Number(opt('--seed', '1'));
const max = Number(opt('--max', '65536'));
if (!socket || !(count >= 2) || !(max >= 1)) {
  process.stderr.write('usage: vsock-seqpacket.mjs --socket PATH [--port 7000] [--count N>=2] [--seed N] [--max BYTES]\n');
  process.exit(2);
}
const say = (l) => process.stderr.write(`${l}\n`);
const md5 = (b) => createHash('md5').update(b).digest('hex');

/** mulberry32: a seeded 32-bit generator, the same messages on every run with one seed. */
function prng(s) {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}
const next = prng(seed);
const sizes = Array.from({ length: count }, (_, i) => (i === 0 ? max : i === 1 ? 1 : Math.min(max, Math.round(max ** (next() / 2 ** 32)))));
const total = sizes.reduce((s, n) => s + n, 0);
/** Message i's bytes (made when sent, so only the md5s are kept). */
const message = (i) => {
  const words = new Uint32Array(Math.ceil(sizes[i] / 4)).map(next);
  return Buffer.from(words.buffer, 0, sizes[i]);
};

const device = new VsockDevice({
  guestCid: 3,
  onEvent: (e) => say(`vsock-seqpacket: ${e.type}${e.reason ? ` ${e.reason}` : ''}${e.port !== undefined ? ` port ${e.port}` : ''}`),
});
const backend = new VhostUserBackend(device, { onEvent: (e) => say(`vsock-seqpacket: ${e.type}${e.reason ? `: ${e.reason}` : ''}${e.error ? `: ${e.error.message ?? e.error}` : ''}`) });
backend.listen(socket, { removeStale: true });
say(`vsock-seqpacket: ${count} messages of 1 to ${max} bytes (seed ${seed}), ${total} bytes, for guest port ${port}`);

let done = false;
let refused = 0; // connections the guest refused before it listened
let echoes = 0; // echoes checked
const result = (line) => {
  if (done) return;
  done = true;
  say(`seqpacket: ${line}`);
};

/** Connects until the guest accepts, then runs the echo. */
function attempt() {
  const s = new VsockMessageSocket(device.connect(port, { type: 'seqpacket' }));
  let open = false;
  s.on('error', (e) => {
    if (open || e.code !== 'VSOCK_REFUSED') return result(`FAIL: the connection failed (${e.code ?? e.message})`);
    refused++;
    setTimeout(attempt, 200);
  });
  s.once('connect', () => {
    open = true;
    say(`vsock-seqpacket: the guest accepted after ${refused} refusals`);
    echo(s);
  });
}

/** Sends every message with back-pressure and checks the echoes as they come back. */
function echo(s) {
  const sums = [];
  const t0 = performance.now();
  let seconds = 0;
  s.on('data', ({ data }) => {
    if (done) return;
    const i = echoes++;
    if (i >= count) return fail(`an echo beyond the ${count} messages sent (${data.length} bytes)`);
    if (data.length !== sizes[i]) return fail(`echo ${i}: ${data.length} bytes, message ${i} had ${sizes[i]}`);
    if (md5(data) !== sums[i]) return fail(`echo ${i}: ${data.length} bytes, md5 ${md5(data)}, message ${i} had ${sums[i]}`);
    if (echoes < count) return;
    seconds = (performance.now() - t0) / 1000;
    s.end(); // SHUTDOWN SEND: the guest's echo reads EOF, exits and closes its end
  });
  // the result once the guest has closed, so that no extra echo can follow it
  s.on('end', () => result(echoes === count
    ? `${count} messages, ${total} bytes each way, boundaries, order and md5s kept (${seconds.toFixed(1)} s)`
    : `FAIL: the guest shut down after ${echoes} of ${count} echoes`));
  s.on('close', () => result(`FAIL: the connection closed after ${echoes} of ${count} echoes`));
  const fail = (why) => {
    result(`FAIL: ${why}`);
    s.destroy(new Error(why));
  };
  let i = 0;
  const send = () => {
    while (i < count && !s.destroyed) {
      const data = message(i++);
      sums.push(md5(data));
      if (!s.write({ data, eor: true })) return void s.once('drain', send);
    }
  };
  send();
}

attempt();
const stop = () => {
  result(`FAIL: stopped before a result (${refused} connections refused, ${echoes} of ${count} echoes checked)`);
  backend.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
