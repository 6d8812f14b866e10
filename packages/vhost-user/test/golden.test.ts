import { describe, expect, it } from '@jest/globals';
import {
  VhostUserRequest as Q,
  decodeMessage,
  decodeReply,
  encodeAckReply,
  encodeConfigReply,
  encodeInflightReply,
  encodeRequest,
  encodeU64Reply,
  encodeVringStateReply,
  type VhostUserRequestMessage,
} from '@vmv/vhost-user/protocol';
import { GOLDEN_REPLIES, GOLDEN_REQUESTS } from './golden/qemu-7.2-blk';
import { BLK_FEATURES, BLK_PROTOCOL_FEATURES, context, hex, toHex } from './helpers';

const FD_A = 40;
const FD_B = 41;

/** What each golden request means, written independently of the hex. */
const EXPECTED: Record<string, VhostUserRequestMessage> = {
  GET_FEATURES: { request: Q.GET_FEATURES, needReply: false },
  GET_PROTOCOL_FEATURES: { request: Q.GET_PROTOCOL_FEATURES, needReply: false },
  SET_PROTOCOL_FEATURES: { request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: BLK_PROTOCOL_FEATURES },
  GET_QUEUE_NUM: { request: Q.GET_QUEUE_NUM, needReply: false },
  GET_MAX_MEM_SLOTS: { request: Q.GET_MAX_MEM_SLOTS, needReply: false },
  SET_OWNER: { request: Q.SET_OWNER, needReply: false },
  SET_VRING_CALL: { request: Q.SET_VRING_CALL, needReply: false, index: 0, fd: FD_A },
  'SET_VRING_CALL(no fd)': { request: Q.SET_VRING_CALL, needReply: false, index: 0, fd: null },
  GET_CONFIG: { request: Q.GET_CONFIG, needReply: false, config: { offset: 0, size: 60, flags: 0, data: new Uint8Array(60) } },
  SET_CONFIG: { request: Q.SET_CONFIG, needReply: true, config: { offset: 32, size: 1, flags: 0, data: Uint8Array.of(1) } },
  GET_INFLIGHT_FD: { request: Q.GET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: 128 } },
  SET_INFLIGHT_FD: {
    request: Q.SET_INFLIGHT_FD,
    needReply: false,
    inflight: { mmapSize: 0x1040n, mmapOffset: 0n, numQueues: 1, queueSize: 128 },
    fd: FD_A,
  },
  SET_FEATURES: { request: Q.SET_FEATURES, needReply: false, value: BLK_FEATURES },
  GET_STATUS: { request: Q.GET_STATUS, needReply: false },
  SET_STATUS: { request: Q.SET_STATUS, needReply: false, value: 0x0bn },
  SET_MEM_TABLE: {
    request: Q.SET_MEM_TABLE,
    needReply: true,
    regions: [
      { guestPhysAddr: 0n, memorySize: 0xc000_0000n, userAddr: 0x7f00_0000_0000n, mmapOffset: 0n },
      { guestPhysAddr: 0x1_0000_0000n, memorySize: 0x4000_0000n, userAddr: 0x7f00_c000_0000n, mmapOffset: 0xc000_0000n },
    ],
    fds: [FD_A, FD_B],
  },
  ADD_MEM_REG: {
    request: Q.ADD_MEM_REG,
    needReply: true,
    region: { guestPhysAddr: 0n, memorySize: 0x8000_0000n, userAddr: 0x7f12_3400_0000n, mmapOffset: 0n },
    fd: FD_A,
  },
  REM_MEM_REG: {
    request: Q.REM_MEM_REG,
    needReply: true,
    region: { guestPhysAddr: 0n, memorySize: 0x8000_0000n, userAddr: 0x7f12_3400_0000n, mmapOffset: 0n },
    fd: null,
  },
  SET_VRING_NUM: { request: Q.SET_VRING_NUM, needReply: false, index: 0, num: 128 },
  SET_VRING_BASE: { request: Q.SET_VRING_BASE, needReply: false, index: 0, num: 0 },
  SET_VRING_ADDR: {
    request: Q.SET_VRING_ADDR,
    needReply: false,
    addr: {
      index: 0,
      flags: 0,
      descUserAddr: 0x7f00_0010_0000n,
      usedUserAddr: 0x7f00_0010_1000n,
      availUserAddr: 0x7f00_0010_0800n,
      logGuestAddr: 0n,
    },
  },
  SET_VRING_KICK: { request: Q.SET_VRING_KICK, needReply: false, index: 0, fd: FD_A },
  SET_VRING_ENABLE: { request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 },
  GET_VRING_BASE: { request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 },
  RESET_DEVICE: { request: Q.RESET_DEVICE, needReply: false },
};

describe('golden QEMU 7.2 requests', () => {
  it('covers every expectation', () => {
    expect(GOLDEN_REQUESTS.map((g) => g.name).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const golden of GOLDEN_REQUESTS) {
    const expected = EXPECTED[golden.name]!;
    const fds = [FD_A, FD_B].slice(0, golden.fds);

    it(`decodes ${golden.name}`, () => {
      expect(decodeMessage(hex(golden.hex), fds, context())).toEqual(expected);
    });

    it(`encodes ${golden.name} byte for byte`, () => {
      const encoded = encodeRequest(expected);
      expect(toHex(encoded.bytes)).toBe(toHex(hex(golden.hex)));
      expect(encoded.fds).toEqual(fds);
    });
  }
});

describe('golden backend replies', () => {
  const replies: Record<string, Uint8Array> = {
    'GET_FEATURES reply': encodeU64Reply(Q.GET_FEATURES, BLK_FEATURES),
    'GET_PROTOCOL_FEATURES reply': encodeU64Reply(Q.GET_PROTOCOL_FEATURES, BLK_PROTOCOL_FEATURES),
    'GET_QUEUE_NUM reply': encodeU64Reply(Q.GET_QUEUE_NUM, 1n),
    'GET_MAX_MEM_SLOTS reply': encodeU64Reply(Q.GET_MAX_MEM_SLOTS, 32n),
    'SET_MEM_TABLE ack': encodeAckReply(Q.SET_MEM_TABLE, true),
    'SET_VRING_ENABLE nack': encodeAckReply(Q.SET_VRING_ENABLE, false),
    'GET_VRING_BASE reply': encodeVringStateReply(Q.GET_VRING_BASE, { index: 0, num: 42 }),
    'GET_STATUS reply': encodeU64Reply(Q.GET_STATUS, 0x0fn),
    'GET_CONFIG error reply': encodeConfigReply(null),
    'GET_INFLIGHT_FD reply': encodeInflightReply({ mmapSize: 0x1040n, mmapOffset: 0n, numQueues: 1, queueSize: 128 }),
  };

  it('covers every golden reply', () => {
    expect(GOLDEN_REPLIES.map((g) => g.name).sort()).toEqual(Object.keys(replies).sort());
  });

  for (const golden of GOLDEN_REPLIES) {
    it(`encodes ${golden.name} byte for byte`, () => {
      expect(toHex(replies[golden.name]!)).toBe(toHex(hex(golden.hex)));
    });
  }

  it('replies decode with QEMU rules (flags exactly 0x5)', () => {
    const { body } = decodeReply(hex(GOLDEN_REPLIES[0]!.hex), Q.GET_FEATURES, 8);
    expect(body.getBigUint64(0, true)).toBe(BLK_FEATURES);
  });
});
