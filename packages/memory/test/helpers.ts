/** Test helpers shared by the @vmv/memory suites. */
export function errName(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).name;
  }
  return 'none';
}

export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

/** WebAssembly.Memory, typed structurally (the WebAssembly types are not in the ES lib or @types/node 20). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
export const WasmMemoryCtor = (
  globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory } }
).WebAssembly.Memory;
