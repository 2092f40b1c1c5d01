import { beforeEach, describe, expect, it } from 'vitest';
import { collectingReporter, type RunContext } from '../../src/core/context.js';
import { FerryError } from '../../src/core/errors.js';
import type { DeployInput, RunStatus } from '../../src/core/target.js';
import { waitForRun } from '../../src/services/remote.js';
import { batchAdapter, DEPLOY_ID_TAG, setBatchDeps } from '../../src/targets/aws-batch/adapter.js';
import type { BatchApi, BatchJob, SubmitJobInput } from '../../src/targets/aws-batch/client.js';
import { batchTargetSchema } from '../../src/targets/aws-batch/schema.js';
import type { RemoteTargetConfig } from '../../src/targets/index.js';

const IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/taxi@sha256:' + 'a'.repeat(64);

function input(target: Record<string, unknown> = {}, job: Partial<DeployInput<RemoteTargetConfig>['job']> = {}): DeployInput<RemoteTargetConfig> {
  return {
    target: 'nightly',
    config: batchTargetSchema.parse({ type: 'aws-batch', queue: 'q', ...target }),
    image: { ref: IMAGE, digest: `sha256:${'a'.repeat(64)}`, configDigest: `sha256:${'b'.repeat(64)}`, platform: 'linux/amd64' },
    job: { env: {}, ...job },
    file: '/p/ferry.yaml',
  };
}

const ctx = (): RunContext => ({ reporter: collectingReporter(), env: {}, cwd: '/' });

/** A Batch API in memory that records calls; `lose` makes SubmitJob create the job but fail to answer. */
function fakeApi(opts: { lose?: number; fail?: number; definitions?: Record<string, unknown>[]; jobs?: Record<string, BatchJob> } = {}) {
  const calls: string[] = [];
  const jobs: Record<string, BatchJob> = { ...opts.jobs };
  let lose = opts.lose ?? 0;
  let fail = opts.fail ?? 0;
  let n = 0;
  const api: BatchApi = {
    describeJobDefinitions: () => {
      calls.push('DescribeJobDefinitions');
      return Promise.resolve(opts.definitions ?? []);
    },
    registerJobDefinition: (d) => {
      calls.push('RegisterJobDefinition');
      return Promise.resolve({ jobDefinitionName: d.jobDefinitionName, jobDefinitionArn: `arn:aws:batch:us-east-1:123456789012:job-definition/${d.jobDefinitionName}:7`, revision: 7 });
    },
    submitJob: async (s: SubmitJobInput) => {
      await Promise.resolve();
      calls.push('SubmitJob');
      if (fail > 0) {
        fail--;
        throw new FerryError('BATCH_UNAVAILABLE', 'connection refused', { exitCode: 69 });
      }
      const jobId = `job-${++n}`;
      jobs[jobId] = { jobId, jobName: s.jobName, status: 'SUBMITTED', tags: s.tags };
      if (lose > 0) {
        lose--;
        throw new FerryError('BATCH_UNAVAILABLE', 'socket hang up', { exitCode: 69 });
      }
      return { jobId };
    },
    findJobsByName: (_q, name) => {
      calls.push('ListJobs');
      return Promise.resolve(Object.values(jobs).filter((j) => j.jobName === name));
    },
    failedChildren: (arrayJobId, max) => {
      calls.push('ListJobs');
      return Promise.resolve(Object.values(jobs).filter((j) => j.jobId.startsWith(`${arrayJobId}:`) && j.status === 'FAILED').slice(0, max));
    },
    describeJobs: (ids) => {
      calls.push('DescribeJobs');
      return Promise.resolve(ids.map((id) => jobs[id]).filter((j): j is BatchJob => j !== undefined));
    },
    cancelJob: () => Promise.resolve(),
    terminateJob: () => Promise.resolve(),
  };
  return { api, calls, jobs };
}

beforeEach(() => {
  setBatchDeps({ sleep: () => Promise.resolve() });
});

