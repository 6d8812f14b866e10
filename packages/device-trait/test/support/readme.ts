/**
 * The README's "complete small device", for the transports' tests: `readme-device/entropy-device.ts`
 * is the README block copied verbatim (it imports nothing but '@vmv/device-trait'), and
 * {@link readmeDeviceBlock} extracts that block from the README so a test can check the copy is
 * still the text. virtio-mmio and vhost-user both serve it from this one copy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The verbatim copy of the README device. */
export const README_DEVICE_FILE = join(__dirname, 'readme-device', 'entropy-device.ts');

const README = join(__dirname, '..', '..', 'README.md');
const HEADING = '## Example: a complete small device';

/**
 * The first ```ts block after the README's "complete small device" heading.
 * @throws Error when the heading or the block is missing.
 */
export function readmeDeviceBlock(): string {
  const text = readFileSync(README, 'utf8');
  const at = text.indexOf(HEADING);
  if (at < 0) throw new Error(`device-trait README: no "${HEADING}" heading`);
  const open = text.indexOf('```ts\n', at);
  const close = open < 0 ? -1 : text.indexOf('\n```', open + 6);
  if (open < 0 || close < 0) throw new Error(`device-trait README: no \`\`\`ts block after "${HEADING}"`);
  return text.slice(open + 6, close + 1);
}

/** A deterministic entropy source: 0, 1, 2, ... (mod 256) across calls. */
export function counterSource() {
  let next = 0;
  const calls: number[] = [];
  return {
    calls,
    fill: (buf: Uint8Array) => {
      calls.push(buf.length);
      for (let i = 0; i < buf.length; i++) buf[i] = next++ & 0xff;
    },
  };
}
