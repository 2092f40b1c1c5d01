/**
 * The AWS Batch requests ferry sends, as plain data built from ferry.yaml (no SDK here, so `ferry
 * plan` and the tests see exactly what would go out). The field names are Batch's own
 * (RegisterJobDefinition, SubmitJob, DescribeJobs).
 */
import { EACH_ARGV0, eachWrapper } from '../../core/each-wrapper.js';
import { parseCpu, parseDuration, parseMemory } from '../../core/quantities.js';
import type { DeployInput, RunState, RunStatus } from '../../core/target.js';
import type { BatchTargetConfig } from './schema.js';

export interface BatchJobInput {
  target: string;
  config: BatchTargetConfig;
  /** The image pinned by digest: REGISTRY/REPO@sha256:… (Batch pulls it as is). */
  image: string;
  /** os/arch of the image: Fargate's runtimePlatform must match it. */
  platform: string;
  /** The image's ENTRYPOINT, which Batch can keep but never replace. */
  imageEntrypoint?: string[] | undefined;
  /** ferry.yaml's `job`, as every target gets it. */
  job: DeployInput<unknown>['job'];
}

export interface KeyValue {
  name: string;
  value: string;
}

export interface ResourceRequirement {
  type: 'VCPU' | 'MEMORY' | 'GPU';
  value: string;
}

export interface ContainerProperties {
  image: string;
  command?: string[];
  environment: KeyValue[];
  resourceRequirements: ResourceRequirement[];
  jobRoleArn?: string;
  executionRoleArn?: string;
  logConfiguration?: { logDriver: 'awslogs'; options: Record<string, string> };
  fargatePlatformConfiguration?: { platformVersion: string };
  networkConfiguration?: { assignPublicIp: 'ENABLED' | 'DISABLED' };
  runtimePlatform?: { operatingSystemFamily: 'LINUX'; cpuArchitecture: 'X86_64' | 'ARM64' };
}

export interface RegisterJobDefinitionInput {
  jobDefinitionName: string;
  type: 'container';
  platformCapabilities: ['EC2' | 'FARGATE'];
  containerProperties: ContainerProperties;
  retryStrategy?: { attempts: number; evaluateOnExit?: { onExitCode: string; action: 'RETRY' | 'EXIT' }[] };
  timeout?: { attemptDurationSeconds: number };
  propagateTags: boolean;
  tags: Record<string, string>;
}

