import { DescribeJobsCommand, ListJobsCommand, type BatchClient } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient, CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecrPassword, setUpBatch, TEST_CREDENTIALS } from '../helpers/aws-batch.js';
import { envelope, ferry, type CliResult } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { MOTO_ACCOUNT, startMoto, type Moto } from '../helpers/moto.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * The run verbs on an aws-batch target, end to end against moto's Docker-less Batch (a job ends as
 * soon as it is submitted): `deploy --async` returns a handle that `status`, `logs` and `cancel`
 * find again by `--id` (the run id, its start, or the Batch job id) or `--last`, in the state
 * directory the test names. Log events are written into moto's CloudWatch Logs where Batch's
 * awslogs driver would write them. A fault proxy in front of moto counts the AWS requests.
 */
const ECR_HOST = `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const QUEUE = 'ferry-runs-queue';
const CANARY_SECRET = 'ferry-canary-secret-7d1e55';
const CANARY_TOKEN = 'ferry-canary-session-token-a9b0c1';

let moto: Moto;
let aws: FaultProxy;
let registry: TestRegistry;
let work: string;
let batch: BatchClient;
let logs: CloudWatchLogsClient;

interface Handle {
  id: string;
  target: string;
  type: string;
  ref: Record<string, string>;
}
interface DeployJson {
  async?: boolean;
  state: string;
  exitCode: number;
  handle: Handle;
}

const env = (state: string): Record<string, string | undefined> => ({
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  FERRY_STATE_DIR: state,
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
  XDG_CONFIG_HOME: path.join(work, 'xdg'),
  ...moto.env,
  AWS_ENDPOINT_URL: aws.url,
});

async function project(target: string): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  await writeFile(path.join(dir, 'hello.txt'), `hello ${dir}\n`);
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\nCMD ["/hello"]\n');
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${ECR_HOST}/team/runs\nregistries:\n  ${ECR_HOST}:\n    endpoint: ${registry.url}\njob:\n  env: {STAGE: e2e}\ntargets:\n  nightly:\n    type: aws-batch\n    queue: ${QUEUE}\n${target}`,
  );
  return dir;
}

const run = (args: string[], cwd: string, state: string, extra: Record<string, string | undefined> = {}): Promise<CliResult> =>
  ferry(args, { cwd, env: { ...env(state), ...extra }, timeoutMs: 180_000 });

const ops = (from: number): string[] =>
  aws.requests
    .slice(from)
    .map((q) => /^\/v1\/([a-z]+)/.exec(q.path)?.[1] ?? q.target?.split('.').pop() ?? q.path)
    .filter((op) => op !== '');

/** Writes lines where Batch's awslogs driver would: GROUP, stream `<job definition name>/default/<job id>`. */
async function writeJobLogs(h: Handle, group: string, lines: string[]): Promise<string> {
  const defName = (h.ref['jobDefinition'] ?? '').split('/').pop()?.split(':')[0] ?? '';
  const stream = `${defName}/default/${h.ref['jobId'] ?? ''}`;
  await logs.send(new CreateLogGroupCommand({ logGroupName: group })).catch((e: unknown) => {
    if ((e as { name?: string }).name !== 'ResourceAlreadyExistsException') throw e;
  });
  await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
  const t = Date.now();
  await logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: lines.map((message, i) => ({ message, timestamp: t + i })) }));
  return stream;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-batch-runs-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  moto = await startMoto();
  aws = await startFaultProxy(moto.url, [], 1_800_000);
  batch = await setUpBatch(moto.url, QUEUE, { useDocker: false });
  logs = new CloudWatchLogsClient({ region: 'us-east-1', endpoint: moto.url, credentials: TEST_CREDENTIALS });
  registry = await startRegistry({ mode: 'htpasswd', extraUsers: { AWS: await ecrPassword(moto.url) } });
}, 180_000);

afterAll(async () => {
  await aws.stop();
  await registry.stop();
  await moto.stop();
});

