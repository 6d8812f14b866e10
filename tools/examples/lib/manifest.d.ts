/**
 * One program of `manifest.json`, as `bin/extract.mjs --out DIR` writes it: the contract between the extractor
 * and the tools that run its programs (tools/examples' tests, tools/consumer-test's packed tests).
 */
export interface ManifestEntry {
  /** The program's ID (`<!-- example: ID -->`). */
  id: string;
  /** The package whose README holds it (null for docs/ pages and the root README). */
  package: string | null;
  /** The Markdown file it comes from, relative to the repository. */
  source: string;
  /** The @vmv packages it imports. */
  packages: string[];
  /** Whether it runs on Node. */
  node: boolean;
  /** Whether it runs in a browser. */
  browser: boolean;
  /** The ESM file, the CommonJS file and the TypeScript file written for it, relative to DIR. */
  esm: string;
  cjs: string;
  ts: string;
}
