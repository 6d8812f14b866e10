/**
 * @packageDocumentation
 * Placeholder until the package lands.
 */
/** Package name. @example `import { PACKAGE } from '@vmv/transport-mmio';` */
export const PACKAGE = '@vmv/transport-mmio';
