/** The public surface of the package in `packageDir`: one line per export of each entry point. */
export declare function apiSurface(packageDir: string): string;
