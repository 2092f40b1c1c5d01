/**
 * The AWS Batch adapter: plan (read only: DescribeJobDefinitions), deploy (RegisterJobDefinition
 * unless an identical ACTIVE revision exists, then SubmitJob), status (DescribeJobs).
 *
 * A deploy costs at most three API calls besides status polls: DescribeJobDefinitions,
 * RegisterJobDefinition (only when no identical ACTIVE revision exists) and SubmitJob.
 */
import type { RunContext } from '../../core/context.js';
import { newRunId } from '../../core/run-id.js';
import { configError, dataError, FerryError, interruptedError, usageError } from '../../core/errors.js';
import type { CancelOutcome, DeployInput, FailedChild, Handle, LogLine, LogOptions, Plan, PlannedRequest, RunStatus } from '../../core/target.js';
import type { RemoteAdapter, RemoteTargetConfig } from '../index.js';
import type { BatchApi, BatchJob, BatchWhere, SubmitJobInput } from './client.js';
import type { LogsApi } from './logs-client.js';
import { abortableSleep } from '../../infra/sleep.js';
import {
  BatchInputError,
  EACH_OVERRIDES_BUDGET,
  eachSubmit,
  jobDefinitionInput,
  overridesSize,
  sameDefinition,
  statusOf,
  type EachSubmit,
  type RegisterJobDefinitionInput,
} from './payload.js';
import type { BatchTargetConfig } from './schema.js';

/** The tag that lets a retried SubmitJob find the job a lost response created. */
export const DEPLOY_ID_TAG = 'ferry:deploy-id';
/** SubmitJob attempts in all, when the answer is lost or the API is unavailable. */
const SUBMIT_ATTEMPTS = 3;
/** How many failed children of an array job ferry describes when it fails (two calls, whatever the array's size). */
export const FAILED_CHILDREN_SAMPLE = 5;

type Input = DeployInput<RemoteTargetConfig>;

