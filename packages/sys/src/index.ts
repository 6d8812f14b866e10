/**
 * @packageDocumentation
 * Placeholder until the package lands.
 */
/** Package name. @example `import { PACKAGE } from '@vmv/sys';` */
export const PACKAGE = '@vmv/sys';
