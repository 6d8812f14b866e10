// @vmv-tools/guest: boot a real Linux guest against a vhost-user-blk backend and check what it saw.
// The programmatic API (the demo and the guest benchmark use it):
//   ensureHostDeps(), ensureGuestImage(), bootGuest(), runGuestCase(), defaultMatrix(), backends.
export { ensureGuestImage, createImage, md5Range, guestCacheDir, supportsODirect, REPO_ROOT, PACKAGE_DIR } from './image.mjs';
export { bootGuest, detectAccel } from './boot.mjs';
export { CASES, runGuestCase, defaultMatrix, selfCheckLostWrites } from './cases.mjs';
export {
  qsdBackend, vmvBackend, commandBackend, builtinBackend, resolveBackend, selectedBackends, vmvAvailable, vmvCommand,
  qsdAvailable, VMV_DAEMON_BIN,
} from './backends.mjs';
export { ensureHostDeps } from './deps.mjs';