/** Tests (and only tests) replace the API and the sleep. */
export interface BatchDeps {
  api?: (where: BatchWhere) => Promise<BatchApi>;
  logsApi?: (where: BatchWhere) => Promise<LogsApi>;
  sleep?: (ms: number) => Promise<void>;
}
const deps: BatchDeps = {};
export function setBatchDeps(d: BatchDeps): void {
  Object.assign(deps, d);
  // A client made with the old deps must not answer for the new ones.
  apis.clear();
  logApis.clear();
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

const logApis = new Map<string, Promise<LogsApi>>();
async function logsApiFor(where: BatchWhere): Promise<LogsApi> {
  const key = JSON.stringify(where);
  let api = logApis.get(key);
  if (api === undefined) {
    api = deps.logsApi !== undefined ? deps.logsApi(where) : import('./logs-client.js').then((m) => m.createLogsApi(where));
    logApis.set(key, api);
  }
  return api;
}

/** Where the awslogs driver writes when the job definition names no group. */
export const DEFAULT_LOG_GROUP = '/aws/batch/job';

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

/**
 * `--each`: the array properties and container overrides SubmitJob gets, or a usage error when the
 * values do not fit in the overrides ECS accepts (before any AWS call: check() runs it before the
 * build, assuming the wrapper, and plan() with what the build found).
 */
function eachParts(input: Input, assumeShell = false): EachSubmit | undefined {
  const each = input.each;
  if (each === undefined) return undefined;
  const parts = eachSubmit(assumeShell ? { ...each, shell: each.shell ?? 'assumed before the build' } : each, input.job, input.imageEntrypoint);
  const size = overridesSize(parts.containerOverrides);
  if (size > EACH_OVERRIDES_BUDGET) {
    // The most values, from the start of the list, that fit with the wrapper's fixed part (binary search).
    let lo = 1;
    let hi = each.values.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const part = eachSubmit({ ...each, values: each.values.slice(0, mid), ...(assumeShell ? { shell: each.shell ?? 'assumed before the build' } : {}) }, input.job, input.imageEntrypoint);
      if (overridesSize(part.containerOverrides) <= EACH_OVERRIDES_BUDGET) lo = mid;
      else hi = mid - 1;
    }
    const fit = lo;
    throw usageError('USAGE_EACH_TOO_LARGE', `the ${each.values.length} values of ${each.key} (${each.source}) take ${size} bytes of the job's container overrides; Batch's containers run on ECS, which fails a job whose overrides pass 8,192 characters, and ferry keeps ${8192 - EACH_OVERRIDES_BUDGET} of them for Batch's own variables`, {
      where: each.source.startsWith('--each-file') ? each.source.slice('--each-file '.length) : '--each',
      details: { key: each.key, count: each.values.length, bytes: size, limit: EACH_OVERRIDES_BUDGET },
      suggestions: [
        `split the values over several deploys: the first ${fit} fit in one`,
        'or pass short ids (a file name, a partition number) and let the job look the rest up (e.g. in S3)',
      ],
    });
  }
  return parts;
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
    eachParts(input, true);
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
    const deployId = newRunId();
    const submit: SubmitJobInput = {
      jobName: jobNameFor(input.target, deployId),
      jobQueue: config.queue,
      jobDefinition,
      tags: { ...config.tags, 'ferry:target': input.target, [DEPLOY_ID_TAG]: deployId },
      propagateTags: true,
    };
    const each = eachParts(input);
    if (each !== undefined && input.each !== undefined) {
      const { key, values } = input.each;
      if (each.arrayProperties !== undefined) submit.arrayProperties = each.arrayProperties;
      submit.containerOverrides = each.containerOverrides;
      if (each.arrayProperties === undefined) notes.push(`one value for ${key}: a plain job (Batch arrays have 2 to 10,000 children) with ${key}, FERRY_EACH_INDEX=0 and FERRY_EACH_VALUE set`);
      else notes.push(`one array job of ${values.length} children over ${key}; child i runs with ${each.delivered ? `${key}, FERRY_EACH_VALUE and FERRY_EACH_INDEX set by ferry's /bin/sh wrapper (${input.each.shell ?? ''})` : 'AWS_BATCH_JOB_ARRAY_INDEX=i and FERRY_EACH_VALUES (one value a line) only'}`);
      if (!each.delivered && each.why !== undefined) {
        ctx.reporter.warn(
          `--each: ${each.why}. The children do not get ${key}: each must read line AWS_BATCH_JOB_ARRAY_INDEX (from 0) of FERRY_EACH_VALUES itself (e.g. printf '%s\\n' "$FERRY_EACH_VALUES" | sed -n "$((AWS_BATCH_JOB_ARRAY_INDEX+1))p")`,
        );
      }
    }
    requests.push({ service: 'batch', action: SUBMIT, payload: submit });
    notes.push(
      submit.arrayProperties === undefined
        ? `then polls DescribeJobs until the job ends`
        : `then polls DescribeJobs for the parent job only (its statusSummary counts the children) until it ends`,
    );
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
    // Ctrl-C up to here stops before anything runs (a registered revision is harmless and reused).
    if (ctx.signal?.aborted === true) throw interruptedError(ctx.signal.reason, `submitting job ${submit.jobName}`);
    const region = await api.region?.().catch(() => undefined);
    const job = await submitOnce(api, submit, ctx);
    ctx.reporter.info(`submitted job ${submit.jobName} (${job.jobId}) to ${submit.jobQueue}`);
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
        logGroup: batchConfig(input).logGroup ?? DEFAULT_LOG_GROUP,
        ...(region === undefined ? {} : { region }),
        ...(input.each !== undefined ? { eachKey: input.each.key, eachCount: String(input.each.values.length) } : {}),
      },
    };
  },

  async status(h, _ctx): Promise<RunStatus> {
    const jobId = h.ref['jobId'] ?? '';
    const api = await apiFor(whereOfHandle(h));
    const [job] = await api.describeJobs([jobId]);
    if (job === undefined) {
      // Just after SubmitJob, DescribeJobs may not list the job yet (AWS APIs are eventually
      // consistent); much later, Batch has forgotten it, which is an error, not a state.
      if (Date.now() - Date.parse(h.createdAt) < 120_000) return { state: 'pending', phase: 'SUBMITTED' };
      return describeOne(api, jobId).then(() => ({ state: 'pending' as const }));
    }
    // The last attempt's container carries the exit code and reason when the job's own does not.
    const last = job.attempts?.[job.attempts.length - 1]?.container;
    const container = { ...(last ?? {}), ...(job.container ?? {}) };
    const st = statusOf({ ...job, container: { ...(container.exitCode === undefined ? {} : { exitCode: container.exitCode }), ...(container.reason === undefined ? {} : { reason: container.reason }) } });
    st.phase = job.status;
    // An array job fails when any child fails; say which, with a bounded sample (ListJobs + one DescribeJobs).
    if (st.state === 'failed' && job.arrayProperties?.size !== undefined) st.failedChildren = await failedChildrenOf(api, jobId);
    return st;
  },

  logs(h, opts, ctx): AsyncIterable<LogLine> {
    return jobLogs(h, opts, ctx);
  },

  /**
   * CancelJob while the job waits (SUBMITTED, PENDING, RUNNABLE), TerminateJob once it is STARTING
   * or RUNNING: CancelJob leaves a job that has started alone. When a job starts between ferry's
   * look and its CancelJob, ferry looks again and terminates it. An array job's children follow
   * their parent.
   */
  async cancel(h, _ctx): Promise<CancelOutcome> {
    const api = await apiFor(whereOfHandle(h));
    const jobId = h.ref['jobId'] ?? '';
    const reason = `cancelled with ferry cancel (run ${h.id})`;
    const job = await describeOne(api, jobId);
    const before = statusOf(job).state;
    const phase = job.status;
    if (TERMINAL_STATUS.has(phase)) return { action: 'none', before, phase };
    if (QUEUED_STATUS.has(phase)) {
      await api.cancelJob(jobId, reason);
      // A job that reached STARTING meanwhile ignores CancelJob; TerminateJob stops a job in any
      // state (AWS: it cancels one that has not started), so it follows unless the job has ended.
      const after = await describeOne(api, jobId);
      if (TERMINAL_STATUS.has(after.status)) return { action: 'CancelJob', before, phase };
      await api.terminateJob(jobId, reason);
      return { action: 'CancelJob, TerminateJob', before, phase };
    }
    await api.terminateJob(jobId, reason);
    return { action: 'TerminateJob', before, phase };
  },
};