describe('aws-batch adapter', () => {
  it('registers when no identical ACTIVE revision exists, then submits with the deploy-id tag', async () => {
    const f = fakeApi();
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const plan = await batchAdapter.plan(input({ queue: 'q-register' }), ctx());
    expect(plan.requests.map((r) => r.action)).toEqual(['DescribeJobDefinitions', 'RegisterJobDefinition', 'SubmitJob']);
    expect(f.calls).toEqual(['DescribeJobDefinitions']);
    const h = await batchAdapter.deploy(plan, input({ queue: 'q-register' }), ctx());
    expect(f.calls).toEqual(['DescribeJobDefinitions', 'RegisterJobDefinition', 'SubmitJob']);
    expect(h.ref['revision']).toBe('7');
    expect(f.jobs[h.ref['jobId'] ?? '']?.tags?.[DEPLOY_ID_TAG]).toBe(h.id);
  });

  it('reuses an identical ACTIVE revision (the newest of them)', async () => {
    const probe = fakeApi();
    setBatchDeps({ api: () => Promise.resolve(probe.api) });
    const first = await batchAdapter.plan(input({ queue: 'q-probe' }), ctx());
    const def = first.requests[1]?.payload as Record<string, unknown>;
    const existing = (revision: number): Record<string, unknown> => ({ ...def, status: 'ACTIVE', revision, jobDefinitionArn: `arn:jd/ferry-taxi-nightly:${revision}` });
    const f = fakeApi({ definitions: [existing(2), existing(5), { ...existing(9), status: 'INACTIVE' }] });
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const plan = await batchAdapter.plan(input({ queue: 'q-reuse' }), ctx());
    expect(plan.requests.map((r) => r.action)).toEqual(['DescribeJobDefinitions', 'SubmitJob']);
    const h = await batchAdapter.deploy(plan, input({ queue: 'q-reuse' }), ctx());
    expect(h.ref['jobDefinition']).toBe('arn:jd/ferry-taxi-nightly:5');
    expect(h.ref['reusedDefinition']).toBe('true');
    expect(f.calls).not.toContain('RegisterJobDefinition');
  });

  it('a lost SubmitJob answer never makes a second job: the retry finds the tagged job', async () => {
    const f = fakeApi({ lose: 1 });
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const plan = await batchAdapter.plan(input({ queue: 'q-lost' }), ctx());
    const h = await batchAdapter.deploy(plan, input({ queue: 'q-lost' }), ctx());
    expect(Object.keys(f.jobs)).toEqual(['job-1']);
    expect(h.ref['jobId']).toBe('job-1');
    expect(f.calls.filter((c) => c === 'SubmitJob')).toHaveLength(1);
  });

  it('submits again when the failed SubmitJob created nothing', async () => {
    const f = fakeApi({ fail: 1 });
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const plan = await batchAdapter.plan(input({ queue: 'q-fail' }), ctx());
    const h = await batchAdapter.deploy(plan, input({ queue: 'q-fail' }), ctx());
    expect(Object.keys(f.jobs)).toEqual(['job-1']);
    expect(h.ref['jobId']).toBe('job-1');
    expect(f.calls.filter((c) => c === 'SubmitJob')).toHaveLength(2);
  });

  it('a vCPU/memory pair Fargate lacks is BATCH_CONFIG_INVALID naming job.resources, before any call', async () => {
    const f = fakeApi();
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const bad = input({ queue: 'q-fargate', platform: 'FARGATE', executionRoleArn: 'arn:aws:iam::123456789012:role/exec' }, { resources: { cpu: 1, memory: '1Gi' } });
    const e = await batchAdapter.plan(bad, ctx()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FerryError);
    expect((e as FerryError).code).toBe('BATCH_CONFIG_INVALID');
    expect((e as FerryError).exitCode).toBe(78);
    expect((e as FerryError).where).toBe('/p/ferry.yaml (job.resources)');
    expect(f.calls).toEqual([]);
  });

  it("status takes the exit code and reason of the job's last attempt", async () => {
    const f = fakeApi({
      jobs: {
        j1: { jobId: 'j1', jobName: 'x', status: 'FAILED', statusReason: 'Essential container in task exited', attempts: [{ container: { exitCode: 3, reason: 'OutOfMemoryError: Container killed due to memory usage' } }] },
        j2: { jobId: 'j2', jobName: 'y', status: 'FAILED', statusReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)' },
      },
    });
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const h = (jobId: string) => ({ id: 'd', target: 'nightly', type: 'aws-batch', image: IMAGE, createdAt: '', ref: { jobId, jobQueue: 'q-status' } });
    expect(await batchAdapter.status(h('j1'), ctx())).toEqual({ state: 'failed', phase: 'FAILED', exitCode: 3, reason: 'OutOfMemoryError: Container killed due to memory usage' });
    const s2 = await batchAdapter.status(h('j2'), ctx());
    expect(s2.state).toBe('failed');
    expect(s2.reason).toMatch(/^CannotPullContainerError/);
    expect(s2.exitCode).toBeUndefined();
  });
});

