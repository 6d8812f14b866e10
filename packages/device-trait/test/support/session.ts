/**
 * What session tests share: a device on serveQueue (echo, optionally completing later), a fake
 * transport sink that records interrupts and events, a rig wiring a DeviceSession to driver-side
 * rings (@vmv/queue/driver), and ONE table of driver sequences written against a small
 * `DriverPort`. The port is the only transport-specific part: this file implements it over a bare
 * DeviceSession; an MMIO or vhost-user test implements it over its transport (importing this file
 * by relative path) and runs the same table against the same device.
 */
import { DeviceSession, Feature, Status, featureBit, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, DescriptorChain, InFlightBudget, ServedQueue, SessionActivation, SessionEvent, SessionTransport, VirtioDevice, Virtqueue } from '@vmv/device-trait';
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
  /** One per queue to serve under a bound (kept across activations, as a device keeps them). */
  budgets: InFlightBudget[] | null = null;
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
    if (this.ctx) serveQueue(this.ctx, index, this.handle, this.budgets?.[index]);
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
  /** Where the driver area lies. */
  readonly driverArea: number;
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
    return { driver, queue: createVirtqueue(memory, config), driverArea: layout.driverArea, used: [] };
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

/** A value, or a promise of it: a port over a socket (vhost-user) answers later. */
export type Awaitable<T> = T | Promise<T>;

/**
 * What a driver does to a device, whatever the transport: an MMIO test maps these to register
 * writes, a vhost-user test to frontend messages. Every method may answer at once or later.
 */
export interface DriverPort {
  /** The device behind the port (the table's device-side steps use it). */
  readonly device: EchoDevice;
  /** The device features offered, transport-only bits removed. */
  offeredFeatures(): Awaitable<bigint>;
  /** Writes the status; returns the status read back. */
  writeStatus(value: number): Awaitable<number>;
  /** Reads the status. */
  readStatus(): Awaitable<number>;
  /** Writes the driver features (both words). */
  writeFeatures(features: bigint): Awaitable<void>;
  /** Sets queue `index` up (size, areas, ready). */
  setupQueue(index: number): Awaitable<void>;
  /** Adds `count` requests to queue `index`, kicking as the ring asks. */
  submit(index: number, count: number): Awaitable<void>;
  /** A notification for queue `index`, which may not exist; resolves once the transport has handled it. */
  notify(index: number): Awaitable<void>;
  /** A hostile driver moves the available index of queue `index` far ahead and notifies; resolves once handled. */
  corruptAvail(index: number): Awaitable<void>;
  /** Requests of queue `index` the driver got back so far (from the ring set up last). */
  usedCount(index: number): number;
  /** Used-buffer interrupts the driver got so far. */
  usedInterrupts(): number;
  /**
   * Resolves once `cond()` holds: at once in process (where it must already hold), after the
   * backend's turn of the loop over a socket (failing only on a hang).
   */
  settle(cond: () => boolean, what: string): Awaitable<void>;
}

/** One step of a driver sequence, with what must hold after it. */
export type DriverStep =
  /** The features offered. */
  | { readonly op: 'offer'; readonly expect: bigint }
  | { readonly op: 'status'; readonly value: number; readonly expect: number }
  | { readonly op: 'readStatus'; readonly expect: number }
  | { readonly op: 'features'; readonly value: bigint }
  | { readonly op: 'setupQueue'; readonly index: number }
  /** Requests in; `expectUsed` back, and (a deferred device) `expectHeld` held by the device. */
  | { readonly op: 'submit'; readonly index: number; readonly count: number; readonly expectUsed: number; readonly expectHeld?: number }
  /** A notification for a queue the device does not have: ignored (no interrupt, the status stays `expectStatus`). */
  | { readonly op: 'notify'; readonly index: number; readonly expectStatus: number }
  /** The device's `ctx.interrupt.signalUsedBuffer(index)`: throws `expect` (an error name) or nothing (null). */
  | { readonly op: 'deviceSignal'; readonly index: number; readonly expect: 'RangeError' | null }
  /** The device starts holding requests (asynchronous I/O) or serving them at once again. */
  | { readonly op: 'device'; readonly action: 'defer' | 'serve' }
  /** The device completes what it held, after a reset: dropped (queue `index` still shows `expectUsed`), and no interrupt. */
  | { readonly op: 'completeLate'; readonly index: number; readonly expectUsed: number }
  /** A hostile driver breaks queue `index` (its available index far ahead) and notifies. */
  | { readonly op: 'corrupt'; readonly index: number };