const TERMINAL_STATUS = new Set(['SUCCEEDED', 'FAILED']);
const QUEUED_STATUS = new Set(['SUBMITTED', 'PENDING', 'RUNNABLE']);

function whereOfHandle(h: Handle): BatchWhere {
  return { file: 'ferry.yaml', target: h.target, queue: h.ref['jobQueue'] ?? '', region: h.ref['region'] };
}

async function describeOne(api: BatchApi, jobId: string): Promise<BatchJob> {
  const [job] = await api.describeJobs([jobId]);
  if (job === undefined) {
    throw dataError('BATCH_JOB_NOT_FOUND', `Batch does not know job ${jobId}`, {
      details: { jobId },
      suggestions: ['Batch forgets jobs some days after they end; check the region (AWS_REGION) the job ran in'],
    });
  }
  return job;
}

/** A job's log streams, one per attempt, oldest first (a retried job has several). */
function streamsOf(job: BatchJob): string[] {
  const names = [...(job.attempts ?? []).map((a) => a.container?.logStreamName), job.container?.logStreamName];
  return [...new Set(names.filter((n): n is string => n !== undefined && n !== ''))];
}

/** The job whose logs are wanted: the job itself, or an array job's child (`--index`). */
async function logJob(api: BatchApi, h: Handle, index: number | undefined): Promise<BatchJob> {
  const jobId = h.ref['jobId'] ?? '';
  const job = await describeOne(api, index === undefined ? jobId : `${jobId}:${index}`).catch(async (e: unknown) => {
    if (index === undefined || !(e instanceof FerryError) || e.code !== 'BATCH_JOB_NOT_FOUND') throw e;
    const parent = await describeOne(api, jobId);
    throw indexError(parent, index);
  });
  const size = job.arrayProperties?.size;
  if (index === undefined && size !== undefined && size > 0) {
    throw usageError('BATCH_LOGS_ARRAY_JOB', `job ${jobId} is an array job of ${size} children, each with its own logs`, {
      where: '--index',
      suggestions: [`name a child: --index N, with N from 0 to ${size - 1}`],
    });
  }
  return job;
}

function indexError(parent: BatchJob, index: number): FerryError {
  const size = parent.arrayProperties?.size;
  return usageError('BATCH_LOGS_ARRAY_JOB', size === undefined ? `job ${parent.jobId} is not an array job: it has no child ${index}` : `job ${parent.jobId} has children 0 to ${size - 1}, not ${index}`, {
    where: '--index',
    suggestions: [size === undefined ? 'leave --index out' : `pass --index N with N from 0 to ${size - 1}`],
  });
}

/** GetLogEvents pages read from one stream in one pass while following (a burst is read over several polls). */
const PAGES_PER_PASS = 20;
/** After the run ends: passes 1 s apart while they still find lines (the awslogs driver ships the last ones late). */
const FINAL_PASSES = 3;
/** While following with the caller's state, ferry still looks at the job every this many polls (a retry adds a stream). */
const LOOK_EVERY = 5;

