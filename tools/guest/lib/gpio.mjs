// The virtio-gpio device's real-guest test (trixie: QEMU 11.1's vhost-user-gpio-pci, the out-of-tree gpio-virtio
// driver, Debian's gpiod 2.x): vmv-vhost-user-gpio with a simulated chip of 8 named lines, driven by the host over
// the daemon's control socket.
//   gpio/lines  gpiodetect and gpioinfo show the chip, 8 lines and the host's names; gpioset drives led and the host
//               reads it high; the host drives in1 and in0 and gpioget reads them; gpiomon watching btn for both
//               edges gets every one of 1,000 edges the host makes (500 pulses, each edge paced on the guest's
//               unmask: the daemon answers "delivered" for each), in order, alternating rising and falling, none
//               lost or twice, asked for 8 at a time (the kernel keeps 16 events per line for gpiomon); then
//               gpiomon for rising edges only and falling edges only: 48 pulses each, 48 events of the type asked
//               for, and the daemon raised no interrupt for the other edges ("none").
//               Level interrupts (gpiod's tools request edges only): our test module vmv_level_irq.ko
//               (tools/guest/modules) takes l4's interrupt level-high: none while l4 is low, then the host drives
//               it high and the threaded handler runs again and again while the level holds, to its limit of 100
//               (where it disables the interrupt); the host drives l4 low, the module re-enables: none; high again:
//               200. l5 level-low (pulled down): 50 at once; the host drives it high, re-enabled: none.
// The scenario (gpioLinesScenario) also runs with vmv-vfio-user serving the chip over PCI (lib/vfio-user.mjs).
import { createHash } from 'node:crypto';
import { runCheck } from './checks.mjs';
import { REPO_ROOT, daemonControl } from './util.mjs';
import { join } from 'node:path';

/** The daemon (built: packages/vhost-user-gpio/dist). */
export const GPIO_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-gpio', 'dist', 'cjs', 'bin.js');

const NAMES = ['in0', 'in1', 'led', 'btn', 'l4', 'l5', 'l6', 'l7'];
const EDGES = 1000;

/** Reads line `name` from the daemon's `lines` every `everyMs` until `done` holds or 60 s pass; returns its last state. */
async function pollLine(ctl, name, done, everyMs) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const line = (await daemonControl(ctl, 'lines')).find((l) => l.name === name);
    if (done(line) || Date.now() > deadline) return line;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The daemon's flags for the chip the scenario drives (besides the socket and the control socket). */
export const GPIO_CHIP_ARGS = ['-l', 's8', '--line-names', NAMES.join(',')];

/**
 * gpio/lines: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export async function gpioLinesCheck(img, hooks = {}) {
  const { st, check } = await gpioLinesScenario(img, hooks);
  return runCheck(`${img.platform.name}/gpio/lines`, img, {
    ...check,
    devices: [{
      name: 'vmv-gpio',
      // -s P listens on P0, as vhost-device-gpio does
      socketFile: 'gpio.sock0',
      argv: ({ socket }) => {
        st.ctl = `${socket}.ctl`;
        return [process.execPath, GPIO_DAEMON_BIN, '-s', socket.slice(0, -1), ...GPIO_CHIP_ARGS, '--control-socket', st.ctl];
      },
      qemuDevice: (c) => `vhost-user-gpio-pci,chardev=${c}`,
    }],
  });
}

/**
 * The gpio/lines scenario whatever serves the chip (GPIO_CHIP_ARGS, its control socket at `st.ctl`): what runCheck
 * needs but the device (modules, programs, tests, console hooks, verify, summary). Also vmv-vfio-user's
 * (vfio-user/gpio).
 * @returns {Promise<{st: {ctl: string|null}, check: object}>}
 */
