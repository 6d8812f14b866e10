/**
 * What session tests share: a device on serveQueue (echo, optionally completing later), a fake
 * transport sink that records interrupts and events, a rig wiring a DeviceSession to driver-side
 * rings (@vmv/queue/driver), and ONE table of driver sequences written against a small
 * `DriverPort`. The port is the only transport-specific part: this file implements it over a bare
 * DeviceSession; an MMIO or vhost-user test implements it over its transport (importing this file
 * by relative path) and runs the same table against the same device.
 */
import { DeviceSession, Feature, Status, featureBit, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, DescriptorChain, ServedQueue, SessionActivation, SessionEvent, SessionTransport, VirtioDevice, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';

export const VERSION_1 = featureBit(Feature.VERSION_1);
export const EVENT_IDX = featureBit(Feature.EVENT_IDX);
export const RING_PACKED = featureBit(Feature.RING_PACKED);
export const RING_RESET = featureBit(Feature.RING_RESET);
export const S = Status;
export const LIVE = S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK;

/**
 * A device that answers each request by filling its writable part with 0x5a. `deferred`: requests
 * are held and completed by `completeHeld()` (asynchronous I/O).
 */
export class EchoDevice implements VirtioDevice {
  readonly deviceId = 0x7ffe;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = 4;
  ctx: ActivationContext | null = null;
  activations = 0;
  resets = 0;
  deferred = false;
  throwOn: 'activate' | 'queueEnable' | 'queueReset' | 'reset' | 'readConfig' | null = null;
  refuse: ((f: bigint) => boolean) | null = null;
  readonly held: [DescriptorChain, ServedQueue][] = [];
  readonly queueHookCalls: string[] = [];

  constructor(features: bigint = VERSION_1 | EVENT_IDX | RING_PACKED | RING_RESET, queues: readonly number[] = [16, 16]) {
    this.deviceFeatures = features;
    this.queueMaxSizes = queues;
  }

  validateFeatures(f: bigint): boolean {
    return this.refuse === null || !this.refuse(f);
  }
  readConfig(_offset: number, data: Uint8Array): void {
    if (this.throwOn === 'readConfig') throw new Error('readConfig exploded');
    data.fill(7);
  }
  writeConfig(): void {}
  activate(ctx: ActivationContext): void {
    if (this.throwOn === 'activate') throw new Error('activate refused');
    this.ctx = ctx;
    this.activations++;
  }
  queueNotify(index: number): void {
    if (this.ctx) serveQueue(this.ctx, index, this.handle);
  }
  queueReset(index: number): void {
    this.queueHookCalls.push(`reset ${index}`);
    if (this.throwOn === 'queueReset') throw new Error('queueReset exploded');
  }
  queueEnable(index: number): void {
    this.queueHookCalls.push(`enable ${index}`);
    if (this.throwOn === 'queueEnable') throw new Error('queueEnable exploded');
  }
  reset(): void {
    this.ctx = null;
    this.resets++;
    if (this.throwOn === 'reset') throw new Error('reset exploded');
  }
  /** Completes every held request (late, possibly after a reset). */
  completeHeld(): void {
    for (const [chain, served] of this.held.splice(0)) served.complete(chain, 0);
  }

  private readonly handle = (chain: DescriptorChain, served: ServedQueue): void => {
    if (this.deferred) {
      this.held.push([chain, served]);
      return;
    }
    const w = chain.writer();
    w.fill(w.remaining, 0x5a);
    served.complete(chain, w.written);
  };
}

/** The transport half of a session, recording what the session asks of it. */
export class FakeTransport implements SessionTransport {
  /** Used-buffer interrupts delivered, by queue. */
  readonly usedInterrupts: number[] = [];
  configInterrupts = 0;
  readonly events: SessionEvent[] = [];
  /** What `activation()` returns (null: cannot start). */
  next: (() => SessionActivation | null) | null = null;
  activation(): SessionActivation | null {
    return this.next === null ? null : this.next();
  }
  signalUsedBuffer(queueIndex: number): void {
    this.usedInterrupts.push(queueIndex);
  }
  signalConfigChange(): void {
    this.configInterrupts++;
  }
  event(e: SessionEvent): void {
    this.events.push(e);
  }
  kinds(): string[] {
    return this.events.map((e) => e.type);
  }
}

type Driver = SplitDriver<number> | PackedDriver<number>;

/** One driver-side ring per configured queue, and the device-side queue over it. */
export interface RigRing {
  readonly driver: Driver;
  readonly queue: Virtqueue;
  /** Used buffers the driver took back: [token, len]. */
  readonly used: [number, number][];
}

/**
 * A DeviceSession over `device`, with the fake transport, guest memory and driver rings built
 * when the driver sets a queue up (`setupQueue`), as a transport would at DRIVER_OK.
 */
export function sessionRig(device: EchoDevice = new EchoDevice(), negotiation: 'driver' | 'frontend' = 'driver') {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x10_0000) }]);
  const transport = new FakeTransport();
  const session = new DeviceSession(device, transport, { negotiation });
  const rings: (RigRing | null)[] = device.queueMaxSizes.map(() => null);
  let token = 0;
  const newRing = (i: number, features: bigint): RigRing => {
    const size = device.queueMaxSizes[i]!;
    const packed = (features & RING_PACKED) !== 0n;
    const layout = packed ? PackedDriver.layout(size, 0x1_0000 * (i + 1)) : SplitDriver.layout(size, 0x1_0000 * (i + 1));
    const options = { size, ...layout, eventIdx: (features & EVENT_IDX) !== 0n };
    const driver: Driver = packed ? new PackedDriver<number>(memory, options) : new SplitDriver<number>(memory, options);
    const config = driver.queueConfig(size);
    config.setFeatures(features);
    return { driver, queue: createVirtqueue(memory, config), used: [] };
  };
  transport.next = () => ({ memory, queues: rings.map((r) => r?.queue ?? null) });
  const rig = {
    session,
    device,
    transport,
    memory,
    rings,
    /** The driver sets queue `i` up (before DRIVER_OK, or to re-enable it). */
    setupQueue(i: number): RigRing {
      const r = newRing(i, session.negotiatedFeatures);
      rings[i] = r;
      return r;
    },
    /**
     * The driver adds `n` requests to queue `i` and kicks only when the ring says it must (Linux's
     * virtqueue_kick_prepare). Returns whether it kicked.
     */
    submit(i: number, n: number): boolean {
      const r = rings[i]!;
      for (let k = 0; k < n; k++) r.driver.add([], [{ addr: 0x8_0000 + 0x40 * (token % 256), len: 16 }], token++);
      const kick = r.driver.kickPrepare();
      if (kick) session.notify(i);
      return kick;
    },
    /** The driver takes back what the device used on queue `i`. */
    collect(i: number): [number, number][] {
      const r = rings[i]!;
      for (let u = r.driver.getBuf(); u !== null; u = r.driver.getBuf()) r.used.push([u.token, u.len]);
      return r.used;
    },
    /** Linux's init sequence up to DRIVER_OK, with `features`, setting every queue up. */
    toLive(features: bigint = device.deviceFeatures): void {
      session.writeStatus(0);
      session.writeStatus(S.ACKNOWLEDGE);
      session.writeStatus(S.ACKNOWLEDGE | S.DRIVER);
      writeFeatures(session, features);
      session.writeStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
      for (let i = 0; i < rings.length; i++) rig.setupQueue(i);
      session.writeStatus(LIVE);
    },
  };
  return rig;
}

