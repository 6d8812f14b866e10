/**
 * @packageDocumentation
 * Placeholder until the package lands.
 */
/** Package name. @example `import { PACKAGE } from '@vmv/bus';` */
export const PACKAGE = '@vmv/bus';
