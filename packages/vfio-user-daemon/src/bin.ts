#!/usr/bin/env node
/**
 * The `vmv-vfio-user` executable: a thin wrapper around {@link runCli}.
 * @module
 */
import { runCli } from './cli.js';

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`vmv-vfio-user: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
