/**
 * Host events as JSON lines, in and out. In: one event `{"type":"EV_KEY","code":30,"value":1}`
 * (type by number or `EV_*` name) or an array of events ending with EV_SYN/SYN_REPORT (sent all
 * or none); `{"stats":true}` asks for the device's counters. Out: each status event of the driver
 * `{"status":{"type":17,"code":1,"value":1}}`, `{"stats":{...,"backlog":N}}` answering a query, and
 * `{"error":"..."}` for a line refused (the line is dropped, the stream goes on). Lines are
 * bounded (64 KiB): a longer one is refused, never buffered without end.
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { EventType, type InputDevice, type InputEvent } from '@vmv/input';

/** Longest input line accepted, in bytes. @example `MAX_LINE === 65536` */
export const MAX_LINE = 65536;

function toEvent(v: unknown, at: string): InputEvent {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RangeError(`${at}: an event is an object {type, code, value}`);
  const o = v as Record<string, unknown>;
  const type = typeof o['type'] === 'string' ? (EventType as Record<string, number>)[o['type']] : o['type'];
  if (typeof type !== 'number') throw new RangeError(`${at}: unknown event type ${JSON.stringify(o['type'])}`);
  const code = o['code'];
  const value = o['value'] ?? 0;
  if (typeof code !== 'number' || typeof value !== 'number') throw new RangeError(`${at}: code and value must be numbers`);
  return { type, code, value };
}

/**
 * Applies one input line to the device.
 * @param device - the device.
 * @param line - the JSON text.
 * @returns null when taken, else the line to answer (an error, or the counters asked for).
 * @example `applyLine(device, '{"type":"EV_KEY","code":30,"value":1}')`
 */
export function applyLine(device: InputDevice, line: string): string | null {
  const text = line.trim();
  if (text === '') return null;
  try {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new RangeError('not JSON');
    }
    if (typeof v === 'object' && v !== null && (v as Record<string, unknown>)['stats'] === true) return `${JSON.stringify({ stats: { ...device.stats, backlog: device.backlog } })}\n`;
    if (Array.isArray(v)) device.sendPacket(v.map((e, i) => toEvent(e, `event ${i}`)));
    else {
      const e = toEvent(v, 'event');
      device.send(e.type, e.code, e.value);
    }
    return null;
  } catch (e) {
    return `${JSON.stringify({ error: (e as Error).message })}\n`;
  }
}

/** The line for a status event. @param e - the event. @returns the JSON line. @example `statusLine({ type: 17, code: 1, value: 1 })` */
export function statusLine(e: InputEvent): string {
  return `${JSON.stringify({ status: e })}\n`;
}

/**
 * Feeds a stream of JSON lines to the device, answering on `out`.
 * @param device - the device.
 * @param input - the byte stream.
 * @param out - where error lines go.
 * @example `feedLines(device, process.stdin, process.stdout)`
 */
export function feedLines(device: InputDevice, input: Readable, out: Writable | Socket): void {
  let buf = '';
  let skipping = false;
  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (skipping) {
        skipping = false;
        continue;
      }
      const answer = applyLine(device, line);
      if (answer !== null) out.write(answer);
    }
    if (buf.length > MAX_LINE) {
      out.write(`${JSON.stringify({ error: `line longer than ${MAX_LINE} bytes, dropped` })}\n`);
      buf = '';
      skipping = true;
    }
  });
  input.on('error', () => undefined);
}

/**
 * A unix socket taking events from any number of clients; status events go to all of them.
 * @example `const s = await EventsSocket.listen('/run/in.sock', device); ... s.close()`
 */
export class EventsSocket {
  private readonly clients = new Set<Socket>();
  /** The socket path. */
  readonly path: string;
  private constructor(private readonly server: Server, path: string) {
    this.path = path;
  }

  /**
   * Listens (a stale socket file is replaced).
   * @param path - the socket path.
   * @param device - the device fed.
   * @returns the socket once it listens.
   * @throws the listen error (EADDRINUSE, EACCES...).
   * @example `await EventsSocket.listen(path, device)`
   */
  static listen(path: string, device: InputDevice): Promise<EventsSocket> {
    rmSync(path, { force: true });
    const server = createServer();
    const s = new EventsSocket(server, path);
    server.on('connection', (c) => {
      s.clients.add(c);
      c.on('close', () => s.clients.delete(c));
      feedLines(device, c, c);
    });
    device.onStatus((e) => {
      const line = statusLine(e);
      for (const c of s.clients) c.write(line);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve(s);
      });
    });
  }

  /** Clients connected. @returns the count. @example `s.clientCount` */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Stops listening, drops the clients, removes the socket file. @returns when closed. @example `await s.close()` */
  close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
