/**
 * The only file that talks to the AWS SDK's Batch client. The adapter imports it lazily, and it
 * imports the SDK lazily itself, so commands that never reach Batch never load it.
 *
 * Credentials, region and endpoint follow the SDK's own rules: the default credential chain, the
 * region from AWS_REGION / AWS_DEFAULT_REGION / the profile, and endpoint overrides through
 * AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_BATCH (which the SDK reads itself). Throttling is retried by
 * the SDK (standard retry mode; AWS_MAX_ATTEMPTS and AWS_RETRY_MODE tune it) except for SubmitJob:
 * it has no client token, so an SDK retry after a lost response could start a second job. SubmitJob
 * is therefore sent once, and the adapter retries it itself after looking for the job it tagged.
 */
import type { BatchClient } from '@aws-sdk/client-batch';
import { authError, configError, dataError, type FerryError, tempError, unavailableError } from '../../core/errors.js';
import { registerSecret } from '../../infra/redact.js';
import { chunks, type KeyValue, type RegisterJobDefinitionInput } from './payload.js';
import { awsName, CREDENTIALS_HELP, NETWORK, redactCredentialsOf, REJECTED, THROTTLED } from '../../infra/aws-errors.js';

/** A job as DescribeJobs answers it: only the fields ferry reads. */
export interface BatchJob {
  jobId: string;
  jobName: string;
  status: string;
  statusReason?: string;
  tags?: Record<string, string>;
  container?: { exitCode?: number; reason?: string; logStreamName?: string };
  attempts?: { container?: { exitCode?: number; reason?: string; logStreamName?: string } }[];
  arrayProperties?: { statusSummary?: Record<string, number>; size?: number; index?: number };
}

export interface SubmitJobInput {
  jobName: string;
  jobQueue: string;
  jobDefinition: string;
  tags: Record<string, string>;
  propagateTags: boolean;
  /** `deploy --each`: an array job of this many children (2 to 10,000). */
  arrayProperties?: { size: number };
  /** `deploy --each`: the values and, when ferry can deliver them, its wrapper command. */
  containerOverrides?: { environment?: KeyValue[]; command?: string[] };
}

export interface RegisteredDefinition {
  jobDefinitionName: string;
  jobDefinitionArn: string;
  revision: number;
}

/** Where a request's failure points in ferry.yaml, for coded errors. */
export interface BatchWhere {
  /** ferry.yaml path, for `where`. */
  file: string;
  target: string;
  queue: string;
  /** The region a handle recorded: status, logs and cancel ask there, whatever AWS_REGION says now. */
  region?: string | undefined;
}

/** What ferry asks of the Batch API. Tests may supply their own. */
export interface BatchApi {
  /** The region the client sends to (recorded in handles). Optional for test doubles. */
  region?(): Promise<string>;
  /** The ACTIVE revisions of a job definition name (as plain objects, AWS's defaults filled in). */
  describeJobDefinitions(name: string): Promise<Record<string, unknown>[]>;
  registerJobDefinition(input: RegisterJobDefinitionInput): Promise<RegisteredDefinition>;
  /** Sent once (no SDK retries): see the file comment. */
  submitJob(input: SubmitJobInput): Promise<{ jobId: string; jobArn?: string }>;
  /** Jobs in the queue with this exact name, any status (ListJobs with a JOB_NAME filter). */
  findJobsByName(queue: string, jobName: string): Promise<{ jobId: string; jobName: string }[]>;
  /** Up to `max` FAILED children of an array job (ListJobs, one page: a sample, not all of them). */
  failedChildren(arrayJobId: string, max: number): Promise<{ jobId: string }[]>;
  /** Any number of ids: sent in calls of at most 100. */
  describeJobs(ids: readonly string[]): Promise<BatchJob[]>;
  cancelJob(jobId: string, reason: string): Promise<void>;
  terminateJob(jobId: string, reason: string): Promise<void>;
}

