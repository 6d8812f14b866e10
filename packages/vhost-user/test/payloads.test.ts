import { describe, expect, it } from '@jest/globals';
import {
  DisconnectedError,
  HeaderFlags,
  InvalidReplyError,
  VhostUserRequest as Q,
  decodeReply,
  decodeReplyHeader,
  encodeConfigReply,
  encodeMessage,
  encodeVringFile,
  isKnownRequest,
  isVhostUserError,
  parseVringFile,
  protocolFeatureMask,
  readConfigAccess,
  readHeader,
  readInflight,
  readLog,
  readMemoryRegion,
  readVringAddr,
  readVringState,
  requestName,
  validateInflight,
  validateRegionLayout,
  writeConfigAccess,
  writeHeader,
  writeInflight,
  writeLog,
  writeMemoryRegion,
  writeVringAddr,
  writeVringState,
} from '@vmv/vhost-user/protocol';
import { readU64, writeU64 } from '@vmv/vhost-user/internal/protocol/u64';
import { NATIVE_LITTLE_ENDIAN } from '@vmv/vhost-user/internal/protocol/constants';
import * as pkg from '@vmv/vhost-user';

const view = (n: number) => new DataView(new ArrayBuffer(n));

describe('constants', () => {
  it('names request codes', () => {
    expect(requestName(5)).toBe('SET_MEM_TABLE');
    expect(requestName(41)).toBeUndefined();
    expect(requestName(-1)).toBeUndefined();
    expect(requestName(1.5)).toBeUndefined();
    expect(isKnownRequest(40)).toBe(true);
    expect(isKnownRequest(0)).toBe(false);
  });
  it('builds protocol feature masks and refuses bad bits', () => {
    expect(protocolFeatureMask([0, 9])).toBe(0x201n);
    expect(() => protocolFeatureMask([64])).toThrow(RangeError);
  });
  it('runs on a little-endian host here', () => {
    expect(NATIVE_LITTLE_ENDIAN).toBe(true);
  });
  it('the package root re-exports the protocol layer', () => {
    expect(pkg.decodeMessage).toBeDefined();
    expect(pkg.VhostUserRequest.GET_STATUS).toBe(40);
  });
});

describe('codecs read what they write', () => {
  it('header', () => {
    const v = view(12);
    writeHeader(v, 0, { request: 5, flags: 9, size: 72 });
    expect(readHeader(v)).toEqual({ request: 5, flags: 9, size: 72 });
    expect(() => writeHeader(v, 0, { request: -1, flags: 0, size: 0 })).toThrow(RangeError);
  });
  it('u64 and vring state', () => {
    const v = view(16);
    writeU64(v, 0, (1n << 64n) - 1n);
    expect(readU64(v)).toBe((1n << 64n) - 1n);
    expect(() => writeU64(v, 0, 1n << 64n)).toThrow(RangeError);
    writeVringState(v, 8, { index: 3, num: 0xffff_ffff });
    expect(readVringState(v, 8)).toEqual({ index: 3, num: 0xffff_ffff });
    expect(() => writeVringState(v, 8, { index: 0, num: 2 ** 32 })).toThrow(RangeError);
  });
  it('vring address (wire order desc, used, avail, log)', () => {
    const v = view(40);
    const a = { index: 1, flags: 1, descUserAddr: 0x10n, usedUserAddr: 0x20n, availUserAddr: 0x30n, logGuestAddr: 0x40n };
    writeVringAddr(v, 0, a);
    expect(v.getBigUint64(16, true)).toBe(0x20n);
    expect(v.getBigUint64(24, true)).toBe(0x30n);
    expect(readVringAddr(v)).toEqual(a);
    expect(() => writeVringAddr(v, 0, { ...a, logGuestAddr: -1n })).toThrow(RangeError);
  });
  it('vring file word', () => {
    expect(parseVringFile(0x105n)).toEqual({ index: 5, noFd: true });
    expect(encodeVringFile({ index: 255, noFd: false })).toBe(255n);
    expect(() => encodeVringFile({ index: 256, noFd: false })).toThrow(RangeError);
  });
  it('memory region', () => {
    const v = view(32);
    const r = { guestPhysAddr: 1n, memorySize: 2n, userAddr: 3n, mmapOffset: 4n };
    writeMemoryRegion(v, 0, r);
    expect(readMemoryRegion(v)).toEqual(r);
    expect(() => validateRegionLayout([r, { ...r, guestPhysAddr: 2n }])).toThrow();
  });
  it('config access', () => {
    const v = view(16);
    expect(writeConfigAccess(v, 0, { offset: 4, size: 4, flags: 1, data: Uint8Array.of(1, 2, 3, 4) })).toBe(16);
    expect(readConfigAccess(v, 0, 16)).toEqual({ offset: 4, size: 4, flags: 1, data: Uint8Array.of(1, 2, 3, 4) });
    expect(() => writeConfigAccess(v, 0, { offset: 0, size: 2, flags: 0, data: new Uint8Array(3) })).toThrow(RangeError);
  });
  it('inflight and log', () => {
    const v = view(24);
    v.setUint32(20, 0xdead, true);
    const i = { mmapSize: 0x1000n, mmapOffset: 0n, numQueues: 2, queueSize: 256 };
    writeInflight(v, 0, i);
    expect(readInflight(v)).toEqual(i);
    expect(v.getUint32(20, true)).toBe(0);
    expect(() => writeInflight(v, 0, { ...i, numQueues: 0x10000 })).toThrow(RangeError);
    expect(() => validateInflight(i, { maxQueues: 2, maxQueueSize: 256, requireMapping: true })).not.toThrow();
    const l = view(16);
    writeLog(l, 0, { mmapSize: 8n, mmapOffset: 16n });
    expect(readLog(l)).toEqual({ mmapSize: 8n, mmapOffset: 16n });
  });
});