/** A named sequence for a device offering VERSION_1 | EVENT_IDX | RING_PACKED | RING_RESET with two queues. */
export interface DriverSequence {
  readonly name: string;
  readonly steps: readonly DriverStep[];
}

const A = S.ACKNOWLEDGE;
const AD = S.ACKNOWLEDGE | S.DRIVER;
const ADF = AD | S.FEATURES_OK;

/** Linux's init up to DRIVER_OK with `features` and queues `queues` set up. */
function init(features: bigint, queues: readonly number[]): DriverStep[] {
  return [
    { op: 'status', value: A, expect: A },
    { op: 'status', value: AD, expect: AD },
    { op: 'features', value: features },
    { op: 'status', value: ADF, expect: ADF },
    ...queues.map((index): DriverStep => ({ op: 'setupQueue', index })),
    { op: 'status', value: LIVE, expect: LIVE },
  ];
}

export const DRIVER_SEQUENCES: readonly DriverSequence[] = [
  {
    name: 'feature offer, Linux init with EVENT_IDX, then requests in several rounds (split)',
    steps: [
      { op: 'offer', expect: VERSION_1 | EVENT_IDX | RING_PACKED | RING_RESET },
      ...init(VERSION_1 | EVENT_IDX, [0, 1]),
      { op: 'submit', index: 0, count: 3, expectUsed: 3 },
      { op: 'submit', index: 0, count: 1, expectUsed: 4 },
      { op: 'submit', index: 1, count: 2, expectUsed: 2 },
      { op: 'submit', index: 0, count: 5, expectUsed: 9 },
    ],
  },
  {
    name: 'packed rings without EVENT_IDX',
    steps: [...init(VERSION_1 | RING_PACKED, [0]), { op: 'submit', index: 0, count: 2, expectUsed: 2 }, { op: 'submit', index: 0, count: 2, expectUsed: 4 }],
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
      ...init(VERSION_1, [0]),
      { op: 'submit', index: 0, count: 1, expectUsed: 1 },
      { op: 'status', value: 0, expect: 0 },
      ...init(VERSION_1 | EVENT_IDX, [0]),
      { op: 'submit', index: 0, count: 2, expectUsed: 2 },
    ],
  },
  {
    name: 'bad queue indices: a notification for a missing queue is ignored; the device signalling one gets RangeError',
    steps: [
      ...init(VERSION_1 | EVENT_IDX, [0]),
      { op: 'notify', index: 7, expectStatus: LIVE },
      { op: 'deviceSignal', index: 2, expect: 'RangeError' },
      { op: 'deviceSignal', index: -1, expect: 'RangeError' },
      { op: 'deviceSignal', index: 0.5, expect: 'RangeError' },
      { op: 'deviceSignal', index: 1, expect: null }, // exists, not running: nothing sent
      { op: 'submit', index: 0, count: 2, expectUsed: 2 },
    ],
  },
  {
    name: 'reset with requests in flight: late completions are dropped and raise no interrupt',
    steps: [
      ...init(VERSION_1 | EVENT_IDX, [0]),
      { op: 'submit', index: 0, count: 2, expectUsed: 2 },
      { op: 'device', action: 'defer' },
      { op: 'submit', index: 0, count: 3, expectUsed: 2, expectHeld: 3 },
      { op: 'status', value: 0, expect: 0 },
      { op: 'completeLate', index: 0, expectUsed: 2 },
      { op: 'device', action: 'serve' },
      ...init(VERSION_1 | EVENT_IDX, [0]),
      { op: 'submit', index: 0, count: 1, expectUsed: 1 },
    ],
  },
  {
    name: 'a ring the driver breaks puts the device in DEVICE_NEEDS_RESET until a reset',
    steps: [
      ...init(VERSION_1 | EVENT_IDX, [0, 1]),
      { op: 'submit', index: 0, count: 1, expectUsed: 1 },
      { op: 'corrupt', index: 0 },
      { op: 'readStatus', expect: LIVE | S.DEVICE_NEEDS_RESET },
      { op: 'submit', index: 1, count: 1, expectUsed: 0 }, // no queue runs until the reset
      { op: 'status', value: 0, expect: 0 },
      ...init(VERSION_1 | EVENT_IDX, [0]),
      { op: 'submit', index: 0, count: 2, expectUsed: 2 },
    ],
  },
];

