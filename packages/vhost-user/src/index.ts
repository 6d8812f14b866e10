/**
 * @packageDocumentation
 * Placeholder until the package lands.
 */
/** Package name. @example `import { PACKAGE } from '@vmv/vhost-user';` */
export const PACKAGE = '@vmv/vhost-user';
