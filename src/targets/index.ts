/**
 * The target adapters: one entry per kind. Its schema joins ferry.yaml's `targets.<name>` union;
 * its adapter module loads only when a run needs it (so `ferry --help` loads no engine or SDK).
 * Adding a target is a folder under src/targets/ and one entry here.
 */
import type { TargetKindInfo } from '../core/target.js';
import { localTargetSchema } from './local/schema.js';

export const targetSchemas = [localTargetSchema] as const;

export const TARGET_TYPES = ['local'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];

/** What each kind can do, for `ferry targets` and for refusing a verb a kind lacks. */
export const TARGET_KINDS: readonly TargetKindInfo[] = [
  {
    type: 'local',
    summary: 'This machine: any Docker Engine API (Docker, podman system service) or the podman CLI. The implicit target when ferry.yaml has none.',
    capabilities: { plan: true, deploy: true, async: false, logs: false, cancel: false, each: false },
  },
];
