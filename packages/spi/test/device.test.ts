import { describe, expect, it } from '@jest/globals';
import { LoopbackPeripheral, SpiDevice, SpiLayout, SpiMode, SpiModeFunc, SpiNbitsSupport, SpiResult, wireCopy } from '@vmv/spi';
import type { SpiPeripheral, SpiTransfer } from '@vmv/spi';
import { DeviceId } from '@vmv/device-trait';
import { SplitDriver } from '@vmv/queue/driver';
import { Harness, head } from './support/harness';
import { DATA_BASE } from '../../device-trait/test/support/driven';

const { TRANS_OK, PARAM_ERR, TRANS_ERR } = SpiResult;

/** A peripheral that records the wire: S (select), transfers as tx bytes, P (deselect); answers rx with 0x10, 0x11, ... */
function recorder(opts: { fail?: boolean; throws?: boolean } = {}): SpiPeripheral & { log: string[]; seen: SpiTransfer[] } {
  const log: string[] = [];
  const seen: SpiTransfer[] = [];
  let next = 0x10;
  return {
    log,
    seen,
    select: () => void log.push('S'),
    transfer(t) {
      if (opts.throws) throw new Error('bug');
      seen.push(t);
      log.push(t.tx === null ? `r${t.length}` : `w${[...t.tx].join('.')}`);
      if (t.rx !== null) for (let i = 0; i < t.length; i++) t.rx[i] = next++;
      return opts.fail !== true;
    },
    deselect: () => void log.push('P'),
  };
}

describe('identity and config (§5.21.1-§5.21.4)', () => {
  it('is device 45 with one queue and no device feature bits; the config is virtio_spi_config, byte for byte', () => {
    const device = new SpiDevice({ chipSelects: [new LoopbackPeripheral(), null, null], maxFreqHz: 50_000_000, bitsPerWordMask: 0x8080, txNbitsSupported: SpiNbitsSupport.QUAD, maxWordDelayNs: 7, maxCsSetupNs: 8, maxCsHoldNs: 9, maxCsInactiveNs: 10 });
    expect(device.deviceId).toBe(DeviceId.SPI);
    expect(DeviceId.SPI).toBe(45);
    expect(device.queueMaxSizes).toEqual([256]);
    expect(device.configSize).toBe(32);
    expect(device.deviceFeatures >> 24n).toBe(0n + (device.deviceFeatures >> 24n)); // transport bits only
    expect(device.deviceFeatures & 0xff_ffffn).toBe(0n);
    const cfg = new Uint8Array(32);
    device.readConfig(0, cfg);
    const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
    expect([...cfg]).toEqual([3, 1, 2, 0, ...le(0x8080), ...le(0x7f), ...le(50_000_000), ...le(7), ...le(8), ...le(9), ...le(10)]);
    device.writeConfig();
    device.readConfig(0, cfg);
    expect(cfg[0]).toBe(3); // read-only for the driver
    const part = new Uint8Array(4);
    device.readConfig(12, part);
    expect([...part]).toEqual(le(50_000_000));
  });

  it('defaults: cs_change supported, single lines only, 1 to 32 bits per word, every mode function, no clock limit, no delays', () => {
    const cfg = new Uint8Array(32);
    new SpiDevice({ chipSelects: [null] }).readConfig(0, cfg);
    expect([...cfg.subarray(0, 12)]).toEqual([1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0]);
    expect(cfg.subarray(12).every((b) => b === 0)).toBe(true);
  });

  it('refuses a config the spec does not allow', () => {
    expect(() => new SpiDevice({} as never)).toThrow(TypeError);
    expect(() => new SpiDevice({ chipSelects: [{} as SpiPeripheral] })).toThrow(TypeError);
    expect(() => new SpiDevice({ chipSelects: [] })).toThrow(RangeError);
    expect(() => new SpiDevice({ chipSelects: new Array<null>(256).fill(null) })).toThrow(RangeError);
    expect(() => new SpiDevice({ chipSelects: [null], modeFuncSupported: SpiModeFunc.CPHA_0 })).toThrow(/CPOL/);
    expect(() => new SpiDevice({ chipSelects: [null], modeFuncSupported: 0x80 | 5 })).toThrow(RangeError);
    expect(() => new SpiDevice({ chipSelects: [null], txNbitsSupported: 8 })).toThrow(RangeError);
    expect(() => new SpiDevice({ chipSelects: [null], bitsPerWordMask: 0 })).toThrow(/32 bits/);
    expect(() => new SpiDevice({ chipSelects: [null], maxFreqHz: -1 })).toThrow(RangeError);
    expect(() => new SpiDevice({ chipSelects: [null], queueSize: 0 })).toThrow(RangeError);
  });
});

