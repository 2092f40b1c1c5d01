import {
  BatchClient,
  CreateComputeEnvironmentCommand,
  CreateJobQueueCommand,
  DescribeJobDefinitionsCommand,
  DescribeJobsCommand,
  ListJobsCommand,
} from '@aws-sdk/client-batch';
import { GetAuthorizationTokenCommand, ECRClient } from '@aws-sdk/client-ecr';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, ferry, type CliResult } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { MOTO_ACCOUNT, startMoto, type Moto } from '../helpers/moto.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * `ferry deploy` and `ferry plan` on a `type: aws-batch` target, end to end: moto (a real server)
 * answers the Batch and ECR APIs, with its Docker-less Batch (`use_docker: false`, set through
 * /moto-api/config), in which a submitted job succeeds without running; the image goes to a real
 * registry behind `registries.<ECR host>.endpoint`, as in cli-ecr.test.ts. A fault proxy in front
 * of moto records every AWS request, so the tests can count Batch's write calls.
 */
const ECR_HOST = `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const QUEUE = 'ferry-e2e-queue';

let moto: Moto;
let aws: FaultProxy;
let registry: TestRegistry;
let work: string;
let batch: BatchClient;

interface DeployJson {
  target: string;
  type: string;
  image: string;
  state: string;
  exitCode: number;
  handle: { id: string; ref: Record<string, string> };
}
interface PlanJson {
  type: string;
  image: { ref: string };
  requests: { service: string; action: string; payload: Record<string, unknown> }[];
  notes: string[];
}

const env = (): Record<string, string | undefined> => ({
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
  XDG_CONFIG_HOME: path.join(work, 'xdg'),
  FERRY_STATE_DIR: path.join(work, 'state'),
  ...moto.env,
  AWS_ENDPOINT_URL: aws.url,
});

let n = 0;
async function project(target: string, job = ''): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  await writeFile(path.join(dir, 'hello.txt'), `hello from batch project ${++n}\n`);
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\nCMD ["/hello"]\n');
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${ECR_HOST}/team/nightly\nregistries:\n  ${ECR_HOST}:\n    endpoint: ${registry.url}\njob:\n  env: {STAGE: e2e}\n${job}targets:\n  nightly:\n${target}`,
  );
  return dir;
}

const run = (args: string[], dir: string, extraEnv: Record<string, string | undefined> = {}): Promise<CliResult> =>
  ferry([...args, '--json'], { cwd: dir, env: { ...env(), ...extraEnv }, timeoutMs: 180_000 });

/** Batch API requests (REST paths /v1/<operation>) seen by the proxy since `from`. */
const batchCalls = (from: number): string[] =>
  aws.requests
    .slice(from)
    .map((q) => /^\/v1\/([a-z]+)/.exec(q.path)?.[1])
    .filter((op): op is string => op !== undefined);
const WRITES = new Set(['registerjobdefinition', 'submitjob', 'canceljob', 'terminatejob', 'deregisterjobdefinition', 'tagresource']);

async function revisions(name: string): Promise<number[]> {
  const out = await batch.send(new DescribeJobDefinitionsCommand({ jobDefinitionName: name }));
  return (out.jobDefinitions ?? []).map((d) => d.revision ?? 0).sort((a, b) => a - b);
}

async function jobsInQueue(): Promise<number> {
  const out = await batch.send(new ListJobsCommand({ jobQueue: QUEUE, filters: [{ name: 'JOB_NAME', values: ['ferry-*'] }] }));
  return out.jobSummaryList?.length ?? 0;
}

