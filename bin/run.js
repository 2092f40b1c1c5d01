#!/usr/bin/env node
// Entry point. Node's compile cache makes repeat start-ups cheaper (Node >= 22.1).
import { enableCompileCache } from 'node:module';
try {
  enableCompileCache?.();
} catch {
  /* best effort */
}
const { main } = await import('../dist/main.js');
await main(process.argv.slice(2));
