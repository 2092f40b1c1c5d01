#!/usr/bin/env node
// Entry point. Node's compile cache makes repeat start-ups cheaper (Node >= 22.1).
import { enableCompileCache } from 'node:module';
try {
  enableCompileCache?.();
} catch {
  /* best effort */
}
const argv = process.argv.slice(2);
// `ferry --version` is asked by scripts and CI setups on every run: answer it, in oclif's format,
// without loading the CLI framework (about 3x faster; bench/README.md, start-up).
if (argv.length === 1 && argv[0] === '--version') {
  const { readFileSync } = await import('node:fs');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`);
} else {
  const { main } = await import('../dist/main.js');
  await main(argv);
}
