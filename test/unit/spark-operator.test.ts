import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/core/errors.js';
import type { DeployInput } from '../../src/core/target.js';
import { sparkApplicationManifest } from '../../src/targets/spark/operator-manifest.js';
import { sparkApplicationProblems } from '../../src/targets/spark/operator-validate.js';
import { appEnded, appRunStatus } from '../../src/targets/spark/operator.js';
import type { PodView } from '../../src/targets/spark/kube.js';
import { sparkTargetSchema, type SparkTargetConfig } from '../../src/targets/spark/schema.js';
import { thrown } from '../helpers/errors.js';

/**
 * submit: operator — the SparkApplication ferry makes from ferry.yaml, the schema it is checked
 * against, and how the operator's applicationState reads as a run's status. (End to end against
 * the fake API server and its pretend operator in test/e2e/cli-spark-operator.test.ts.)
 */
let dir: string;
const IMAGE = `registry.example.com/team/job@sha256:${'a'.repeat(64)}`;
type Obj = Record<string, unknown>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-spark-op-unit-'));
  await writeFile(path.join(dir, 'driver.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {tier: gold}\nspec:\n  nodeSelector: {pool: spark}\n');
});

function input(config: Record<string, unknown>, job: Partial<DeployInput<SparkTargetConfig>['job']> = {}): DeployInput<SparkTargetConfig> {
  return {
    target: 'nightly',
    config: sparkTargetSchema.parse({ type: 'spark', submit: 'operator', sparkVersion: '3.5.3', app: 'local:///app/job.py', ...config }),
    image: { ref: IMAGE, digest: `sha256:${'a'.repeat(64)}`, configDigest: `sha256:${'b'.repeat(64)}`, platform: 'linux/amd64' },
    job: { env: {}, ...job },
    file: path.join(dir, 'ferry.yaml'),
    locate: (k) => `ferry.yaml:9:5 [${k.join('.')}]`,
  };
}

const manifest = (config: Record<string, unknown> = {}, job: Partial<DeployInput<SparkTargetConfig>['job']> = {}, deployId?: string) =>
  sparkApplicationManifest(input(config, job), 'spark-jobs', { HOME: dir }, deployId);
const spec = (m: { app: Obj }): Obj => m.app['spec'] as Obj;

