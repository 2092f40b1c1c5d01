// Bundles dist/ (tsc's output) in place with esbuild, for start-up time: resolving and compiling
// ~300 small files of undici, zod and yaml on every run cost ferry about half of a re-push's wall
// time (bench/README.md). Entry points keep their paths (oclif loads dist/commands/index.js and
// dist/help.js by path); code that commands import lazily (services, SDK clients) becomes chunks
// that load only when a command needs them. One build with code splitting keeps every module a
// single instance (FerryError must be one class for instanceof). @oclif/core stays external: it
// reads its own package files at run time.
import { rm, rename } from 'node:fs/promises';
import { build } from 'esbuild';

const out = 'dist.bundle';
await rm(out, { recursive: true, force: true });
await build({
  entryPoints: ['dist/main.js', 'dist/commands/index.js', 'dist/help.js'],
  outbase: 'dist',
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  external: ['@oclif/core'],
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS packages (undici) call require() for Node built-ins; ESM output has no require.
  banner: { js: "import { createRequire as __ferryCreateRequire } from 'node:module'; const require = __ferryCreateRequire(import.meta.url);" },
  legalComments: 'linked',
  logLevel: 'warning',
});
await rm('dist', { recursive: true, force: true });
await rename(out, 'dist');
