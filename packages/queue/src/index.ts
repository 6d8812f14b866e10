/**
 * @packageDocumentation
 * Placeholder until the package lands.
 */
/** Package name. @example `import { PACKAGE } from '@vmv/queue';` */
export const PACKAGE = '@vmv/queue';
