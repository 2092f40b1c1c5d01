import { describe, expect, it } from 'vitest';
import { batchTargetSchema } from '../../src/targets/aws-batch/schema.js';
import {
  BatchInputError,
  chunks,
  defaultJobDefinitionName,
  fargatePairProblem,
  jobDefinitionInput,
  sameDefinition,
  statusOf,
  type BatchJobInput,
} from '../../src/targets/aws-batch/payload.js';

const IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/taxi@sha256:' + 'a'.repeat(64);

function input(target: Record<string, unknown>, job: Partial<BatchJobInput['job']> = {}, extra: Partial<BatchJobInput> = {}): BatchJobInput {
  return { target: 'nightly', config: batchTargetSchema.parse({ type: 'aws-batch', queue: 'q', ...target }), image: IMAGE, platform: 'linux/amd64', job: { env: {}, ...job }, ...extra };
}

function thrown(fn: () => unknown): BatchInputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BatchInputError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('the Batch job definition ferry registers', () => {
  it('pins the image, maps job resources to resourceRequirements and env to sorted name/value pairs', () => {
    const d = jobDefinitionInput(input({}, { env: { B: '2', A: '1' }, args: ['--date', '2024-01-01'], resources: { cpu: 2, memory: '4Gi', gpu: 1 }, timeout: '1h' }));
    expect(d).toMatchObject({
      jobDefinitionName: 'ferry-taxi-nightly',
      type: 'container',
      platformCapabilities: ['EC2'],
      timeout: { attemptDurationSeconds: 3600 },
      containerProperties: {
        image: IMAGE,
        command: ['--date', '2024-01-01'],
        environment: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }],
        resourceRequirements: [{ type: 'VCPU', value: '2' }, { type: 'MEMORY', value: '4096' }, { type: 'GPU', value: '1' }],
      },
    });
  });

  it('defaults to 1 vCPU and 2048 MiB, a pair Fargate accepts; Fargate gets its network, platform and the image architecture', () => {
    const d = jobDefinitionInput(input({ platform: 'FARGATE', executionRoleArn: 'arn:aws:iam::123456789012:role/exec', fargate: { assignPublicIp: true } }, {}, { platform: 'linux/arm64' }));
    expect(d.containerProperties.resourceRequirements).toEqual([{ type: 'VCPU', value: '1' }, { type: 'MEMORY', value: '2048' }]);
    expect(d.containerProperties).toMatchObject({
      networkConfiguration: { assignPublicIp: 'ENABLED' },
      fargatePlatformConfiguration: { platformVersion: 'LATEST' },
      runtimePlatform: { cpuArchitecture: 'ARM64' },
    });
  });

  it('refuses what AWS would refuse, before any call: Fargate pairs, fractional EC2 vCPUs, short timeouts, GPUs on Fargate', () => {
    const fargate = { platform: 'FARGATE', executionRoleArn: 'arn:aws:iam::123456789012:role/exec' };
    expect(thrown(() => jobDefinitionInput(input(fargate, { resources: { cpu: 1, memory: '512Mi' } }))).key).toBe('job.resources');
    expect(thrown(() => jobDefinitionInput(input(fargate, { resources: { cpu: 3, memory: '8Gi' } }))).message).toMatch(/0\.25, 0\.5, 1, 2, 4, 8, 16 vCPU/);
    expect(thrown(() => jobDefinitionInput(input(fargate, { resources: { cpu: 1, memory: '2Gi', gpu: 1 } }))).key).toBe('job.resources.gpu');
    expect(thrown(() => jobDefinitionInput(input({}, { resources: { cpu: 0.5 } }))).key).toBe('job.resources.cpu');
    expect(thrown(() => jobDefinitionInput(input({}, { timeout: '30s' }))).key).toBe('job.timeout');
    expect(fargatePairProblem(4, 30720)).toBeUndefined();
    expect(fargatePairProblem(8, 18432)).toMatch(/16384 to 61440 in steps of 4096/);
  });

  it('job.command works only on an image without ENTRYPOINT (Batch replaces CMD, never ENTRYPOINT)', () => {
    expect(jobDefinitionInput(input({}, { command: ['python', 'x.py'], args: ['--n', '1'] })).containerProperties.command).toEqual(['python', 'x.py', '--n', '1']);
    expect(thrown(() => jobDefinitionInput(input({}, { command: ['sh'] }, { imageEntrypoint: ['python', 'pipeline.py'] }))).key).toBe('job.command');
  });

  it('retries only on the named exit codes, then exits', () => {
    const d = jobDefinitionInput(input({ retry: { attempts: 3, retryOnExitCodes: [137] } }));
    expect(d.retryStrategy).toEqual({ attempts: 3, evaluateOnExit: [{ onExitCode: '137', action: 'RETRY' }, { onExitCode: '*', action: 'EXIT' }] });
  });

  it('the target schema checks names, ARNs and Fargate needs before any call', () => {
    expect(batchTargetSchema.safeParse({ type: 'aws-batch', queue: 'q', jobDefinition: 'x'.repeat(129) }).success).toBe(false);
    expect(batchTargetSchema.safeParse({ type: 'aws-batch', queue: 'q', jobRoleArn: 'role/x' }).success).toBe(false);
    expect(batchTargetSchema.safeParse({ type: 'aws-batch', queue: 'q', platform: 'FARGATE' }).success).toBe(false);
    expect(batchTargetSchema.safeParse({ type: 'aws-batch', queue: 'q', fargate: {} }).success).toBe(false);
    expect(defaultJobDefinitionName('reg/a/b.c@sha256:x', 'dev')).toBe('ferry-b-c-dev');
  });
});