describe('waitForRun', () => {
  it('polls with growing, capped delays and reports each change once', async () => {
    const seq: RunStatus[] = [
      { state: 'pending', phase: 'SUBMITTED' },
      { state: 'pending', phase: 'RUNNABLE' },
      { state: 'pending', phase: 'RUNNABLE' },
      { state: 'running', phase: 'RUNNING' },
      { state: 'running', phase: 'RUNNING' },
      { state: 'running', phase: 'RUNNING' },
      { state: 'succeeded', phase: 'SUCCEEDED', exitCode: 0 },
    ];
    const delays: number[] = [];
    const seen: string[] = [];
    let i = 0;
    const final = await waitForRun(() => Promise.resolve(seq[i++] ?? { state: 'failed' }), {
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
      firstMs: 1000,
      maxMs: 3000,
      onChange: (s) => seen.push(s.phase ?? s.state),
    });
    expect(final.state).toBe('succeeded');
    expect(seen).toEqual(['SUBMITTED', 'RUNNABLE', 'RUNNING', 'SUCCEEDED']);
    expect(delays).toEqual([1000, 1500, 2250, 3000, 3000, 3000]);
  });
});

describe('aws-batch adapter, deploy --each', () => {
  const each = (values: string[], extra: Partial<NonNullable<DeployInput<RemoteTargetConfig>['each']>> = {}) => ({ key: 'DATE', values, source: '--each', ...extra });
  const submitOf = (plan: { requests: { action: string; payload: unknown }[] }): SubmitJobInput => plan.requests.find((r) => r.action === 'SubmitJob')?.payload as SubmitJobInput;

  it('plans one array job: arrayProperties.size, the values in containerOverrides, the wrapper around the image CMD', async () => {
    const f = fakeApi();
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const c = ctx();
    const plan = await batchAdapter.plan({ ...input({ queue: 'q-each' }), each: each(['2024-01-01', 'a b', "it's"], { imageCmd: ['/app/run', '--all'], shell: '/bin/sh in the layers' }) }, c);
    const submit = submitOf(plan);
    expect(submit.arrayProperties).toEqual({ size: 3 });
    expect(submit.containerOverrides?.environment).toEqual([
      { name: 'FERRY_EACH_COUNT', value: '3' },
      { name: 'FERRY_EACH_KEY', value: 'DATE' },
      { name: 'FERRY_EACH_VALUES', value: "2024-01-01\na b\nit's" },
    ]);
    expect(submit.containerOverrides?.command?.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(submit.containerOverrides?.command?.slice(3)).toEqual(['ferry-each', '/app/run', '--all']);
    expect((c.reporter as ReturnType<typeof collectingReporter>).warnings).toEqual([]);
    // The job definition is the one a plain deploy registers: the values are only in SubmitJob.
    const plain = await batchAdapter.plan(input({ queue: 'q-each' }), ctx());
    expect(plan.requests.find((r) => r.action === 'RegisterJobDefinition')?.payload).toEqual(plain.requests.find((r) => r.action === 'RegisterJobDefinition')?.payload);
  });

  it('wraps job.command + job.args rather than the image CMD when they are set', async () => {
    setBatchDeps({ api: () => Promise.resolve(fakeApi().api) });
    const plan = await batchAdapter.plan({ ...input({ queue: 'q-each' }, { command: ['python', '-m', 'x'], args: ['--v'] }), each: each(['a', 'b'], { imageCmd: ['ignored'], shell: 'yes' }) }, ctx());
    expect(submitOf(plan).containerOverrides?.command?.slice(3)).toEqual(['ferry-each', 'python', '-m', 'x', '--v']);
  });

  it('without /bin/sh, or with an ENTRYPOINT, sets only the list and warns that the container must pick its value', async () => {
    setBatchDeps({ api: () => Promise.resolve(fakeApi().api) });
    for (const extra of [{ each: each(['a', 'b'], { imageCmd: ['/x'] }) }, { each: each(['a', 'b'], { shell: 'yes' }), imageEntrypoint: ['/entry'] }]) {
      const c = ctx();
      const plan = await batchAdapter.plan({ ...input({ queue: 'q-each' }), ...extra }, c);
      expect(submitOf(plan).arrayProperties).toEqual({ size: 2 });
      expect(submitOf(plan).containerOverrides?.command).toBeUndefined();
      expect((c.reporter as ReturnType<typeof collectingReporter>).warnings.join('\n')).toMatch(/AWS_BATCH_JOB_ARRAY_INDEX/);
    }
  });

  it('one value is a plain job with the value set directly (Batch arrays start at 2)', async () => {
    setBatchDeps({ api: () => Promise.resolve(fakeApi().api) });
    const plan = await batchAdapter.plan({ ...input({ queue: 'q-each' }), each: each(['only']) }, ctx());
    const submit = submitOf(plan);
    expect(submit.arrayProperties).toBeUndefined();
    expect(submit.containerOverrides).toEqual({
      environment: [
        { name: 'DATE', value: 'only' },
        { name: 'FERRY_EACH_COUNT', value: '1' },
        { name: 'FERRY_EACH_INDEX', value: '0' },
        { name: 'FERRY_EACH_KEY', value: 'DATE' },
        { name: 'FERRY_EACH_VALUE', value: 'only' },
        { name: 'FERRY_EACH_VALUES', value: 'only' },
      ],
    });
  });

  it('refuses values that would pass ECS overrides limit before the build (check) and without any AWS call', async () => {
    const f = fakeApi();
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const values = Array.from({ length: 1500 }, (_, i) => `2024-01-${String(i).padStart(4, '0')}`);
    let err: unknown;
    try {
      await batchAdapter.check?.({ ...input({ queue: 'q-each' }), each: each(values) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('USAGE_EACH_TOO_LARGE');
    expect((err as FerryError).exitCode).toBe(64);
    // The count it suggests is the most that fit: that many pass, one more does not.
    const fit = Number(/the first (\d+) fit/.exec((err as FerryError).suggestions.join(' '))?.[1]);
    expect(fit).toBeGreaterThan(1);
    await batchAdapter.check?.({ ...input({ queue: 'q-each' }), each: each(values.slice(0, fit)) });
    await expect(Promise.resolve().then(() => batchAdapter.check?.({ ...input({ queue: 'q-each' }), each: each(values.slice(0, fit + 1)) }))).rejects.toThrow(/container overrides/);
    expect(f.calls).toEqual([]);
    // 1,000 short values fit.
    await batchAdapter.check?.({ ...input({ queue: 'q-each' }), each: each(values.slice(0, 500).map((_, i) => String(i))) });
  });

  it('keeps the key and count in the handle, and polls only the parent: children counted from its statusSummary', async () => {
    const f = fakeApi();
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const inp = { ...input({ queue: 'q-each-status' }), each: each(['a', 'b', 'c'], { shell: 'yes', imageCmd: ['/x'] }) };
    const plan = await batchAdapter.plan(inp, ctx());
    const h = await batchAdapter.deploy(plan, inp, ctx());
    expect(h.ref).toMatchObject({ eachKey: 'DATE', eachCount: '3' });
    const jobId = h.ref['jobId'] ?? '';
    const parent = f.jobs[jobId];
    if (parent === undefined) throw new Error('no parent');
    parent.status = 'RUNNING';
    parent.arrayProperties = { size: 3, statusSummary: { RUNNING: 2, SUCCEEDED: 1 } };
    f.calls.length = 0;
    expect(await batchAdapter.status(h, ctx())).toMatchObject({ state: 'running', children: { running: 2, succeeded: 1 } });
    expect(f.calls).toEqual(['DescribeJobs']);
  });

  it('on failure names a bounded sample of failed children with index, exit code and reason (two calls)', async () => {
    const jobs: Record<string, BatchJob> = {
      arr: { jobId: 'arr', jobName: 'n', status: 'FAILED', statusReason: 'Array Child Job failed', arrayProperties: { size: 20, statusSummary: { FAILED: 8, SUCCEEDED: 12 } } },
    };
    for (let i = 0; i < 20; i++) {
      const failed = i % 5 < 2;
      jobs[`arr:${i}`] = {
        jobId: `arr:${i}`,
        jobName: 'n',
        status: failed ? 'FAILED' : 'SUCCEEDED',
        ...(failed ? { attempts: [{ container: { exitCode: 3, reason: `bad input ${i}` } }] } : {}),
        arrayProperties: { index: i },
      };
    }
    const f = fakeApi({ jobs });
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const s = await batchAdapter.status({ id: 'd', target: 'nightly', type: 'aws-batch', image: IMAGE, createdAt: '', ref: { jobId: 'arr', jobQueue: 'q-each-fail' } }, ctx());
    expect(s.state).toBe('failed');
    expect(s.children).toEqual({ failed: 8, succeeded: 12 });
    expect(s.failedChildren).toEqual([0, 1, 5, 6, 10].map((index) => ({ index, exitCode: 3, reason: `bad input ${index}` })));
    expect(f.calls).toEqual(['DescribeJobs', 'ListJobs', 'DescribeJobs']);
  });
});
