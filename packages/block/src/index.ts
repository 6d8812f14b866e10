/**
 * @packageDocumentation
 * Placeholder until the package lands.
 */
/** Package name. @example `import { PACKAGE } from '@vmv/block';` */
export const PACKAGE = '@vmv/block';
