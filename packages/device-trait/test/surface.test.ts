/**
 * The package surface: a device author depends on @vmv/device-trait alone, so everything a device
 * implementation names (the contract, constants, config space, errors, and the guest-memory and
 * virtqueue types and guards it handles) must be importable from here. The type-only imports below
 * are checked by `tsc` (typecheck); the runtime exports are a golden list.
 */
import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { apiSurface } from '../../../tools/scripts/api-surface.cjs';
import * as trait from '@vmv/device-trait';
import { DeviceId } from '@vmv/device-trait';
import type {
  ActivationContext,
  ChainHandler,
  DeviceSessionOptions,
  ServedQueue,
  SessionActivation,
  SessionEvent,
  SessionTransport,
  Descriptor,
  DescriptorChain,
  DeviceErrorOptions,
  DeviceHost,
  DeviceIdValue,
  DeviceStateSnapshot,
  FeatureBit,
  GuestAddress,
  GuestMemory,
  GuestMemoryErrorName,
  InterruptHandle,
  InterruptReasonBit,
  QueueError,
  QueueErrorName,
  QueueState,
  Reader,
  RingFormat,
  SharedMemoryRegion,
  StatusBit,
  StatusWriteOutcome,
  VirtioDevice,
  Virtqueue,
  Writer,
} from '@vmv/device-trait';

describe('package surface', () => {
  it('exports exactly these runtime values', () => {
    expect(Object.keys(trait).sort()).toEqual(
      [
        'ActivationError',
        'ConfigSpace',
        'DEVICE_ERROR_NAMES',
        'DeviceError',
        'DeviceId',
        'DeviceSession',
        'Feature',
        'GUEST_MEMORY_ERROR_NAMES',
        'InFlightBudget',
        'InterruptReason',
        'InvalidSnapshotError',
        'QUEUE_ERROR_NAMES',
        'QueueRegisters',
        'Status',
        'VirtioDeviceState',
        'featureBit',
        'featureWord',
        'features',
        'fillQueue',
        'hasFeature',
        'isDeviceError',
        'isGuestMemoryError',
        'isQueueError',
        'serveQueue',
        'withFeatureWord',
      ].sort(),
    );
  });

  it('carries the error-name allowlists a device\'s own property tests need', () => {
    expect(trait.QUEUE_ERROR_NAMES).toContain('Queue.InvalidAvailIndexError');
    expect(trait.GUEST_MEMORY_ERROR_NAMES).toContain('GuestMemory.OutOfBoundsError');
    expect(trait.DEVICE_ERROR_NAMES).toEqual(['Device.Error', 'Device.InvalidSnapshotError', 'Device.ActivationError']);
  });

  it('lets a device implementation name every type it handles (checked by tsc)', () => {
    // A device written against the types alone, touching each of them.
    class Probe implements VirtioDevice {
      readonly deviceId: DeviceIdValue = DeviceId.ENTROPY;
      readonly deviceFeatures = trait.featureBit(trait.Feature.VERSION_1);
      readonly queueMaxSizes = [8];
      readonly configSize = 0;
      readonly sharedMemoryRegions: readonly SharedMemoryRegion[] = [];
      host: DeviceHost | null = null;
      seen: { memory: GuestMemory; format: RingFormat; error: QueueError | null; state: QueueState }[] = [];
      attach(host: DeviceHost) {
        this.host = host;
      }
      readConfig(_offset: number, data: Uint8Array) {
        data.fill(0);
      }
      writeConfig() {}
      activate(ctx: ActivationContext) {
        const q: Virtqueue | null = ctx.queues[0] ?? null;
        const irq: InterruptHandle = ctx.interrupt;
        if (q !== null) this.seen.push({ memory: ctx.memory, format: q.format, error: q.error, state: q.saveState() });
        void irq;
      }
      queueNotify(index: number) {
        const chain: DescriptorChain | null = null;
        const parts: Descriptor[] = chain === null ? [] : (chain as DescriptorChain).descriptors();
        const cursors: [Reader, Writer] | null = null;
        const at: GuestAddress = parts[0]?.address ?? 0;
        void index;
        void cursors;
        void at;
      }
      reset() {}
      queueReset(index: number) {
        void index;
      }
      queueEnable(index: number, queue: Virtqueue) {
        void index;
        void queue;
      }
      snapshot(): unknown {
        return {};
      }
      restore(state: unknown) {
        void state;
      }
    }
    const names: [QueueErrorName, GuestMemoryErrorName] = ['Queue.BrokenError', 'GuestMemory.OutOfBoundsError'];
    const bits: [FeatureBit, StatusBit, InterruptReasonBit] = [trait.Feature.EVENT_IDX, trait.Status.DRIVER_OK, trait.InterruptReason.CONFIG_CHANGE];
    const outcome: StatusWriteOutcome = { kind: 'reset' };
    const saved: DeviceStateSnapshot = { status: 0, driverFeatures: '0x0', configGeneration: 0 };
    const options: DeviceErrorOptions = { details: 'x' };
    const session: [ChainHandler | null, ServedQueue | null, DeviceSessionOptions, SessionActivation | null, SessionEvent, SessionTransport | null] = [null, null, { negotiation: 'frontend' }, null, { type: 'reset' }, null];
    expect(session[4].type).toBe('reset');
    const probe = new Probe();
    expect(probe.deviceId).toBe(4);
    expect([names, bits, outcome.kind, saved.status, options.details]).toEqual([['Queue.BrokenError', 'GuestMemory.OutOfBoundsError'], [29, 4, 2], 'reset', 0, 'x']);
  });

  it('exports exactly the golden surface, types and members included (test/__snapshots__)', () => {
    expect(apiSurface(join(__dirname, '..'))).toMatchSnapshot();
  }, 120_000); // type-checks the package: seconds, more on a busy machine; the bound is for a hang
});
