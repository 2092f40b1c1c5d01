import { describe, expect, it } from 'vitest';
import { kubernetesJobTargetSchema, type KubernetesJobTargetConfig } from '../../src/targets/kubernetes-job/schema.js';
import { baseName, EACH_ENV_BUDGET, jobManifest, ManifestInputError, pullSecretManifest, type JobManifestInput, type Obj } from '../../src/targets/kubernetes-job/manifest.js';
import { schemaProblems } from '../../src/targets/kubernetes-job/validate.js';
import { byCreation, createFailureSelector, runStatusOf, withCreateFailure, type PodView } from '../../src/targets/kubernetes-job/status.js';

const IMAGE = `registry.example.com/team/app@sha256:${'a'.repeat(64)}`;
const config = (extra: Record<string, unknown> = {}): KubernetesJobTargetConfig => kubernetesJobTargetSchema.parse({ type: 'kubernetes-job', ...extra });
const input = (over: Partial<JobManifestInput> = {}): JobManifestInput => ({ target: 'nightly', config: config(), namespace: 'data', image: IMAGE, job: { env: {} }, ...over });
const spec = (job: Obj): Obj => job['spec'] as Obj;
const podSpec = (job: Obj): Obj => (spec(job)['template'] as Obj)['spec'] as Obj;
const container = (job: Obj): Obj => (podSpec(job)['containers'] as Obj[])[0] ?? {};