export async function createBatchApi(where: BatchWhere): Promise<BatchApi> {
  // The SDK is CommonJS for Node: Node gives named exports, the bundle only the default export.
  const mod = (await import('@aws-sdk/client-batch')) as typeof import('@aws-sdk/client-batch') & { default?: typeof import('@aws-sdk/client-batch') };
  const sdk = mod.default ?? mod;
  const pinned = where.region === undefined ? {} : { region: where.region };
  const client: BatchClient = new sdk.BatchClient({ ...pinned });
  const once: BatchClient = new sdk.BatchClient({ ...pinned, maxAttempts: 1 });
  const redactCredentials = redactCredentialsOf(client, registerSecret);
  const send = async <T>(what: string, c: BatchClient, op: (c: BatchClient) => Promise<T>): Promise<T> => {
    try {
      await redactCredentials();
      return await op(c);
    } catch (e) {
      throw batchError(e, what, where);
    }
  };
  return {
    async region() {
      try {
        return await client.config.region();
      } catch (e) {
        throw batchError(e, 'resolving the AWS region', where);
      }
    },
    async describeJobDefinitions(name) {
      const out: Record<string, unknown>[] = [];
      let nextToken: string | undefined;
      do {
        const page = await send(`DescribeJobDefinitions ${name}`, client, (c) =>
          c.send(new sdk.DescribeJobDefinitionsCommand({ jobDefinitionName: name, status: 'ACTIVE', ...(nextToken === undefined ? {} : { nextToken }) })),
        );
        for (const d of page.jobDefinitions ?? []) out.push({ ...d });
        nextToken = page.nextToken;
      } while (nextToken !== undefined && nextToken !== '');
      return out;
    },
    async registerJobDefinition(input) {
      const out = await send(`RegisterJobDefinition ${input.jobDefinitionName}`, client, (c) => c.send(new sdk.RegisterJobDefinitionCommand(input)));
      if (out.jobDefinitionArn === undefined || out.revision === undefined) {
        throw unavailableError('BATCH_REQUEST_FAILED', `RegisterJobDefinition ${input.jobDefinitionName} answered no ARN or revision`, { details: { operation: 'RegisterJobDefinition' } });
      }
      return { jobDefinitionName: out.jobDefinitionName ?? input.jobDefinitionName, jobDefinitionArn: out.jobDefinitionArn, revision: out.revision };
    },
    async submitJob(input) {
      const out = await send(`SubmitJob ${input.jobName} to ${input.jobQueue}`, once, (c) => c.send(new sdk.SubmitJobCommand(input)));
      if (out.jobId === undefined) throw unavailableError('BATCH_REQUEST_FAILED', `SubmitJob ${input.jobName} answered no job id`, { details: { operation: 'SubmitJob' } });
      return { jobId: out.jobId, ...(out.jobArn === undefined ? {} : { jobArn: out.jobArn }) };
    },
    async findJobsByName(queue, jobName) {
      const found: { jobId: string; jobName: string }[] = [];
      let nextToken: string | undefined;
      do {
        const page = await send(`ListJobs ${jobName} in ${queue}`, client, (c) =>
          c.send(new sdk.ListJobsCommand({ jobQueue: queue, filters: [{ name: 'JOB_NAME', values: [jobName] }], ...(nextToken === undefined ? {} : { nextToken }) })),
        );
        for (const j of page.jobSummaryList ?? []) {
          if (j.jobId !== undefined && j.jobName === jobName) found.push({ jobId: j.jobId, jobName: j.jobName });
        }
        nextToken = page.nextToken;
      } while (nextToken !== undefined && nextToken !== '');
      return found;
    },
    async failedChildren(arrayJobId, max) {
      const page = await send(`ListJobs FAILED children of ${arrayJobId}`, client, (c) =>
        c.send(new sdk.ListJobsCommand({ arrayJobId, jobStatus: 'FAILED', maxResults: max })),
      );
      return (page.jobSummaryList ?? []).flatMap((j) => (j.jobId === undefined ? [] : [{ jobId: j.jobId }])).slice(0, max);
    },
    async describeJobs(ids) {
      const out: BatchJob[] = [];
      for (const part of chunks(ids)) {
        const page = await send(`DescribeJobs ${part.length === 1 ? (part[0] ?? '') : `(${part.length} jobs)`}`, client, (c) => c.send(new sdk.DescribeJobsCommand({ jobs: part })));
        for (const j of page.jobs ?? []) out.push(j as BatchJob);
      }
      return out;
    },
    async cancelJob(jobId, reason) {
      await send(`CancelJob ${jobId}`, client, (c) => c.send(new sdk.CancelJobCommand({ jobId, reason })));
    },
    async terminateJob(jobId, reason) {
      await send(`TerminateJob ${jobId}`, client, (c) => c.send(new sdk.TerminateJobCommand({ jobId, reason })));
    },
  };
}