describe('the SparkApplication', () => {
  it('is named NAME-<hash>: the same inputs give the same name, the deploy id is outside the hash', () => {
    const a = manifest({}, {}, 'run-1');
    const b = manifest({}, {}, 'run-2');
    expect(a.name).toMatch(/^ferry-nightly-[0-9a-f]{10}$/);
    expect(b.name).toBe(a.name);
    expect((a.app['metadata'] as { labels: Record<string, string> }).labels['ferry/deploy-id']).toBe('run-1');
    expect(manifest({ conf: { 'spark.sql.shuffle.partitions': 8 } }).name).not.toBe(a.name);
    // A name: that is no DNS label is made one, short enough for <name>-ui-svc (63).
    const long = manifest({ name: 'My Nightly Job With A Very Long Name That Goes On And On' });
    expect(long.name).toMatch(/^my-nightly-job-with-a-very-long-name-that-goe-[0-9a-f]{10}$/);
    expect(`${long.name}-ui-svc`.length).toBeLessThanOrEqual(63);
    // A Service name starts with a letter: a name: that starts with a digit gets ferry- in front.
    expect(manifest({ name: '2024-etl' }).name).toMatch(/^ferry-2024-etl-[0-9a-f]{10}$/);
    expect(sparkApplicationProblems(a.app)).toEqual([]);
  });

  it('carries the application, its files, conf and resources as the operator takes them', () => {
    const m = manifest(
      {
        app: 's3a://bucket/jobs/etl.jar',
        mainClass: 'com.example.Etl',
        jars: ['/opt/extra/dep.jar'],
        files: ['https://example.com/lookup.csv'],
        conf: { 'spark.eventLog.enabled': true, 'spark.sql.shuffle.partitions': 64 },
        driver: { memory: '2Gi' },
        kubernetes: { serviceAccount: 'spark', labels: { team: 'data' } },
      },
      { env: { STAGE: 'prod' }, args: ['--day', '1'], resources: { cpu: 0.5, memory: '512Mi' } },
    );
    const s = spec(m);
    expect(s).toMatchObject({
      type: 'Scala',
      mainClass: 'com.example.Etl',
      mainApplicationFile: 's3a://bucket/jobs/etl.jar',
      image: IMAGE,
      arguments: ['--day', '1'],
      sparkConf: { 'spark.eventLog.enabled': 'true', 'spark.sql.shuffle.partitions': '64' },
      deps: { jars: ['local:///opt/extra/dep.jar'], files: ['https://example.com/lookup.csv'] },
      restartPolicy: { type: 'Never' },
    });
    expect(s['driver']).toMatchObject({ memory: '2048m', serviceAccount: 'spark', env: [{ name: 'STAGE', value: 'prod' }], labels: { team: 'data', 'app.kubernetes.io/managed-by': 'ferry' } });
    // job.resources: a fractional cpu is a core request, memory the executors' size.
    expect(s['executor']).toMatchObject({ coreRequest: '0.5', memory: '512m', env: [{ name: 'STAGE', value: 'prod' }] });
    expect((s['executor'] as Obj)['cores']).toBeUndefined();
    expect(spec(manifest({}, { resources: { cpu: 2 } }))['executor']).toMatchObject({ cores: 2 });
    expect(sparkApplicationProblems(m.app)).toEqual([]);
  });

  it('takes a pod template file as the driver template, and job.timeout as its activeDeadlineSeconds', () => {
    const m = manifest({ kubernetes: { driverPodTemplate: 'driver.yaml' } }, { timeout: '1h30m' });
    expect((spec(m)['driver'] as Obj)['template']).toEqual({ metadata: { labels: { tier: 'gold' } }, spec: { nodeSelector: { pool: 'spark' }, activeDeadlineSeconds: 5400 } });
    expect(m.notes.join('\n')).toContain('activeDeadlineSeconds');
    expect(sparkApplicationProblems(m.app)).toEqual([]);
  });

  it('refuses what the operator cannot run, at its ferry.yaml key', () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ master: 'spark://h:7077' }, 'SPARK_MASTER_INVALID', 'targets.nightly.master'],
      [{ app: 'job.py' }, 'SPARK_FILE_NOT_IN_IMAGE', 'targets.nightly.app'],
      [{ kubernetes: { driverPodTemplate: 'missing.yaml' } }, 'SPARK_FILE_NOT_FOUND', 'targets.nightly.kubernetes.driverPodTemplate'],
      [{ conf: { 'spark.kubernetes.namespace': 'x' } }, 'SPARK_CONF_CONFLICT', 'conf'],
      [{ app: 'local:///app/etl.jar' }, 'SPARK_CONFIG_INVALID', 'mainClass'],
      // Pod templates reach the pods only from Spark 3.0 on.
      [{ sparkVersion: '2.4.8', kubernetes: { driverPodTemplate: 'driver.yaml' } }, 'SPARK_CONFIG_INVALID', 'targets.nightly.kubernetes.driverPodTemplate'],
    ];
    for (const [config, code, key] of cases) {
      const e = thrown(() => manifest(config));
      expect(e, JSON.stringify(config)).toBeInstanceOf(FerryError);
      expect((e as FerryError).code, JSON.stringify(config)).toBe(code);
      expect((e as FerryError).where ?? '', JSON.stringify(config)).toContain(key);
    }
  });
});

describe('the schema', () => {
  it('needs master with spark-submit and sparkVersion with the operator', () => {
    expect(sparkTargetSchema.safeParse({ type: 'spark', app: 'local:///a.py' }).error?.issues.map((i) => i.path.join('.'))).toEqual(['master']);
    expect(sparkTargetSchema.safeParse({ type: 'spark', submit: 'operator', app: 'local:///a.py' }).error?.issues.map((i) => i.path.join('.'))).toEqual(['sparkVersion']);
    expect(sparkTargetSchema.safeParse({ type: 'spark', submit: 'operator', sparkVersion: 'latest', app: 'local:///a.py' }).success).toBe(false);
    expect(sparkTargetSchema.safeParse({ type: 'spark', submit: 'operator', sparkVersion: '4.0.0', app: 'local:///a.py' }).success).toBe(true);
  });

  it('names the field of a SparkApplication that is wrong, including inside its Kubernetes types', () => {
    const good = manifest().app;
    const withSpec = (patch: Obj): Obj => ({ ...good, spec: { ...(good['spec'] as Obj), ...patch } });
    expect(sparkApplicationProblems(withSpec({ type: 'Go' })).join()).toContain('spec.type');
    expect(sparkApplicationProblems(withSpec({ mainApplicationFile: undefined })).join()).toContain('spec.mainApplicationFile');
    expect(sparkApplicationProblems(withSpec({ drvier: {} })).join()).toContain('drvier');
    expect(sparkApplicationProblems(withSpec({ driver: { memory: '2 g' } })).join()).toContain('spec.driver.memory');
    expect(sparkApplicationProblems(withSpec({ executor: { instances: 0 } })).join()).toContain('spec.executor.instances');
    expect(sparkApplicationProblems(withSpec({ driver: { env: [{ value: 'no name' }] } }))).toEqual(['spec.driver.env[0].name: required']);
    expect(sparkApplicationProblems(withSpec({ driver: { template: { spec: { activeDeadlineSeconds: 'soon' } } } })).join()).toContain('spec.driver.template.spec.activeDeadlineSeconds');
    expect(sparkApplicationProblems({ ...good, metadata: { name: 'Bad_Name' } }).join()).toContain('metadata.name');
  });
});