describe('transfers (§5.21.6)', () => {
  it('half-duplex write, half-duplex read and full duplex reach the peripheral with the head decoded; tx is never written', () => {
    const p = recorder();
    const h = new Harness({ chipSelects: [p], maxFreqHz: 1_000_000 });
    expect(h.transfer({ freq: 500_000 }, [1, 2, 3], null)).toEqual({ result: TRANS_OK, len: 1, rx: [] });
    expect(h.transfer({}, null, 2)).toEqual({ result: TRANS_OK, len: 3, rx: [0x10, 0x11] });
    expect(h.transfer({}, [9, 8], 2)).toEqual({ result: TRANS_OK, len: 3, rx: [0x12, 0x13] });
    expect(p.seen[0]).toMatchObject({ chipSelect: 0, length: 3, bitsPerWord: 8, mode: 0, freqHz: 500_000, txNbits: 1, rxNbits: 1, csChange: false, rx: null });
    expect(p.seen[1]).toMatchObject({ tx: null, length: 2 });
    // the harness lays buffers out from DATA_BASE, 16 bytes apart: the head, then tx
    const back = new Uint8Array(32 + 3);
    h.memory.read(DATA_BASE, back.subarray(0, 32));
    h.memory.read(DATA_BASE + 32 + 16, back.subarray(32));
    expect([...back.subarray(0, 32)]).toEqual([...head({ freq: 500_000 })]);
    expect([...back.subarray(32)]).toEqual([1, 2, 3]);
    expect(h.device.stats).toMatchObject({ requests: 3, paramErrors: 0, transferErrors: 0, messages: 1 });
  });

  it('a message is the transfers from chip select active to cs_change: select, transfers, deselect, as Linux toggles mid-message', () => {
    const p = recorder();
    const h = new Harness({ chipSelects: [p] });
    h.transfer({}, [1], null);
    h.transfer({ csChange: 1 }, [2], null);
    h.transfer({}, [3], null);
    h.transfer({ csChange: 1 }, null, 1);
    expect(p.log).toEqual(['S', 'w1', 'w2', 'P', 'S', 'w3', 'r1', 'P']);
    expect(h.device.stats.messages).toBe(2);
  });

  it('a transfer to another chip select ends the message of the first; a failure and a reset end a message too', () => {
    const a = recorder();
    const b = recorder({ fail: true });
    const h = new Harness({ chipSelects: [a, b] });
    h.transfer({ cs: 0 }, [1], null);
    expect(h.transfer({ cs: 1 }, [2], null).result).toBe(TRANS_ERR);
    expect(a.log).toEqual(['S', 'w1', 'P']);
    expect(b.log).toEqual(['S', 'w2', 'P']);
    h.transfer({ cs: 0 }, [3], null);
    h.device.reset();
    expect(a.log).toEqual(['S', 'w1', 'P', 'S', 'w3', 'P']);
  });

  it('a PARAM_ERR ends the message and reaches no peripheral', () => {
    const p = recorder();
    const h = new Harness({ chipSelects: [p] });
    h.transfer({}, [1], null);
    expect(h.transfer({ bpw: 0 }, [2], null).result).toBe(PARAM_ERR);
    expect(p.log).toEqual(['S', 'w1', 'P']);
  });

  it('device errors are VIRTIO_SPI_TRANS_ERR: an unwired chip select, a peripheral that fails or throws (reported); a failed read is zeroed', () => {
    const errors: unknown[] = [];
    const h = new Harness({ chipSelects: [null, recorder({ fail: true }), recorder({ throws: true })] });
    h.device.onPeripheralError((e) => errors.push(e));
    expect(h.transfer({ cs: 0 }, null, 2)).toEqual({ result: TRANS_ERR, len: 3, rx: [0, 0] });
    expect(h.transfer({ cs: 1 }, null, 2)).toEqual({ result: TRANS_ERR, len: 3, rx: [0, 0] });
    expect(h.transfer({ cs: 2 }, [1], null).result).toBe(TRANS_ERR);
    expect(errors.length).toBe(1);
    expect(h.device.stats).toMatchObject({ transferErrors: 3 });
  });

  it('the loopback returns what was sent, word by word at every width: the bits past bits_per_word do not travel', () => {
    const p = new LoopbackPeripheral();
    const h = new Harness({ chipSelects: [p] });
    const tx = [0xff, 0xff, 0xff, 0xff, 0xa5, 0x5a, 0x3c, 0xc3];
    expect(h.transfer({ bpw: 8 }, tx, 8).rx).toEqual(tx);
    expect(h.transfer({ bpw: 12 }, tx, 8).rx).toEqual([0xff, 0x0f, 0xff, 0x0f, 0xa5, 0x0a, 0x3c, 0x03]);
    expect(h.transfer({ bpw: 3 }, tx, 8).rx).toEqual(tx.map((b) => b & 7));
    expect(h.transfer({ bpw: 20 }, tx, 8).rx).toEqual([0xff, 0xff, 0x0f, 0, 0xa5, 0x5a, 0x0c, 0]);
    expect(h.transfer({ bpw: 32 }, tx, 8).rx).toEqual(tx);
    expect(h.transfer({}, null, 2).rx).toEqual([0, 0]);
    expect(p.transfers).toBe(6);
    const out = new Uint8Array(2);
    wireCopy(Uint8Array.of(0xff, 0xff), out, 9);
    expect([...out]).toEqual([0xff, 1]);
  });

  it('the controller loopback (mode LOOP) answers with tx itself and leaves chip select and peripherals alone', () => {
    const p = recorder();
    const h = new Harness({ chipSelects: [p] });
    expect(h.transfer({ mode: SpiMode.LOOP | SpiMode.CPHA, bpw: 16 }, [1, 0xff, 3, 4], 4).rx).toEqual([1, 0xff, 3, 4]);
    expect(p.log).toEqual([]);
    const off = new Harness({ chipSelects: [p], modeFuncSupported: 0x3f });
    expect(off.transfer({ mode: SpiMode.LOOP }, [1], 1).result).toBe(PARAM_ERR);
  });

  it.each<[string, Parameters<Harness['transfer']>[0], Partial<ConstructorParameters<typeof SpiDevice>[0]>]>([
    ['chip_select_id at cs_max_number', { cs: 2 }, {}],
    ['bits_per_word 0', { bpw: 0 }, {}],
    ['bits_per_word 33', { bpw: 33 }, {}],
    ['bits_per_word outside the mask', { bpw: 7 }, { bitsPerWordMask: 0x80 }],
    ['cs_change 2', { csChange: 2 }, {}],
    ['cs_change when the config says unsupported', { csChange: 1 }, { csChangeSupported: false }],
    ['tx_nbits 3', { txNbits: 3 }, {}],
    ['tx_nbits 2 without DUAL', { txNbits: 2 }, {}],
    ['rx_nbits 4 without QUAD', { rxNbits: 4 }, {}],
    ['rx_nbits 8 without OCTAL', { rxNbits: 8 }, { rxNbitsSupported: SpiNbitsSupport.QUAD }],
    ['a reserved byte', { reserved: [0, 1, 0] }, {}],
    ['mode bit 5', { mode: 1 << 5 }, {}],
    ['CPHA=1 without CPHA_1', { mode: SpiMode.CPHA }, { modeFuncSupported: 0x3d }],
    ['CPHA=0 without CPHA_0', { mode: 0 }, { modeFuncSupported: 0x3e }],
    ['CPOL=1 without CPOL_1', { mode: SpiMode.CPOL }, { modeFuncSupported: 0x37 }],
    ['CPOL=0 without CPOL_0', { mode: 0 }, { modeFuncSupported: 0x3b }],
    ['CS_HIGH unsupported', { mode: SpiMode.CS_HIGH }, { modeFuncSupported: 0x6f }],
    ['LSB_FIRST unsupported', { mode: SpiMode.LSB_FIRST }, { modeFuncSupported: 0x5f }],
    ['freq above max_freq_hz', { freq: 1_000_001 }, { maxFreqHz: 1_000_000 }],
    ['word_delay_ns above the max', { wordDelay: 1 }, {}],
    ['cs_setup_ns above the max', { csSetup: 11 }, { maxCsSetupNs: 10 }],
    ['cs_delay_hold_ns above the max', { csHold: 1 }, {}],
    ['cs_change_delay_inactive_ns above the max', { csInactive: 1 }, {}],
    ['a length that is not whole words', { bpw: 16 }, {}],
  ])('%s: VIRTIO_SPI_PARAM_ERR, the rx buffer zeroed, no peripheral reached', (_what, h, config) => {
    const p = recorder();
    const harness = new Harness({ chipSelects: [p, p], ...config });
    expect(harness.transfer(h, [1, 2, 3], 3)).toEqual({ result: PARAM_ERR, len: 4, rx: [0, 0, 0] });
    expect(p.log).toEqual([]);
    expect(harness.device.stats.paramErrors).toBe(1);
  });

  it('fields at their limits are accepted', () => {
    const p = recorder();
    const h = new Harness({ chipSelects: [p, p], maxFreqHz: 1000, maxWordDelayNs: 5, maxCsSetupNs: 6, maxCsHoldNs: 7, maxCsInactiveNs: 8, txNbitsSupported: 7, rxNbitsSupported: 7 });
    expect(h.transfer({ cs: 1, bpw: 32, freq: 1000, wordDelay: 5, csSetup: 6, csHold: 7, csInactive: 8, txNbits: 8, rxNbits: 2, mode: 0xf }, [1, 2, 3, 4], 4).result).toBe(TRANS_OK);
    expect(p.seen[0]).toMatchObject({ wordDelayNs: 5, csSetupNs: 6, csHoldNs: 7, csInactiveNs: 8, txNbits: 8, rxNbits: 2, mode: 0xf, freqHz: 1000 });
  });

  it.each<[string, Uint8Array[], number[]]>([
    ['a head shorter than 32 bytes', [head().subarray(0, 31)], [1]],
    ['full duplex with tx and rx of different lengths', [head(), Uint8Array.of(1, 2)], [3, 1]],
  ])('%s: VIRTIO_SPI_PARAM_ERR', (_what, out, inLens) => {
    const h = new Harness({ chipSelects: [recorder()] });
    h.raw(0, out, inLens);
    h.kick();
    expect(h.answers.map((a) => [a.result, a.len])).toEqual([[PARAM_ERR, inLens.reduce((s, n) => s + n, 0)]]);
  });

  it('a transfer over 16 MiB is VIRTIO_SPI_PARAM_ERR (guest buffers may all alias the same bytes)', () => {
    const h = new Harness({ chipSelects: [new LoopbackPeripheral()], indirect: true });
    h.memory.write(0x20_0000, head());
    const chain = (n: number) => [{ addr: 0x20_0000, len: 32 }, ...new Array<{ addr: number; len: number }>(n).fill({ addr: 0x30_0000, len: 2 << 20 })];
    const r1 = { addr: 0x20_1000, len: 1 };
    const r2 = { addr: 0x20_2000, len: 1 };
    h.drivers[0]!.add(chain(8), [r1], { in: [r1] }, true); // 16 MiB: taken
    h.drivers[0]!.add(chain(9), [r2], { in: [r2] }, true); // 18 MiB: refused
    h.kick();
    expect(h.answers.map((a) => a.result)).toEqual([TRANS_OK, PARAM_ERR]);
    expect(SpiLayout.MAX_TRANSFER).toBe(16 << 20);
  });

  it('a chain without a writable byte is returned with used length 0 and ends the message', () => {
    const p = recorder();
    const h = new Harness({ chipSelects: [p] });
    h.transfer({}, [1], null);
    h.raw(0, [head(), Uint8Array.of(2)], []);
    h.kick();
    expect(h.answers.at(-1)).toEqual({ result: -1, len: 0, rx: [] });
    expect(p.log).toEqual(['S', 'w1', 'P']);
    expect(h.device.stats.unanswerable).toBe(1);
  });

  it('a ring the guest corrupted is DEVICE_NEEDS_RESET; a device not activated ignores kicks', () => {
    const h = new Harness({ chipSelects: [recorder()] });
    h.memory.writeU16(SplitDriver.layout(64, 0x1_0000).driverArea + 2, 1000);
    expect(() => h.device.queueNotify(0)).not.toThrow();
    expect(h.resets.length).toBe(1);
    h.device.reset();
    h.device.queueNotify(0);
    h.device.queueNotify(1);
  });
});
