import { BatchClient, DescribeJobDefinitionsCommand, DescribeJobsCommand, ListJobsCommand } from '@aws-sdk/client-batch';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecrPassword, setUpBatch as setUpMotoBatch } from '../helpers/aws-batch.js';
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

/** A project whose image has /bin/sh (busybox, copied from this machine) and a CMD, for --each. */
async function shellProject(target: string): Promise<string> {
  const dir = await project(target);
  await copyFile('/usr/bin/busybox', path.join(dir, 'busybox'));
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/sh\nCOPY hello.txt /\nCMD ["/bin/sh", "-c", "echo $DATE"]\n');
  return dir;
}

interface EachDeployJson extends DeployJson {
  children?: Record<string, number>;
  each?: { key: string; count: number };
  failedChildren?: { index: number; value: string; exitCode?: number; reason?: string }[];
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

/** Docker-less Batch in this moto (jobs end without running), a compute environment and QUEUE. */
const setUpBatch = (motoUrl: string): Promise<BatchClient> => setUpMotoBatch(motoUrl, QUEUE, { useDocker: false });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-batch-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  moto = await startMoto();
  aws = await startFaultProxy(moto.url, [], 1_800_000);
  batch = await setUpBatch(moto.url);
  // The registry accepts exactly the token moto's ECR hands out.
  registry = await startRegistry({ mode: 'htpasswd', extraUsers: { AWS: await ecrPassword(moto.url) } });
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

