/**
 * INQUIRY data (SPC-4 §6.6.2) and the vital product data pages the target has (SPC-4 §7.8: 00h
 * supported pages, 80h unit serial number, 83h device identification; SBC-3 §6.5: B0h block
 * limits, B1h block device characteristics, B2h logical block provisioning). What Linux's sd
 * reads at probe (sd_read_block_limits, sd_read_block_characteristics, sd_read_block_provisioning).
 * @module
 */
import { VpdPage } from './constants.js';

/**
 * What INQUIRY reports of a logical unit.
 * @example `const id: UnitIdentity = { vendor: 'VMV', product: 'VIRTUAL DISK', revision: '1', serial: 'disk0' };`
 */
export interface UnitIdentity {
  /** T10 vendor identification (8 ASCII characters, padded). */
  readonly vendor: string;
  /** Product identification (16, padded). */
  readonly product: string;
  /** Product revision level (4, padded). */
  readonly revision: string;
  /** Unit serial number (VPD 80h) and the vendor-specific part of the T10 designator (VPD 83h). */
  readonly serial: string;
}

/**
 * What the block pages report of a logical unit.
 * @example `{ maxTransferBlocks: 65535, unmap: true, maxUnmapBlocks: 4194303, maxUnmapDescriptors: 256, maxWriteSameBlocks: 4194303, solidState: true }`
 */
export interface UnitLimits {
  /** MAXIMUM TRANSFER LENGTH, in blocks. */
  readonly maxTransferBlocks: number;
  /** UNMAP and WRITE SAME with UNMAP are supported (LBPU, LBPWS, LBPWS10, LBPME). */
  readonly unmap: boolean;
  /** MAXIMUM UNMAP LBA COUNT. */
  readonly maxUnmapBlocks: number;
  /** MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT. */
  readonly maxUnmapDescriptors: number;
  /** MAXIMUM WRITE SAME LENGTH. */
  readonly maxWriteSameBlocks: number;
  /** MEDIUM ROTATION RATE 1 (non-rotating) instead of 0 (not reported). */
  readonly solidState: boolean;
}

const VPD_PAGES = [VpdPage.SUPPORTED_PAGES, VpdPage.UNIT_SERIAL_NUMBER, VpdPage.DEVICE_IDENTIFICATION, VpdPage.BLOCK_LIMITS, VpdPage.BLOCK_DEVICE_CHARACTERISTICS, VpdPage.LOGICAL_BLOCK_PROVISIONING];

/** Standard INQUIRY data length: the 36 bytes every initiator reads first. @example `STANDARD_INQUIRY_SIZE === 36` */
export const STANDARD_INQUIRY_SIZE = 36;

/** ASCII bytes of `s`, space-padded or cut to `length`; characters outside 20h..7Eh become '?'. */
function ascii(s: string, length: number): Uint8Array {
  const b = new Uint8Array(length).fill(0x20);
  for (let i = 0; i < Math.min(s.length, length); i++) {
    const c = s.charCodeAt(i);
    b[i] = c >= 0x20 && c <= 0x7e ? c : 0x3f;
  }
  return b;
}

/**
 * Standard INQUIRY data: a direct-access block device (type 00h), SPC-4 (version 06h), response
 * data format 2 with HISUP, command queuing (CMDQUE).
 * @param id - vendor, product, revision.
 * @param present - false for a LUN that does not exist on an existing target: peripheral
 * qualifier 3, type 1Fh (SPC-4 §6.6.2), what Linux's scan takes for "no LUN here".
 * @returns 36 bytes.
 * @example `standardInquiry(id, true)[0] === 0x00`
 */
export function standardInquiry(id: UnitIdentity, present: boolean): Uint8Array {
  const b = new Uint8Array(STANDARD_INQUIRY_SIZE);
  b[0] = present ? 0x00 : 0x7f;
  b[2] = 0x06;
  b[3] = 0x12;
  b[4] = STANDARD_INQUIRY_SIZE - 5;
  b[7] = 0x02;
  b.set(ascii(id.vendor, 8), 8);
  b.set(ascii(id.product, 16), 16);
  b.set(ascii(id.revision, 4), 32);
  return b;
}

/**
 * A VPD page, or null for a page the target does not have.
 * @param page - the page code.
 * @param id - the identity (80h, 83h).
 * @param limits - the block limits (B0h, B1h, B2h).
 * @returns the page, header included.
 * @example `vpdPage(0xb0, id, limits)![1] === 0xb0`
 */
export function vpdPage(page: number, id: UnitIdentity, limits: UnitLimits): Uint8Array | null {
  switch (page) {
    case VpdPage.SUPPORTED_PAGES:
      return withHeader(page, Uint8Array.from(VPD_PAGES));
    case VpdPage.UNIT_SERIAL_NUMBER:
      return withHeader(page, ascii(id.serial, Math.min(id.serial.length, 252)));
    case VpdPage.DEVICE_IDENTIFICATION: {
      // One designator: T10 vendor ID based (type 1), ASCII, associated with the logical unit.
      const value = new Uint8Array([...ascii(id.vendor, 8), ...ascii(id.serial, Math.min(id.serial.length, 200))]);
      const d = new Uint8Array(4 + value.length);
      d[0] = 0x02;
      d[1] = 0x01;
      d[3] = value.length;
      d.set(value, 4);
      return withHeader(page, d);
    }
    case VpdPage.BLOCK_LIMITS: {
      const d = new Uint8Array(0x3c);
      const v = new DataView(d.buffer);
      d[0] = 0x01; // WSNZ: WRITE SAME with 0 blocks is an error, not "to the end of the medium"
      v.setUint32(4, limits.maxTransferBlocks);
      if (limits.unmap) {
        v.setUint32(16, limits.maxUnmapBlocks);
        v.setUint32(20, limits.maxUnmapDescriptors);
        v.setUint32(24, 1);
      }
      v.setUint32(36, limits.maxWriteSameBlocks);
      return withHeader(page, d);
    }
    case VpdPage.BLOCK_DEVICE_CHARACTERISTICS: {
      const d = new Uint8Array(0x3c);
      d[1] = limits.solidState ? 1 : 0;
      return withHeader(page, d);
    }
    case VpdPage.LOGICAL_BLOCK_PROVISIONING: {
      const d = new Uint8Array(4);
      // LBPU, LBPWS, LBPWS10 with unmap; provisioning type thin (2) then, else full (0).
      if (limits.unmap) {
        d[1] = 0xe0;
        d[2] = 0x02;
      }
      return withHeader(page, d);
    }
    default:
      return null;
  }
}

function withHeader(page: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + data.length);
  b[1] = page;
  b[2] = data.length >> 8;
  b[3] = data.length & 0xff;
  b.set(data, 4);
  return b;
}