/** Batch answers an unknown queue with a ClientException whose message names it. */
function unknownQueue(message: string): boolean {
  return /job ?queue/i.test(message) && /(does not exist|not found|not exist)/i.test(message);
}

/** An SDK failure as a FerryError with a code; the SDK error stays as its cause (shown with --debug). */
export function batchError(e: unknown, what: string, where: BatchWhere, api: { name: string; endpointVar: string } = { name: 'Batch', endpointVar: 'AWS_ENDPOINT_URL_BATCH' }): FerryError {
  const name = awsName(e);
  const message = e instanceof Error ? e.message : String(e);
  const meta = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  const status = meta?.httpStatusCode;
  const details = { target: where.target, operation: what.split(' ')[0], awsError: name, ...(status === undefined ? {} : { status }) };
  if (name === 'CredentialsProviderError' || name === 'TokenProviderError' || /could not load credentials/i.test(message)) {
    return configError('BATCH_CREDENTIALS_MISSING', `no usable AWS credentials for ${what}: ${message}`, { cause: e, details, suggestions: CREDENTIALS_HELP });
  }
  if (/region is missing/i.test(message)) {
    return configError('BATCH_REGION_MISSING', `no AWS region for ${what}`, {
      cause: e,
      details,
      suggestions: ['set AWS_REGION (or region in your AWS profile) to the region of the job queue'],
    });
  }
  if (REJECTED.has(name)) {
    return authError('BATCH_CREDENTIALS_REJECTED', `AWS rejected the credentials for ${what} (${name})`, {
      cause: e,
      details,
      suggestions: ['the credentials are wrong or have expired: renew them (for SSO, `aws sso login`)', ...CREDENTIALS_HELP.slice(0, 1)],
    });
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || status === 403) {
    return authError('BATCH_ACCESS_DENIED', `AWS denied ${what} (${name || String(status)})`, {
      cause: e,
      details,
      suggestions: [
        'the IAM identity needs batch:DescribeJobDefinitions, batch:RegisterJobDefinition, batch:SubmitJob, batch:TagResource, batch:ListJobs, batch:DescribeJobs (and iam:PassRole for the job and execution roles)',
        'check which identity is in use: `aws sts get-caller-identity`',
      ],
    });
  }
  if (THROTTLED.has(name) || status === 429) {
    return tempError('BATCH_THROTTLED', `AWS kept throttling ${what} after retries`, {
      cause: e,
      details,
      suggestions: ['try again later; AWS_MAX_ATTEMPTS raises how often the SDK retries'],
    });
  }
  if ((name === 'ClientException' || name === 'ValidationException') && unknownQueue(message)) {
    return configError('BATCH_QUEUE_NOT_FOUND', `the job queue ${where.queue} does not exist (${message})`, {
      cause: e,
      where: `${where.file} (targets.${where.target}.queue)`,
      details: { ...details, queue: where.queue },
      suggestions: ['check the queue name and the region (AWS_REGION): `aws batch describe-job-queues`'],
    });
  }
  if (name === 'ClientException' || name === 'ValidationException' || name === 'InvalidParameterException') {
    return dataError('BATCH_REQUEST_REJECTED', `${api.name} refused ${what}: ${message}`, { cause: e, details });
  }
  const code = (e as { code?: unknown } | null)?.code;
  if (NETWORK.has(name) || (typeof code === 'string' && NETWORK.has(code)) || (status !== undefined && status >= 500)) {
    return unavailableError('BATCH_UNAVAILABLE', `cannot reach the ${api.name} API for ${what}: ${message}`, {
      cause: e,
      details,
      suggestions: [`check the network; AWS_ENDPOINT_URL or ${api.endpointVar}, when set, must point at a reachable ${api.name} API`],
    });
  }
  return unavailableError('BATCH_REQUEST_FAILED', `${what} failed: ${name === '' ? message : `${name}: ${message}`}`, { cause: e, details });
}