/** Both DriverFeatures words. */
export function writeFeatures(session: DeviceSession, features: bigint): void {
  session.writeDriverFeatures(0, Number(features & 0xffff_ffffn));
  session.writeDriverFeatures(1, Number((features >> 32n) & 0xffff_ffffn));
}

// ------------------------------------------------------------------ the shared table

/**
 * What a driver does to a device, whatever the transport: an MMIO test maps these to register
 * writes, a vhost-user test to frontend messages.
 */
export interface DriverPort {
  /** Writes the status; returns the status read back. */
  writeStatus(value: number): number;
  /** Writes the driver features (both words). */
  writeFeatures(features: bigint): void;
  /** Sets queue `index` up (size, areas, ready). */
  setupQueue(index: number): void;
  /** Adds `count` requests to queue `index`, kicking as the ring asks. */
  submit(index: number, count: number): void;
  /** Requests of queue `index` the driver got back so far. */
  usedCount(index: number): number;
  /** Used-buffer interrupts the driver got so far. */
  usedInterrupts(): number;
}

/** One step of a driver sequence, with what must hold after it. */
export type DriverStep =
  | { readonly op: 'status'; readonly value: number; readonly expect: number }
  | { readonly op: 'features'; readonly value: bigint }
  | { readonly op: 'setupQueue'; readonly index: number }
  | { readonly op: 'submit'; readonly index: number; readonly count: number; readonly expectUsed: number };

/** A named sequence for a device offering VERSION_1 | EVENT_IDX | RING_PACKED | RING_RESET with two queues. */
export interface DriverSequence {
  readonly name: string;
  readonly steps: readonly DriverStep[];
}

const A = S.ACKNOWLEDGE;
const AD = S.ACKNOWLEDGE | S.DRIVER;
const ADF = AD | S.FEATURES_OK;