/** moto's IAM, through its Query API: the compute environment needs an existing service role. */
async function createRole(motoUrl: string, name: string): Promise<string> {
  const body = new URLSearchParams({
    Action: 'CreateRole',
    Version: '2010-05-08',
    RoleName: name,
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'batch.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
  });
  const res = await fetch(motoUrl, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIAFERRYTESTKEY0001/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return `arn:aws:iam::${MOTO_ACCOUNT}:role/${name}`;
}

const credentials = { accessKeyId: 'AKIAFERRYTESTKEY0001', secretAccessKey: 'x' };

/** Docker-less Batch in this moto (jobs end without running), a compute environment and QUEUE. */
async function setUpBatch(motoUrl: string): Promise<BatchClient> {
  const cfg = await fetch(`${motoUrl}/moto-api/config`, { method: 'POST', body: JSON.stringify({ batch: { use_docker: false } }), headers: { 'content-type': 'application/json' } });
  expect(cfg.status).toBe(201);
  const client = new BatchClient({ region: 'us-east-1', endpoint: motoUrl, credentials });
  const role = await createRole(motoUrl, 'ferry-batch-service');
  const ce = await client.send(new CreateComputeEnvironmentCommand({ computeEnvironmentName: 'ferry-e2e-ce', type: 'UNMANAGED', state: 'ENABLED', serviceRole: role }));
  await client.send(new CreateJobQueueCommand({ jobQueueName: QUEUE, priority: 1, state: 'ENABLED', computeEnvironmentOrder: [{ order: 1, computeEnvironment: ce.computeEnvironmentArn ?? '' }] }));
  return client;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-batch-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  moto = await startMoto();
  aws = await startFaultProxy(moto.url, [], 1_800_000);
  batch = await setUpBatch(moto.url);
  // The registry accepts exactly the token moto's ECR hands out.
  const ecr = new ECRClient({ region: 'us-east-1', endpoint: moto.url, credentials });
  const t = await ecr.send(new GetAuthorizationTokenCommand({}));
  const password = Buffer.from(t.authorizationData?.[0]?.authorizationToken ?? '', 'base64').toString('utf8').slice('AWS:'.length);
  registry = await startRegistry({ mode: 'htpasswd', extraUsers: { AWS: password } });
}, 180_000);

afterAll(async () => {
  await aws.stop();
  await registry.stop();
  await moto.stop();
});

