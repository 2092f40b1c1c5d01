// What `oclif generate` gives: no compile cache.
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
