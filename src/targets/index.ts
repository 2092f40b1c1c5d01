/**
 * The target adapters: one entry per kind. Its schema joins ferry.yaml's `targets.<name>` union;
 * its adapter module loads only when a run needs it (so `ferry --help` loads no engine or SDK).
 * Adding a target is a folder under src/targets/ and one entry here.
 */
import type { z } from 'zod';
import type { RunContext } from '../core/context.js';
import type { DeployInput, Handle, RunStatus, TargetAdapter, TargetKindInfo } from '../core/target.js';
import { batchTargetSchema } from './aws-batch/schema.js';
import { localTargetSchema } from './local/schema.js';

export const targetSchemas = [localTargetSchema, batchTargetSchema] as const;

export const TARGET_TYPES = ['local', 'aws-batch'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];
export type TargetConfig = z.output<(typeof targetSchemas)[number]>;
/** Every kind but local, whose run path (services/run.ts) predates the adapter contract. */
export type RemoteTargetConfig = Exclude<TargetConfig, { type: 'local' }>;

/** What each kind can do, for `ferry targets` and for refusing a verb a kind lacks. */
export const TARGET_KINDS: readonly TargetKindInfo[] = [
  {
    type: 'local',
    summary: 'This machine: any Docker Engine API (Docker, podman system service) or the podman CLI. The implicit target when ferry.yaml has none.',
    capabilities: { plan: true, deploy: true, async: false, logs: false, cancel: false, each: false },
  },
  {
    type: 'aws-batch',
    summary: 'An AWS Batch job queue (EC2 or Fargate): ferry registers or reuses a job definition, submits the job, waits for it and streams its CloudWatch logs.',
    capabilities: { plan: true, deploy: true, async: true, logs: true, cancel: true, each: true },
  },
];

/** A remote adapter as the deploy and plan services use it: status is what they wait on. */
export type RemoteAdapter = TargetAdapter<DeployInput<RemoteTargetConfig>> & {
  status(h: Handle, ctx: RunContext): Promise<RunStatus>;
  /** Checks what can be checked without the image's digest or config, before building and any network call. */
  check?(input: DeployInput<RemoteTargetConfig>): void;
};

/** The adapter modules, loaded only when a command needs one. */
const ADAPTERS: Record<RemoteTargetConfig['type'], () => Promise<RemoteAdapter>> = {
  'aws-batch': async () => (await import('./aws-batch/adapter.js')).batchAdapter,
};

export async function loadRemoteAdapter(type: RemoteTargetConfig['type']): Promise<RemoteAdapter> {
  return ADAPTERS[type]();
}