/** The name of what `fn` throws, or null. */
function thrownName(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return e instanceof Error ? e.name : typeof e;
  }
}

/**
 * Runs `seq` through `port`, calling `check(what, actual, expected)` for each expectation (the
 * test framework's `expect` in the caller, so this file stays framework-free).
 */
export async function runSequence(port: DriverPort, seq: DriverSequence, check: (what: string, actual: unknown, expected: unknown) => void): Promise<void> {
  for (const [n, step] of seq.steps.entries()) {
    const at = `${seq.name}, step ${n} (${step.op})`;
    switch (step.op) {
      case 'offer':
        check(`${at}: features offered`, await port.offeredFeatures(), step.expect);
        break;
      case 'status':
        check(`${at}: status read back`, await port.writeStatus(step.value), step.expect);
        break;
      case 'readStatus':
        check(`${at}: status`, await port.readStatus(), step.expect);
        break;
      case 'features':
        await port.writeFeatures(step.value);
        break;
      case 'setupQueue':
        await port.setupQueue(step.index);
        break;
      case 'submit': {
        await port.submit(step.index, step.count);
        const held = step.expectHeld;
        await port.settle(() => port.usedCount(step.index) >= step.expectUsed && (held === undefined || port.device.held.length >= held), `${at}: requests back or held`);
        check(`${at}: requests used`, port.usedCount(step.index), step.expectUsed);
        if (held !== undefined) check(`${at}: requests held by the device`, port.device.held.length, held);
        break;
      }
      case 'notify': {
        const interrupts = port.usedInterrupts();
        await port.notify(step.index);
        check(`${at}: status`, await port.readStatus(), step.expectStatus);
        check(`${at}: interrupts`, port.usedInterrupts(), interrupts);
        break;
      }
      case 'deviceSignal': {
        const ctx = port.device.ctx;
        check(`${at}: the device is running`, ctx !== null, true);
        check(`${at}: signalUsedBuffer(${step.index}) throws`, thrownName(() => ctx!.interrupt.signalUsedBuffer(step.index)), step.expect);
        break;
      }
      case 'device':
        port.device.deferred = step.action === 'defer';
        break;
      case 'completeLate': {
        const interrupts = port.usedInterrupts();
        check(`${at}: the device was reset`, port.device.ctx, null);
        port.device.completeHeld();
        check(`${at}: requests used`, port.usedCount(step.index), step.expectUsed);
        check(`${at}: interrupts`, port.usedInterrupts(), interrupts);
        break;
      }
      case 'corrupt':
        await port.corruptAvail(step.index);
        break;
    }
  }
}

/** Moves a split ring's available index (at `driverArea + 2`) far ahead of what it holds. */
export function breakAvailIndex(memory: GuestMemory, driverArea: number): void {
  memory.writeU16(driverArea + 2, (memory.readU16(driverArea + 2) + 0x8000) & 0xffff);
}

/** The DriverPort of a bare DeviceSession (the rig above). */
export function sessionPort(rig: ReturnType<typeof sessionRig>): DriverPort {
  return {
    device: rig.device,
    offeredFeatures: () => rig.session.offeredFeatures,
    writeStatus: (value) => {
      rig.session.writeStatus(value);
      return rig.session.status;
    },
    readStatus: () => rig.session.status,
    writeFeatures: (features) => writeFeatures(rig.session, features),
    setupQueue: (index) => {
      const r = rig.setupQueue(index);
      // A queue enabled after DRIVER_OK (a re-enable) goes in service at once.
      if (rig.session.activated) rig.session.enableQueue(index, r.queue);
    },
    submit: (index, count) => {
      rig.submit(index, count);
    },
    notify: (index) => {
      rig.session.notify(index);
    },
    corruptAvail: (index) => {
      breakAvailIndex(rig.memory, rig.rings[index]!.driverArea);
      rig.session.notify(index);
    },
    usedCount: (index) => rig.collect(index).length,
    usedInterrupts: () => rig.transport.usedInterrupts.length,
    settle: (cond, what) => {
      if (!cond()) throw new Error(`${what}: does not hold`);
    },
  };
}
