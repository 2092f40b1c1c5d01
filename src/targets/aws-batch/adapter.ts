/**
 * The AWS Batch adapter: plan (read only: DescribeJobDefinitions), deploy (RegisterJobDefinition
 * unless an identical ACTIVE revision exists, then SubmitJob), status (DescribeJobs).
 *
 * A deploy costs at most three API calls besides status polls: DescribeJobDefinitions,
 * RegisterJobDefinition (only when no identical ACTIVE revision exists) and SubmitJob.
 */
import { randomBytes } from 'node:crypto';
import type { RunContext } from '../../core/context.js';
import { configError, FerryError } from '../../core/errors.js';
import type { DeployInput, Handle, Plan, PlannedRequest, RunStatus } from '../../core/target.js';
import type { RemoteAdapter, RemoteTargetConfig } from '../index.js';
import type { BatchApi, BatchWhere, SubmitJobInput } from './client.js';
import { BatchInputError, jobDefinitionInput, sameDefinition, statusOf, type RegisterJobDefinitionInput } from './payload.js';
import type { BatchTargetConfig } from './schema.js';

/** The tag that lets a retried SubmitJob find the job a lost response created. */
export const DEPLOY_ID_TAG = 'ferry:deploy-id';
/** SubmitJob attempts in all, when the answer is lost or the API is unavailable. */
const SUBMIT_ATTEMPTS = 3;

type Input = DeployInput<RemoteTargetConfig>;

/** Tests (and only tests) replace the API and the sleep. */
export interface BatchDeps {
  api?: (where: BatchWhere) => Promise<BatchApi>;
  sleep?: (ms: number) => Promise<void>;
}
const deps: BatchDeps = {};
export function setBatchDeps(d: BatchDeps): void {
  Object.assign(deps, d);
}

const apis = new Map<string, Promise<BatchApi>>();
async function apiFor(where: BatchWhere): Promise<BatchApi> {
  const key = JSON.stringify(where);
  let api = apis.get(key);
  if (api === undefined) {
    api = deps.api !== undefined ? deps.api(where) : import('./client.js').then((m) => m.createBatchApi(where));
    apis.set(key, api);
  }
  return api;
}

function batchConfig(input: Input): BatchTargetConfig {
  // RemoteTargetConfig is a union of every remote kind; this adapter only ever gets its own.
  if (input.config.type !== 'aws-batch') throw new FerryError('INTERNAL', `the aws-batch adapter got a ${input.config.type} target`);
  return input.config;
}

function whereOf(input: Input): BatchWhere {
  return { file: input.file, target: input.target, queue: batchConfig(input).queue };
}

/** The job definition ferry would register, or a coded config error naming the key. */
export function definitionFor(input: Input): RegisterJobDefinitionInput {
  const config = batchConfig(input);
  try {
    return jobDefinitionInput({ target: input.target, config, image: input.image.ref, platform: input.image.platform, imageEntrypoint: input.imageEntrypoint, job: input.job });
  } catch (e) {
    if (!(e instanceof BatchInputError)) throw e;
    const at = input.locate?.(e.key.split('.'));
    throw configError('BATCH_CONFIG_INVALID', `${e.message} (target ${input.target}, type aws-batch, platform ${config.platform})`, {
      where: `${at ?? input.file} (${e.key})`,
      cause: e,
      details: { target: input.target, key: e.key },
      suggestions: [e.hint],
    });
  }
}

function newDeployId(): string {
  return `${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(6).toString('hex')}`;
}

