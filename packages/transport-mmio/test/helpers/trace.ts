/**
 * The Linux 6.1 virtio-mmio probe trace (QEMU `-trace virtio_mmio*`, the device side's view):
 * a parser, and the attribution of each line to one of the three devices.
 *
 * The trace does not say which device an access went to. Linux's order does:
 * - `virtio_mmio_probe` starts with a MagicValue read (offset 0): each one starts the
 *   registration of the next device (blk, rng, console), up to its ACKNOWLEDGE write;
 * - `virtio_dev_probe` starts with `virtio_add_status(DRIVER)`: a Status read then a write of
 *   ACKNOWLEDGE|DRIVER (0x3). That write (and the read just before it) starts the driver probe of
 *   the next device, which owns every configuration access up to its DRIVER_OK write;
 * - after DRIVER_OK, the traffic is requests and interrupts of live devices: a QueueNotify of
 *   queue v goes to the most recently started live device with a queue v enabled; "setting IRQ 1"
 *   is the device last notified completing a request; the InterruptStatus read and
 *   InterruptACK write that follow, and the "setting IRQ 0" after them, belong to that interrupt;
 *   a Status read is `virtio_dev_probe` checking DRIVER_OK after the driver's probe, and belongs to
 *   the device most recently started.
 * Anything that fits none of these rules makes {@link attribute} throw, so a misreading of the
 * trace fails the test rather than being replayed against the wrong device.
 */

export type TraceEvent =
  | { readonly kind: 'read'; readonly offset: number; readonly line: number }
  | { readonly kind: 'write'; readonly offset: number; readonly value: number; readonly line: number }
  | { readonly kind: 'irq'; readonly level: 0 | 1; readonly line: number }
  | { readonly kind: 'queue-num'; readonly value: number; readonly max: number; readonly line: number };

/** Parses every non-comment line; an unknown line throws. */
export function parseTrace(text: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const n = i + 1;
    if (line === '' || line.startsWith('#')) continue;
    let m = /^virtio_mmio_read offset (0x[0-9a-f]+)$/.exec(line);
    if (m) {
      out.push({ kind: 'read', offset: Number(m[1]), line: n });
      continue;
    }
    m = /^virtio_mmio_write offset (0x[0-9a-f]+) value (0x[0-9a-f]+)$/.exec(line);
    if (m) {
      out.push({ kind: 'write', offset: Number(m[1]), value: Number(m[2]), line: n });
      continue;
    }
    m = /^virtio_mmio setting IRQ ([01])$/.exec(line);
    if (m) {
      out.push({ kind: 'irq', level: m[1] === '1' ? 1 : 0, line: n });
      continue;
    }
    m = /^mmio_queue write (0x[0-9a-f]+) max ([0-9]+)$/.exec(line);
    if (m) {
      out.push({ kind: 'queue-num', value: Number(m[1]), max: Number(m[2]), line: n });
      continue;
    }
    throw new Error(`trace line ${n}: cannot parse '${line}'`);
  }
  return out;
}

/** An event with the device it belongs to (-1: the machine-start resets before any probe). */
export interface AttributedEvent {
  readonly event: TraceEvent;
  readonly device: number;
}

/** Attributes each event to a device index (0 blk, 1 rng, 2 console) by the rules above. */
export function attribute(events: readonly TraceEvent[], deviceCount: number): AttributedEvent[] {
  const out: AttributedEvent[] = [];
  let registered = -1; // device being registered
  let registering = false;
  let probed = -1; // device whose driver probe started last
  let probing = false; // between its DRIVER write and its DRIVER_OK write
  const liveOrder: number[] = []; // devices past DRIVER_OK, most recent last
  const readyQueues: Set<number>[] = Array.from({ length: deviceCount }, () => new Set<number>());
  const queueSel = new Array<number>(deviceCount).fill(0);
  let lastNotified = -1;
  let interrupting = -1;
  const off = (e: TraceEvent): number => (e.kind === 'read' || e.kind === 'write' ? e.offset : -1);
  const fail = (e: TraceEvent, why: string): never => {
    throw new Error(`trace line ${e.line}: ${why}`);
  };
  for (const e of events) {
    let d: number;
    if (e.kind === 'read' && e.offset === 0x0 && !probing) {
      registered++;
      if (registered >= deviceCount) fail(e, 'more registrations than devices');
      registering = true;
      d = registered;
    } else if (registering) {
      d = registered;
      if (e.kind === 'write' && e.offset === 0x70 && e.value === 0x1) registering = false;
    } else if (e.kind === 'write' && e.offset === 0x70 && e.value === 0x3) {
      probed++;
      if (probed >= deviceCount) fail(e, 'more driver probes than devices');
      probing = true;
      d = probed;
      // virtio_add_status read Status just before writing it.
      const prev = out[out.length - 1];
      if (prev === undefined || prev.event.kind !== 'read' || prev.event.offset !== 0x70) fail(e, 'DRIVER write without the Status read of virtio_add_status');
      out[out.length - 1] = { event: prev!.event, device: d };
    } else if (probing && e.kind !== 'irq' && off(e) !== 0x50 && off(e) !== 0x60 && off(e) !== 0x64) {
      d = probed;
      if (e.kind === 'write' && e.offset === 0x30) queueSel[d] = e.value;
      if (e.kind === 'write' && e.offset === 0x44 && e.value === 1) readyQueues[d]!.add(queueSel[d]!);
      if (e.kind === 'write' && e.offset === 0x70 && (e.value & 0x4) !== 0) {
        probing = false;
        liveOrder.push(d);
      }
    } else if (e.kind === 'write' && e.offset === 0x50) {
      const cands = liveOrder.filter((x) => readyQueues[x]!.has(e.value));
      if (cands.length === 0) fail(e, `QueueNotify ${e.value} with no live device having that queue`);
      d = cands[cands.length - 1]!;
      lastNotified = d;
    } else if (e.kind === 'irq' && e.level === 1) {
      if (lastNotified < 0) fail(e, 'interrupt before any request');
      d = lastNotified;
      interrupting = d;
    } else if (e.kind === 'read' && e.offset === 0x60) {
      if (interrupting < 0) fail(e, 'InterruptStatus read without an interrupt');
      d = interrupting;
    } else if (e.kind === 'write' && e.offset === 0x64) {
      if (interrupting < 0) fail(e, 'InterruptACK without an interrupt');
      d = interrupting;
    } else if (e.kind === 'irq' && e.level === 0) {
      // The line drops after the ACK of the interrupt being handled, or after a reset.
      d = interrupting >= 0 ? interrupting : registered;
      interrupting = -1;
    } else if (e.kind === 'read' && e.offset === 0x70) {
      // With no live device yet, only the DRIVER write that must follow can claim it (below: -2 until then).
      d = liveOrder.length > 0 ? liveOrder[liveOrder.length - 1]! : -2;
    } else {
      d = fail(e, `no rule attributes this ${e.kind} at offset 0x${off(e).toString(16)}`);
    }
    out.push({ event: e, device: d });
  }
  const orphan = out.find((a) => a.device === -2);
  if (orphan !== undefined) fail(orphan.event, 'Status read that no device claims');
  return out;
}
