/** Every fuzz target, by name (one module each). */
export const TARGETS = {
  'split-ring': async () => (await import('./rings.mjs')).ringTarget('split'),
  'packed-ring': async () => (await import('./rings.mjs')).ringTarget('packed'),
  mmio: async () => (await import('./mmio.mjs')).mmioTarget,
  pci: async () => (await import('./pci.mjs')).pciTarget,
  blk: async () => (await import('./blk.mjs')).blkTarget,
  rng: async () => (await import('./rng.mjs')).rngTarget,
  input: async () => (await import('./input.mjs')).inputTarget,
  'vhost-user-decode': async () => (await import('./vhost-user-decode.mjs')).vhostUserDecodeTarget,
  'vhost-user-session': async () => (await import('./vhost-user-session.mjs')).vhostUserSessionTarget,
  console: async () => (await import('./console.mjs')).consoleTarget,
  vsock: async () => (await import('./vsock.mjs')).vsockTarget,
  scsi: async () => (await import('./scsi.mjs')).scsiTarget,
  sound: async () => (await import('./sound.mjs')).soundTarget,
  gpio: async () => (await import('./gpio.mjs')).gpioTarget,
  i2c: async () => (await import('./i2c.mjs')).i2cTarget,
  can: async () => (await import('./can.mjs')).canTarget,
  'vfio-user': async () => (await import('./vfio-user.mjs')).vfioUserTarget,
  spi: async () => (await import('./spi.mjs')).spiTarget,
  'vfio-user-pci': async () => (await import('./vfio-user-pci.mjs')).vfioUserPciTarget,
};

export async function loadTarget(name) {
  const make = TARGETS[name];
  if (make === undefined) throw new RangeError(`unknown target ${name} (targets: ${Object.keys(TARGETS).join(', ')})`);
  return make();
}