export async function gpioLinesScenario(img, hooks = {}) {
  const st = { ctl: null, chain: Promise.resolve(), failures: [], led: null, outcomes: {} };
  const step = (what, fn) => {
    st.chain = st.chain.then(fn).catch((e) => st.failures.push(`${what}: ${e.message}`));
  };
  let summary = '';
  const levelKo = await img.platform.ensureTestModule('vmv_level_irq', hooks.log);
  return { st, check: {
    ...hooks,
    modules: ['gpio-virtio'], packages: ['gpiod'], programs: ['gpiodetect', 'gpioinfo', 'gpioget', 'gpioset', 'gpiomon'], data: [levelKo],
    tests: ['gpio'], cmdline: [`gpio.edges=${EDGES}`, `gpio.levelko=${levelKo}`],
    timeoutMs: 600_000,
    onConsoleLine(line, secs, run) {
      hooks.onConsoleLine?.(line, secs, run);
      const set = /^GUEST-GPIO set (l[45]) ([01])$/.exec(line);
      if (set) {
        step(`drive ${set[1]} to ${set[2]}`, async () => {
          if (!st.outcomes.level) st.outcomes.l4IrqType = (await daemonControl(st.ctl, 'lines')).find((x) => x.name === 'l4').irqType;
          const { outcome } = await daemonControl(st.ctl, 'set-input', { line: set[1], value: Number(set[2]) });
          (st.outcomes.level ??= []).push(`${set[1]}=${set[2]}:${outcome}`);
          const l6 = (await daemonControl(st.ctl, 'lines')).find((x) => x.name === 'l6');
          await daemonControl(st.ctl, 'set-input', { line: 'l6', value: 1 - l6.value }); // done: the guest polls l6
        });
        return;
      }
      const m = /^GUEST-GPIO (\S+)(?: (\d+))?(?: (\w+))?/.exec(line);
      if (!m) return;
      if (m[1] === 'led') {
        step('read led, drive in1', async () => {
          st.led = await pollLine(st.ctl, 'led', (l) => l?.value === 1, 100);
          st.outcomes.in1 = (await daemonControl(st.ctl, 'set-input', { line: 'in1', value: 1 })).outcome;
        });
      }
      if (m[1] === 'in0') step('drive in0', async () => void (st.outcomes.in0 = (await daemonControl(st.ctl, 'set-input', { line: 'in0', value: 1 })).outcome));
      if (m[1] === 'stall') {
        step('a stalled chunk', async () => {
          const btn = (await daemonControl(st.ctl, 'lines')).find((l) => l.name === 'btn');
          const counts = Object.entries(st.outcomes).map(([k, v]) => `${k} ${Array.isArray(v) ? v.length : v}`).join(', ');
          st.failures.push(`gpiomon stalled; btn on the device ${JSON.stringify(btn)}; host changes so far: ${counts}`);
        });
        return;
      }
      // a chunk of the guest's watch (gpio.sh): N pulses for one edge type (one event each), N/2 for both. The guest
      // asks once gpiomon's request returned, so the driver's SET_IRQ_TYPE has reached the device; the host checks
      // that it did (the step fails if btn's interrupt type on the device is not the one asked for within 60 s).
      const pulses = /^pulses-(rising|falling)$/.exec(m[1]);
      if (pulses || m[1] === 'burst') {
        const key = pulses ? pulses[1] : 'burst';
        const irqType = { rising: 1, falling: 2, burst: 3 }[key];
        step(`pulses on btn (${key})`, async () => {
          if ((await pollLine(st.ctl, 'btn', (l) => l.irqType === irqType, 20)).irqType !== irqType) throw new Error(`btn's interrupt type on the device never became ${irqType}`);
          const outcomes = (st.outcomes[key] ??= []);
          for (let i = 0; i < (pulses ? Number(m[2]) : Number(m[2]) / 2); i++) outcomes.push(...(await daemonControl(st.ctl, 'pulse', { line: 'btn' })).outcomes);
        });
      }
    },
    async verify(r) {
      await st.chain;
      const v = r.values;
      const e = [...st.failures];
      if (v['gpio.done'] !== '1') return [...e, 'the guest did not finish'];
      const eq = (what, got, want) => { if (String(got) !== String(want)) e.push(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`); };
      if (!/\(8 lines\)/.test(v['gpio.detect'] ?? '')) e.push(`gpiodetect: ${v['gpio.detect']} (8 lines expected)`);
      eq('gpioinfo line names', v['gpio.names'], `${NAMES.join(',')},`);
      if (st.led?.direction !== 1 || st.led?.value !== 1) e.push(`the host read led as ${JSON.stringify(st.led)} while gpioset held it as an output at 1`);
      eq('gpioget in1 after the host drove it', v['gpio.in1'], 1);
      eq('gpioget in0 after the host drove it', v['gpio.in0'], 1);
      const burst = st.outcomes.burst ?? [];
      eq('edges the host made, each delivered', burst.filter((o) => o === 'delivered').length, EDGES);
      eq('gpiomon events', v['gpio.mon.count'], EDGES);
      // gpiod 2.x's %e: 1 rising, 2 falling; btn is offset 3; pulses start from low
      const want = Array.from({ length: EDGES }, (_, i) => `${i % 2 === 0 ? 1 : 2} 3\n`).join('');
      eq('gpiomon events in order, rising and falling alternating (md5)', v['gpio.mon.md5'], createHash('md5').update(want).digest('hex'));
      for (const [type, code] of [['rising', 1], ['falling', 2]]) {
        eq(`gpiomon -e ${type}: events by type`, v[`gpio.mon.${type}`], `48 ${code} 3;`);
        const o = st.outcomes[type] ?? [];
        eq(`pulses watched for ${type} edges: delivered / none`, `${o.filter((x) => x === 'delivered').length}/${o.filter((x) => x === 'none').length}`, '48/48');
      }
      // the module's handler counts: none while idle, the limit while the level held, none after re-enabling while
      // the level was not there
      eq('level interrupts: idle, high, re-enabled low, high again, low-level, re-enabled high',
        ['idle', 'high', 'rearmed-low', 'high2', 'low', 'rearmed-high'].map((k) => v[`gpio.level.${k}`]).join(' '), '0 100 100 200 50 50');
      // the driver set l4 LEVEL_HIGH (4) on the device (§5.18.6.7) before the first drive; the host's drives were
      // delivered interrupts when enabled and of the level asked for, none otherwise
      eq('l4 irq type on the device before the host drove it', st.outcomes.l4IrqType, 4);
      eq('host drives: outcome', (st.outcomes.level ?? []).join(' '), 'l4=1:delivered l4=0:none l4=1:delivered l4=0:none l5=1:none');
      summary = `${v['gpio.detect']}; names ${v['gpio.names']}; led read high by the host; in0/in1 driven by the host, read by gpioget; `
        + `${EDGES} edges on btn (${burst.length} delivered), gpiomon saw ${v['gpio.mon.count']} in order; rising only and falling only: 48 of 96 edges each; `
        + `level interrupts (vmv_level_irq.ko) re-fired while the level held: l4 high 100, none while low, 200; l5 low 50, none while high`;
      return e;
    },
    summary: () => summary,
  } };
}
