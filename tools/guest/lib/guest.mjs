// @vmv-tools/guest: boot real Linux guests on two platforms against vhost-user devices and check what they saw.
// The programmatic API (the test runner, the demo and the guest benchmark use it):
//   platforms: platformNames(), ensurePlatform(); images: ensureGuestImage(), guestInitrd(); boots: bootGuest(),
//   runGuestCase(), defaultMatrix(); backends; the platform checks; ensureHostDeps().
export { ensureGuestImage, guestInitrd, createImage, md5Range, guestCacheDir, supportsODirect, REPO_ROOT, PACKAGE_DIR } from './image.mjs';
export { PLATFORM_NAMES, OUT_OF_TREE_MODULES, ensurePlatform, platformNames } from './platform.mjs';
export { bootGuest, detectAccel } from './boot.mjs';
export { CASES, runGuestCase, defaultMatrix, selfCheckLostWrites, workersCheck } from './cases.mjs';
export {
  qsdBackend, vmvBackend, commandBackend, builtinBackend, resolveBackend, selectedBackends, vmvAvailable, vmvCommand,
  qsdAvailable, VMV_DAEMON_BIN,
} from './backends.mjs';
export { GUEST_TOOLS, testDevice, toolsCheck, modulesCheck, genericBlkCheck, genericRngCheck, genericUnboundCheck } from './checks.mjs';
export { ensureHostDeps } from './deps.mjs';
