#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run automatically by `npm ci`/`npm install`).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/server/cli/main.js', import.meta.url));
if (!existsSync(compiled)) {
  process.stderr.write('worldline: dist/ is missing; run `npm run build` (or `npm ci`, which builds) first.\n');
  process.exit(2);
}
const { main } = await import(pathToFileURL(compiled).href);
process.exitCode = await main(process.argv.slice(2));
