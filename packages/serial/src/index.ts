/**
 * @packageDocumentation
 * Placeholder until the package lands.
 */
/** Package name. @example `import { PACKAGE } from '@vmv/serial';` */
export const PACKAGE = '@vmv/serial';