/** A bad value for Batch, found before any AWS call: where it is, and why. */
export class BatchInputError extends Error {
  constructor(
    readonly key: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** Batch requires vCPU and memory; without job.resources a job gets 1 vCPU and 2 GiB (valid on Fargate too). */
export const DEFAULT_VCPU = 1;
export const DEFAULT_MEMORY_MIB = 2048;

/**
 * Fargate accepts only these vCPU / memory pairs (MiB): AWS Batch and ECS document the same table.
 * Anything else is refused by RegisterJobDefinition, so ferry refuses it first, with the valid range.
 */
const FARGATE_MEMORY: readonly [number, number[]][] = [
  [0.25, [512, 1024, 2048]],
  [0.5, range(1024, 4096, 1024)],
  [1, range(2048, 8192, 1024)],
  [2, range(4096, 16384, 1024)],
  [4, range(8192, 30720, 1024)],
  [8, range(16384, 61440, 4096)],
  [16, range(32768, 122880, 8192)],
];

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

export function fargatePairProblem(vcpu: number, memoryMiB: number): string | undefined {
  const row = FARGATE_MEMORY.find(([c]) => c === vcpu);
  if (row === undefined) return `Fargate takes ${FARGATE_MEMORY.map(([c]) => c).join(', ')} vCPU, not ${vcpu}`;
  if (!row[1].includes(memoryMiB)) {
    const m = row[1];
    return `Fargate with ${vcpu} vCPU takes ${m.length <= 4 ? m.join(', ') : `${m[0] ?? ''} to ${m[m.length - 1] ?? ''} in steps of ${(m[1] ?? 0) - (m[0] ?? 0)}`} MiB of memory, not ${memoryMiB}`;
  }
  return undefined;
}

/** ferry-<repository basename>-<target>, cut to Batch's 128 characters. */
export function defaultJobDefinitionName(image: string, target: string): string {
  const repo = image.split('@')[0]?.split('/').pop()?.split(':')[0] ?? 'image';
  return `ferry-${repo}-${target}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128);
}

export function jobDefinitionInput(input: BatchJobInput): RegisterJobDefinitionInput {
  const { config, job } = input;
  const vcpu = job.resources?.cpu === undefined ? DEFAULT_VCPU : (parseCpu(job.resources.cpu) ?? DEFAULT_VCPU);
  const memoryBytes = job.resources?.memory === undefined ? undefined : parseMemory(job.resources.memory);
  const memoryMiB = memoryBytes === undefined ? DEFAULT_MEMORY_MIB : Math.ceil(memoryBytes / (1024 * 1024));
  if (config.platform === 'FARGATE') {
    const problem = fargatePairProblem(vcpu, memoryMiB);
    if (problem !== undefined) throw new BatchInputError('job.resources', problem, 'pick a vCPU/memory pair Fargate offers (e.g. cpu: 1, memory: 2Gi), or use platform: EC2');
    if ((job.resources?.gpu ?? 0) > 0) throw new BatchInputError('job.resources.gpu', 'Fargate has no GPUs', 'use platform: EC2 with a GPU compute environment');
  } else if (vcpu < 1 || !Number.isInteger(vcpu)) {
    throw new BatchInputError('job.resources.cpu', `Batch on EC2 reserves whole vCPUs, not ${vcpu}`, 'use a whole number of CPUs (1, 2, …), or platform: FARGATE for fractions');
  }
  const requirements: ResourceRequirement[] = [
    { type: 'VCPU', value: String(vcpu) },
    { type: 'MEMORY', value: String(memoryMiB) },
  ];
  if ((job.resources?.gpu ?? 0) > 0) requirements.push({ type: 'GPU', value: String(job.resources?.gpu) });

  const container: ContainerProperties = {
    image: input.image,
    environment: Object.entries(job.env)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => ({ name, value })),
    resourceRequirements: requirements,
  };
  // Batch's one `command` replaces the image's CMD and always keeps its ENTRYPOINT (the job
  // definition has no entryPoint). job.command (an ENTRYPOINT) can therefore only be honoured on an
  // image without one: there, command + args is exactly the command line.
  if (job.command !== undefined && (input.imageEntrypoint?.length ?? 0) > 0) {
    throw new BatchInputError(
      'job.command',
      `Batch cannot replace the image's ENTRYPOINT (${JSON.stringify(input.imageEntrypoint)}); it only replaces CMD`,
      'put the arguments in job.args (they replace CMD and follow the ENTRYPOINT), or build the image without an ENTRYPOINT',
    );
  }
  const command = [...(job.command ?? []), ...(job.args ?? [])];
  if (command.length > 0) container.command = command;
  if (config.jobRoleArn !== undefined) container.jobRoleArn = config.jobRoleArn;
  if (config.executionRoleArn !== undefined) container.executionRoleArn = config.executionRoleArn;
  if (config.logGroup !== undefined) container.logConfiguration = { logDriver: 'awslogs', options: { 'awslogs-group': config.logGroup } };
  if (config.platform === 'FARGATE') {
    container.fargatePlatformConfiguration = { platformVersion: config.fargate?.platformVersion ?? 'LATEST' };
    container.networkConfiguration = { assignPublicIp: config.fargate?.assignPublicIp === true ? 'ENABLED' : 'DISABLED' };
    // Fargate runs the architecture it is told: the image's own.
    container.runtimePlatform = { operatingSystemFamily: 'LINUX', cpuArchitecture: input.platform.includes('arm64') ? 'ARM64' : 'X86_64' };
  }
  const def: RegisterJobDefinitionInput = {
    jobDefinitionName: config.jobDefinition ?? defaultJobDefinitionName(input.image, input.target),
    type: 'container',
    platformCapabilities: [config.platform],
    containerProperties: container,
    propagateTags: true,
    tags: { ...config.tags, 'ferry:target': input.target },
  };
  if (config.retry !== undefined) {
    def.retryStrategy = { attempts: config.retry.attempts };
    if (config.retry.retryOnExitCodes !== undefined) {
      // Batch evaluates the list in order: retry on the named codes, exit on anything else.
      def.retryStrategy.evaluateOnExit = [...config.retry.retryOnExitCodes.map((c) => ({ onExitCode: String(c), action: 'RETRY' as const })), { onExitCode: '*', action: 'EXIT' as const }];
    }
  }
  if (job.timeout !== undefined) {
    const seconds = Math.ceil((parseDuration(job.timeout) ?? 0) / 1000);
    if (seconds < 60) throw new BatchInputError('job.timeout', `Batch stops attempts after 60 s at the least, not ${seconds} s`, 'set job.timeout to 60s or more');
    def.timeout = { attemptDurationSeconds: seconds };
  }
  return def;
}