describe('replies and errors', () => {
  it('decodeReplyHeader insists on flags 0x5 and the request code', () => {
    const ok = encodeMessage(Q.GET_FEATURES, HeaderFlags.VERSION | HeaderFlags.REPLY, new Uint8Array(8));
    expect(decodeReplyHeader(ok, Q.GET_FEATURES).size).toBe(8);
    expect(() => decodeReplyHeader(ok, Q.GET_STATUS)).toThrow(InvalidReplyError);
    const needReply = encodeMessage(Q.GET_FEATURES, 0xd, new Uint8Array(8));
    expect(() => decodeReplyHeader(needReply, Q.GET_FEATURES)).toThrow(InvalidReplyError);
    expect(() => decodeReply(ok, Q.GET_FEATURES, 4)).toThrow();
    expect(() => decodeReply(ok.subarray(0, 15), Q.GET_FEATURES)).toThrow();
  });
  it('GET_CONFIG replies echo the access', () => {
    const bytes = encodeConfigReply({ offset: 0, size: 2, flags: 0, data: Uint8Array.of(7, 8) });
    const { body } = decodeReply(bytes, Q.GET_CONFIG, 14);
    expect(body.getUint8(12)).toBe(7);
  });
  it('encodeMessage refuses payloads above 0x1000', () => {
    expect(() => encodeMessage(1, 1, new Uint8Array(0x1001))).toThrow(RangeError);
  });
  it('errors carry name, code, shortMessage, details and cause; the guard tests names', () => {
    const e = new DisconnectedError({ pending: 'GET_FEATURES' });
    expect(e.name).toBe('VhostUser.DisconnectedError');
    expect(e.code).toBe('DISCONNECTED');
    expect(e.shortMessage).toBe('vhost-user peer disconnected');
    expect(e.message).toContain('pending: GET_FEATURES');
    expect(isVhostUserError(e)).toBe(true);
    expect(isVhostUserError(e, 'VhostUser.DisconnectedError')).toBe(true);
    expect(isVhostUserError(e, 'VhostUser.BodySizeError')).toBe(false);
    expect(isVhostUserError({ name: 'VhostUser.BodySizeError' }, 'VhostUser.BodySizeError')).toBe(true);
    expect(isVhostUserError(new Error('x'))).toBe(false);
    expect(isVhostUserError(null)).toBe(false);
  });
});