export const DRIVER_SEQUENCES: readonly DriverSequence[] = [
  {
    name: 'Linux init with EVENT_IDX, then requests in several rounds (split)',
    steps: [
      { op: 'status', value: A, expect: A },
      { op: 'status', value: AD, expect: AD },
      { op: 'features', value: VERSION_1 | EVENT_IDX },
      { op: 'status', value: ADF, expect: ADF },
      { op: 'setupQueue', index: 0 },
      { op: 'setupQueue', index: 1 },
      { op: 'status', value: LIVE, expect: LIVE },
      { op: 'submit', index: 0, count: 3, expectUsed: 3 },
      { op: 'submit', index: 0, count: 1, expectUsed: 4 },
      { op: 'submit', index: 1, count: 2, expectUsed: 2 },
      { op: 'submit', index: 0, count: 5, expectUsed: 9 },
    ],
  },
  {
    name: 'packed rings without EVENT_IDX',
    steps: [
      { op: 'status', value: A, expect: A },
      { op: 'status', value: AD, expect: AD },
      { op: 'features', value: VERSION_1 | RING_PACKED },
      { op: 'status', value: ADF, expect: ADF },
      { op: 'setupQueue', index: 0 },
      { op: 'status', value: LIVE, expect: LIVE },
      { op: 'submit', index: 0, count: 2, expectUsed: 2 },
      { op: 'submit', index: 0, count: 2, expectUsed: 4 },
    ],
  },
  {
    name: 'FEATURES_OK refused without VERSION_1; the driver gives up (FAILED)',
    steps: [
      { op: 'status', value: A, expect: A },
      { op: 'status', value: AD, expect: AD },
      { op: 'features', value: EVENT_IDX },
      { op: 'status', value: ADF, expect: AD },
      { op: 'status', value: AD | S.FAILED, expect: AD | S.FAILED },
    ],
  },
  {
    name: 'FEATURES_OK refused for a feature not offered',
    steps: [
      { op: 'status', value: A, expect: A },
      { op: 'status', value: AD, expect: AD },
      { op: 'features', value: VERSION_1 | featureBit(Feature.IN_ORDER) },
      { op: 'status', value: ADF, expect: AD },
    ],
  },
  {
    name: 'reset and initialise again',
    steps: [
      { op: 'status', value: A, expect: A },
      { op: 'status', value: AD, expect: AD },
      { op: 'features', value: VERSION_1 },
      { op: 'status', value: ADF, expect: ADF },
      { op: 'setupQueue', index: 0 },
      { op: 'status', value: LIVE, expect: LIVE },
      { op: 'submit', index: 0, count: 1, expectUsed: 1 },
      { op: 'status', value: 0, expect: 0 },
      { op: 'status', value: A, expect: A },
      { op: 'status', value: AD, expect: AD },
      { op: 'features', value: VERSION_1 | EVENT_IDX },
      { op: 'status', value: ADF, expect: ADF },
      { op: 'setupQueue', index: 0 },
      { op: 'status', value: LIVE, expect: LIVE },
      { op: 'submit', index: 0, count: 2, expectUsed: 2 },
    ],
  },
];

/**
 * Runs `seq` through `port`, calling `check(what, actual, expected)` for each expectation (the
 * test framework's `expect` in the caller, so this file stays framework-free).
 */
export function runSequence(port: DriverPort, seq: DriverSequence, check: (what: string, actual: unknown, expected: unknown) => void): void {
  seq.steps.forEach((step, n) => {
    const at = `${seq.name}, step ${n} (${step.op})`;
    switch (step.op) {
      case 'status':
        check(`${at}: status read back`, port.writeStatus(step.value), step.expect);
        return;
      case 'features':
        port.writeFeatures(step.value);
        return;
      case 'setupQueue':
        port.setupQueue(step.index);
        return;
      case 'submit':
        port.submit(step.index, step.count);
        check(`${at}: requests used`, port.usedCount(step.index), step.expectUsed);
        return;
    }
  });
}

/** The DriverPort of a bare DeviceSession (the rig above). */
export function sessionPort(rig: ReturnType<typeof sessionRig>): DriverPort {
  return {
    writeStatus: (value) => {
      rig.session.writeStatus(value);
      return rig.session.status;
    },
    writeFeatures: (features) => writeFeatures(rig.session, features),
    setupQueue: (index) => {
      const r = rig.setupQueue(index);
      // A queue enabled after DRIVER_OK (a re-enable) goes in service at once.
      if (rig.session.activated) rig.session.enableQueue(index, r.queue);
    },
    submit: (index, count) => {
      rig.submit(index, count);
    },
    usedCount: (index) => rig.collect(index).length,
    usedInterrupts: () => rig.transport.usedInterrupts.length,
  };
}