/**
 * Whether an existing revision (as DescribeJobDefinitions returns it, with AWS's defaults filled
 * in) is the one ferry would register: every field ferry sets has the same value there. Fields
 * only AWS fills (empty volumes, ulimits, …) do not count.
 */
export function sameDefinition(wanted: RegisterJobDefinitionInput, existing: Record<string, unknown>): boolean {
  if (existing['status'] !== undefined && existing['status'] !== 'ACTIVE') return false;
  const { jobDefinitionName, tags: _tags, ...rest } = wanted;
  if (existing['jobDefinitionName'] !== jobDefinitionName) return false;
  // A setting ferry leaves out must be unset in the revision too: otherwise removing job.args or a
  // role from ferry.yaml would reuse a revision that still has them.
  const container = (existing['containerProperties'] ?? {}) as Record<string, unknown>;
  if (OPTIONAL_CONTAINER_KEYS.some((k) => wanted.containerProperties[k] === undefined && !isEmpty(container[k]))) return false;
  if (wanted.timeout === undefined && !isEmpty(existing['timeout'])) return false;
  if (wanted.retryStrategy === undefined && !defaultRetry(existing['retryStrategy'])) return false;
  return covers(rest, existing);
}

/** Container settings ferry sets only sometimes (image, environment and resources it always sets). */
const OPTIONAL_CONTAINER_KEYS = ['command', 'jobRoleArn', 'executionRoleArn', 'logConfiguration', 'fargatePlatformConfiguration', 'networkConfiguration', 'runtimePlatform'] as const;

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v).every(isEmpty);
  return false;
}

/** No retry strategy, or Batch's default of one attempt with no exit rules. */
function defaultRetry(v: unknown): boolean {
  if (isEmpty(v)) return true;
  const r = v as { attempts?: unknown; evaluateOnExit?: unknown };
  return (r.attempts === undefined || r.attempts === 1) && isEmpty(r.evaluateOnExit);
}

function covers(wanted: unknown, got: unknown): boolean {
  if (Array.isArray(wanted)) {
    if (!Array.isArray(got) || got.length !== wanted.length) return false;
    return wanted.every((w, i) => covers(w, got[i]));
  }
  if (typeof wanted === 'object' && wanted !== null) {
    if (typeof got !== 'object' || got === null) return false;
    const g = got as Record<string, unknown>;
    return Object.entries(wanted as Record<string, unknown>).every(([k, v]) => v === undefined || covers(v, g[k]));
  }
  return wanted === got;
}

/** DescribeJobs takes at most 100 job ids a call. */
export const DESCRIBE_JOBS_LIMIT = 100;