  it('deploy --each: one SubmitJob of an array job, the values in its overrides, children summarised; plan shows it', async () => {
    const dir = await shellProject(`    type: aws-batch\n    queue: ${QUEUE}\n    jobDefinition: ferry-each\n`);
    const values = ['2024-01-01', 'two words', `it's "$HOME"`];
    await writeFile(path.join(dir, 'dates.json'), JSON.stringify(values));
    const from = aws.requests.length;
    const r = await run(['deploy', 'nightly', '--each-file', 'DATE=dates.json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const out = envelope<EachDeployJson>(r).result;
    expect(out?.state).toBe('succeeded');
    expect(out?.each).toEqual({ key: 'DATE', count: 3 });
    expect(out?.children).toEqual({ succeeded: 3 });
    expect(out?.handle.ref).toMatchObject({ eachKey: 'DATE', eachCount: '3' });
    const ops = batchCalls(from);
    expect(ops.filter((op) => op === 'submitjob')).toHaveLength(1);
    // Waiting polls the parent only: one DescribeJobs a poll, and no ListJobs when nothing failed.
    expect(ops).not.toContain('listjobs');

    const jobId = out?.handle.ref['jobId'] ?? '';
    const parent = (await batch.send(new DescribeJobsCommand({ jobs: [jobId] }))).jobs?.[0];
    expect(parent?.arrayProperties?.size).toBe(3);
    const env = parent?.container?.environment ?? [];
    expect(env).toContainEqual({ name: 'FERRY_EACH_KEY', value: 'DATE' });
    expect(env).toContainEqual({ name: 'FERRY_EACH_COUNT', value: '3' });
    expect(env).toContainEqual({ name: 'FERRY_EACH_VALUES', value: values.join('\n') });
    expect(env).toContainEqual({ name: 'STAGE', value: 'e2e' });
    // ferry's wrapper, then the image's CMD (the image has /bin/sh and no ENTRYPOINT).
    const command = parent?.container?.command ?? [];
    expect(command.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(command.slice(3)).toEqual(['ferry-each', '/bin/sh', '-c', 'echo $DATE']);
    const children = await batch.send(new DescribeJobsCommand({ jobs: [0, 1, 2].map((i) => `${jobId}:${i}`) }));
    expect(children.jobs?.map((j) => j.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    // The job definition is a plain deploy's (no values in it), so it is reused by the next deploy.
    const def = (await batch.send(new DescribeJobDefinitionsCommand({ jobDefinitionName: 'ferry-each' }))).jobDefinitions?.[0];
    expect(JSON.stringify(def)).not.toContain('FERRY_EACH');

    // plan --each: the SubmitJob payload with arrayProperties and the overrides; nothing written.
    const p0 = aws.requests.length;
    const p = await run(['plan', 'nightly', '--each', 'DATE=a,b'], dir);
    expect(p.code, p.stderr).toBe(0);
    const submit = envelope<PlanJson>(p).result?.requests.find((q) => q.action === 'SubmitJob')?.payload;
    expect(submit?.['arrayProperties']).toEqual({ size: 2 });
    expect((submit?.['containerOverrides'] as { environment: unknown[] }).environment).toContainEqual({ name: 'FERRY_EACH_VALUES', value: 'a\nb' });
    expect(batchCalls(p0).filter((op) => WRITES.has(op))).toEqual([]);
  }, 300_000);

  it('deploy --each on an image without /bin/sh sets the list only, and warns', async () => {
    const dir = await project(`    type: aws-batch\n    queue: ${QUEUE}\n    jobDefinition: ferry-each-nosh\n`);
    const r = await run(['deploy', 'nightly', '--each', 'SHARD=0,1'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(envelope(r).warnings?.join('\n')).toMatch(/no \/bin\/sh.*AWS_BATCH_JOB_ARRAY_INDEX/s);
    const out = envelope<EachDeployJson>(r).result;
    const parent = (await batch.send(new DescribeJobsCommand({ jobs: [out?.handle.ref['jobId'] ?? ''] }))).jobs?.[0];
    expect(parent?.arrayProperties?.size).toBe(2);
    expect(parent?.container?.command).toEqual([]);
  }, 180_000);

  it('bad --each input is a usage error (64) before any build or AWS call', async () => {
    const dir = await project(`    type: aws-batch\n    queue: ${QUEUE}\n    jobDefinition: ferry-each-bad\n  dev:\n    type: local\n`);
    await writeFile(path.join(dir, 'empty.txt'), '# nothing\n');
    const long = Array.from({ length: 2000 }, (_, i) => `value-${i}`).join(',');
    const cases: [string[], string][] = [
      [['deploy', 'dev', '--each', 'K=a,b'], 'USAGE_EACH_UNSUPPORTED'],
      [['deploy', 'nightly', '--each', 'K=a', '--each', 'J=b'], 'USAGE_EACH_MULTIPLE_KEYS'],
      [['deploy', 'nightly', '--each', 'K=a', '--each-file', 'K=empty.txt'], 'USAGE_EACH_DUPLICATE_KEY'],
      [['deploy', 'nightly', '--each', 'AWS_BATCH_X=a'], 'USAGE_EACH_BAD_KEY'],
      [['deploy', 'nightly', '--each-file', 'K=empty.txt'], 'USAGE_EACH_EMPTY'],
      [['deploy', 'nightly', '--each-file', 'K=missing.txt'], 'USAGE_EACH_FILE_NOT_FOUND'],
      [['deploy', 'nightly', '--each', `K=${long}`], 'USAGE_EACH_TOO_LARGE'],
      [['plan', 'nightly', '--each', 'K=a,,b'], 'USAGE_EACH_BAD_VALUE'],
    ];
    for (const [args, code] of cases) {
      const from = aws.requests.length;
      const r = await run(args, dir);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64);
      expect(envelope(r).error?.code).toBe(code);
      expect(aws.requests.length).toBe(from);
    }
    // Nothing was built either.
    expect(existsSync(path.join(dir, '.ferry'))).toBe(false);
  }, 180_000);

  it('a failing --each array exits non-zero and names failed children with their values', async () => {
    const saved = process.env.MOTO_SIMPLE_BATCH_FAIL_AFTER;
    process.env.MOTO_SIMPLE_BATCH_FAIL_AFTER = '0';
    const failing = await startMoto().finally(() => {
      if (saved === undefined) delete process.env.MOTO_SIMPLE_BATCH_FAIL_AFTER;
      else process.env.MOTO_SIMPLE_BATCH_FAIL_AFTER = saved;
    });
    try {
      await setUpBatch(failing.url);
      const dir = await shellProject(`    type: aws-batch\n    queue: ${QUEUE}\n`);
      const r = await run(['deploy', 'nightly', '--each', 'DATE=d0,d1,d2'], dir, { AWS_ENDPOINT_URL_BATCH: failing.url });
      expect(r.code, r.stderr).toBe(1);
      const out = envelope<EachDeployJson>(r).result;
      expect(out?.state).toBe('failed');
      expect(out?.children).toEqual({ failed: 3 });
      expect(out?.failedChildren?.map((c) => [c.index, c.value])).toEqual([
        [0, 'd0'],
        [1, 'd1'],
        [2, 'd2'],
      ]);
      expect(r.stderr).toMatch(/3 of 3 children failed/);
      expect(r.stderr).toMatch(/child 1 \(DATE="d1"\)/);
    } finally {
      await failing.stop();
    }
  }, 180_000);
});
