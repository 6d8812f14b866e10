/**
 * An in-memory host for sessions under test: fds are numbers standing for memory files and
 * eventfds; `map` hands out the file's own ArrayBuffer (so writes are seen by both sides), and
 * every fd must be closed exactly once.
 */
import { MapFailedError, type VfioUserHost, type VfioUserMapping } from '@vmv/vfio-user';

export type FakeFile = { kind: 'memory'; buffer: ArrayBuffer } | { kind: 'eventfd'; count: number };

export class FakeHost implements VfioUserHost {
  readonly files = new Map<number, FakeFile>();
  readonly open = new Set<number>();
  readonly closedTwice: number[] = [];
  readonly sent: Uint8Array[] = [];
  readonly mappings: { released: boolean }[] = [];
  private next = 100;

  /** A memory file of `size` bytes. */
  memfd(size: number): number {
    return this.add({ kind: 'memory', buffer: new ArrayBuffer(size) });
  }

  eventfd(): number {
    return this.add({ kind: 'eventfd', count: 0 });
  }

  /** The counter of an eventfd (even once closed). */
  count(fd: number): number {
    const f = this.files.get(fd);
    return f?.kind === 'eventfd' ? f.count : -1;
  }

  map(fd: number, offset: bigint, size: bigint): VfioUserMapping {
    const f = this.files.get(fd);
    if (!this.open.has(fd) || f?.kind !== 'memory' || offset !== 0n || size !== BigInt(f.buffer.byteLength)) {
      throw new MapFailedError({ fd, offset, size }, 22);
    }
    const record = { released: false };
    this.mappings.push(record);
    return { chunks: [f.buffer], release: () => void (record.released = true) };
  }

  close(fd: number): void {
    if (!this.open.delete(fd)) this.closedTwice.push(fd);
  }

  signal(fd: number): void {
    const f = this.files.get(fd);
    if (!this.open.has(fd) || f?.kind !== 'eventfd') throw new Error(`not an open eventfd: ${fd}`);
    f.count++;
  }

  send(message: Uint8Array): void {
    this.sent.push(message.slice());
  }

  /** Takes the messages sent so far. */
  take(): Uint8Array[] {
    return this.sent.splice(0);
  }

  private add(file: FakeFile): number {
    const fd = this.next++;
    this.files.set(fd, file);
    this.open.add(fd);
    return fd;
  }
}