/** Batch job names: up to 128 letters, digits, - and _. */
function jobNameFor(target: string, deployId: string): string {
  return `ferry-${target}-${deployId}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128);
}

function revisionOf(d: Record<string, unknown>): number {
  return typeof d['revision'] === 'number' ? d['revision'] : 0;
}

const REGISTER = 'RegisterJobDefinition';
const SUBMIT = 'SubmitJob';
/** In a plan, the job definition SubmitJob names when it is registered by this deploy. */
const FROM_REGISTER = ':<revision RegisterJobDefinition answers>';

export const batchAdapter: RemoteAdapter = {
  type: 'aws-batch',

  check(input): void {
    definitionFor(input);
  },

  async plan(input, ctx): Promise<Plan> {
    const config = batchConfig(input);
    const def = definitionFor(input);
    const api = await apiFor(whereOf(input));
    const existing = await api.describeJobDefinitions(def.jobDefinitionName);
    const same = existing.filter((d) => sameDefinition(def, d)).sort((a, b) => revisionOf(b) - revisionOf(a))[0];
    const requests: PlannedRequest[] = [{ service: 'batch', action: 'DescribeJobDefinitions', payload: { jobDefinitionName: def.jobDefinitionName, status: 'ACTIVE' } }];
    const notes: string[] = [];
    let jobDefinition: string;
    if (same !== undefined) {
      jobDefinition = typeof same['jobDefinitionArn'] === 'string' ? same['jobDefinitionArn'] : `${def.jobDefinitionName}:${revisionOf(same)}`;
      notes.push(`reuses job definition ${def.jobDefinitionName}:${revisionOf(same)} (identical and ACTIVE): nothing to register`);
    } else {
      requests.push({ service: 'batch', action: REGISTER, payload: def });
      jobDefinition = `${def.jobDefinitionName}${FROM_REGISTER}`;
      notes.push(
        existing.length === 0
          ? `registers job definition ${def.jobDefinitionName} (it has no ACTIVE revision)`
          : `registers a new revision of ${def.jobDefinitionName} (none of its ${existing.length} ACTIVE revisions is identical)`,
      );
    }
    const deployId = newDeployId();
    const submit: SubmitJobInput = {
      jobName: jobNameFor(input.target, deployId),
      jobQueue: config.queue,
      jobDefinition,
      tags: { ...config.tags, 'ferry:target': input.target, [DEPLOY_ID_TAG]: deployId },
      propagateTags: true,
    };
    requests.push({ service: 'batch', action: SUBMIT, payload: submit });
    notes.push(`then polls DescribeJobs until the job ends`);
    ctx.reporter.debug(`aws-batch plan: ${requests.map((r) => r.action).join(', ')}`);
    return { target: input.target, type: 'aws-batch', image: input.image, requests, notes };
  },

  async deploy(plan, input, ctx): Promise<Handle> {
    const api = await apiFor(whereOf(input));
    const register = plan.requests.find((r) => r.action === REGISTER);
    const submitReq = plan.requests.find((r) => r.action === SUBMIT);
    if (submitReq === undefined) throw new FerryError('INTERNAL', 'the aws-batch plan has no SubmitJob request');
    const submit = { ...(submitReq.payload as SubmitJobInput) };
    let revision: string;
    let reused: boolean;
    if (register !== undefined) {
      const def = register.payload as RegisterJobDefinitionInput;
      const out = await api.registerJobDefinition(def);
      ctx.reporter.info(`registered job definition ${out.jobDefinitionName}:${out.revision}`);
      submit.jobDefinition = out.jobDefinitionArn;
      revision = String(out.revision);
      reused = false;
    } else {
      revision = submit.jobDefinition.split(':').pop() ?? '';
      reused = true;
      ctx.reporter.info(`reusing job definition ${submit.jobDefinition.split('/').pop() ?? submit.jobDefinition}`);
    }
    const job = await submitOnce(api, submit, ctx);
    ctx.reporter.info(`submitted job ${submit.jobName} (${job.jobId}) to ${submit.jobQueue}`);
    // Ctrl-C while ferry waits leaves the job running (detach); until `ferry cancel` exists, say how to stop it.
    ctx.reporter.info(`  Ctrl-C stops waiting, not the job; to stop the job: aws batch terminate-job --job-id ${job.jobId} --reason "cancelled by its owner"`);
    return {
      id: submit.tags[DEPLOY_ID_TAG] ?? job.jobId,
      target: input.target,
      type: 'aws-batch',
      image: input.image.ref,
      createdAt: new Date().toISOString(),
      ref: {
        jobId: job.jobId,
        jobName: submit.jobName,
        jobQueue: submit.jobQueue,
        jobDefinition: submit.jobDefinition,
        revision,
        reusedDefinition: String(reused),
      },
    };
  },

  async status(h, _ctx): Promise<RunStatus> {
    const jobId = h.ref['jobId'] ?? '';
    const api = await apiFor({ file: 'ferry.yaml', target: h.target, queue: h.ref['jobQueue'] ?? '' });
    const [job] = await api.describeJobs([jobId]);
    if (job === undefined) {
      // Batch forgets jobs some time after they end.
      return { state: 'failed', reason: `Batch no longer knows job ${jobId}` };
    }
    // The last attempt's container carries the exit code and reason when the job's own does not.
    const last = job.attempts?.[job.attempts.length - 1]?.container;
    const container = { ...(last ?? {}), ...(job.container ?? {}) };
    const st = statusOf({ ...job, container: { ...(container.exitCode === undefined ? {} : { exitCode: container.exitCode }), ...(container.reason === undefined ? {} : { reason: container.reason }) } });
    st.phase = job.status;
    return st;
  },
};

/**
 * SubmitJob has no client token: a retry after a lost answer could start a second job. So it is
 * sent once per attempt, and before each retry ferry looks for the job by its unique name and
 * deploy-id tag; only when there is none does it submit again.
 */
async function submitOnce(api: BatchApi, submit: SubmitJobInput, ctx: RunContext): Promise<{ jobId: string }> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deployId = submit.tags[DEPLOY_ID_TAG];
  let lastError: unknown;
  for (let attempt = 1; attempt <= SUBMIT_ATTEMPTS; attempt++) {
    if (attempt > 1) {
      await sleep(1000 * 2 ** (attempt - 2));
      const found = await api.findJobsByName(submit.jobQueue, submit.jobName);
      if (found.length > 0) {
        const described = await api.describeJobs(found.map((j) => j.jobId));
        const mine = described.find((j) => j.tags === undefined || j.tags[DEPLOY_ID_TAG] === deployId);
        if (mine !== undefined) {
          ctx.reporter.info(`the job from the earlier SubmitJob exists (${mine.jobId}): not submitting again`);
          return { jobId: mine.jobId };
        }
      }
    }
    try {
      return await api.submitJob(submit);
    } catch (e) {
      if (!(e instanceof FerryError) || !['BATCH_UNAVAILABLE', 'BATCH_THROTTLED', 'BATCH_REQUEST_FAILED'].includes(e.code)) throw e;
      lastError = e;
      ctx.reporter.warn(`SubmitJob ${submit.jobName}: ${e.message}; ${attempt < SUBMIT_ATTEMPTS ? 'looking for the job before trying again' : 'giving up'}`);
    }
  }
  throw lastError;
}
