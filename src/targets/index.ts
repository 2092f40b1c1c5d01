/**
 * The target adapters: one entry per kind. Its schema joins ferry.yaml's `targets.<name>` union;
 * its adapter module loads only when a run needs it (so `ferry --help` loads no engine or SDK).
 * Adding a target is a folder under src/targets/ and one entry here.
 */
import type { z } from 'zod';
import type { RunContext } from '../core/context.js';
import type { DeployInput, Handle, RunStatus, TargetAdapter, TargetKindInfo } from '../core/target.js';
import { batchTargetSchema } from './aws-batch/schema.js';
import { lambdaTargetSchema } from './aws-lambda/schema.js';
import { kubernetesJobTargetSchema } from './kubernetes-job/schema.js';
import { localTargetSchema } from './local/schema.js';
import { sparkTargetSchema } from './spark/schema.js';

export const targetSchemas = [localTargetSchema, batchTargetSchema, lambdaTargetSchema, kubernetesJobTargetSchema, sparkTargetSchema] as const;

export const TARGET_TYPES = ['local', 'aws-batch', 'aws-lambda', 'kubernetes-job', 'spark'] as const;
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
  {
    type: 'aws-lambda',
    summary: 'An AWS Lambda container-image function: ferry creates or updates it with the image pinned by digest, waits until it is ready, can publish a version and move an alias, and invokes it with deploy --invoke.',
    capabilities: { plan: true, deploy: true, async: false, logs: false, cancel: false, each: false, invoke: true },
  },
  {
    type: 'kubernetes-job',
    summary: "A Kubernetes Job in a cluster from your kubeconfig: ferry creates the Job with the image pinned by digest (and an image pull Secret from its registry credentials), watches it to the end, streams its pods' logs, and can write the manifests for GitOps (--render).",
    capabilities: { plan: true, deploy: true, async: true, logs: true, cancel: true, each: true, render: true },
  },
  {
    type: 'spark',
    summary: 'A Spark application: spark-submit runs in the image on this machine, against a local[*], standalone (spark://, client mode) or Kubernetes (k8s://, cluster mode) master, or (submit: operator) a SparkApplication for the Spark operator in a cluster (--render writes it for GitOps); ferry follows the driver and exits with its exit code.',
    capabilities: { plan: true, deploy: true, async: true, logs: true, cancel: true, each: false, render: true },
  },
];

/** What `deploy --invoke` prints and returns: the function's answer and the tail of its log. */
export interface InvokeResult {
  statusCode: number;
  /** Set (Unhandled, Handled) when the function raised an error: the deploy then exits non-zero. */
  functionError?: string;
  executedVersion?: string;
  /** The response payload, as text. */
  response: string;
  /** The invocation's last 4 KB of log, decoded. */
  logTail: string;
}

/** A remote adapter as the deploy and plan services use it: status is what they wait on. */
export type RemoteAdapter = TargetAdapter<DeployInput<RemoteTargetConfig>> & {
  status(h: Handle, ctx: RunContext): Promise<RunStatus>;
  /** Checks what can be checked without the image's digest or config, before building and any network call. */
  check?(input: DeployInput<RemoteTargetConfig>, opts?: { render: boolean }): void | Promise<void>;
  /** `deploy --invoke`: one synchronous call of what was deployed (kinds that can; see capabilities.invoke). */
  invoke?(h: Handle, payload: Uint8Array | undefined, ctx: RunContext): Promise<InvokeResult>;
  /** `--render`: the manifests deploy would apply, made without any cluster call or credential (GitOps). */
  render?(input: DeployInput<RemoteTargetConfig>, ctx: RunContext): Promise<Record<string, unknown>[]>;
};

/** The adapter modules, loaded only when a command needs one. */
const ADAPTERS: Record<RemoteTargetConfig['type'], () => Promise<RemoteAdapter>> = {
  'aws-batch': async () => (await import('./aws-batch/adapter.js')).batchAdapter,
  'aws-lambda': async () => (await import('./aws-lambda/adapter.js')).lambdaAdapter,
  'kubernetes-job': async () => (await import('./kubernetes-job/adapter.js')).kubernetesJobAdapter,
  spark: async () => (await import('./spark/adapter.js')).sparkAdapter,
};

export async function loadRemoteAdapter(type: RemoteTargetConfig['type']): Promise<RemoteAdapter> {
  return ADAPTERS[type]();
}
