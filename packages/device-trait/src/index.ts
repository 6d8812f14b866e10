/**
 * @packageDocumentation
 * Placeholder until the package lands.
 */
/** Package name. @example `import { PACKAGE } from '@vmv/device-trait';` */
export const PACKAGE = '@vmv/device-trait';