describe('ferry deploy / plan on an aws-batch target (moto + a real registry)', () => {
  it('pushes, registers, submits, waits to SUCCEEDED; a second deploy reuses the revision; plan writes nothing', async () => {
    const dir = await project(`    type: aws-batch\n    queue: ${QUEUE}\n    retry: {attempts: 2}\n`, '  args: ["--date", "2024-01-01"]\n  resources: {cpu: 2, memory: 4Gi}\n  timeout: 10m\n');
    const from = aws.requests.length;
    const r = await run(['deploy', 'nightly'], dir);
    expect(r.code, r.stderr).toBe(0);
    const out = envelope<DeployJson>(r).result;
    expect(out?.type).toBe('aws-batch');
    expect(out?.state).toBe('succeeded');
    // The run's id, for ferry status/logs/cancel, goes to stderr before the wait.
    expect(r.stderr).toContain(`run ${out?.handle.id ?? '?'}: waiting for it to end`);
    expect(out?.exitCode).toBe(0);
    expect(out?.image).toMatch(new RegExp(`^${ECR_HOST.replaceAll('.', '\\.')}/team/nightly@sha256:[0-9a-f]{64}$`));
    const ref = out?.handle.ref ?? {};
    expect(ref['reusedDefinition']).toBe('false');
    expect(ref['revision']).toBe('1');
    expect(ref['jobDefinition']).toMatch(/:job-definition\/ferry-nightly-nightly:1$/);
    expect(batchCalls(from).filter((op) => WRITES.has(op)).sort()).toEqual(['registerjobdefinition', 'submitjob']);

    // What moto holds: the job, tagged with the deploy id, on the pinned image with job's settings.
    const jobs = await batch.send(new DescribeJobsCommand({ jobs: [ref['jobId'] ?? ''] }));
    const job = jobs.jobs?.[0];
    expect(job?.status).toBe('SUCCEEDED');
    expect(job?.jobQueue).toContain(QUEUE);
    expect(job?.tags?.['ferry:deploy-id']).toBe(out?.handle.id);
    const defs = await batch.send(new DescribeJobDefinitionsCommand({ jobDefinitionName: 'ferry-nightly-nightly' }));
    const props = defs.jobDefinitions?.[0]?.containerProperties;
    expect(props?.image).toBe(out?.image);
    // job.args replace the image's CMD.
    expect(props?.command).toEqual(['--date', '2024-01-01']);
    expect(props?.environment).toEqual([{ name: 'STAGE', value: 'e2e' }]);
    expect(props?.resourceRequirements).toEqual([{ type: 'VCPU', value: '2' }, { type: 'MEMORY', value: '4096' }]);
    expect(defs.jobDefinitions?.[0]?.timeout?.attemptDurationSeconds).toBe(600);
    expect(defs.jobDefinitions?.[0]?.retryStrategy?.attempts).toBe(2);

    // The same image again: the identical ACTIVE revision is reused, nothing is registered.
    const again = aws.requests.length;
    const r2 = await run(['deploy', 'nightly'], dir);
    expect(r2.code, r2.stderr).toBe(0);
    const out2 = envelope<DeployJson>(r2).result;
    expect(out2?.handle.ref['reusedDefinition']).toBe('true');
    expect(out2?.handle.ref['revision']).toBe('1');
    expect(await revisions('ferry-nightly-nightly')).toEqual([1]);
    const ops2 = batchCalls(again);
    expect(ops2.filter((op) => WRITES.has(op))).toEqual(['submitjob']);
    // At most 3 Batch calls per deploy besides status polls (here: describe + submit).
    expect(ops2.filter((op) => op !== 'describejobs').length).toBeLessThanOrEqual(3);

    // Without job.args, revision 1 (which has them) is not reused: Batch would run the old command.
    const dropped = await project(`    type: aws-batch\n    queue: ${QUEUE}\n    retry: {attempts: 2}\n`, '  resources: {cpu: 2, memory: 4Gi}\n  timeout: 10m\n');
    await writeFile(path.join(dropped, 'hello.txt'), `hello from batch project ${n - 1}\n`);
    const r3 = await run(['deploy', 'nightly'], dropped);
    expect(r3.code, r3.stderr).toBe(0);
    expect(envelope<DeployJson>(r3).result?.image).toBe(out?.image);
    expect(envelope<DeployJson>(r3).result?.handle.ref['revision']).toBe('2');
    expect(await revisions('ferry-nightly-nightly')).toEqual([1, 2]);

    // plan: the payloads, read calls only; no revision, no job.
    const jobsBefore = await jobsInQueue();
    const p0 = aws.requests.length;
    const p = await run(['plan', 'nightly'], dir);
    expect(p.code, p.stderr).toBe(0);
    const plan = envelope<PlanJson>(p).result;
    expect(plan?.type).toBe('aws-batch');
    expect(plan?.requests.map((q) => q.action)).toEqual(['DescribeJobDefinitions', 'SubmitJob']);
    expect(plan?.requests[1]?.payload['jobQueue']).toBe(QUEUE);
    expect(batchCalls(p0).filter((op) => WRITES.has(op))).toEqual([]);
    expect(await revisions('ferry-nightly-nightly')).toEqual([1, 2]);
    expect(await jobsInQueue()).toBe(jobsBefore);
  }, 300_000);

  it('a lost SubmitJob response makes no second job: the retry finds the tagged one', async () => {
    const dir = await project(`    type: aws-batch\n    queue: ${QUEUE}\n    jobDefinition: ferry-lost\n`);
    aws.setRules([{ method: 'POST', path: /^\/v1\/submitjob/, action: { kind: 'drop-response' } }]);
    const from = aws.requests.length;
    const r = await run(['deploy', 'nightly'], dir);
    const fired = [...aws.fired];
    aws.setRules([]);
    expect(r.code, r.stderr).toBe(0);
    expect(fired).toEqual([1]);
    const out = envelope<DeployJson>(r).result;
    const ops = batchCalls(from);
    expect(ops.filter((op) => op === 'submitjob')).toHaveLength(1);
    expect(ops).toContain('listjobs');
    // Exactly one job carries this deploy's name, and it is the one ferry waited for.
    const listed = await batch.send(new ListJobsCommand({ jobQueue: QUEUE, filters: [{ name: 'JOB_NAME', values: [out?.handle.ref['jobName'] ?? ''] }] }));
    expect(listed.jobSummaryList?.map((j) => j.jobId)).toEqual([out?.handle.ref['jobId']]);
    expect(out?.state).toBe('succeeded');
  }, 180_000);

  it('AccessDenied from the Batch API is BATCH_ACCESS_DENIED, exit 77', async () => {
    const dir = await project(`    type: aws-batch\n    queue: ${QUEUE}\n`);
    aws.setRules([
      {
        path: /^\/v1\/describejobdefinitions/,
        times: Infinity,
        action: { kind: 'status', status: 403, headers: { 'x-amzn-errortype': 'AccessDeniedException' }, body: JSON.stringify({ message: 'User is not authorized to perform: batch:DescribeJobDefinitions' }) },
      },
    ]);
    const r = await run(['deploy', 'nightly'], dir);
    aws.setRules([]);
    expect(r.code, r.stderr).toBe(77);
    expect(envelope(r).error?.code).toBe('BATCH_ACCESS_DENIED');
  }, 180_000);

  it('a FAILED job fails the deploy with a non-zero exit (Batch through AWS_ENDPOINT_URL_BATCH)', async () => {
    // A second moto whose Docker-less jobs fail (MOTO_SIMPLE_BATCH_FAIL_AFTER=0, read by moto_server
    // from its environment), for Batch only: ECR stays on the first one.
    const saved = process.env.MOTO_SIMPLE_BATCH_FAIL_AFTER;
    process.env.MOTO_SIMPLE_BATCH_FAIL_AFTER = '0';
    const failing = await startMoto().finally(() => {
      if (saved === undefined) delete process.env.MOTO_SIMPLE_BATCH_FAIL_AFTER;
      else process.env.MOTO_SIMPLE_BATCH_FAIL_AFTER = saved;
    });
    try {
      const other = await setUpBatch(failing.url);
      const dir = await project(`    type: aws-batch\n    queue: ${QUEUE}\n`);
      const r = await run(['deploy', 'nightly'], dir, { AWS_ENDPOINT_URL_BATCH: failing.url });
      expect(r.code, r.stderr).toBe(1);
      const out = envelope<DeployJson>(r).result;
      expect(out?.state).toBe('failed');
      expect(out?.exitCode).toBe(1);
      const jobs = await other.send(new DescribeJobsCommand({ jobs: [out?.handle.ref['jobId'] ?? ''] }));
      expect(jobs.jobs?.[0]?.status).toBe('FAILED');
    } finally {
      await failing.stop();
    }
  }, 180_000);

  it('an unknown queue is BATCH_QUEUE_NOT_FOUND (78), naming targets.NAME.queue', async () => {
    const dir = await project('    type: aws-batch\n    queue: no-such-queue\n');
    const r = await run(['deploy', 'nightly'], dir);
    expect(r.code, r.stderr).toBe(78);
    const e = envelope(r).error;
    expect(e?.code).toBe('BATCH_QUEUE_NOT_FOUND');
    expect(e?.where).toMatch(/targets\.nightly\.queue/);
  }, 180_000);

  it('a vCPU/memory pair Fargate lacks is BATCH_CONFIG_INVALID (78) before any AWS call', async () => {
    const dir = await project(
      `    type: aws-batch\n    queue: ${QUEUE}\n    platform: FARGATE\n    executionRoleArn: arn:aws:iam::${MOTO_ACCOUNT}:role/exec\n`,
      '  resources: {cpu: 1, memory: 1Gi}\n',
    );
    const from = aws.requests.length;
    const r = await run(['deploy', 'nightly'], dir);
    expect(r.code, r.stderr).toBe(78);
    const e = envelope(r).error;
    expect(e?.code).toBe('BATCH_CONFIG_INVALID');
    expect(e?.where).toMatch(/\(job\.resources\)$/);
    expect(aws.requests.length).toBe(from);
  }, 180_000);
});
