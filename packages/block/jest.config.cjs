// The shared preset, plus a mapping of @vmv/transport-mmio and @vmv/bus (used only by the
// end-to-end test through the MMIO transport) to their sources. They are not devDependencies of
// @vmv/block yet (adding one changes the root lockfile); once they are, drop the mapping.
const { join } = require('node:path');
const preset = require('../../jest.preset.cjs')(__dirname);
const pkg = (p) => join(__dirname, '..', p);
module.exports = {
  ...preset,
  moduleNameMapper: {
    '^@vmv/transport-mmio$': pkg('transport-mmio/src/index.ts'),
    '^@vmv/transport-mmio/driver$': pkg('transport-mmio/src/driver/index.ts'),
    '^@vmv/bus$': pkg('bus/src/index.ts'),
    ...preset.moduleNameMapper,
  },
};