/**
 * The job's CloudWatch Logs, attempt by attempt. Following, ferry reads each stream on from its
 * last token, polling with backoff (1 s up to 5 s): CloudWatch Logs has no push API short of a Live
 * Tail session, and GetLogEvents is cheap. A page may be empty while more follows; a stream is read
 * to its end when the token comes back unchanged. ferry asks Batch for the job when it has no stream
 * yet, every few polls (a retried attempt writes a new stream), and to learn whether the job ended
 * unless the caller (deploy, which polls anyway) says so. After the end it drains in a few passes.
 */
async function* jobLogs(h: Handle, opts: LogOptions, ctx: RunContext): AsyncGenerator<LogLine> {
  const where = whereOfHandle(h);
  const api = await apiFor(where);
  const logsApi = await logsApiFor(where);
  const group = h.ref['logGroup'] ?? DEFAULT_LOG_GROUP;
  // One signal wakes any pause: the end of the run, Ctrl-C, or the caller stopping the reader.
  const wake = new AbortController();
  const run = { ended: false };
  void opts.ended?.then(() => {
    run.ended = true;
    wake.abort();
  });
  const stop = AbortSignal.any([wake.signal, ...(ctx.signal === undefined ? [] : [ctx.signal])]);
  const sleep = (ms: number): Promise<unknown> => (deps.sleep !== undefined ? Promise.race([deps.sleep(ms), ...(opts.ended === undefined ? [] : [opts.ended])]) : abortableSleep(ms, stop));
  const tokens = new Map<string, string | undefined>();
  const aborted = (): boolean => ctx.signal?.aborted === true;

  /** One pass over every stream: what is new since the last tokens. */
  async function* pass(streams: readonly string[], pageCap: number): AsyncGenerator<LogLine> {
    for (const stream of streams) {
      for (let pages = 0; pages < pageCap; pages++) {
        const token = tokens.get(stream);
        const page = await logsApi.getLogEvents(group, stream, token);
        if (page === null) break;
        for (const e of page.events) {
          yield { stream: 'stdout', text: e.message.replace(/\r?\n$/, ''), ...(e.timestamp === undefined ? {} : { time: new Date(e.timestamp).toISOString() }) };
        }
        const next = page.nextForwardToken;
        if (next === undefined || next === token) break;
        tokens.set(stream, next);
      }
    }
  }

  let delay = 1000;
  let streams: string[] = [];
  let jobEnded = false;
  for (let poll = 0; ; poll++) {
    const endedBefore = run.ended;
    if (streams.length === 0 || opts.ended === undefined || endedBefore || poll % LOOK_EVERY === 0) {
      const job = await logJob(api, h, opts.index);
      streams = streamsOf(job);
      jobEnded = TERMINAL_STATUS.has(job.status);
    }
    const over = !opts.follow || jobEnded || endedBefore;
    let read = 0;
    for await (const line of pass(streams, over ? Number.MAX_SAFE_INTEGER : PAGES_PER_PASS)) {
      read++;
      yield line;
    }
    if (aborted()) return;
    if (over) {
      if (opts.follow && streams.length > 0) {
        // Following to the end: the last lines can reach CloudWatch after Batch says the job ended.
        for (let extra = 0; extra < FINAL_PASSES; extra++) {
          await (deps.sleep?.(1000) ?? abortableSleep(1000, ctx.signal));
          if (aborted()) return;
          let more = 0;
          for await (const line of pass(streams, Number.MAX_SAFE_INTEGER)) {
            more++;
            yield line;
          }
          if (more === 0) break;
        }
      }
      return;
    }
    delay = read > 0 ? 1000 : Math.min(5000, Math.ceil(delay * 1.5));
    await sleep(delay);
  }
}

/** A few FAILED children of an array job, by index, with their exit codes and reasons. */
async function failedChildrenOf(api: BatchApi, arrayJobId: string): Promise<FailedChild[]> {
  const ids = (await api.failedChildren(arrayJobId, FAILED_CHILDREN_SAMPLE)).map((j) => j.jobId);
  if (ids.length === 0) return [];
  const out: FailedChild[] = [];
  for (const j of await api.describeJobs(ids)) {
    // A child's id is ARRAYJOBID:INDEX; its arrayProperties.index says the same.
    const index = j.arrayProperties?.index ?? Number(j.jobId.slice(j.jobId.lastIndexOf(':') + 1));
    if (!Number.isInteger(index)) continue;
    const last = j.attempts?.[j.attempts.length - 1]?.container;
    const exitCode = j.container?.exitCode ?? last?.exitCode;
    const reason = j.container?.reason ?? last?.reason ?? j.statusReason;
    out.push({ index, ...(exitCode !== undefined ? { exitCode } : {}), ...(reason !== undefined && reason !== '' ? { reason } : {}) });
  }
  return out.sort((a, b) => a.index - b.index);
}

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