describe('ferry deploy --async, status, logs, cancel on aws-batch (moto)', () => {
  it('--async returns the handle at once; status, logs and cancel find the run by --id, its start, the job id and --last', async () => {
    const state = path.join(work, 'state-async');
    const dir = await project('    logGroup: /team/ferry-jobs\n');
    const from = aws.requests.length;
    const r = await run(['deploy', 'nightly', '--async', '--json', '-e', 'EXTRA=from-flag'], dir, state);
    const out = envelope<DeployJson>(r).result;
    expect(r.code, r.stderr).toBe(0);
    expect(out?.async).toBe(true);
    expect(out?.state).toBe('pending');
    const h = out?.handle;
    if (h === undefined) throw new Error('no handle');
    expect(r.stderr).toContain(`ferry status --id ${h.id}`);
    expect(r.stderr).toContain(`ferry cancel --id ${h.id}`);
    // Submitted, never polled: --async does not wait.
    expect(ops(from).filter((o) => o === 'describejobs')).toEqual([]);
    expect(ops(from).filter((o) => o === 'submitjob')).toHaveLength(1);
    expect(await readdir(path.join(state, 'handles'))).toEqual([`${h.id}.json`]);
    // -e reaches the job, next to job.env.
    const described = await batch.send(new DescribeJobsCommand({ jobs: [h.ref['jobId'] ?? ''] }));
    const envOf: Record<string, string | undefined> = Object.fromEntries((described.jobs?.[0]?.container?.environment ?? []).map((e) => [e.name ?? '', e.value]));
    expect(envOf).toMatchObject({ STAGE: 'e2e', EXTRA: 'from-flag' });

    // status: by id (--json), by its start, by the Batch job id, and --last (plain text).
    const byId = envelope<{ state: string; phase: string; handle: Handle }>(await run(['status', '--id', h.id, '--json'], work, state));
    expect(byId.status).toBe(0);
    expect(byId.result).toMatchObject({ state: 'succeeded', phase: 'SUCCEEDED', handle: { id: h.id } });
    expect(envelope<{ handle: Handle }>(await run(['status', '--id', h.id.slice(0, h.id.length - 4), '--json'], work, state)).result?.handle.id).toBe(h.id);
    expect(envelope<{ handle: Handle }>(await run(['status', '--id', h.ref['jobId'] ?? '', '--json'], work, state)).result?.handle.id).toBe(h.id);
    const last = await run(['status', '--last'], work, state);
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout).toContain(`${h.id}  succeeded (SUCCEEDED)`);
    expect(last.stdout).toContain(`jobId: ${h.ref['jobId'] ?? '?'}`);

    // logs: from the group the target names, in order, to stdout; --json collects them.
    await writeJobLogs(h, '/team/ferry-jobs', ['first line', 'second line', 'third line']);
    const printed = await run(['logs', '--last'], work, state);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toBe('first line\nsecond line\nthird line\n');
    const asJson = envelope<{ count: number; lines: { text: string; time?: string }[] }>(await run(['logs', '--id', h.id, '--json', '--follow'], work, state));
    expect(asJson.result?.count).toBe(3);
    expect(asJson.result?.lines.map((l) => l.text)).toEqual(['first line', 'second line', 'third line']);
    expect(asJson.result?.lines[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT/);

    // cancel: the job has ended, so nothing is sent.
    const beforeCancel = aws.requests.length;
    const c = await run(['cancel', '--last', '--json'], work, state);
    expect(envelope<{ action: string; phase: string }>(c).result).toMatchObject({ action: 'none', phase: 'SUCCEEDED' });
    expect(c.code).toBe(0);
    expect(c.stderr).toContain('had already ended');
    expect(ops(beforeCancel).filter((o) => o === 'canceljob' || o === 'terminatejob')).toEqual([]);
  });

  it('a deploy that waits also saves its handle, and logs --index on a plain job is refused with the way out', async () => {
    const state = path.join(work, 'state-wait');
    const dir = await project('');
    const r = await run(['deploy', '--json'], dir, state);
    const out = envelope<DeployJson>(r).result;
    expect(r.code, r.stderr).toBe(0);
    expect(out?.state).toBe('succeeded');
    const s = envelope<{ state: string; handle: Handle }>(await run(['status', '--last', '--json'], work, state));
    expect(s.result?.handle.id).toBe(out?.handle.id);
    // Batch's default group when the target names none.
    await writeJobLogs(s.result?.handle ?? { id: '', target: '', type: '', ref: {} }, '/aws/batch/job', ['from the default group']);
    expect((await run(['logs', '--last'], work, state)).stdout).toBe('from the default group\n');
    const idx = envelope(await run(['logs', '--last', '--index', '2', '--json'], work, state));
    expect(idx.status).toBe(64);
    expect(idx.error?.code).toBe('BATCH_LOGS_ARRAY_JOB');
    expect(idx.error?.suggestions.join(' ')).toContain('leave --index out');
  });

  it('bad input: no run named, both named, unknown id, nothing recorded, flags the target cannot honour', async () => {
    const state = path.join(work, 'state-empty');
    for (const verb of ['status', 'logs', 'cancel']) {
      const none = envelope(await run([verb, '--json'], work, state));
      expect([verb, none.status, none.error?.code]).toEqual([verb, 64, 'USAGE_RUN_REQUIRED']);
    }
    expect(envelope(await run(['status', '--id', 'x', '--last', '--json'], work, state)).error?.code).toBe('USAGE_RUN_REQUIRED');
    const last = envelope(await run(['status', '--last', '--json'], work, state));
    expect([last.status, last.error?.code]).toEqual([64, 'HANDLE_NOT_FOUND']);
    expect(last.error?.suggestions.join(' ')).toContain('deploy');
    const unknown = envelope(await run(['cancel', '--id', 'no-such-run', '--json'], work, state));
    expect([unknown.status, unknown.error?.code, unknown.error?.where]).toEqual([64, 'HANDLE_NOT_FOUND', '--id']);

    // Flags for a local run are refused on a remote target before anything is built or sent.
    const dir = await project('');
    const from = aws.requests.length;
    for (const flags of [['-v', '/tmp:/data'], ['-p', '8080:80'], ['--network', 'host'], ['--entrypoint', '/bin/sh']]) {
      const r = envelope(await run(['deploy', ...flags, '--json'], dir, state));
      expect([flags[0], r.status, r.error?.code]).toEqual([flags[0], 64, 'USAGE_FLAG_NOT_FOR_TARGET']);
    }
    expect(aws.requests.length).toBe(from);
    const both = await run(['deploy', '--cancel-on-interrupt', '--detach-on-interrupt', '--json'], dir, state);
    expect(both.code).toBe(64);

    // A local target cannot be left running: --async and --detach-on-interrupt are refused.
    const local = await mkdtemp(path.join(work, 'local-'));
    await writeFile(path.join(local, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n');
    await writeFile(path.join(local, 'ferry.yaml'), 'apiVersion: ferry/v1\nimage: {}\n');
    for (const flag of ['--async', '--detach-on-interrupt']) {
      const r = envelope(await run(['deploy', flag, '--json'], local, state));
      expect([flag, r.status, r.error?.code, r.error?.where]).toEqual([flag, 64, 'USAGE_FLAG_NOT_FOR_TARGET', flag]);
    }
  });

  it('rides out throttling bursts: SubmitJob once (ferry looks for the job, then submits again), DescribeJobs and GetLogEvents (SDK retries)', async () => {
    const state = path.join(work, 'state-throttled');
    const dir = await project('');
    const throttled = { kind: 'status' as const, status: 429, headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' }, body: JSON.stringify({ message: 'Too Many Requests' }) };
    aws.setRules([
      { path: /^\/v1\/submitjob/, times: 1, action: throttled },
      { path: /^\/v1\/describejobs/, times: 2, action: throttled },
      {
        target: /\.GetLogEvents$/,
        times: 1,
        action: { kind: 'status', status: 400, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }) },
      },
    ]);
    const from = aws.requests.length;
    try {
      const r = await run(['deploy', '--json'], dir, state);
      expect(r.code, r.stderr).toBe(0);
      expect(envelope<DeployJson>(r).result?.state).toBe('succeeded');
      expect(r.stderr).toContain('looking for the job before trying again');
      // The throttled SubmitJob never reached Batch, and the retry made exactly one job.
      const jobName = envelope<DeployJson>(r).result?.handle.ref['jobName'] ?? '';
      const named = await batch.send(new ListJobsCommand({ jobQueue: QUEUE, filters: [{ name: 'JOB_NAME', values: [jobName] }] }));
      expect(named.jobSummaryList?.map((j) => j.jobName)).toEqual([jobName]);
      const submitted = ops(from).filter((o) => o === 'submitjob');
      expect(submitted).toHaveLength(2);
      expect(ops(from)).toContain('listjobs');
      const logs = await run(['logs', '--last'], work, state);
      expect(logs.code, logs.stderr).toBe(0);
      expect(aws.fired).toEqual([1, 2, 1]);
    } finally {
      aws.setRules([]);
    }
  });

  it('credentials never appear in what status, logs and cancel print, --debug included', async () => {
    const state = path.join(work, 'state-canary');
    const dir = await project('');
    const canary = { AWS_SECRET_ACCESS_KEY: CANARY_SECRET, AWS_SESSION_TOKEN: CANARY_TOKEN };
    const d = await run(['deploy', '--async', '--debug'], dir, state, canary);
    expect(d.code, d.stderr).toBe(0);
    const outputs = [d];
    for (const args of [['status', '--last'], ['logs', '--last'], ['cancel', '--last'], ['status', '--last', '--json']]) outputs.push(await run([...args, '--debug'], work, state, canary));
    for (const o of outputs) {
      expect(o.stdout + o.stderr).not.toContain(CANARY_SECRET);
      expect(o.stdout + o.stderr).not.toContain(CANARY_TOKEN);
    }
    expect(outputs.map((o) => o.code)).toEqual([0, 0, 0, 0, 0]);
  });
});