describe("the run's status from the application and its driver pod", () => {
  const app = (state: string | undefined, errorMessage?: string): Obj => ({ status: state === undefined ? {} : { applicationState: { state, ...(errorMessage !== undefined ? { errorMessage } : {}) } } });
  const ended = (exitCode: number): PodView => ({
    spec: { containers: [{ name: 'spark-kubernetes-driver' }] },
    status: { phase: exitCode === 0 ? 'Succeeded' : 'Failed', containerStatuses: [{ name: 'spark-kubernetes-driver', state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error' } } }] },
  });

  it('maps every applicationState', () => {
    expect(appRunStatus(app(undefined), undefined)).toEqual({ state: 'pending', phase: 'NEW' });
    expect(appRunStatus(app('SUBMITTED'), undefined)).toEqual({ state: 'pending', phase: 'SUBMITTED' });
    for (const s of ['RUNNING', 'SUCCEEDING', 'FAILING', 'UNKNOWN']) expect(appRunStatus(app(s), undefined)).toEqual({ state: 'running', phase: s });
    expect(appRunStatus(app('PENDING_RERUN'), undefined).state).toBe('pending');
    expect(appRunStatus(app('COMPLETED'), ended(0))).toEqual({ state: 'succeeded', phase: 'COMPLETED', exitCode: 0 });
    expect(appRunStatus(app('FAILED', 'driver container failed with ExitCode: 3, Reason: Error'), ended(3))).toEqual({ state: 'failed', phase: 'FAILED', exitCode: 3, reason: 'driver container failed with ExitCode: 3, Reason: Error' });
    // No driver pod left (or none ever): failed without an exit code; ferry then exits 1.
    expect(appRunStatus(app('SUBMISSION_FAILED', 'spark-submit failed'), undefined)).toEqual({ state: 'failed', phase: 'SUBMISSION_FAILED', reason: 'spark-submit failed' });
    expect(['COMPLETED', 'FAILED', 'SUBMISSION_FAILED'].every((s) => appEnded(app(s)))).toBe(true);
    expect(['', 'SUBMITTED', 'RUNNING', 'FAILING', 'SUCCEEDING'].some((s) => appEnded(app(s)))).toBe(false);
  });

  it('names job.timeout when the driver pod was killed at its deadline, and an application the operator never picks up', () => {
    const killed: PodView = { ...ended(137), status: { ...ended(137).status, phase: 'Failed', reason: 'DeadlineExceeded' } };
    const s = appRunStatus(app('FAILED', 'driver container failed with ExitCode: 137, Reason: Error'), killed);
    expect(s).toMatchObject({ state: 'failed', exitCode: 137 });
    expect(s.reason).toBe('job.timeout exceeded: the driver pod was active longer than its activeDeadlineSeconds (driver container failed with ExitCode: 137, Reason: Error)');
    const created = { metadata: { namespace: 'etl', creationTimestamp: '2026-11-29T10:00:00Z' }, status: {} };
    expect(appRunStatus(created, undefined, Date.parse('2026-11-29T10:00:10Z'))).toEqual({ state: 'pending', phase: 'NEW' });
    const late = appRunStatus(created, undefined, Date.parse('2026-11-29T10:00:40Z'));
    expect(late).toMatchObject({ state: 'pending', phase: 'NEW' });
    expect(late.reason).toContain('has not picked the application up after 40 s');
    expect(late.reason).toContain('namespace etl');
  });

  it("reports a stuck driver pod's reason while the application waits", () => {
    const stuck: PodView = { spec: { containers: [{ name: 'spark-kubernetes-driver' }] }, status: { phase: 'Pending', containerStatuses: [{ name: 'spark-kubernetes-driver', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } } }] } };
    expect(appRunStatus(app('SUBMITTED'), stuck)).toEqual({ state: 'pending', phase: 'SUBMITTED: driver pod Pending (ImagePullBackOff)', reason: 'Back-off pulling image' });
  });
});
