// The same start-up as ferry's bin/run.js: Node's compile cache, then oclif's run().
import { enableCompileCache } from 'node:module';

enableCompileCache();
const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