describe('reusing an identical ACTIVE revision', () => {
  const wanted = jobDefinitionInput(input({}, { env: { A: '1' } }));
  // What DescribeJobDefinitions answers: AWS's defaults filled in, and fields ferry never sets.
  const existing = {
    jobDefinitionName: wanted.jobDefinitionName,
    jobDefinitionArn: 'arn:aws:batch:us-east-1:123456789012:job-definition/ferry-taxi-nightly:3',
    revision: 3,
    status: 'ACTIVE',
    type: 'container',
    platformCapabilities: ['EC2'],
    propagateTags: true,
    tags: { other: 'x' },
    containerProperties: { ...structuredClone(wanted.containerProperties), volumes: [], mountPoints: [], ulimits: [], secrets: [] },
  };

  it('matches despite AWS defaults and tags, and not when a value differs or the revision is INACTIVE', () => {
    expect(sameDefinition(wanted, existing)).toBe(true);
    expect(sameDefinition(wanted, { ...existing, status: 'INACTIVE' })).toBe(false);
    const changed = structuredClone(existing);
    changed.containerProperties.environment = [{ name: 'A', value: '2' }];
    expect(sameDefinition(wanted, changed)).toBe(false);
    const otherImage = structuredClone(existing);
    otherImage.containerProperties.image = IMAGE.replace('aaaa', 'bbbb');
    expect(sameDefinition(wanted, otherImage)).toBe(false);
  });

  it('does not reuse a revision that still has a setting ferry.yaml no longer has (args, role, timeout, retries)', () => {
    const staleSettings: [string, unknown][] = [
      ['command', ['--date', '2024-01-01']],
      ['jobRoleArn', 'arn:aws:iam::123456789012:role/old'],
      ['logConfiguration', { logDriver: 'awslogs', options: { 'awslogs-group': '/old' } }],
    ];
    for (const [key, value] of staleSettings) {
      const stale = { ...existing, containerProperties: { ...existing.containerProperties, [key]: value } };
      expect(sameDefinition(wanted, stale), key).toBe(false);
    }
    expect(sameDefinition(wanted, { ...existing, timeout: { attemptDurationSeconds: 600 } })).toBe(false);
    expect(sameDefinition(wanted, { ...existing, retryStrategy: { attempts: 3 } })).toBe(false);
    // What AWS fills in for unset fields still matches.
    expect(sameDefinition(wanted, { ...existing, retryStrategy: { attempts: 1, evaluateOnExit: [] }, containerProperties: { ...existing.containerProperties, command: [] } })).toBe(true);
  });
});

describe('waiting', () => {
  it('asks DescribeJobs for at most 100 ids a call: 1,000 children are 10 calls', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `job-${i}`);
    const calls = chunks(ids);
    expect(calls).toHaveLength(10);
    expect(calls.every((c) => c.length <= 100)).toBe(true);
    expect(calls.flat()).toEqual(ids);
  });

  it("maps Batch states, AWS's failure reason, the exit code and array children", () => {
    expect(statusOf({ status: 'RUNNABLE' }).state).toBe('pending');
    expect(statusOf({ status: 'SUCCEEDED', container: { exitCode: 0 } })).toEqual({ state: 'succeeded', exitCode: 0 });
    expect(statusOf({ status: 'FAILED', statusReason: 'Essential container in task exited', container: { exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' } })).toEqual({
      state: 'failed',
      exitCode: 137,
      reason: 'OutOfMemoryError: Container killed due to memory usage',
    });
    expect(statusOf({ status: 'FAILED', container: { reason: 'CannotPullContainerError: pull access denied' } }).reason).toMatch(/^CannotPullContainerError/);
    expect(statusOf({ status: 'FAILED', statusReason: 'Cancelled by ferry' }).state).toBe('cancelled');
    expect(statusOf({ status: 'RUNNING', arrayProperties: { statusSummary: { RUNNING: 3, SUCCEEDED: 5, RUNNABLE: 2, PENDING: 1 } } }).children).toEqual({ running: 3, succeeded: 5, pending: 3 });
  });
});
