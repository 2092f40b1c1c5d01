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