describe('kubernetes-job manifest', () => {
  it('names the Job by a hash of what it runs: stable for the same inputs, new for a new image, not changed by the deploy id', () => {
    const a = jobManifest(input());
    const b = jobManifest(input(), 'run-1');
    expect(a.name).toMatch(/^ferry-nightly-[0-9a-f]{10}$/);
    expect(b.name).toBe(a.name);
    expect((b.job['metadata'] as { labels: Record<string, string> }).labels['ferry/deploy-id']).toBe('run-1');
    expect(jobManifest(input({ image: IMAGE.replace(/a{64}/, 'b'.repeat(64)) })).name).not.toBe(a.name);
    expect(jobManifest(input({ namespace: 'other' })).name).not.toBe(a.name);
    expect(jobManifest(input({ config: config({ name: 'etl' }) })).name).toMatch(/^etl-[0-9a-f]{10}$/);
  });

  it('keeps a default name a DNS-1123 label of at most 63 characters', () => {
    const long = baseName('A_Very_Long_Target_Name_'.repeat(4), config());
    // 45 + '-' + 10 hex = 56, leaving 7 for an Indexed pod's '-<index>' hostname within 63.
    expect(long.length).toBeLessThanOrEqual(45);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(jobManifest(input({ target: 'X'.repeat(80) })).name.length).toBeLessThanOrEqual(56);
  });

  it('maps job.resources, job.timeout and the target keys onto the pod', () => {
    const m = jobManifest(
      input({
        job: { env: { A: '1' }, resources: { cpu: '1500m', memory: '1Gi', gpu: 1 }, timeout: '1h30m', command: ['python'], args: ['job.py'] },
        config: config({ backoffLimit: 2, ttlSecondsAfterFinished: 60, serviceAccountName: 'sa', secretEnv: { PW: { name: 'db', key: 'password' } }, configMapEnv: { MODE: { name: 'cfg', key: 'mode', optional: true } }, envFrom: [{ secret: 'all' }, { configMap: 'more', optional: true }] }),
        pullSecret: 'ferry-pull-registry.example.com',
      }),
    );
    expect(spec(m.job)).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 5400, ttlSecondsAfterFinished: 60 });
    expect(podSpec(m.job)).toMatchObject({ restartPolicy: 'Never', serviceAccountName: 'sa', imagePullSecrets: [{ name: 'ferry-pull-registry.example.com' }] });
    expect(container(m.job)).toMatchObject({
      name: 'main',
      image: IMAGE,
      command: ['python'],
      args: ['job.py'],
      resources: { requests: { cpu: '1500m', memory: '1024Mi' }, limits: { memory: '1024Mi', 'nvidia.com/gpu': 1 } },
      env: [
        { name: 'A', value: '1' },
        { name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode', optional: true } } },
      ],
      envFrom: [{ secretRef: { name: 'all' } }, { configMapRef: { name: 'more', optional: true } }],
    });
    expect(schemaProblems(m.job)).toEqual([]);
  });

  it('explicit requests and limits win over job.resources', () => {
    const m = jobManifest(input({ job: { env: {}, resources: { cpu: 2 } }, config: config({ resources: { requests: { cpu: '250m' }, limits: { cpu: 1, memory: '2Gi' } } }) }));
    expect(container(m.job)['resources']).toEqual({ requests: { cpu: '250m' }, limits: { cpu: 1, memory: '2Gi' } });
  });

  it('refuses a job value it cannot express, naming the key', () => {
    const err = (() => {
      try {
        jobManifest(input({ job: { env: {}, timeout: 'soon' } }));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ManifestInputError);
    expect((err as ManifestInputError).key).toBe('job.timeout');
  });

  it('--each: one Indexed Job whose pods run the wrapper over the image ENTRYPOINT and CMD', () => {
    const m = jobManifest(input({ imageEntrypoint: ['/entry'], each: { key: 'DAY', values: ['mon', 'tue', 'wed'], source: '--each', imageCmd: ['run'], shell: '/bin/sh in layer 1' }, config: config({ parallelism: 2, backoffLimit: 1 }) }));
    expect(spec(m.job)).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 2, backoffLimitPerIndex: 1 });
    expect(spec(m.job)['backoffLimit']).toBeUndefined();
    const c = container(m.job);
    const cmd = c['command'] as string[];
    expect(cmd.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(cmd[2]).toContain('JOB_COMPLETION_INDEX');
    expect(cmd.slice(3)).toEqual(['ferry-each', '/entry', 'run']);
    expect(c['env']).toContainEqual({ name: 'FERRY_EACH_VALUES', value: 'mon\ntue\nwed' });
    expect(m.eachNotDelivered).toBeUndefined();
    expect(schemaProblems(m.job)).toEqual([]);
  });

  it('--each with one value is a plain Job with the value set; without a shell the values are only in the environment', () => {
    const one = jobManifest(input({ each: { key: 'DAY', values: ['mon'], source: '--each' } }));
    expect(spec(one.job)['completionMode']).toBeUndefined();
    expect(container(one.job)['env']).toContainEqual({ name: 'DAY', value: 'mon' });
    const noShell = jobManifest(input({ each: { key: 'DAY', values: ['a', 'b'], source: '--each', imageCmd: ['/app'] } }));
    expect(container(noShell.job)['command']).toBeUndefined();
    expect(noShell.eachNotDelivered).toContain('/bin/sh');
  });

  it('--each values past 120 KiB (one environment string; Linux refuses one over 128 KiB) are refused', () => {
    const values = Array.from({ length: 400 }, (_, i) => `${String(i)}-${'x'.repeat(400)}`);
    expect(JSON.stringify(values).length).toBeGreaterThan(EACH_ENV_BUDGET);
    expect(() => jobManifest(input({ each: { key: 'K', values, source: '--each' } }))).toThrow(ManifestInputError);
  });

  it('the pull Secret is a dockerconfigjson that passes the schema', () => {
    const s = pullSecretManifest('ferry-pull-r', 'data', 'registry.example.com', { username: 'u', password: 'p' }, { 'app.kubernetes.io/managed-by': 'ferry' });
    expect(s['type']).toBe('kubernetes.io/dockerconfigjson');
    const cfg = JSON.parse(Buffer.from((s['data'] as Record<string, string>)['.dockerconfigjson'] ?? '', 'base64').toString()) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(cfg.auths['registry.example.com']?.auth ?? '', 'base64').toString()).toBe('u:p');
    expect(schemaProblems(s)).toEqual([]);
  });

  it('puts podSecurityContext on the pod and securityContext on the container; a wrong field is named by the schema check', () => {
    const restricted = config({
      podSecurityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    });
    const m = jobManifest(input({ config: restricted }));
    expect(podSpec(m.job)['securityContext']).toEqual({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(m.job)['securityContext']).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(schemaProblems(m.job)).toEqual([]);
    // Part of what the Job runs: another securityContext is another Job name.
    expect(m.name).not.toBe(jobManifest(input()).name);
    const wrong = jobManifest(input({ config: config({ securityContext: { runAsUser: 'root' } }) }));
    expect(schemaProblems(wrong.job).join()).toContain('spec.template.spec.containers[0].securityContext.runAsUser');
  });

  it('the schema check names the field that is wrong', () => {
    const m = jobManifest(input());
    (container(m.job) as Record<string, unknown>)['image'] = 42;
    expect(schemaProblems(m.job).join()).toContain('spec.template.spec.containers[0].image');
  });
});

