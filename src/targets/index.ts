/**
 * The target adapters: one entry per kind. Its schema joins ferry.yaml's `targets.<name>` union;
 * its adapter module loads only when a run needs it (so `ferry --help` loads no engine or SDK).
 * Adding a target is a folder under src/targets/ and one entry here.
 */
import { localTargetSchema } from './local/schema.js';

export const targetSchemas = [localTargetSchema] as const;

export const TARGET_TYPES = ['local'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];