export function chunks<T>(items: readonly T[], size = DESCRIBE_JOBS_LIMIT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A Batch job (DescribeJobs' jobDetail) as a ferry run status. */
export function statusOf(job: {
  status?: string;
  statusReason?: string;
  container?: { exitCode?: number; reason?: string };
  arrayProperties?: { statusSummary?: Record<string, number> };
}): RunStatus {
  const state = STATE[job.status ?? ''] ?? 'pending';
  const out: RunStatus = { state };
  const cancelled = state === 'failed' && /cancel|terminat/i.test(job.statusReason ?? '') && job.container?.exitCode === undefined;
  if (cancelled) out.state = 'cancelled';
  if (job.container?.exitCode !== undefined) out.exitCode = job.container.exitCode;
  const reason = job.container?.reason ?? job.statusReason;
  if (reason !== undefined && reason !== '' && state !== 'succeeded') out.reason = reason;
  const summary = job.arrayProperties?.statusSummary;
  if (summary !== undefined) {
    const children: Partial<Record<RunState, number>> = {};
    for (const [k, n] of Object.entries(summary)) {
      // Batch lists every status, most of them at 0: only the ones with children say anything.
      if (n === 0) continue;
      const s = STATE[k] ?? 'pending';
      children[s] = (children[s] ?? 0) + n;
    }
    out.children = children;
  }
  return out;
}

const STATE: Record<string, RunState> = {
  SUBMITTED: 'pending',
  PENDING: 'pending',
  RUNNABLE: 'pending',
  STARTING: 'pending',
  RUNNING: 'running',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
};

/**
 * `deploy --each` as one array job. Batch gives every child the same environment and only
 * AWS_BATCH_JOB_ARRAY_INDEX differs, so ferry puts the whole list in the job's environment
 * (SubmitJob containerOverrides, so the job definition stays the one a plain deploy reuses):
 * FERRY_EACH_KEY, FERRY_EACH_COUNT and FERRY_EACH_VALUES (the values, one a line). When it can, it
 * also runs the command through EACH_WRAPPER, which picks the child's line and exports
 * FERRY_EACH_INDEX, FERRY_EACH_VALUE and KEY before it execs the command.
 */
export interface EachJob {
  key: string;
  values: readonly string[];
  /** The image's CMD (what runs when job.command and job.args are unset). */
  imageCmd?: string[] | undefined;
  /** Why ferry believes the image has /bin/sh; undefined: it has none, or ferry cannot tell. */
  shell?: string | undefined;
}

export interface EachSubmit {
  /** Absent for a single value: Batch arrays have 2 to 10,000 children, so one value is a plain job. */
  arrayProperties?: { size: number };
  containerOverrides: { environment: KeyValue[]; command?: string[] };
  /** Whether the children get KEY, FERRY_EACH_INDEX and FERRY_EACH_VALUE (wrapper, or a single value). */
  delivered: boolean;
  /** Why not, when not: for a warning. */
  why?: string;
}

/** The wrapper a Batch array child runs: its index is AWS_BATCH_JOB_ARRAY_INDEX. */
export const EACH_WRAPPER = eachWrapper('AWS_BATCH_JOB_ARRAY_INDEX');
export { EACH_ARGV0 };

/**
 * ECS, which runs Batch's containers, refuses container overrides longer than 8,192 characters
 * (JSON included): such a job is accepted by SubmitJob and then FAILS with "Container Overrides
 * length must be at most 8192". Batch adds its own AWS_BATCH_* variables to the overrides, so ferry
 * keeps its part under 7 KiB. (SubmitJob's own limit, 30 KiB a request, is then never reached.)
 */
export const EACH_OVERRIDES_BUDGET = 7 * 1024;

export function eachSubmit(each: EachJob, job: { command?: string[] | undefined; args?: string[] | undefined }, imageEntrypoint: string[] | undefined): EachSubmit {
  const env: Record<string, string> = {
    FERRY_EACH_KEY: each.key,
    FERRY_EACH_COUNT: String(each.values.length),
    FERRY_EACH_VALUES: each.values.join('\n'),
  };
  const environment = (e: Record<string, string>): KeyValue[] =>
    Object.entries(e)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => ({ name, value }));
  if (each.values.length === 1) {
    // One child: a plain job, with the value set directly (no wrapper, no shell needed).
    const value = each.values[0] ?? '';
    return { containerOverrides: { environment: environment({ ...env, FERRY_EACH_INDEX: '0', FERRY_EACH_VALUE: value, [each.key]: value }) }, delivered: true };
  }
  const out: EachSubmit = { arrayProperties: { size: each.values.length }, containerOverrides: { environment: environment(env) }, delivered: false };
  const command = [...(job.command ?? []), ...(job.args ?? [])];
  const run = command.length > 0 ? command : (each.imageCmd ?? []);
  if ((imageEntrypoint?.length ?? 0) > 0) {
    out.why = `the image has an ENTRYPOINT (${JSON.stringify(imageEntrypoint)}), which Batch cannot replace, so ferry cannot run its /bin/sh wrapper first`;
  } else if (each.shell === undefined) {
    out.why = 'ferry found no /bin/sh in the image (or could not tell: `ferry build` first puts its base layers in the cache), so it cannot run its wrapper';
  } else if (run.length === 0) {
    out.why = 'the image has no CMD and job.command and job.args are unset: there is no command for the wrapper to run';
  } else {
    out.containerOverrides.command = ['/bin/sh', '-c', EACH_WRAPPER, EACH_ARGV0, ...run];
    out.delivered = true;
  }
  return out;
}

/** The size ECS counts: the overrides as JSON. */
export function overridesSize(o: EachSubmit['containerOverrides']): number {
  return Buffer.byteLength(JSON.stringify(o), 'utf8');
}