describe('kubernetes-job status', () => {
  const job = (status: Obj, spec: Obj = {}): Obj => ({ metadata: { name: 'j' }, spec, status });

  it('a Job with no pod reads the newest FailedCreate Event as its reason; one with pods does not', () => {
    const created = runStatusOf(job({}));
    expect(created).toEqual({ state: 'pending', phase: 'Created' });
    const events: Obj[] = [
      { reason: 'FailedCreate', message: 'Error creating: old quota', lastTimestamp: new Date('2026-01-01T00:00:05Z') },
      { reason: 'FailedCreate', message: 'Error creating: violates PodSecurity', lastTimestamp: '2026-01-01T00:01:00Z' },
      { reason: 'SuccessfulCreate', message: 'Created pod: j-abcde', lastTimestamp: '2026-01-01T00:02:00Z' },
    ];
    expect(withCreateFailure(created, events)).toEqual({ state: 'pending', phase: 'FailedCreate', reason: 'Error creating: violates PodSecurity' });
    expect(withCreateFailure(created, [])).toBe(created);
    const active = runStatusOf(job({ active: 1 }));
    expect(withCreateFailure(active, events)).toBe(active);
    expect(createFailureSelector('j', 'u-1')).toBe('involvedObject.kind=Job,involvedObject.name=j,involvedObject.uid=u-1,reason=FailedCreate');
  });
  const pod = (name: string, created: string, state: PodView['state'], extra: Partial<PodView> = {}): PodView => ({ name, created, phase: state?.terminated !== undefined ? (state.terminated.exitCode === 0 ? 'Succeeded' : 'Failed') : 'Running', ...(state !== undefined ? { state } : {}), ...extra });

  it('Complete is success with exit code 0; Failed takes the last failed container\'s exit code and OOMKilled', () => {
    expect(runStatusOf(job({ conditions: [{ type: 'Complete', status: 'True' }] }))).toMatchObject({ state: 'succeeded', exitCode: 0 });
    const failed = runStatusOf(job({ conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'limit' }] }), [
      pod('a', '2026-01-01T00:00:00.000Z', { terminated: { exitCode: 2, reason: 'Error', finishedAt: '2026-01-01T00:00:01.000Z' } }),
      pod('b', '2026-01-01T00:00:02.000Z', { terminated: { exitCode: 137, reason: 'OOMKilled', finishedAt: '2026-01-01T00:00:03.000Z' } }),
    ]);
    expect(failed).toMatchObject({ state: 'failed', exitCode: 137, phase: 'BackoffLimitExceeded' });
    expect(failed.reason).toContain('OOMKilled');
  });

  it('reports a stuck pod while the Job is active', () => {
    const s = runStatusOf(job({ active: 1 }), [pod('a', 't', { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } }, { phase: 'Pending' })]);
    expect(s).toMatchObject({ state: 'pending', phase: 'ImagePullBackOff' });
    expect(runStatusOf(job({ active: 1 }), [{ name: 'a', created: 't', phase: 'Pending', unschedulable: '0/3 nodes are available' }])).toMatchObject({ phase: 'Unschedulable' });
    expect(runStatusOf(job({ active: 1, ready: 1 }))).toMatchObject({ state: 'running' });
  });

  it('an Indexed Job counts its children and names failed indexes', () => {
    const s = runStatusOf(job({ succeeded: 3, failedIndexes: '1,4-5', conditions: [{ type: 'Failed', status: 'True', reason: 'FailedIndexes' }] }, { completionMode: 'Indexed', completions: 6 }), [
      pod('p1', 't1', { terminated: { exitCode: 4 } }, { index: 1 }),
      pod('p4', 't1', { terminated: { exitCode: 5, reason: 'Error' } }, { index: 4 }),
      pod('p0', 't1', { terminated: { exitCode: 0 } }, { index: 0 }),
    ]);
    expect(s.children).toEqual({ succeeded: 3, failed: 3 });
    expect(s.failedChildren).toEqual([{ index: 1, exitCode: 4 }, { index: 4, exitCode: 5, reason: 'Error' }]);
    expect(s.exitCode).toBeUndefined();
  });

  it('orders attempts by creation, then an ended pod before one that has not, then by end time', () => {
    const order = byCreation([
      pod('z-running', 'T', undefined),
      pod('y-late', 'T', { terminated: { exitCode: 1, finishedAt: '2026-01-01T00:00:05.000Z' } }),
      pod('x-early', 'T', { terminated: { exitCode: 1, finishedAt: '2026-01-01T00:00:02.000Z' } }),
      pod('first', 'S', undefined),
    ]).map((p) => p.name);
    expect(order).toEqual(['first', 'x-early', 'y-late', 'z-running']);
  });
});
